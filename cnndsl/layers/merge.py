"""Layers with several inputs: channel concatenation and element-wise addition."""

from __future__ import annotations

from typing import ClassVar

from .base import Layer, Shape, ShapeIssue, register, shape_text
from .emission import Emitter


@register
class Concat(Layer):
    kind: ClassVar[str] = "concat"
    summary: ClassVar[str] = "concatenate tensors on the channel axis (spatial sizes must be equal)"
    arity: ClassVar[int | None] = None
    examples: ClassVar[tuple[str, ...]] = ("concat",)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        for index, shape in enumerate(inputs[1:], start=1):
            if len(shape) != len(first) or shape[1:] != first[1:]:
                raise ShapeIssue(
                    "E405",
                    f"cannot concatenate {shape_text(first)} and {shape_text(shape)}: spatial sizes differ",
                    notes=[f"input {i + 1} is {shape_text(s)}" for i, s in enumerate(inputs)],
                    help="every branch must keep the same spatial size (check strides and padding)",
                    input_index=index,
                )
        return (sum(shape[0] for shape in inputs), *first[1:])

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return tape.op("Concat", inputs, name, axis=1)


@register
class Add(Layer):
    kind: ClassVar[str] = "add"
    summary: ClassVar[str] = "element-wise sum of tensors of exactly the same shape (no broadcasting)"
    arity: ClassVar[int | None] = None
    examples: ClassVar[tuple[str, ...]] = ("add",)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        for index, shape in enumerate(inputs[1:], start=1):
            if shape != first:
                raise ShapeIssue(
                    "E406",
                    f"cannot add {shape_text(first)} and {shape_text(shape)}: shapes must be equal",
                    notes=[f"input {i + 1} is {shape_text(s)}" for i, s in enumerate(inputs)],
                    help="use a projection shortcut (a 1x1 conv with the same stride) to change the shortcut's shape",
                    input_index=index,
                )
        return first

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        result = inputs[0]
        for index, other in enumerate(inputs[1:], start=1):
            output = name if index == len(inputs) - 1 else f"{name}.partial{index}"
            result = tape.op("Add", [result, other], output)
        return result
