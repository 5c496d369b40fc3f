"""The plan: a compiled model minus its weight values, and the ways of writing it out.

cnndsl.onnx.emit serializes everything but the graph's initializers (`ModelParts`) and lists the
weights as `WeightSpec`s. Writing the model then draws, or loads, one weight at a time and streams
it, so that peak memory stays at about one piece of one parameter tensor
(cnndsl.layers.initializers.CHUNK_VALUES) instead of twice the whole model:

- `Plan.write`: one protobuf message, exactly the bytes of `Plan.to_model().SerializeToString()`;
- `Plan.write_external`: the model file with every weight in an external data file
  (`NAME.onnx.data`), for models over protobuf's 2 GiB limit. Each tensor starts on a page
  boundary, so that ONNX Runtime can map the weights page by page.

Both sizes are known before a weight is drawn (`serialized_size`, `external_size`): they decide
whether a model goes external and whether it can be written at all.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

from . import protobuf
from .protobuf import int_field, length_delimited_key, length_delimited_size, message_field, varint
from .tape import WeightSpec

if TYPE_CHECKING:
    import onnx

Progress = Callable[[int, int], None]  # (bytes written so far, total bytes to write)

_EXTERNAL_ALIGNMENT = 4096  # lets ONNX Runtime map external weights page by page


class ModelParts(NamedTuple):
    """The serialized model around its initializers: ModelProto fields before graph (7) and after,
    GraphProto fields before initializer (5) and after."""

    model_head: bytes
    model_tail: bytes
    graph_head: bytes
    graph_tail: bytes


@dataclass
class Plan:
    """The model without weight values, and how to draw them."""

    parts: ModelParts  # the serialized model, complete except for the graph's initializers
    weights: list[WeightSpec]
    seed: int
    opset: int
    _drawn: bool = field(default=False, repr=False)

    @property
    def model(self) -> onnx.ModelProto:
        """The model without initializers, as an onnx.ModelProto (imports onnx). A fresh copy on
        each use: changing it does not change what the plan writes."""
        import onnx

        model_head, model_tail, graph_head, graph_tail = self.parts
        model: onnx.ModelProto = onnx.ModelProto.FromString(
            model_head + message_field(7, graph_head + graph_tail) + model_tail
        )
        return model

    @property
    def weight_bytes(self) -> int:
        return sum(w.nbytes for w in self.weights)

    def to_model(self) -> onnx.ModelProto:
        """The whole model, weights included, as an onnx.ModelProto (imports onnx)."""
        import onnx

        if self.serialized_size() > protobuf.PROTOBUF_LIMIT:  # too big to parse: add the initializers to the model
            from onnx import numpy_helper

            model = self.model
            initializers = model.graph.initializer
            for spec, array in self.arrays():
                initializers.append(numpy_helper.from_array(array, spec.name))
            return model
        buffer = io.BytesIO()
        self.write(buffer)
        parsed: onnx.ModelProto = onnx.ModelProto.FromString(buffer.getbuffer())
        return parsed

    # the weights, drawn once

    def arrays(self) -> Iterator[tuple[WeightSpec, NDArray[np.float32]]]:
        """The initializers in node order, whole, drawn from one generator; each is used once."""
        rng = self._begin()
        for spec in self.weights:
            array = self._take_loaded(spec)
            yield (
                spec,
                np.ascontiguousarray(array if array is not None else spec.init.draw(rng, spec.shape), dtype="<f4"),
            )

    def streams(self) -> Iterator[tuple[WeightSpec, Iterator[NDArray[np.float32]]]]:
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
    def _take_loaded(spec: WeightSpec) -> NDArray[np.float32] | None:
        """A weight loaded from --weights, handed over so that no second reference keeps it alive."""
        array, spec.array = spec.array, None
        return array

    # one protobuf message

    def serialized_size(self) -> int:
        return len(self.parts.model_head) + length_delimited_size(self._graph_size()) + len(self.parts.model_tail)

    def _graph_size(self) -> int:
        initializers = sum(length_delimited_size(_tensor_size(w)) for w in self.weights)
        return len(self.parts.graph_head) + initializers + len(self.parts.graph_tail)

    def write(self, out: IO[bytes], progress: Progress | None = None) -> int:
        """Write the model as one protobuf message; return the number of bytes written.

        progress, if given, is called with (bytes written so far, total bytes) as the weights stream."""
        model_head, model_tail, graph_head, graph_tail = self.parts
        report = _reporter(progress, self.serialized_size())
        written = out.write(model_head) + out.write(length_delimited_key(7) + varint(self._graph_size()))
        written += out.write(graph_head)
        report(written)
        for spec, pieces in self.streams():
            written += out.write(
                length_delimited_key(5)
                + varint(_tensor_size(spec))
                + _weight_header(spec)
                + length_delimited_key(9)
                + varint(spec.nbytes)
            )
            for piece in pieces:
                written += out.write(piece.data.cast("B"))
                report(written)
        written += out.write(graph_tail) + out.write(model_tail)
        report(written)
        return written

    # the weights in an external data file

    def write_external(self, directory: str, filename: str, progress: Progress | None = None) -> int:
        """Write `filename` with every initializer's data in `filename.data`; return total bytes.

        progress, if given, is called with (bytes written so far, total bytes of both files)."""
        data_name = filename + ".data"
        initializers, data_size = self._external_initializers(data_name)
        model_head, model_tail, graph_head, graph_tail = self.parts
        graph = b"".join([graph_head, *initializers, graph_tail])
        text = b"".join([model_head, message_field(7, graph), model_tail])
        report = _reporter(progress, data_size + len(text))
        offset = 0
        report(offset)
        with open(os.path.join(directory, data_name), "wb") as data:
            for _, pieces in self.streams():
                padding = -offset % _EXTERNAL_ALIGNMENT
                offset += data.write(b"\0" * padding)
                for piece in pieces:
                    offset += data.write(piece.data.cast("B"))
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
        model_head, model_tail, graph_head, graph_tail = self.parts
        graph_size = len(graph_head) + sum(len(entry) for entry in initializers) + len(graph_tail)
        return len(model_head) + length_delimited_size(graph_size) + len(model_tail)

    def _external_initializers(self, data_name: str) -> tuple[list[bytes], int]:
        """The graph's initializer fields (5) pointing into `data_name`, and that file's size: each
        tensor starts on an _EXTERNAL_ALIGNMENT boundary. Needs no weight values."""
        initializers = []
        offset = 0
        for spec in self.weights:
            offset += -offset % _EXTERNAL_ALIGNMENT
            # TensorProto: dims 1, data_type 2, name 8, external_data 13, data_location 14
            entries = b"".join(
                message_field(13, protobuf.string_entry(key, value))
                for key, value in (("location", data_name), ("offset", str(offset)), ("length", str(spec.nbytes)))
            )
            initializers.append(message_field(5, _weight_header(spec) + entries + int_field(14, protobuf.EXTERNAL)))
            offset += spec.nbytes
        return initializers, offset


def _reporter(progress: Progress | None, total: int) -> Callable[[int], None]:
    if progress is None:
        return lambda done: None
    return lambda done: progress(done, total)


def _weight_header(spec: WeightSpec) -> bytes:
    return protobuf.tensor_header(spec.name, spec.shape, protobuf.FLOAT)


def _tensor_size(spec: WeightSpec) -> int:
    """Bytes of the weight's TensorProto: its header and its raw data (field 9)."""
    return len(_weight_header(spec)) + length_delimited_size(spec.nbytes)
