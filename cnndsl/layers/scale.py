"""A constant factor: every value multiplied by a fixed number, not learnt. Inception-ResNet scales
each residual branch (0.17, 0.1, 0.2) before the sum, which keeps very deep residual stacks stable
(Szegedy et al. 2016, section 3.3); PyTorch writes it as `out * self.scale` in the module's forward,
a plain attribute, not a parameter. `layerscale` is the learnt per-channel counterpart.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .base import Arg, Layer, Shape, real, register
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode, number


@register
class Scale(Layer):
    kind: ClassVar[str] = "scale"
    summary: ClassVar[str] = "multiplies every value by a constant factor (Inception-ResNet's residual scaling)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("factor", real(), positional=True, required=True, doc="the constant factor"),
    )
    examples: ClassVar[tuple[str, ...]] = ("scale 0.17", "scale 2")

    factor: float = 1.0

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        """One multiplication per value (no multiply-accumulates: it is not a conv or an fc). Its
        backward pass needs no tensor: the gradient is the output's times the same constant."""
        return math.prod(output)

    def describe(self) -> str:
        return f"x {self.factor:g}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(None, f"{{x}} * {number(self.factor)}")

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return KerasCode(Constructor("keras.layers.Rescaling", (number(self.factor),)))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return tape.op("Mul", [inputs[0], tape.constant(f"{name}.factor", float(self.factor))], name)
