"""ONNX code generation: a CheckedModel becomes an ONNX model in one pass over the graph's nodes.

Each layer kind emits its own nodes through a `Tape` (see cnndsl/layers). The tape records the
nodes, the parameters (name, shape, how to initialise them) and the shape of every tensor, but
draws no weights: a `Plan` is the whole model minus the weight values. The plan then either

- builds an in-memory `onnx.ModelProto` (`compile_model`), or
- streams the model to a file (`compile_file`), drawing and writing one parameter at a time. The
  bytes are exactly those of `compile_model(...).SerializeToString()`, but peak memory stays at
  about one piece of one parameter tensor (cnndsl.layers.initializers.CHUNK_VALUES) instead of twice the whole
  model. Models over protobuf's 2 GiB limit are written with their weights in an external data
  file (`OUT.onnx.data`).

The protobuf bytes are encoded here (`_Encoder` below), not by the onnx package: importing onnx
costs more than compiling a ResNet, so the file-writing path never imports it. Only
`compile_model` and `Plan.model` (which hand out an `onnx.ModelProto`) import onnx, and parse the
bytes written here. The encoding is protobuf's canonical one, fields in field-number order as
python protobuf writes them, so `onnx.ModelProto.FromString(ours).SerializeToString() == ours`
(tests/test_onnx.py checks it for every spec).

Files are written atomically: into a temporary file (or directory) next to the output, then
renamed; a failure or an interrupt leaves no temporary file and leaves an existing output untouched.
"""

from __future__ import annotations

import io
import math
import numbers
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .. import npy
from ..diagnostics import CnnError, DiagnosticSink, Label, did_you_mean, error, first_line, shorten
from ..ir import Node
from ..layers.base import MIN_OPSET, Layer, Shape, Weight, shape_text
from ..layers.initializers import Init, Literal

if TYPE_CHECKING:
    import onnx

    from ..model import CheckedModel

# onnx 1.23 stamps IR 14 and opset 28 by default; onnxruntime 1.31 loads IR <= 13 and opset <= 26.
IR_VERSION = 10
NEWEST_RUNTIME_OPSET = 26

# protobuf refuses to parse a message of 2 GiB or more: the most a model file can hold (E509).
PROTOBUF_MAX_BYTES = 2**31 - 1
# Past this a model's weights go to an external data file, leaving room for the graph itself.
PROTOBUF_LIMIT = 2**31 - 2**20
_EXTERNAL_ALIGNMENT = 4096  # lets ONNX Runtime map external weights page by page

INPUT_NAME = "input"


def default_opset() -> int:
    """The newest opset onnxruntime runs (every onnx cnndsl supports, >= 1.23, knows it)."""
    return NEWEST_RUNTIME_OPSET


def _newest_opset() -> int:
    """The newest opset the installed onnx knows (imports onnx: only for an opset above the default)."""
    import onnx.defs

    return onnx.defs.onnx_opset_version()


# --- protobuf encoding ------------------------------------------------------------------------
#
# Just enough of protobuf's wire format for the messages of onnx.proto (proto2) that cnndsl
# writes. Field numbers are onnx.proto's; each message's fields are written in field-number
# order, as python protobuf serializes them, and a field is written exactly when onnx.helper
# would have set it (proto2 keeps explicitly set defaults: an empty graph name, opset domain "").

# TensorProto.DataType
FLOAT = 1
INT64 = 7
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_TENSOR, _ATTR_FLOATS, _ATTR_INTS, _ATTR_STRINGS = 1, 2, 3, 4, 6, 7, 8

_INT64_RANGE = range(-(2**63), 2**63)
_FLOAT32 = struct.Struct("<f")


def _varint(value: int) -> bytes:
    """An unsigned varint; a negative (int64) value as its 64-bit two's complement (10 bytes)."""
    if value < 0:
        value &= 0xFFFF_FFFF_FFFF_FFFF
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field_number: int, wire_type: int) -> bytes:
    return _varint(field_number << 3 | wire_type)


def _tag(field_number: int) -> bytes:
    return _key(field_number, 2)  # wire type 2: length-delimited


def _message(field_number: int, payload: bytes) -> bytes:
    """A length-delimited field: a submessage, bytes or (encoded) string."""
    return _key(field_number, 2) + _varint(len(payload)) + payload


def _string(field_number: int, text: str | bytes) -> bytes:
    return _message(field_number, text.encode("utf-8") if isinstance(text, str) else bytes(text))


def _int(field_number: int, value: int) -> bytes:
    """An int32/int64/enum field (varint)."""
    value = int(value)
    if value not in _INT64_RANGE:
        raise ValueError(f"value {value} does not fit a 64-bit protobuf integer")
    return _key(field_number, 0) + _varint(value)


def _float(field_number: int, value: float) -> bytes:
    """A float field (fixed32, little-endian), rounded to float32 as protobuf does."""
    value = float(value)
    try:
        packed = _FLOAT32.pack(value)
    except OverflowError:  # beyond float32's range: protobuf stores infinity
        packed = _FLOAT32.pack(math.copysign(math.inf, value))
    return _key(field_number, 5) + packed


def _entry_size(payload: int) -> int:
    return 1 + len(_varint(payload)) + payload  # every field number used here fits one tag byte


class _Encoder:
    """The onnx.proto messages cnndsl writes, each as its serialized bytes."""

    @staticmethod
    def tensor(name: str, array: np.ndarray) -> bytes:
        """TensorProto as numpy_helper.from_array(array, name): dims 1, data_type 2, name 8, raw_data 9."""
        if array.dtype == np.float32:
            data_type = FLOAT
        elif array.dtype == np.int64:
            data_type = INT64
        else:
            raise TypeError(f"constant '{name}' has type {array.dtype}; cnndsl writes float32 and int64")
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        return _tensor_header(name, array.shape, data_type) + _message(9, data)

    @staticmethod
    def attribute(name: str, value: Any) -> bytes:
        """AttributeProto as onnx.helper.make_attribute(name, value): name 1, the value, type 20."""
        if isinstance(value, numbers.Integral):
            payload, kind = _int(3, value), _ATTR_INT
        elif isinstance(value, numbers.Real):
            payload, kind = _float(2, value), _ATTR_FLOAT
        elif isinstance(value, (str, bytes)):
            payload, kind = _string(4, value), _ATTR_STRING
        elif isinstance(value, _Tensor):
            payload, kind = _message(5, value.data), _ATTR_TENSOR
        elif isinstance(value, Iterable):
            values = list(value)
            if not values:
                raise ValueError(f"Could not infer attribute `{name}` type from empty iterator")
            if all(isinstance(v, numbers.Integral) for v in values):
                payload, kind = b"".join(_int(8, v) for v in values), _ATTR_INTS
            elif all(isinstance(v, numbers.Real) for v in values):
                payload, kind = b"".join(_float(7, v) for v in values), _ATTR_FLOATS
            elif all(isinstance(v, (str, bytes)) for v in values):
                payload, kind = b"".join(_string(9, v) for v in values), _ATTR_STRINGS
            else:
                raise ValueError(f"Could not infer the type of attribute `{name}` from its elements")
        else:
            raise TypeError(f"'{value}' is not an accepted attribute value.")
        return _string(1, name) + payload + _int(20, kind)

    @staticmethod
    def node(
        op_type: str, inputs: list[str], outputs: list[str], name: str, doc_string: str, attributes: dict[str, Any]
    ) -> bytes:
        """NodeProto as onnx.helper.make_node: input 1, output 2, name 3, op_type 4, attribute 5
        (sorted by name, None left out), doc_string 6."""
        out = [_string(1, i) for i in inputs]
        out += [_string(2, o) for o in outputs]
        if name:
            out.append(_string(3, name))
        out.append(_string(4, op_type))
        out += [
            _message(5, _Encoder.attribute(key, value))
            for key, value in sorted(attributes.items())
            if value is not None
        ]
        if doc_string:
            out.append(_string(6, doc_string))
        return b"".join(out)

    @staticmethod
    def value_info(name: str, elem_type: int, shape: Iterable[int | str]) -> bytes:
        """ValueInfoProto as onnx.helper.make_tensor_value_info: the shape is always present."""
        dims = b"".join(_message(1, _int(1, d) if isinstance(d, numbers.Integral) else _string(2, d)) for d in shape)
        tensor_type = _int(1, elem_type) + _message(2, dims)  # TypeProto.Tensor: elem_type 1, shape 2
        return _string(1, name) + _message(2, _message(1, tensor_type))  # TypeProto.tensor_type 1

    @staticmethod
    def entry(key: str, value: str) -> bytes:
        """StringStringEntryProto: key 1, value 2."""
        return _string(1, key) + _string(2, value)


@dataclass(frozen=True)
class _Tensor:
    """A serialized TensorProto: the value of a Constant node's `value` attribute."""

    data: bytes


# --- the tape ---------------------------------------------------------------------------------


@dataclass
class WeightSpec:
    """One initializer: drawn from `init`, or taken from `array` (trained weights)."""

    name: str
    shape: tuple[int, ...]
    init: Init
    node: Node
    array: np.ndarray | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return 4 * self.size


class Tape:
    """What a layer's `emit` writes to: nodes, initializers and constants, named by the caller."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[bytes] = []  # serialized NodeProtos
        self.weight_specs: list[WeightSpec] = []
        self.shapes: dict[str, Shape] = {}  # activation tensors, without the batch axis
        self.constants: dict[str, np.ndarray] = {}  # Constant node outputs and their values
        self.order: list[str] = []  # tensors in the order they were produced
        self.sink = DiagnosticSink()
        self._names: set[str] = {INPUT_NAME}
        self._node: Node | None = None
        self._doc = ""
        self._produced: dict[str, Shape | None] = {}  # this layer's tensors and their declared shapes

    # the interface the layer kinds use

    def op(self, op_type: str, inputs: list[str], output: str, *, shape: Shape | None = None, **attributes: Any) -> str:
        """An ONNX node producing `output`. `shape` (without the batch axis) is declared for an
        intermediate tensor whose shape differs from the layer's output, such as a padded input."""
        self._claim(output)
        self.nodes.append(_Encoder.node(op_type, list(inputs), [output], output, self._doc, attributes))
        self._produced[output] = None if shape is None else tuple(shape)
        self.order.append(output)
        return output

    def weights(self, layer: str, declared: Sequence[Weight]) -> list[str]:
        names = []
        for weight in declared:
            name = f"{layer}.{weight.name}"
            self._claim(name)
            self.weight_specs.append(WeightSpec(name, weight.shape, weight.init, self._node))
            names.append(name)
        return names

    def constant(self, name: str, value: Any, integer: bool = False) -> str:
        """A Constant node, not an initializer: initializers are exactly the counted parameters."""
        self._claim(name)
        array = np.asarray(value, dtype=np.int64 if integer else np.float32)
        self.constants[name] = array
        self.nodes.append(
            _Encoder.node("Constant", [], [name], name, self._doc, {"value": _Tensor(_Encoder.tensor(name, array))})
        )
        self.order.append(name)
        return name

    # bookkeeping for the emitter

    def check_opset(self, node: Node, layer: Layer, in_shapes: list[Shape]) -> None:
        """E504 when the layer needs a newer opset than the one being emitted."""
        needed, what = layer.opset_needed(in_shapes)
        if needed > self.opset:
            self.sink.add(
                error(
                    "E504",
                    f"'{node.name}' needs ONNX opset {needed} or newer for {what}, "
                    f"but opset {self.opset} was requested",
                    Label(node.source, node.span),
                    help=f"use --opset {needed} or newer (the default is {default_opset()})",
                )
            )

    def begin(self, node: Node) -> None:
        self._node = node
        line, col = node.source.line_col(node.span.start)
        self._doc = f"{os.path.basename(node.source.path)}:{line}:{col}"
        self._produced = {}

    def end(self, output: str, out_shape: Shape) -> None:
        """Give every tensor the layer produced its shape: the declared one, else the layer's output."""
        for tensor, declared in self._produced.items():
            self.shapes[tensor] = tuple(out_shape) if declared is None or tensor == output else declared
        if output not in self.shapes:
            raise RuntimeError(f"layer {self._node.name!r} returned unknown tensor {output!r}")

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise RuntimeError(f"tensor name {name!r} is used twice (layer {self._node.name!r})")
        self._names.add(name)



# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    """The serialized model around its initializers: ModelProto fields before graph (7) and after,
    GraphProto fields before initializer (5) and after."""

    model_head: bytes
    model_tail: bytes
    graph_head: bytes
    graph_tail: bytes


@dataclass
class Plan:
    """The model without weight values, and how to draw them."""

    parts: _Parts  # the serialized model, complete except for the graph's initializers
    weights: list[WeightSpec]
    seed: int
    opset: int
    _drawn: bool = field(default=False, repr=False)

    @property
    def model(self) -> onnx.ModelProto:
        """The model without initializers, as an onnx.ModelProto (imports onnx). A fresh copy on
        each use: changing it does not change what the plan writes."""
        import onnx

        head, tail, graph_head, graph_tail = self._pieces()
        graph = graph_head + graph_tail
        return onnx.ModelProto.FromString(head + _tag(7) + _varint(len(graph)) + graph + tail)

    def arrays(self) -> Iterator[tuple[WeightSpec, np.ndarray]]:
        """The initializers in node order, whole, drawn from one generator; each is used once."""
        rng = self._begin()
        for spec in self.weights:
            array = self._take_loaded(spec)
            yield (
                spec,
                np.ascontiguousarray(array if array is not None else spec.init.draw(rng, spec.shape), dtype="<f4"),
            )

    def streams(self) -> Iterator[tuple[WeightSpec, Iterator[np.ndarray]]]:
        """The same values as `arrays`, each initializer as row-major pieces that may reuse one
        buffer: write each piece before asking for the next, and finish one initializer's pieces
        before the next initializer. Peak memory stays at one piece instead of one tensor."""
        rng = self._begin()
        for spec in self.weights:
            array = self._take_loaded(spec)
            pieces = (array,) if array is not None else spec.init.chunks(rng, spec.shape)
            yield spec, (np.ascontiguousarray(piece, dtype="<f4") for piece in pieces)

    def _begin(self) -> np.random.Generator:
        if self._drawn:
            raise RuntimeError("a plan's weights can be drawn only once")
        self._drawn = True
        return np.random.default_rng(self.seed)

    @staticmethod
    def _take_loaded(spec: WeightSpec) -> np.ndarray | None:
        """A weight loaded from --weights, handed over so that no second reference keeps it alive."""
        array, spec.array = spec.array, None
        return array

    @property
    def weight_bytes(self) -> int:
        return sum(w.nbytes for w in self.weights)

    def to_model(self) -> onnx.ModelProto:
        """The whole model, weights included, as an onnx.ModelProto (imports onnx)."""
        import onnx

        if self.serialized_size() > PROTOBUF_LIMIT:  # too big to parse: add the initializers to the model
            from onnx import numpy_helper

            model = self.model
            initializers = model.graph.initializer
            for spec, array in self.arrays():
                initializers.append(numpy_helper.from_array(array, spec.name))
            return model
        buffer = io.BytesIO()
        self.write(buffer)
        return onnx.ModelProto.FromString(buffer.getbuffer())

    # streaming: the serialized model, piece by piece

    def _pieces(self) -> tuple[bytes, bytes, bytes, bytes]:
        """ModelProto fields before graph (7) and after; GraphProto fields before initializer (5) and after."""
        p = self.parts
        return p.model_head, p.model_tail, p.graph_head, p.graph_tail

    def _graph_size(self) -> int:
        _, _, graph_head, graph_tail = self._pieces()
        return len(graph_head) + len(graph_tail) + sum(_entry_size(_tensor_size(w)) for w in self.weights)

    def serialized_size(self) -> int:
        model_head, model_tail, _, _ = self._pieces()
        return len(model_head) + _entry_size(self._graph_size()) + len(model_tail)

    def write(self, out: IO[bytes], progress: Progress | None = None) -> int:
        """Write the model as one protobuf message; return the number of bytes written.

        progress, if given, is called with (bytes written so far, total bytes) as the weights stream."""
        model_head, model_tail, graph_head, graph_tail = self._pieces()
        report = _reporter(progress, self.serialized_size())
        written = out.write(model_head) + out.write(_tag(7) + _varint(self._graph_size())) + out.write(graph_head)
        report(written)
        for spec, pieces in self.streams():
            written += out.write(
                _tag(5) + _varint(_tensor_size(spec)) + _weight_header(spec) + _tag(9) + _varint(spec.nbytes)
            )
            for piece in pieces:
                written += out.write(memoryview(piece).cast("B"))
                report(written)
        written += out.write(graph_tail) + out.write(model_tail)
        report(written)
        return written

    def write_external(self, directory: str, filename: str, progress: Progress | None = None) -> int:
        """Write `filename` with every initializer's data in `filename.data`; return total bytes.

        progress, if given, is called with (bytes written so far, total bytes of both files)."""
        data_name = filename + ".data"
        initializers, data_size = self._external_initializers(data_name)
        model_head, model_tail, graph_head, graph_tail = self._pieces()
        graph = b"".join([graph_head, *initializers, graph_tail])
        text = b"".join([model_head, _message(7, graph), model_tail])
        report = _reporter(progress, data_size + len(text))
        offset = 0
        report(offset)
        with open(os.path.join(directory, data_name), "wb") as data:
            for spec, pieces in self.streams():
                padding = -offset % _EXTERNAL_ALIGNMENT
                offset += data.write(b"\0" * padding)
                for piece in pieces:
                    offset += data.write(memoryview(piece).cast("B"))
                    report(offset)
        if offset != data_size:  # the model's offsets were computed before the data was written
            raise RuntimeError(f"external data is {offset} bytes, its layout said {data_size}")
        with open(os.path.join(directory, filename), "wb") as out:
            out.write(text)
        report(offset + len(text))
        return len(text) + offset

    def external_size(self, filename: str = "model.onnx") -> int:
        """Bytes of the model file `filename` when every weight is in `filename.data` (not counted):
        what must stay under protobuf's limit whatever the weights weigh."""
        initializers, _ = self._external_initializers(filename + ".data")
        model_head, model_tail, graph_head, graph_tail = self._pieces()
        graph_size = len(graph_head) + sum(len(entry) for entry in initializers) + len(graph_tail)
        return len(model_head) + _entry_size(graph_size) + len(model_tail)

    def _external_initializers(self, data_name: str) -> tuple[list[bytes], int]:
        """The graph's initializer fields (5) pointing into `data_name`, and that file's size: each
        tensor starts on an _EXTERNAL_ALIGNMENT boundary. Needs no weight values."""
        initializers = []
        offset = 0
        for spec in self.weights:
            offset += -offset % _EXTERNAL_ALIGNMENT
            # TensorProto: dims 1, data_type 2, name 8, external_data 13, data_location 14
            entries = b"".join(
                _message(13, _Encoder.entry(key, value))
                for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(spec.nbytes)))
            )
            initializers.append(_message(5, _weight_header(spec) + entries + _int(14, _EXTERNAL)))
            offset += spec.nbytes
        return initializers, offset


Progress = Callable[[int, int], None]  # (bytes written so far, total bytes to write)


def _reporter(progress: Progress | None, total: int) -> Callable[[int], None]:
    if progress is None:
        return lambda done: None
    return lambda done: progress(done, total)


def _tensor_header(name: str, shape: Iterable[int], data_type: int) -> bytes:
    """TensorProto fields before its data: dims (1), data_type (2), name (8, when it has one)."""
    return b"".join([*(_int(1, d) for d in shape), _int(2, data_type), _string(8, name) if name else b""])


def _weight_header(spec: WeightSpec) -> bytes:
    return _tensor_header(spec.name, spec.shape, FLOAT)


def _tensor_size(spec: WeightSpec) -> int:
    return len(_weight_header(spec)) + _entry_size(spec.nbytes)


# --- building the plan ------------------------------------------------------------------------


def plan(
    model: CheckedModel,
    *,
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike | None = None,
) -> Plan:
    """Emit every layer in node order; raise CnnError for a bad opset or weights file."""
    from .. import __version__

    opset = _check_opset(opset)
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer or None, got {batch!r}")
    graph, shapes = model.graph, model.shapes
    tape = Tape(opset)
    tensor_of: dict[Node, str] = {graph.input: INPUT_NAME}
    tape.shapes[INPUT_NAME] = tuple(model.input_shape)
    for node in graph.nodes[1:]:
        in_shapes = [shapes[p] for p in node.inputs]
        tape.check_opset(node, node.layer, in_shapes)
        tape.begin(node)
        output = node.layer.emit(tape, node.name, [tensor_of[p] for p in node.inputs], in_shapes, shapes[node])
        tape.end(output, shapes[node])
        tensor_of[node] = output
    tape.sink.raise_if_errors()

    batch_dim: int | str = "N" if batch is None else batch
    outputs = []
    for name, node in graph.outputs:
        tensor = tensor_of[node]
        if tensor != name:  # a named output whose layer's tensor has another name (or a dropout)
            tape.begin(node)
            tape.op("Identity", [tensor], name)
            tape.shapes[name] = shapes[node]
        outputs.append(_Encoder.value_info(name, FLOAT, [batch_dim, *shapes[node]]))
    output_names = {name for name, _ in graph.outputs}

    value_info = []
    for tensor in tape.order:
        if tensor in output_names:
            continue
        if tensor in tape.constants:
            array = tape.constants[tensor]
            elem = INT64 if array.dtype == np.int64 else FLOAT
            value_info.append(_Encoder.value_info(tensor, elem, array.shape))
        else:
            value_info.append(_Encoder.value_info(tensor, FLOAT, [batch_dim, *tape.shapes[tensor]]))

    spec_name = os.path.basename(model.source.path)
    inputs = [_Encoder.value_info(INPUT_NAME, FLOAT, [batch_dim, *model.input_shape])]
    graph_doc = f"compiled by cnndsl {__version__} from {spec_name}"
    # GraphProto: node 1, name 2 | initializer 5 | doc_string 10, input 11, output 12, value_info 13
    graph_head = b"".join([*(_message(1, n) for n in tape.nodes), _string(2, model.name)])
    graph_tail = b"".join(
        [
            _string(10, graph_doc),
            *(_message(11, v) for v in inputs),
            *(_message(12, v) for v in outputs),
            *(_message(13, v) for v in value_info),
        ]
    )

    metadata = {
        "cnndsl.version": __version__,
        "cnndsl.seed": str(seed),
        "cnndsl.spec": model.source.text,
        "cnndsl.spec_name": spec_name,
    }
    base = os.path.dirname(os.path.abspath(model.source.path))
    for source in _included_sources(model):
        where = os.path.relpath(os.path.abspath(source.path), base) if os.path.exists(source.path) else source.path
        metadata[f"cnndsl.include:{where}"] = source.text
    if weights is not None:
        metadata["cnndsl.weights"] = os.path.basename(os.fspath(weights))
    model_doc = f"{model.name}: {model.total_params:,} parameters, {model.total_macs:,} MACs per sample"
    # ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6 | graph 7 |
    # opset_import 8 (OperatorSetIdProto: domain 1, version 2), metadata_props 14
    model_head = b"".join([_int(1, IR_VERSION), _string(2, "cnndsl"), _string(3, __version__), _string(6, model_doc)])
    model_tail = b"".join(
        [
            _message(8, _string(1, "") + _int(2, opset)),
            *(_message(14, _Encoder.entry(k, v)) for k, v in sorted(metadata.items())),
        ]
    )

    result = Plan(_Parts(model_head, model_tail, graph_head, graph_tail), tape.weight_specs, seed, opset)
    if weights is not None:
        _attach_weights(result, weights)
    return result


def _included_sources(model: CheckedModel) -> list:
    seen, result = {id(model.source)}, []
    for node in model.graph.nodes:
        if id(node.source) not in seen:
            seen.add(id(node.source))
            result.append(node.source)
    return result


def _check_opset(opset: int | None) -> int:
    if opset is None:
        return default_opset()
    if isinstance(opset, bool) or not isinstance(opset, int):  # a program's mistake, not the spec's
        raise TypeError(f"opset must be an int or None, got {type(opset).__name__}")
    if opset < MIN_OPSET:
        valid = False
    else:  # ask onnx only about opsets newer than the default
        valid = opset <= NEWEST_RUNTIME_OPSET or opset <= _newest_opset()
    if not valid:
        newest = _newest_opset()
        raise CnnError(
            [
                error(
                    "E504",
                    f"opset {opset} is not supported: cnndsl emits opsets {MIN_OPSET} to {newest}",
                    None,
                    notes=[f"onnxruntime runs opsets up to {newest_runtime_opset()}"],
                    help=f"leave --opset out for the default ({default_opset()})",
                )
            ]
        )
    return opset


def newest_runtime_opset() -> int:
    """The newest opset the installed onnxruntime runs: the newest version among the ONNX-domain
    operator schemas it was built with (onnxruntime 1.32 runs 28); NEWEST_RUNTIME_OPSET without
    onnxruntime (or one without the schema list). Imports onnxruntime: for messages only."""
    try:
        from onnxruntime.capi import _pybind_state

        schemas = _pybind_state.get_all_operator_schema()
    except Exception:  # not installed, or a build without the list: any failure means "unknown"
        return NEWEST_RUNTIME_OPSET
    versions = [schema.since_version for schema in schemas if schema.domain in ("", "ai.onnx")]
    return max(versions, default=NEWEST_RUNTIME_OPSET)


# --- trained weights --------------------------------------------------------------------------

_SAVE_HELP = "save trained weights with numpy.savez(path, **{'conv1.weight': array, ...})"


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, whole (for archives known to fit in memory; `--weights`
    reads only what the model needs); E501 for a file that is not one, E502 for a bad array."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    sink = DiagnosticSink()
    with _open_npz(path) as archive:
        for key in archive.keys:
            try:
                arrays[key] = archive.read(key, archive.header(key))
            except (npy.NpyError, *npy.READ_ERRORS) as problem:
                sink.add(error("E502", f"array '{key}' in '{path}' cannot be read: {first_line(problem)}", None))
    sink.raise_if_errors()
    return arrays


def _open_npz(path: str) -> npy.Archive:
    """The archive at `path`, opened member by member; E501 unless it is a regular file holding a zip."""

    def fail(message: str, help: str | None = None) -> CnnError:
        return CnnError([error("E501", f"cannot read weights file '{path}': {message}", None, help=help)])

    try:
        handle = npy.open_regular(path)
    except npy.NpyError as problem:
        raise fail(str(problem)) from None
    except OSError as problem:
        raise fail(problem.strerror or str(problem)) from None
    try:
        if handle.read(len(npy.MAGIC)) == npy.MAGIC:
            raise fail("it holds a single array, not an .npz archive keyed by parameter name", help=_SAVE_HELP)
        handle.seek(0)
        return npy.Archive(handle)
    except CnnError:
        handle.close()
        raise
    except npy.READ_ERRORS:
        handle.close()
        raise fail("it is not a NumPy .npz archive", help=_SAVE_HELP) from None


def _attach_weights(result: Plan, path: str | os.PathLike) -> None:
    """Match the archive's arrays to the parameters by name, then by each member's .npy header
    (type and shape), and only then read its data: exactly the bytes that parameter needs. An
    archive can claim any size or inflate to any size (a zip bomb), so nothing the model does not
    need is ever read, decompressed or allocated. Every mismatch is a diagnostic, reported together."""
    path = os.fspath(path)
    sink = DiagnosticSink()
    with _open_npz(path) as archive:
        expected = {w.name for w in result.weights}
        unexpected = [key for key in archive.keys if key not in expected]
        missing = [w.name for w in result.weights if w.name not in archive.keys and not isinstance(w.init, Literal)]
        for spec in result.weights:
            label = Label(spec.node.source, spec.node.span, f"'{spec.name}' is {shape_text(spec.shape)}")
            if spec.name not in archive.keys:
                if not isinstance(spec.init, Literal):  # hand-crafted kernels come from the spec
                    # the likely mistake: this parameter saved under a mistyped name
                    sink.add(
                        error(
                            "E502",
                            f"'{path}' has no array '{spec.name}' ({shape_text(spec.shape)})",
                            label,
                            help=did_you_mean(spec.name, unexpected),
                        )
                    )
                continue
            array = _read_weight(archive, spec, path)
            if isinstance(array, str):  # what is wrong with it
                sink.add(error("E502", array, label))
                continue
            if isinstance(spec.init, Literal):
                if not np.array_equal(array, spec.init.draw(None, spec.shape)):
                    sink.add(
                        error(
                            "E502",
                            f"array '{spec.name}' in '{path}' differs from the kernel written in the spec",
                            label,
                            notes=["weights given in the spec are fixed"],
                            help="remove the array from the archive or change the spec",
                        )
                    )
                continue
            spec.array = array
    for name in unexpected:
        sink.add(
            error(
                "E502",
                f"'{path}' has an array '{name}' that is not a parameter of this model",
                None,
                help=did_you_mean(name, missing),
            )
        )
    sink.raise_if_errors()


def _read_weight(archive: npy.Archive, spec: WeightSpec, path: str) -> np.ndarray | str:
    """Parameter `spec`'s array from the archive as float32, or what is wrong with it (a message).
    The header is checked before any data is read."""
    try:
        header = archive.header(spec.name)
        if not header.is_real:
            return f"array '{spec.name}' in '{path}' has type {npy.dtype_text(header.dtype)}, not a real number type"
        if header.shape != spec.shape:
            return (
                f"array '{spec.name}' in '{path}' has shape {shape_text(header.shape) or '()'}, "
                f"but '{spec.node.name}' needs {shape_text(spec.shape)}"
            )
        array = np.ascontiguousarray(archive.read(spec.name, header), dtype="<f4")
    except (npy.NpyError, *npy.READ_ERRORS) as problem:
        return f"array '{spec.name}' in '{path}' cannot be read: {first_line(problem)}"
    if not np.isfinite(array).all():
        return f"array '{spec.name}' in '{path}' contains NaN or infinite values"
    return array


# --- the public entry points ------------------------------------------------------------------


def compile_model(
    model: CheckedModel,
    *,
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike | None = None,
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


def check_graph_size(result: Plan, filename: str = "model.onnx") -> None:
    """Raise E509 when the model cannot be written at all: its graph alone, with every weight in
    an external data file, exceeds protobuf's limit (huge names, very many nodes). Costs no weights."""
    size = result.external_size(filename)
    if size > PROTOBUF_MAX_BYTES:
        raise CnnError(
            [
                error(
                    "E509",
                    "the ONNX graph exceeds protobuf's 2 GiB limit even with its weights stored externally",
                    None,
                    notes=[
                        f"without its weights the model is {size:,} bytes; protobuf reads at most {PROTOBUF_MAX_BYTES:,}"
                    ],
                    help="use shorter layer and block names, or fewer layers",
                )
            ]
        )


@dataclass(frozen=True)
class Written:
    path: str
    bytes: int  # all files written together
    opset: int
    external_data: str | None = None  # path of the external data file, if any
    data_bytes: int = 0  # of `bytes`, those in the external data file

    @property
    def model_bytes(self) -> int:
        return self.bytes - self.data_bytes


def default_output(model: CheckedModel) -> str:
    base, _ = os.path.splitext(model.source.path)
    return base + ".onnx"


def compile_file(
    model: CheckedModel,
    output: str | os.PathLike | None = None,
    *,
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike | None = None,
    external_data: bool | None = None,
    progress: Progress | None = None,
) -> Written:
    """Write the model to `output` (default: the spec's path with .onnx) atomically.

    external_data: None writes weights externally (to OUTPUT.data) only when the model exceeds
    protobuf's limit. progress: called with (bytes written so far, total bytes) while writing.
    Every file written is checked first (_check_output): nothing is written when one is refused.
    """
    from ..files import write_atomically, write_directory_atomically

    output = _output_path(model, output)
    _check_output(output, model, weights)
    result = plan(model, opset=opset, batch=batch, seed=seed, weights=weights)
    external = result.serialized_size() > PROTOBUF_LIMIT if external_data is None else external_data
    if external:
        check_graph_size(result, os.path.basename(output))
        _check_output(output + ".data", model, weights, "the model's external data")
    try:
        if external:
            size = write_directory_atomically(
                output, lambda directory, name: result.write_external(directory, name, progress)
            )
            model_size = result.external_size(os.path.basename(output))
            return Written(output, size, result.opset, output + ".data", size - model_size)
        size = write_atomically(output, lambda out: result.write(out, progress))
    except OSError as problem:
        raise _output_error(f"cannot write '{shorten(output)}': {problem.strerror or problem}") from None
    return Written(output, size, result.opset)


def _output_path(model: CheckedModel, output: str | os.PathLike | None) -> str:
    if output is not None:
        return os.fspath(output)
    if not os.path.exists(model.source.path):
        raise _output_error("an output path is needed for a spec that is not a file", help="give one with -o OUT.onnx")
    return default_output(model)


def _check_output(
    output: str, model: CheckedModel, weights: str | os.PathLike | None, what: str = "the ONNX model"
) -> None:
    """Refuse to write `output` where that would lose data or cannot give a model file: over an
    input of this compile (spec, included spec, weights), or over anything but a regular file. A
    directory is refused; so are a FIFO or a device: renaming over /dev/null would replace it."""
    from ..files import existing_kind

    shown = shorten(output)
    if "\0" in output:  # the operating system refuses such paths (Python raises ValueError)
        raise _output_error(f"the output '{shown}' contains a NUL character")
    kind = existing_kind(output)
    if kind == "a directory":
        raise _output_error(f"the output '{shown}' is a directory", help="name the file: -o DIR/model.onnx")
    if output.endswith(("/", os.sep)):
        raise _output_error(
            f"the output '{shown}' ends in '/', so it names a directory, not a file",
            help="name the file: -o DIR/model.onnx",
        )
    if kind not in (None, "a regular file"):
        raise _output_error(
            f"the output '{shown}' is {kind}, not a regular file",
            help="cnndsl writes models to files only; name a file with -o OUT.onnx",
        )
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise _output_error(
            f"the output's directory '{shorten(directory)}' "
            + ("is not a directory" if os.path.exists(directory) else "does not exist")
        )
    system = _system_path(output)
    if system is not None:
        # /dev/stdout is a link to /proc/self/fd/1, which may be a regular file (a log): renaming
        # over the link would replace the system's /dev/stdout.
        raise _output_error(
            f"the output '{shown}' is in {system}, the system's device and process files",
            help="cnndsl writes models to files only; name a file with -o OUT.onnx",
        )
    protected = [s.path for s in [model.source, *_included_sources(model)]]
    if weights is not None:
        protected.append(os.fspath(weights))
    for path in protected:
        same = os.path.realpath(path) == os.path.realpath(output)
        if not same and os.path.exists(path) and os.path.exists(output):
            same = os.path.samefile(path, output)  # hard links
        if same:
            raise _output_error(
                f"refusing to overwrite the input '{shorten(path)}' with {what}",
                help="choose another output with -o OUT.onnx",
            )


def _system_path(path: str) -> str | None:
    """'/dev', '/proc' or '/sys' when `path` (its link, its directory or what it points to) is
    under one of them; None otherwise."""
    for where in (
        os.path.abspath(path),
        os.path.realpath(os.path.dirname(os.path.abspath(path))),
        os.path.realpath(path),
    ):
        for system in _SYSTEM_DIRECTORIES:
            if where == system or where.startswith(system + os.sep):
                return system
    return None


_SYSTEM_DIRECTORIES = ("/dev", "/proc", "/sys")


def _output_error(message: str, help: str | None = None) -> CnnError:
    return CnnError([error("E503", message, None, help=help)])
