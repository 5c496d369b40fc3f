"""ONNX code generation: a CheckedModel becomes an ONNX model, in memory or in a file.

The pipeline, one module per job:

- `emit`: each layer kind emits its nodes onto a `Tape` (`tape`); `plan` assembles the graph and
  the model around the initializers into a `Plan` (`stream`): the whole model minus its weight
  values, which are drawn, or loaded from an .npz archive (`weights`), one at a time as the model
  is written, so that memory stays at about one piece of one parameter tensor;
- `protobuf`: the bytes are encoded by cnndsl itself, canonically, so that writing a model never
  imports the onnx package (only `compile_model` and `Plan.model`, which hand out an
  onnx.ModelProto, do);
- `versions`: the IR version and opsets; `write`: output files, atomically, with the weights in an
  external data file past protobuf's 2 GiB limit.

The names below are the public API. The size limits are read from cnndsl.onnx.protobuf when a
model is written: a test lowers them there, not here.
"""

from __future__ import annotations

from .emit import check_graph_size, compile_bytes, compile_model, plan
from .protobuf import PROTOBUF_LIMIT, PROTOBUF_MAX_BYTES
from .stream import Plan, Progress
from .tape import INPUT_NAME, Tape, WeightSpec
from .versions import IR_VERSION, NEWEST_RUNTIME_OPSET, default_opset, newest_runtime_opset
from .weights import load_npz
from .write import Written, compile_file, default_output

__all__ = [
    "INPUT_NAME",
    "IR_VERSION",
    "NEWEST_RUNTIME_OPSET",
    "PROTOBUF_LIMIT",
    "PROTOBUF_MAX_BYTES",
    "Plan",
    "Progress",
    "Tape",
    "WeightSpec",
    "Written",
    "check_graph_size",
    "compile_bytes",
    "compile_file",
    "compile_model",
    "default_opset",
    "default_output",
    "load_npz",
    "newest_runtime_opset",
    "plan",
]
