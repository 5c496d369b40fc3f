"""Center crop to another tensor's spatial size: U-Net's skip connections, where the encoder's map
is larger than the decoder's after valid convolutions. `crop a b` (or `a -> crop b`) keeps the middle
of `a` at the size of `b`; an odd difference drops its extra row at the end.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Layer, Shape, ShapeIssue, register, shape_text
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode
from .keras_helpers import CENTER_CROP
from .reach import Window


@register
class Crop(Layer):
    kind: ClassVar[str] = "crop"
    summary: ClassVar[str] = "center crop of the first tensor to the spatial size of the second (U-Net's skips)"
    arity: ClassVar[int | None] = None
    examples: ClassVar[tuple[str, ...]] = ("crop",)
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)
    views_input: ClassVar[bool] = True  # a slice, in PyTorch

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs) != 2:
            raise ShapeIssue(
                "E410",
                f"crop takes two tensors, the one to crop and the one whose size it takes; got {len(inputs)}",
            )
        source, target = inputs
        if len(source) != len(target) or len(source) < 2:
            raise ShapeIssue(
                "E410",
                f"cannot crop {shape_text(source)} to the size of {shape_text(target)}: "
                + ("a crop needs spatial axes" if len(source) < 2 else "their ranks differ"),
                input_index=1,
            )
        larger = [axis for axis, (n, t) in enumerate(zip(source[1:], target[1:], strict=True), 1) if t > n]
        if larger:
            axis = larger[0]
            raise ShapeIssue(
                "E410",
                f"cannot crop {shape_text(source)} to {shape_text(target[1:])}: spatial axis {axis} would grow "
                f"from {source[axis]} to {target[axis]}",
                notes=[f"input 1 is {shape_text(source)}", f"input 2 is {shape_text(target)}"],
                help="a crop only removes rows: crop the larger tensor to the smaller (swap the two)",
                input_index=1,
            )
        return (source[0], *target[1:])

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        """The first tensor at an offset (the rows cropped at the start); the second gives a size only."""
        source = inputs[0]
        return (tuple(Window(pad=-((n - t) // 2)) for n, t in zip(source[1:], output[1:], strict=True)), None)

    def describe(self) -> str:
        return "center"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        starts = [(n - t) // 2 for n, t in zip(inputs[0][1:], output[1:], strict=True)]
        ranges = ", ".join(f"{start}:{start + t}" for start, t in zip(starts, output[1:], strict=True))
        return TorchCode(None, f"{{0}}[:, :, {ranges}]")

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # Called on both tensors: the second's size, as the spec takes it (Cropping would drop the edge).
        return KerasCode(Constructor("CenterCrop"), inputs_as_list=True, helpers=(CENTER_CROP,))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        source = in_shapes[0]
        starts = [(n - t) // 2 for n, t in zip(source[1:], out_shape[1:], strict=True)]
        ends = [start + t for start, t in zip(starts, out_shape[1:], strict=True)]
        axes = list(range(2, len(source) + 1))
        operands = [
            inputs[0],
            tape.constant(f"{name}.starts", starts, integer=True),
            tape.constant(f"{name}.ends", ends, integer=True),
            tape.constant(f"{name}.axes", axes, integer=True),
        ]
        return tape.op("Slice", operands, name)
