"""Upsampling, as PyTorch's nn.Upsample and F.interpolate: by an integer factor per spatial axis
(`upsample 2`, U-Net's decoder), or to the spatial size of another tensor (`resize_linear a b`,
DeepLab's and FCN's final F.interpolate(size=input's size), a decoder matching a skip tensor).

nearest: out[i] = in[floor(i * in_size / out_size)] (ONNX Resize, asymmetric coordinates, floor).
linear: linear, bilinear or trilinear interpolation following the input's rank, with PyTorch's
align_corners=False sampling (ONNX's half_pixel coordinates): the corners of the input and output
pixels line up, not their centres.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .base import Arg, Layer, Shape, ShapeIssue, broadcast, extents, register, shape_text
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode, extent, keras_class, per_axis
from .keras_helpers import RESIZE
from .reach import Resample

# Resize's `axes` attribute (opset 18) lets `sizes` name the spatial axes alone; before it, sizes
# named every axis, the batch included, which a model with a free batch size cannot write down.
RESIZE_AXES_OPSET = 18


def resize_flops(mode: str, output: Shape) -> int:
    """Nearest sampling copies; linear sampling blends 2^rank neighbours per output value with
    2^rank - 1 linear interpolations of 3 operations each (a - b, times the weight, plus b)."""
    if mode != "linear":
        return 0
    return 3 * ((1 << (len(output) - 1)) - 1) * math.prod(output)


def resize(tape: Emitter, name: str, x: str, mode: str, *, scales: str = "", sizes: str = "", rank: int = 0) -> str:
    """ONNX Resize with PyTorch's sampling for `mode`; `sizes` gives the `rank` spatial extents."""
    sampling: dict[str, Any]
    if mode == "linear":
        sampling = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:
        sampling = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    if sizes:
        sampling["axes"] = list(range(2, rank + 2))
    return tape.op("Resize", [x, "", scales, sizes] if sizes else [x, "", scales], name, **sampling)


def keras_resize(mode: str, size: Shape | None = None) -> KerasCode:
    """The Resize helper, to `size`, or called on both inputs, to the second's spatial size (Keras's
    own resizing samples as each backend does)."""
    arguments = (f'"{mode}"', *((f"size={per_axis(size)}",) if size else ()))
    return KerasCode(Constructor("Resize", arguments), inputs_as_list=size is None, helpers=(RESIZE,))


def torch_mode(mode: str, rank: int) -> tuple[str, ...]:
    """torch's arguments for the sampling of `mode` (the rule above) over `rank` spatial axes."""
    if mode == "nearest":
        return ('mode="nearest"',)
    return (f'mode="{("linear", "bilinear", "trilinear")[rank - 1]}"', "align_corners=False")


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

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return resize_flops(self.mode or "nearest", output)

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        mode = self.mode or "nearest"
        return (tuple(Resample(n, out, mode) for n, out in zip(inputs[0][1:], output[1:], strict=True)),)

    def describe(self) -> str:
        return "x".join(map(str, self.factor)) + (f", {self.mode}" if self.mode else "")

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        factors = broadcast(self.factor, len(inputs[0]) - 1, "the upsampling factor")
        mode = torch_mode(self.mode or "nearest", len(factors))
        arguments = (f"scale_factor={extent(factors)}", *mode)
        return TorchCode(Constructor("nn.Upsample", arguments))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        if self.mode == "linear":
            return keras_resize("linear", output[1:])
        factors = broadcast(self.factor, len(inputs[0]) - 1, "the upsampling factor")
        return KerasCode(Constructor(keras_class("UpSampling", inputs[0]), (extent(factors),)))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        factors = broadcast(self.factor, len(in_shapes[0]) - 1, "the upsampling factor")
        scales = tape.constant(f"{name}.scales", [1.0, 1.0, *map(float, factors)])
        return resize(tape, name, inputs[0], self.mode or "nearest", scales=scales)


class ResizeTo(Layer):
    """`resize_MODE a b`: `a` resized to the spatial size of `b`, as F.interpolate(a, size=b's size).
    A layer that takes tensors takes no attributes (the resolver binds its words as tensor names),
    so each sampling mode is a kind of its own."""

    arity: ClassVar[int | None] = None
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)
    mode: ClassVar[str]

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs) != 2:
            raise ShapeIssue(
                "E412",
                f"{self.kind} takes two tensors, the one to resize and the one whose size it takes; got {len(inputs)}",
            )
        source, target = inputs
        if len(source) != len(target) or len(source) < 2:
            raise ShapeIssue(
                "E412",
                f"cannot resize {shape_text(source)} to the size of {shape_text(target)}: "
                + ("their ranks differ" if len(source) != len(target) else "a resize needs spatial axes"),
                notes=[f"input 1 is {shape_text(source)}", f"input 2 is {shape_text(target)}"],
                help="resize to a tensor with as many spatial axes, taken before any flatten or global pooling",
                input_index=1,
            )
        return (source[0], *target[1:])

    def opset_needed(self, inputs: list[Shape]) -> tuple[int, str]:
        return RESIZE_AXES_OPSET, "Resize to sizes of the spatial axes"

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return resize_flops(self.mode, output)

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        """The first tensor resampled; the second gives a size only."""
        return (tuple(Resample(n, out, self.mode) for n, out in zip(inputs[0][1:], output[1:], strict=True)), None)

    def describe(self) -> str:
        return self.mode

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        mode = ", ".join(torch_mode(self.mode, len(output) - 1))
        return TorchCode(None, f"F.interpolate({{0}}, size={{1}}.shape[2:], {mode})")

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return keras_resize(self.mode)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        # `sizes`, not scales: ONNX Runtime then samples at out/in exactly as PyTorch does for a
        # given size, and the output has that size even where out/in has no exact float.
        sizes = tape.constant(f"{name}.sizes", list(out_shape[1:]), integer=True)
        return resize(tape, name, inputs[0], self.mode, sizes=sizes, rank=len(out_shape) - 1)


@register
class ResizeNearest(ResizeTo):
    kind: ClassVar[str] = "resize_nearest"
    summary: ClassVar[str] = (
        "the first tensor resized to the spatial size of the second, nearest neighbour "
        "(F.interpolate(size=...), mode 'nearest')"
    )
    examples: ClassVar[tuple[str, ...]] = ("resize_nearest",)
    mode: ClassVar[str] = "nearest"


@register
class ResizeLinear(ResizeTo):
    kind: ClassVar[str] = "resize_linear"
    summary: ClassVar[str] = (
        "the first tensor resized to the spatial size of the second, linear, bilinear or trilinear "
        "(F.interpolate(size=..., align_corners=False); DeepLab's and FCN's output)"
    )
    examples: ClassVar[tuple[str, ...]] = ("resize_linear",)
    mode: ClassVar[str] = "linear"
