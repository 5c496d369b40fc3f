"""Layers with several inputs: channel concatenation, element-wise addition and multiplication."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .base import Kept, Layer, Shape, ShapeIssue, register, shape_text
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode
from .reach import IDENTITY, Window


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

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(None, "torch.cat([{xs}], dim=1)")

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return KerasCode(Constructor("keras.layers.Concatenate", ("axis=-1",)), inputs_as_list=True)

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

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return pairwise_flops(inputs, output)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(None, " + ".join(f"{{{index}}}" for index in range(len(inputs))))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return KerasCode(Constructor("keras.layers.Add"), inputs_as_list=True)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return fold(tape, "Add", name, inputs)


@register
class Mul(Layer):
    kind: ClassVar[str] = "mul"
    summary: ClassVar[str] = (
        "element-wise product; an extent of 1 is broadcast, so a Cx1x1 gate scales a CxHxW map (squeeze-and-excitation)"
    )
    arity: ClassVar[int | None] = None
    examples: ClassVar[tuple[str, ...]] = ("mul",)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        result = list(first)
        for index, shape in enumerate(inputs[1:], start=1):
            if len(shape) != len(first):
                reason = "their ranks differ"
            else:
                clashes = [
                    axis for axis, (a, b) in enumerate(zip(result, shape, strict=True)) if a != b and 1 not in (a, b)
                ]
                if not clashes:
                    result = [max(a, b) for a, b in zip(result, shape, strict=True)]
                    continue
                axis = clashes[0]
                where = "the channels" if axis == 0 else f"spatial axis {axis}"
                reason = f"{where} differ ({result[axis]} and {shape[axis]}) and neither is 1"
            raise ShapeIssue(
                "E409",
                f"cannot multiply {shape_text(tuple(result))} and {shape_text(shape)}: {reason}",
                notes=[f"input {i + 1} is {shape_text(s)}" for i, s in enumerate(inputs)],
                help="each axis must be equal, or 1 in one of the tensors (a gate made by 'pool avg global' "
                "is Cx1x1 and scales every position of a CxHxW map)",
                input_index=index,
            )
        return tuple(result)

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return pairwise_flops(inputs, output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        # Each factor's gradient is the others' product.
        return Kept(inputs=tuple(range(len(inputs))))

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        """An input with extent 1 on an axis the output is longer on is read at its one position
        (a gate from global pooling scales every position)."""
        return tuple(
            tuple(IDENTITY if n == out else Window(stride=0) for n, out in zip(shape[1:], output[1:], strict=True))
            for shape in inputs
        )

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(None, " * ".join(f"{{{index}}}" for index in range(len(inputs))))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return KerasCode(Constructor("keras.layers.Multiply"), inputs_as_list=True)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        # Shapes without the batch axis have equal ranks, so ONNX's trailing-axis broadcasting
        # lines up channels with channels.
        return fold(tape, "Mul", name, inputs)


def pairwise_flops(inputs: list[Shape], output: Shape) -> int:
    """An element-wise sum or product of n tensors: n - 1 operations per output value."""
    return (len(inputs) - 1) * math.prod(output)


def fold(tape: Emitter, op: str, name: str, inputs: list[str]) -> str:
    """A binary ONNX operator applied left to right over the inputs; the last node is the layer's."""
    result = inputs[0]
    for index, other in enumerate(inputs[1:], start=1):
        output = name if index == len(inputs) - 1 else f"{name}.partial{index}"
        result = tape.op(op, [result, other], output)
    return result
