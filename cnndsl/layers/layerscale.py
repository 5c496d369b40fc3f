"""Layer scale (ConvNeXt, CaiT): a learnt factor per channel, started small so that a residual
branch begins close to the identity. torchvision keeps it as a (C, 1, 1) tensor on feature maps,
and so does cnndsl: (C,) on a flat vector, C followed by a 1 per spatial axis on a map.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .base import Arg, Kept, Layer, Shape, real, register
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, KerasWeight, TorchCode, number
from .initializers import Constant
from .keras_helpers import LAYER_SCALE

# torch has no layer scale module: its parameter is `weight`, as the spec declares it.
TORCH_LAYER_SCALE = '''class LayerScale(nn.Module):
    """A learnt factor per channel (ConvNeXt's layer scale), initially `value`."""

    def __init__(self, shape: tuple[int, ...], value: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight
'''


@register
class LayerScale(Layer):
    kind: ClassVar[str] = "layerscale"
    summary: ClassVar[str] = "a learnt factor per channel (ConvNeXt), initially the given value"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("value", real(), 1e-6, positional=True, doc="the initial factor (1e-6, ConvNeXt's)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("layerscale", "layerscale 0.5")

    value: float = 1e-6

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        channels, *spatial = inputs[0]
        return (Weight("weight", (channels, *(1 for _ in spatial)), Constant(self.value)),)

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return math.prod(output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return Kept(inputs=(0,))  # the factor's gradient

    def describe(self) -> str:
        return f"{self.value:g}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        (weight,) = self.parameters(inputs)
        shape = f"({', '.join(map(str, weight.shape))},)" if len(weight.shape) == 1 else str(weight.shape)
        return TorchCode(Constructor("LayerScale", (shape, number(self.value))), helper=TORCH_LAYER_SCALE)

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        channels = inputs[0][0]  # a (C,) factor on the last axis, the spec's (C, 1, ...) flattened
        weights = (KerasWeight("weight", "gamma", (0,), (channels,)),)
        return KerasCode(Constructor("LayerScale", (number(self.value),)), weights=weights, helpers=(LAYER_SCALE,))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        (factor,) = tape.weights(name, self.parameters(in_shapes))
        return tape.op("Mul", [inputs[0], factor], name)
