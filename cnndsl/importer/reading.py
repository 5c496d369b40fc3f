"""Reading an ONNX model for `cnndsl import`: the file (external data included, and only from the
model's own directory), its one input and its shape, ONNX shape inference with data propagation, and
the constant tensors (initializers and Constant nodes) the patterns read their values from.

Shape inference runs with the batch fixed at 1, so that the shape arithmetic exporters emit for a
flatten (Shape, Gather, Concat, Reshape) folds to numbers; the spec never shows the batch anyway.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from ..diagnostics import CnnError, error, shorten
from .shape_arithmetic import Shape, ShapeArithmetic

# Attributes that hold a graph: a node with one is a model of several graphs (If, Loop, Scan).
# Operators whose output has their first input's shape, for where onnx infers none.
_SHAPE_KEEPING = frozenset({"GroupNormalization", "InstanceNormalization", "LayerNormalization", "Gelu", "Mish"})
_GRAPH_ATTRIBUTES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


@dataclass
class Model:
    """A read model: its nodes in order, every data tensor's shape (batch 1), and its constants."""

    path: str
    graph: onnx.GraphProto
    input_name: str
    input_shape: Shape  # without the batch axis
    shapes: dict[str, Shape]  # with the batch axis (1)
    constants: dict[str, np.ndarray]
    arithmetic: ShapeArithmetic
    initializers: set[str] = field(default_factory=set)


def fail(code: str, message: str, *, notes: tuple[str, ...] = (), help: str | None = None) -> CnnError:
    return CnnError([error(code, message, None, notes=notes, help=help)])


def read_model(path: str, input_shape: Shape | None = None) -> Model:
    """Load `path` and infer its shapes; E701-E703 and E705 for what cannot be imported."""
    shown = shorten(path)
    try:
        proto = onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise fail("E701", f"cannot read '{shown}': no such file") from None
    except IsADirectoryError:
        raise fail("E701", f"cannot read '{shown}': it is a directory") from None
    except Exception as problem:  # protobuf's DecodeError and friends: any unparsable bytes
        raise fail(
            "E701", f"'{shown}' is not an ONNX model: {problem}", help="is the file complete? (a truncated copy?)"
        ) from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise fail("E701", f"'{shown}' is not an ONNX model: it has no graph", help="is the file complete?")
    _load_external_data(proto, path)
    graph = proto.graph
    _check_one_graph(graph, shown)
    name, shape = _the_input(graph, shown, input_shape)
    _fix_batch(graph, name, shape)
    constants = _constants(graph)
    arithmetic = ShapeArithmetic(list(graph.node), constants, name, shape)
    shapes = _inferred_shapes(proto, shown, arithmetic)
    return Model(path, graph, name, shape, shapes, constants, arithmetic, _parameters(graph))


def _inferred_shapes(proto: onnx.ModelProto, shown: str, arithmetic: ShapeArithmetic) -> dict[str, Shape]:
    """Every tensor's static shape. onnx infers none for some operators (GroupNormalization at
    opset 21; a Gather of indices computed from the batch size): those that keep their input's shape
    are given it, a Gather the shape its indices' value gives, and inference runs again."""
    proto = _without_weights(proto)
    given: set[str] = set()
    while True:
        try:
            inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
        except Exception as problem:  # InferenceError, or a ValidationError of a malformed node
            raise fail("E701", f"ONNX shape inference fails on '{shown}': {problem}") from None
        shapes: dict[str, Shape] = {}
        for info in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            dims = info.type.tensor_type.shape.dim
            if info.type.HasField("tensor_type") and all(d.HasField("dim_value") for d in dims):
                shapes[info.name] = tuple(d.dim_value for d in dims)
        missing = [
            onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, shape)
            for node in proto.graph.node
            if node.output
            and node.output[0] not in shapes
            and node.output[0] not in given
            and (shape := _shape_of(node, shapes, arithmetic))
        ]
        if not missing:
            return shapes
        given.update(value.name for value in missing)  # each once: inference may still not carry it on
        proto.graph.value_info.extend(missing)


def _shape_of(node: onnx.NodeProto, shapes: dict[str, Shape], arithmetic: ShapeArithmetic) -> Shape | None:
    """The output shape onnx did not infer, where the importer can."""
    if node.op_type in _SHAPE_KEEPING:
        return shapes.get(node.input[0])
    data = shapes.get(node.input[0])
    if node.op_type != "Gather" or data is None:
        return None
    indices = arithmetic.value(node.input[1], 1)
    axis = next((attribute.i for attribute in node.attribute if attribute.name == "axis"), 0) % len(data)
    return None if indices is None else (*data[:axis], *indices.shape, *data[axis + 1 :])


# Constants up to this many elements stay in the model shape inference reads: the shapes, indices and
# scalars exporters compute shapes from (a Reshape's target); larger ones are weights.
SHAPE_CONSTANT_ELEMENTS = 64


def _without_weights(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model as shape inference needs it: its weights declared by type and shape, not held.
    Inference serialises the model it is given: ResNet-152's 230 MB of weights took it 1.8 s."""
    light = onnx.ModelProto(ir_version=proto.ir_version, opset_import=proto.opset_import, functions=proto.functions)
    graph = proto.graph
    light.graph.node.extend(graph.node)
    light.graph.input.extend(graph.input)
    light.graph.output.extend(graph.output)
    light.graph.value_info.extend(graph.value_info)
    for tensor in graph.initializer:
        if math.prod(tensor.dims) <= SHAPE_CONSTANT_ELEMENTS:
            light.graph.initializer.append(tensor)
        else:
            light.graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
    return light


def _load_external_data(proto: onnx.ModelProto, path: str) -> None:
    """Load every tensor's external data, refusing a location outside the model's directory (E702)."""
    from onnx.external_data_helper import _get_all_tensors, load_external_data_for_model, uses_external_data

    directory = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    external = [tensor for tensor in _get_all_tensors(proto) if uses_external_data(tensor)]
    for tensor in external:
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
        target = os.path.realpath(os.path.join(directory, location))
        if os.path.isabs(location) or os.path.commonpath([directory, target]) != directory:
            raise fail(
                "E702",
                f"the external data of '{shorten(tensor.name)}' is '{shorten(location)}', outside the directory "
                f"of '{shorten(path)}'",
                help="keep a model's data files beside it, and refer to them by a relative name",
            )
    if external:
        try:
            load_external_data_for_model(proto, directory)
        except (OSError, ValueError) as problem:
            raise fail("E701", f"cannot read the external data of '{shorten(path)}': {problem}") from None


def _check_one_graph(graph: onnx.GraphProto, shown: str) -> None:
    for node in graph.node:
        if any(attribute.type in _GRAPH_ATTRIBUTES for attribute in node.attribute):
            raise fail(
                "E703",
                f"'{shown}' has several graphs: node '{shorten(node.name)}' ({node.op_type}) holds a subgraph",
                help="a spec is one network; export the model without control flow",
            )


def _the_input(graph: onnx.GraphProto, shown: str, given: Shape | None) -> tuple[str, Shape]:
    """The one graph input that is not an initializer, and its shape without the batch axis."""
    initializers = {t.name for t in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(shorten(value.name, 30) for value in inputs) or "none"
        raise fail("E703", f"'{shown}' has {len(inputs)} inputs ({names}); a spec has exactly one")
    value = inputs[0]
    dims = value.type.tensor_type.shape.dim
    if len(dims) < 2:
        raise fail("E703", f"the input '{shorten(value.name)}' has rank {len(dims)}: a batch and channels are needed")
    rest = dims[1:]
    if all(d.HasField("dim_value") and d.dim_value > 0 for d in rest):
        model_shape = tuple(d.dim_value for d in rest)
        if given is not None and given != model_shape:
            raise fail(
                "E705",
                f"--input-shape {'x'.join(map(str, given))} differs from the model's input "
                f"{'x'.join(map(str, model_shape))}",
            )
        return value.name, model_shape
    if given is None or len(given) != len(rest):
        symbolic = "x".join(d.dim_param or str(d.dim_value or "?") for d in rest)
        raise fail(
            "E705",
            f"the input '{shorten(value.name)}' has symbolic dimensions besides the batch ({symbolic} after it)"
            if given is None
            else f"--input-shape has {len(given)} dimensions, the input '{shorten(value.name)}' {len(rest)}",
            help="give every dimension but the batch: --input-shape " + "x".join(["C", *["224"] * (len(rest) - 1)]),
        )
    for d, size in zip(rest, given, strict=True):
        if d.HasField("dim_value") and d.dim_value != size:
            raise fail("E705", f"--input-shape {'x'.join(map(str, given))} contradicts the model's fixed dimensions")
    return value.name, given


def _fix_batch(graph: onnx.GraphProto, name: str, shape: Shape) -> None:
    value = next(value for value in graph.input if value.name == name)
    dims = value.type.tensor_type.shape.dim
    for d, size in zip(dims, (1, *shape), strict=True):
        d.Clear()
        d.dim_value = size
    for stale in list(graph.value_info):  # an exporter's symbolic shapes would contradict the fixed batch
        graph.value_info.remove(stale)


def _parameters(graph: onnx.GraphProto) -> set[str]:
    """The initializers, and the Identity nodes' copies of them: where the TorchScript exporter stores
    equal weights once ('features.3.0.block.3.bias'), each module's copy has its own name."""
    parameters = {t.name for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in parameters:
            parameters.add(node.output[0])
    return parameters


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in constants:  # a copy of a constant is one
            constants[node.output[0]] = constants[node.input[0]]
        elif node.op_type == "Constant" and node.output:
            for attribute in node.attribute:
                if attribute.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attribute.t)
                elif attribute.name in ("value_float", "value_int") or attribute.name in ("value_floats", "value_ints"):
                    constants[node.output[0]] = np.array(onnx.helper.get_attribute_value(attribute))
    return constants
