"""Tensors exporters compute from the input's shape, evaluated for a given batch. The dynamo exporter
writes some views (`as_strided` after a pooling) as a Reshape to one axis and a Gather whose indices
it computes from the batch size (Shape, Range, Mul, Unsqueeze, Add): ONNX infers no shape for such
a Gather, the importer does from the indices' value (reading.py), and a pattern (fused.py) sees
whether they give the input back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx.helper import get_attribute_value

Shape = tuple[int, ...]

# Deeper than any shape computation an exporter writes: a bound on the recursion.
_DEPTH = 64


def _axes(node: onnx.NodeProto, values: list[np.ndarray]) -> tuple[int, ...] | None:
    given = _attributes(node).get("axes")
    if given is None and len(values) > 1:
        given = values[1].reshape(-1).tolist()
    return None if given is None else tuple(int(a) for a in given)  # type: ignore[attr-defined]


def _unsqueeze(node: onnx.NodeProto, values: list[np.ndarray]) -> np.ndarray | None:
    axes = _axes(node, values)
    return None if axes is None else np.expand_dims(values[0], axes)


def _squeeze(node: onnx.NodeProto, values: list[np.ndarray]) -> np.ndarray | None:
    axes = _axes(node, values)
    return np.squeeze(values[0]) if axes is None else np.squeeze(values[0], axes)


def _divide(node: onnx.NodeProto, values: list[np.ndarray]) -> np.ndarray:
    a, b = values
    return np.asarray(a // b if np.issubdtype(a.dtype, np.integer) else a / b)


_Operation = Callable[[onnx.NodeProto, list[np.ndarray]], np.ndarray | None]
_OPERATIONS: dict[str, _Operation] = {
    "Add": lambda n, v: v[0] + v[1],
    "Sub": lambda n, v: v[0] - v[1],
    "Mul": lambda n, v: v[0] * v[1],
    "Div": _divide,
    "Range": lambda n, v: np.arange(v[0].item(), v[1].item(), v[2].item(), dtype=v[0].dtype),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda n, v: np.concatenate(v, axis=int(_attributes(n)["axis"])),  # type: ignore[call-overload]
    "Gather": lambda n, v: np.take(v[0], v[1], axis=int(_attributes(n).get("axis", 0))),  # type: ignore[call-overload]
    "Reshape": lambda n, v: v[0].reshape(v[1].tolist()),
    "Identity": lambda n, v: v[0],
}


class ShapeArithmetic:
    """Values computed from constants and the input's shape alone, for any batch."""

    def __init__(self, nodes: list[onnx.NodeProto], constants: dict[str, np.ndarray], input_name: str, shape: Shape):
        self.producer = {output: node for node in nodes for output in node.output}
        self.constants = constants
        self.input_name = input_name
        self.input_shape = shape
        # Each tensor's value once per batch: a graph's Adds and Muls of data would otherwise be
        # walked once per path through them.
        self.known: dict[tuple[str, int], np.ndarray | None] = {}

    def value(self, tensor: str, batch: int, depth: int = 0) -> np.ndarray | None:
        """The tensor's value when the input has `batch` examples; None for a tensor that depends
        on the input's values, or is computed by an operator not listed here."""
        if tensor in self.constants:
            return self.constants[tensor]
        if (tensor, batch) not in self.known:
            self.known[tensor, batch] = self._computed(tensor, batch, depth)
        return self.known[tensor, batch]

    def _computed(self, tensor: str, batch: int, depth: int) -> np.ndarray | None:
        node = self.producer.get(tensor)
        if node is None or depth > _DEPTH:
            return None
        if node.op_type == "Shape":
            return self._input_shape(node, batch)
        operation = _OPERATIONS.get(node.op_type)
        if operation is None:
            return None
        values = [self.value(name, batch, depth + 1) for name in node.input if name]
        if any(value is None for value in values):
            return None
        try:
            return operation(node, values)  # type: ignore[arg-type]
        except (ValueError, IndexError, TypeError, KeyError):  # an exporter's arithmetic numpy refuses
            return None

    def _input_shape(self, node: onnx.NodeProto, batch: int) -> np.ndarray | None:
        """Shape of the model's input (its batch is known here; no other tensor's is)."""
        if node.input[0] != self.input_name:
            return None
        values = _attributes(node)
        shape = np.array([batch, *self.input_shape], dtype=np.int64)
        return shape[int(values.get("start", 0)) : values.get("end")]  # type: ignore[call-overload]


def _attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {attribute.name: get_attribute_value(attribute) for attribute in node.attribute}
