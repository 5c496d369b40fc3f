"""ONNX emission: a CheckedModel becomes a `Plan` in one pass over the graph's nodes.

Each layer kind emits its own nodes onto a `Tape` (cnndsl.onnx.tape); this module walks the nodes
in order, gives the named outputs their tensors, and serializes the graph and the model around
the initializers: their names, inputs, outputs, value_info, metadata (the spec and every included
spec, the seed, the weights file's name). The result is the whole model minus its weight values
(cnndsl.onnx.stream), with trained weights from an .npz archive attached when asked
(cnndsl.onnx.weights).

The in-memory entry points are here too: `compile_model` (an onnx.ModelProto; the only one that
imports onnx) and `compile_bytes`. Files are written by cnndsl.onnx.write.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..diagnostics import CnnError, error
from ..ir import Node
from ..source import Source
from ..version import __version__
from . import protobuf
from .protobuf import FLOAT, INT64, int_field, message_field, string_field
from .stream import ModelParts, Plan
from .tape import INPUT_NAME, Tape
from .versions import IR_VERSION, requested_opset
from .weights import attach_weights

if TYPE_CHECKING:
    import onnx

    from ..model import CheckedModel


def plan(
    model: CheckedModel,
    *,
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike[str] | None = None,
) -> Plan:
    """Emit every layer in node order; raise CnnError for a bad opset or weights file."""
    opset = requested_opset(opset)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer or None, got {batch!r}")
    graph, shapes = model.graph, model.shapes
    tape = Tape(opset)
    tensor_of: dict[Node, str] = {graph.input: INPUT_NAME}
    tape.shapes[INPUT_NAME] = tuple(model.input_shape)
    for node, layer in graph.layer_nodes():
        in_shapes = [shapes[p] for p in node.inputs]
        tape.check_opset(node, layer, in_shapes)
        tape.begin(node)
        output = layer.emit(tape, node.name, [tensor_of[p] for p in node.inputs], in_shapes, shapes[node])
        tape.end(output, shapes[node])
        tensor_of[node] = output
    tape.raise_opset_errors()

    batch_dim: int | str = "N" if batch is None else batch
    outputs = []
    for name, node in graph.outputs:
        tensor = tensor_of[node]
        if tensor != name:  # a named output whose layer's tensor has another name (or a dropout)
            tape.begin(node)
            tape.op("Identity", [tensor], name)
            tape.shapes[name] = shapes[node]
        outputs.append(protobuf.value_info(name, FLOAT, [batch_dim, *shapes[node]]))
    output_names = {name for name, _ in graph.outputs}

    value_info = []
    for tensor in tape.order:
        if tensor in output_names:
            continue
        if tensor in tape.constants:
            array = tape.constants[tensor]
            elem = INT64 if array.dtype == np.int64 else FLOAT
            value_info.append(protobuf.value_info(tensor, elem, array.shape))
        else:
            value_info.append(protobuf.value_info(tensor, FLOAT, [batch_dim, *tape.shapes[tensor]]))

    spec_name = os.path.basename(model.source.path)
    inputs = [protobuf.value_info(INPUT_NAME, FLOAT, [batch_dim, *model.input_shape])]
    graph_doc = f"compiled by cnndsl {__version__} from {spec_name}"
    # GraphProto: node 1, name 2 | initializer 5 | doc_string 10, input 11, output 12, value_info 13
    graph_head = b"".join([*(message_field(1, n) for n in tape.nodes), string_field(2, model.name)])
    graph_tail = b"".join(
        [
            string_field(10, graph_doc),
            *(message_field(11, v) for v in inputs),
            *(message_field(12, v) for v in outputs),
            *(message_field(13, v) for v in value_info),
        ]
    )

    metadata = {
        "cnndsl.version": __version__,
        "cnndsl.seed": str(seed),
        "cnndsl.spec": model.source.text,
        "cnndsl.spec_name": spec_name,
    }
    base = os.path.dirname(os.path.abspath(model.source.path))
    for source in included_sources(model):
        where = os.path.relpath(os.path.abspath(source.path), base) if os.path.exists(source.path) else source.path
        metadata[f"cnndsl.include:{where}"] = source.text
    if weights is not None:
        metadata["cnndsl.weights"] = os.path.basename(os.fspath(weights))
    model_doc = f"{model.name}: {model.total_params:,} parameters, {model.total_macs:,} MACs per sample"
    # ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6 | graph 7 |
    # opset_import 8 (OperatorSetIdProto: domain 1, version 2), metadata_props 14
    model_head = b"".join(
        [int_field(1, IR_VERSION), string_field(2, "cnndsl"), string_field(3, __version__), string_field(6, model_doc)]
    )
    model_tail = b"".join(
        [
            message_field(8, string_field(1, "") + int_field(2, opset)),
            *(message_field(14, protobuf.string_entry(k, v)) for k, v in sorted(metadata.items())),
        ]
    )

    result = Plan(ModelParts(model_head, model_tail, graph_head, graph_tail), tape.weight_specs, seed, opset)
    if weights is not None:
        attach_weights(result.weights, weights)
    return result


def included_sources(model: CheckedModel) -> list[Source]:
    """The spec files the model's spec includes, each once, in the order their layers come."""
    seen, result = {id(model.source)}, []
    for node in model.graph.nodes:
        if id(node.source) not in seen:
            seen.add(id(node.source))
            result.append(node.source)
    return result


def check_graph_size(result: Plan, filename: str = "model.onnx") -> None:
    """Raise E509 when the model cannot be written at all: its graph alone, with every weight in
    an external data file, exceeds protobuf's limit (huge names, very many nodes). Costs no weights."""
    size = result.external_size(filename)
    limit = protobuf.PROTOBUF_MAX_BYTES
    if size > limit:
        raise CnnError(
            [
                error(
                    "E509",
                    "the ONNX graph exceeds protobuf's 2 GiB limit even with its weights stored externally",
                    None,
                    notes=[f"without its weights the model is {size:,} bytes; protobuf reads at most {limit:,}"],
                    help="use shorter layer and block names, or fewer layers",
                )
            ]
        )


def compile_model(
    model: CheckedModel,
    *,
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike[str] | None = None,
) -> onnx.ModelProto:
    """The ONNX model as an in-memory ModelProto (weights included); imports onnx."""
    result = plan(model, opset=opset, batch=batch, seed=seed, weights=weights)
    check_graph_size(result)
    return result.to_model()


def compile_bytes(model: CheckedModel, **options: Any) -> bytes:
    """The serialized model (under 2 GiB), built without holding a ModelProto with weights."""
    result = plan(model, **options)
    buffer = io.BytesIO()
    result.write(buffer)
    return buffer.getvalue()
