"""The tape: what each layer kind emits its ONNX nodes to (the `Emitter` of cnndsl.layers.base).

A layer's `emit` asks the tape for nodes, for its declared weights and for constants, naming every
tensor after itself. The tape serializes each node as it comes (cnndsl.onnx.protobuf), records the
shape of every tensor for the graph's value_info, and records each weight as a `WeightSpec` (name,
shape, initialiser) without drawing any value: the weights are drawn, or loaded, only while the
model is written (cnndsl.onnx.stream).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..diagnostics import CnnError, Diagnostic, Label, error, first_per_line
from ..ir import Node
from ..layers.base import Layer, Shape
from ..layers.emission import Weight
from ..layers.initializers import Init
from . import protobuf
from .versions import default_opset

INPUT_NAME = "input"  # the graph's input tensor: no layer may take its name


@dataclass
class WeightSpec:
    """One initializer: drawn from `init`, or taken from `array` (trained weights)."""

    name: str
    shape: tuple[int, ...]
    init: Init
    node: Node
    array: NDArray[np.float32] | None = None

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
        self.constants: dict[str, NDArray[Any]] = {}  # Constant node outputs and their values
        self.order: list[str] = []  # tensors in the order they were produced
        self._too_new: list[Diagnostic] = []  # E504s: layers that need a newer opset
        self._names: set[str] = {INPUT_NAME}
        self._node: Node | None = None
        self._doc = ""
        self._produced: dict[str, Shape | None] = {}  # this layer's tensors and their declared shapes

    # the interface the layer kinds use

    def op(
        self, op_type: str, inputs: Sequence[str], output: str, *, shape: Shape | None = None, **attributes: Any
    ) -> str:
        """An ONNX node producing `output`. `shape` (without the batch axis) is declared for an
        intermediate tensor whose shape differs from the layer's output, such as a padded input."""
        self._claim(output)
        self.nodes.append(protobuf.node(op_type, inputs, [output], output, self._doc, attributes))
        self._produced[output] = None if shape is None else tuple(shape)
        self.order.append(output)
        return output

    def weights(self, layer: str, declared: Sequence[Weight]) -> list[str]:
        names = []
        for weight in declared:
            name = f"{layer}.{weight.name}"
            self._claim(name)
            self.weight_specs.append(WeightSpec(name, weight.shape, weight.init, self._layer_node))
            names.append(name)
        return names

    def constant(self, name: str, value: Any, integer: bool = False) -> str:
        """A Constant node, not an initializer: initializers are exactly the counted parameters."""
        self._claim(name)
        array = np.asarray(value, dtype=np.int64 if integer else np.float32)
        self.constants[name] = array
        value_attribute = protobuf.SerializedTensor(protobuf.tensor(name, array))
        self.nodes.append(protobuf.node("Constant", [], [name], name, self._doc, {"value": value_attribute}))
        self.order.append(name)
        return name

    # bookkeeping for the emitter

    def check_opset(self, node: Node, layer: Layer, in_shapes: list[Shape]) -> None:
        """E504 when the layer needs a newer opset than the one being emitted."""
        needed, what = layer.opset_needed(in_shapes)
        if needed > self.opset:
            self._too_new.append(
                error(
                    "E504",
                    f"'{node.name}' needs ONNX opset {needed} or newer for {what}, "
                    f"but opset {self.opset} was requested",
                    Label(node.source, node.span),
                    help=f"use --opset {needed} or newer (the default is {default_opset()})",
                )
            )

    def raise_opset_errors(self) -> None:
        """CnnError with every E504 found, once per line of the spec, if any."""
        if self._too_new:
            raise CnnError(first_per_line(self._too_new))

    def begin(self, node: Node) -> None:
        """Start the nodes of `node`'s layer: they are documented with its place in the spec."""
        self._node = node
        line, col = node.source.line_col(node.span.start)
        self._doc = f"{os.path.basename(node.source.path)}:{line}:{col}"
        self._produced = {}

    def end(self, output: str, out_shape: Shape) -> None:
        """Give every tensor the layer produced its shape: the declared one, else the layer's output."""
        for tensor, declared in self._produced.items():
            self.shapes[tensor] = tuple(out_shape) if declared is None or tensor == output else declared
        if output not in self.shapes:
            raise RuntimeError(f"layer {self._layer_node.name!r} returned unknown tensor {output!r}")

    @property
    def _layer_node(self) -> Node:
        """The node whose layer is being emitted."""
        if self._node is None:
            raise RuntimeError("a layer emitted before Tape.begin")
        return self._node

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise RuntimeError(f"tensor name {name!r} is used twice (layer {self._layer_node.name!r})")
        self._names.add(name)
