"""Instance normalisation (PyTorch's InstanceNorm1d/2d/3d): each sample's channel is normalised over
its own positions, with no running statistics. PyTorch's default has no learnt scale and shift;
`affine` adds them (weight and bias of C values each).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .base import Arg, Kept, Layer, Shape, ShapeIssue, real, register, shape_text
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, TorchCode, number, torch_class
from .groupnorm import keras_group_norm
from .norm import kept_by_normalisation, normalisation_flops, scale_and_shift
from .reach import WHOLE


@register
class InstanceNorm(Layer):
    kind: ClassVar[str] = "instancenorm"
    summary: ClassVar[str] = "instance normalisation: each sample's channel over its own positions (style transfer)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("eps", real(0.0, exclusive_min=True), 1e-5, doc="epsilon added to the variance (1e-5)"),
        Arg("affine", words=("affine",), doc="learn a scale and shift per channel (PyTorch's affine=True)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("instancenorm", "instancenorm affine eps 1e-3")
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)

    eps: float = 1e-5
    affine: str | None = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        if len(in_shape) < 2:
            raise ShapeIssue(
                "E403",
                f"instance normalisation needs spatial positions, but got the flat vector {shape_text(in_shape)}",
                help="normalise before the flatten, or use layernorm on vectors",
            )
        return in_shape

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        if not self.affine:
            return ()
        return scale_and_shift(inputs[0][0])

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return normalisation_flops(math.prod(output), output[0], affine=bool(self.affine))

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        # PyTorch runs it as a batch norm over (1, N * C, ...): with affine terms it also keeps
        # the scale repeated for every sample.
        channels = output[0]
        return kept_by_normalisation(channels, extra=channels if self.affine else 0)

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        # The statistics are taken over the spatial axes: each value depends on the whole map.
        return (WHOLE if len(output) > 1 else (),)

    def describe(self) -> str:
        return ", ".join(part for part in (self.affine or "", "" if self.eps == 1e-5 else f"eps {self.eps:g}") if part)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        arguments = [str(inputs[0][0])]
        if self.eps != 1e-5:
            arguments.append(f"eps={number(self.eps)}")
        if self.affine:
            arguments.append("affine=True")
        return TorchCode(Constructor(torch_class("InstanceNorm", inputs[0]), tuple(arguments)))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # one group per channel: each sample's channel normalised over its own positions
        return keras_group_norm(inputs[0][0], self.eps, affine=bool(self.affine))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        channels = in_shapes[0][0]
        if self.affine:
            scale, shift = tape.weights(name, self.parameters(in_shapes))
        else:  # ONNX requires both: the identity's
            scale = tape.constant(f"{name}.scale", [1.0] * channels)
            shift = tape.constant(f"{name}.shift", [0.0] * channels)
        return tape.op("InstanceNormalization", [inputs[0], scale, shift], name, epsilon=self.eps)
