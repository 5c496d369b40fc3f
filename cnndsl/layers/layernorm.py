"""Layer normalisation over the channels at every position: PyTorch's nn.LayerNorm(C) on a flat
vector, and ConvNeXt's LayerNorm2d on feature maps (normalise each pixel's C values, then scale and
shift them per channel).

ONNX's LayerNormalization (opset 17) normalises the trailing axes, so on a feature map the channels
are moved last and back around it; before opset 17 the layer is emitted as its arithmetic.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .base import Arg, Kept, Layer, Shape, real, register
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, KerasWeight, TorchCode, number
from .norm import kept_by_normalisation, normalisation_flops, scale_and_shift

LAYER_NORMALIZATION_OPSET = 17  # ONNX's LayerNormalization operator


# torch's LayerNorm normalises the last axes: over the channels of a feature map, they are moved last.
TORCH_CHANNEL_LAYER_NORM = '''class ChannelLayerNorm(nn.LayerNorm):
    """Layer normalisation over the channels at each position (ConvNeXt's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
'''


@register
class LayerNorm(Layer):
    kind: ClassVar[str] = "layernorm"
    summary: ClassVar[str] = (
        "layer normalisation over the channels at every position (ConvNeXt's LayerNorm2d), "
        "with a learnt scale and shift per channel"
    )
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("eps", real(0.0, exclusive_min=True), 1e-5, doc="epsilon added to the variance (1e-5; ConvNeXt uses 1e-6)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("layernorm", "layernorm eps 1e-6")

    eps: float = 1e-5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        return scale_and_shift(inputs[0][0])

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return normalisation_flops(math.prod(output), _positions(output), affine=True)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return kept_by_normalisation(_positions(output))

    def describe(self) -> str:
        return "" if self.eps == 1e-5 else f"eps {self.eps:g}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        arguments = (str(inputs[0][0]), *(() if self.eps == 1e-5 else (f"eps={number(self.eps)}",)))
        if len(inputs[0]) == 1:
            return TorchCode(Constructor("nn.LayerNorm", arguments))
        return TorchCode(Constructor("ChannelLayerNorm", arguments), helper=TORCH_CHANNEL_LAYER_NORM)

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # over the channels, which are the last axis in Keras's layout
        layer = Constructor("keras.layers.LayerNormalization", (f"epsilon={number(self.eps)}",))
        return KerasCode(layer, weights=(KerasWeight("weight", "gamma"), KerasWeight("bias", "beta")))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        (in_shape,) = in_shapes
        scale, shift = tape.weights(name, self.parameters(in_shapes))
        rank = len(in_shape) - 1  # spatial axes
        channels_last = (*in_shape[1:], in_shape[0])
        x = inputs[0]
        if rank:
            x = tape.op(
                "Transpose", [x], f"{name}.channels_last", shape=channels_last, perm=[0, *range(2, rank + 2), 1]
            )
        output = f"{name}.normalised" if rank else name
        if tape.opset >= LAYER_NORMALIZATION_OPSET:
            x = tape.op("LayerNormalization", [x, scale, shift], output, shape=channels_last, axis=-1, epsilon=self.eps)
        else:
            x = self._arithmetic(tape, name, x, channels_last, scale, shift, output)
        if rank:
            x = tape.op("Transpose", [x], name, perm=[0, rank + 1, *range(1, rank + 1)])
        return x

    def _arithmetic(self, tape: Emitter, name: str, x: str, shape: Shape, scale: str, shift: str, output: str) -> str:
        """(x - mean) / sqrt(variance + eps) * scale + shift over the last axis, the channels."""
        per_position = (*shape[:-1], 1)
        mean = tape.op("ReduceMean", [x], f"{name}.mean", shape=per_position, axes=[-1], keepdims=1)
        centred = tape.op("Sub", [x, mean], f"{name}.centred", shape=shape)
        squared = tape.op("Mul", [centred, centred], f"{name}.squared", shape=shape)
        variance = tape.op("ReduceMean", [squared], f"{name}.variance", shape=per_position, axes=[-1], keepdims=1)
        eps = tape.constant(f"{name}.eps", self.eps)
        deviation = tape.op(
            "Sqrt",
            [tape.op("Add", [variance, eps], f"{name}.shifted", shape=per_position)],
            f"{name}.deviation",
            shape=per_position,
        )
        normalised = tape.op("Div", [centred, deviation], f"{name}.standardised", shape=shape)
        scaled = tape.op("Mul", [normalised, scale], f"{name}.scaled", shape=shape)
        return tape.op("Add", [scaled, shift], output, shape=shape)


def _positions(shape: Shape) -> int:
    """The rows layernorm normalises: one per position, over its channels."""
    return math.prod(shape[1:])
