"""Upsampling by an integer factor per spatial axis, as PyTorch's nn.Upsample (U-Net's decoder).

nearest: out[i] = in[floor(i / factor)] (ONNX Resize, asymmetric coordinates, floor).
linear: linear, bilinear or trilinear interpolation following the input's rank, with PyTorch's
align_corners=False sampling (ONNX's half_pixel coordinates): the corners of the input and output
pixels line up, not their centres.
"""

from __future__ import annotations

from typing import ClassVar

from .base import Arg, Layer, Shape, ShapeIssue, broadcast, extents, register, shape_text
from .emission import Emitter


@register
class Upsample(Layer):
    kind: ClassVar[str] = "upsample"
    summary: ClassVar[str] = "upsampling by an integer factor per axis: nearest (default) or linear interpolation"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("factor", extents(1), positional=True, required=True, doc="integer factor per axis (2, 2x1)"),
        Arg("mode", words=("nearest", "linear"), doc="nearest (default) or linear: bilinear in 2D, trilinear in 3D"),
    )
    examples: ClassVar[tuple[str, ...]] = ("upsample 2", "upsample 2 linear", "upsample 3 nearest")
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)

    factor: tuple[int, ...]
    mode: str | None = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        spatial = in_shape[1:]
        if not spatial:
            raise ShapeIssue(
                "E403",
                f"upsampling needs a spatial input, but got the flat vector {shape_text(in_shape)}",
                help="upsample before the flatten",
            )
        factors = broadcast(self.factor, len(spatial), "the upsampling factor")
        return (in_shape[0], *(n * f for n, f in zip(spatial, factors, strict=True)))

    def describe(self) -> str:
        return "x".join(map(str, self.factor)) + (f", {self.mode}" if self.mode else "")

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        factors = broadcast(self.factor, len(in_shapes[0]) - 1, "the upsampling factor")
        scales = tape.constant(f"{name}.scales", [1.0, 1.0, *map(float, factors)])
        if self.mode == "linear":
            return tape.op(
                "Resize", [inputs[0], "", scales], name, mode="linear", coordinate_transformation_mode="half_pixel"
            )
        return tape.op(
            "Resize",
            [inputs[0], "", scales],
            name,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
