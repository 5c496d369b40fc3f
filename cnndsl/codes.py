"""Every diagnostic code with its one-line summary. docs/diagnostics.md documents each one with a
failing spec, and a test keeps the two in step; renderers (SARIF's rules) list them from here."""

from __future__ import annotations

CODES: dict[str, str] = {
    # lexical and syntax
    "E101": "syntax error: unexpected token",
    "E102": "syntax error: unexpected character",
    "E103": "syntax error: unexpected end of input",
    "E104": "the file is not valid UTF-8 text or contains forbidden characters",
    "E105": "the file cannot be read",
    # names and structure
    "E201": "unknown layer kind",
    "E202": "unknown attribute for this layer kind",
    "E203": "a required argument is missing",
    "E204": "too many positional arguments",
    "E205": "an attribute is given twice",
    "E206": "the spec has no input declaration",
    "E207": "more than one input declaration",
    "E208": "reference to an undefined tensor",
    "E209": "undefined name in an expression",
    "E210": "a name is defined twice",
    "E211": "a block uses itself (recursive block)",
    "E212": "an included file cannot be found, or includes form a cycle",
    "E213": "the graph has a cycle",
    "E214": "the expanded network exceeds the layer limit",
    "E215": "a statement is not allowed here",
    "E216": "nesting is too deep",
    "E217": "the layers' hierarchical names exceed the size budget",
    "E218": "the network has no layers",
    "E219": "unknown function, or a function given the wrong number of arguments",
    "E220": "a budget asserts an unknown quantity, or gives it an unknown argument",
    # values
    "E301": "an argument has the wrong type",
    "E302": "an argument is out of range",
    "E303": "a number is too large",
    "E304": "a tensor's shape is read with an attribute or axis it does not have",
    "E305": "a budget's unit is unknown or does not fit its quantity, or its comparison is not <, <=, > or >=",
    # shapes
    "E401": "a spatial size becomes zero or negative",
    "E402": "fully connected layer after a spatial tensor without flatten",
    "E403": "kernel, stride, padding or literal weights do not match the input's rank",
    "E404": "channel count mismatch",
    "E405": "concatenated tensors have different spatial sizes",
    "E406": "added tensors have different shapes",
    "E407": "adaptive pooling is not an exact pooling for this input",
    "E408": "the network exceeds the parameter or size budget",
    "E409": "multiplied tensors cannot be broadcast to one shape",
    "E410": "a crop to a size larger than its input, or between tensors of other ranks",
    "E411": "channel split sizes that do not add up to the input's channels",
    "E412": "a resize to the size of a tensor of another rank",
    "E413": "the shape of a tensor read in an expression cannot be computed",
    "E414": "the network does not meet a budget (assert, or --budget)",
    # ONNX code generation and execution
    "E501": "the weights file cannot be read or is not an .npz archive",
    "E502": "a weights array is missing, unexpected, misshapen or invalid",
    "E503": "the output path cannot be written (a directory, an input file, or not writable)",
    "E504": "the ONNX opset is not supported, or too old for an operator the model needs",
    "E505": "the requested execution device is not available",
    "E506": "ONNX Runtime cannot load or run the model",
    "E507": "the input array does not fit the model",
    "E508": "running the model needs more memory than the limit",
    "E509": "the ONNX graph exceeds protobuf's 2 GiB limit even with its weights stored externally",
    "E510": "a layer has no exact form in the framework the spec is exported to",
    # profiling
    "E602": "ONNX Runtime is not installed",
    # comparing
    "E603": "the specs compared have no layer or block name in common at the depth compared",
    # import
    "E701": "the ONNX model cannot be read (missing, corrupt or truncated, or its shapes cannot be inferred)",
    "E702": "the model's external data points outside the model's directory",
    "E703": "the model is not one network with one input (no input, several inputs, or subgraphs)",
    "E704": "the model has operators with no layer kind",
    "E705": "the input has symbolic dimensions besides the batch, and no --input-shape gives them",
    "E706": "a node's attributes or inputs have no equivalent in the language",
    # lint warnings
    "W101": "the stride leaves input rows or columns unused",
    "W102": "dropout between convolutions",
    "W103": "a single layer holds more than half of all parameters",
    "W104": "activation after softmax",
    "W105": "convolution bias immediately followed by batch normalization",
    "W106": "a named tensor is never used",
}
