"""Normalisation layers: batch normalisation (inference form) and local response normalisation."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .base import Arg, ArgIssue, Kept, Layer, Shape, integer, real, register
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, KerasWeight, TorchCode, number, torch_class
from .initializers import Constant
from .keras_helpers import LOCAL_RESPONSE_NORM

# PyTorch's initial values: scale 1 and shift 0 are learnt, the running statistics are not.
_SCALE, _SHIFT = Constant(1.0), Constant(0.0)
_MEAN, _VARIANCE = Constant(0.0, trainable=False), Constant(1.0, trainable=False)


def scale_and_shift(channels: int) -> tuple[Weight, Weight]:
    """A normalisation's learnt scale and shift per channel, 'weight' and 'bias' as in PyTorch."""
    return Weight("weight", (channels,), _SCALE), Weight("bias", (channels,), _SHIFT)


def normalisation_flops(values: int, rows: int, affine: bool) -> int:
    """A normalisation of `values` in `rows` of equal size, each row over its own statistics: per
    value, its share of the mean's sum, the subtraction, the square, its share of the variance's
    sum and the multiplication by the inverse deviation (5), and with a learnt scale and shift 2
    more; per row, the mean's and the variance's divisions, the epsilon's add and the square root."""
    return values * (5 + 2 * affine) + 4 * rows


def kept_by_normalisation(rows: int, extra: int = 0) -> Kept:
    """PyTorch's layer, group and instance norms keep their input, and a mean and an inverse
    deviation per row (per sample: positions, groups or channels); `extra` values per sample besides."""
    return Kept(inputs=(0,), values=2 * rows + extra)


@register
class BatchNorm(Layer):
    kind: ClassVar[str] = "bn"
    aliases: ClassVar[tuple[str, ...]] = ("batchnorm",)
    summary: ClassVar[str] = (
        "batch normalisation with running statistics; scale and shift are trainable, "
        "the running mean and variance are not"
    )
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("eps", real(0.0, exclusive_min=True), 1e-5, doc="epsilon added to the variance (1e-5)"),
    )

    examples: ClassVar[tuple[str, ...]] = ("bn", "batchnorm eps 1e-3")
    normalises_batch: ClassVar[bool] = True

    eps: float = 1e-5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        channels = (inputs[0][0],)
        return (
            *scale_and_shift(inputs[0][0]),
            Weight("running_mean", channels, _MEAN),
            Weight("running_var", channels, _VARIANCE),
        )

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        # At inference the statistics and the affine terms fold into one scale and shift per channel.
        return 2 * math.prod(output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        # Its input, and the batch's mean and inverse deviation per channel, whatever the batch.
        return Kept(inputs=(0,), fixed_values=2 * inputs[0][0])

    def describe(self) -> str:
        return "" if self.eps == 1e-5 else f"eps {self.eps:g}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        eps = () if self.eps == 1e-5 else (f"eps={number(self.eps)}",)
        return TorchCode(Constructor(torch_class("BatchNorm", inputs[0]), (str(inputs[0][0]), *eps)))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # Keras's epsilon defaults to 1e-3: always written. Its weights: gamma, beta, moving mean, variance.
        layer = Constructor("keras.layers.BatchNormalization", (f"epsilon={number(self.eps)}",))
        names = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
        return KerasCode(layer, weights=tuple(KerasWeight(name, variable) for name, variable in names.items()))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        operands = [inputs[0], *tape.weights(name, self.parameters(in_shapes))]
        return tape.op("BatchNormalization", operands, name, epsilon=self.eps)


@register
class LocalResponseNorm(Layer):
    """alpha follows PyTorch, Caffe and ONNX: it is divided by the size,
    y = x / (k + alpha/size * sum(x^2 over `size` neighbouring channels)) ^ beta."""

    kind: ClassVar[str] = "lrn"
    summary: ClassVar[str] = "local response normalisation across channels (alpha is divided by size)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("size", integer(1), positional=True, required=True, doc="number of neighbouring channels (odd)"),
        # Positive, all three: ONNX Runtime refuses alpha <= 0 and beta <= 0, and with k <= 0 the
        # denominator can reach zero (NaN outputs).
        Arg("alpha", real(0, exclusive_min=True), 1e-4, doc="scale (1e-4), divided by size as in PyTorch and Caffe"),
        Arg("beta", real(0, exclusive_min=True), 0.75, doc="exponent (0.75)"),
        Arg("k", real(0, exclusive_min=True), 1.0, doc="additive constant (1.0; AlexNet 2012 uses 2)"),
    )

    examples: ClassVar[tuple[str, ...]] = ("lrn 3", "lrn 5 alpha 1e-3 beta 0.5 k 2")

    size: int
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> LocalResponseNorm:
        # The window is centred on each channel. An even one has no centre: ONNX Runtime refuses it,
        # and ONNX and PyTorch resolve it differently (ONNX reaches one more channel after, PyTorch
        # one more before), so no model could match the PyTorch network it was written from.
        if args["size"] % 2 == 0:
            raise ArgIssue(
                "E302",
                f"lrn size must be odd, got {args['size']}",
                arg="size",
                help=f"the window is centred on each channel: ONNX Runtime refuses an even size, "
                f"and ONNX and PyTorch would place it differently; use {args['size'] - 1} "
                f"or {args['size'] + 1}",
            )
        return cls(**args)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def scratch_values(self, inputs: list[Shape]) -> int:
        # ONNX Runtime pads the channel axis by the window on both sides: with `lrn 16777217` that
        # buffer, not the tensors, is what takes gigabytes.
        channels, *spatial = inputs[0]
        return (channels + self.size - 1) * math.prod(spatial)

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        # Per value: its square, the window's sum (size - 1 adds), alpha/size, k, the power, the division.
        return (self.size + 4) * math.prod(output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        # PyTorch's local_response_norm is composed of operators: it keeps the input, the squares
        # padded by the window (what the average pooling keeps), and the power's input and result.
        channels, *spatial = inputs[0]
        positions = math.prod(spatial)
        return Kept(inputs=(0,), values=(channels + self.size - 1) * positions + 2 * channels * positions)

    def describe(self) -> str:
        return f"size {self.size}, alpha {self.alpha:g}, beta {self.beta:g}, k {self.k:g}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        arguments = (str(self.size), number(self.alpha), number(self.beta), number(self.k))
        # torch's needs an axis after the channels: a flat vector gets one of extent 1.
        call = "{m}({x})" if len(inputs[0]) > 1 else "{m}({x}.unsqueeze(-1)).squeeze(-1)"
        return TorchCode(Constructor("nn.LocalResponseNorm", arguments), call)

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        arguments = (str(self.size), number(self.alpha), number(self.beta), number(self.k))
        return KerasCode(Constructor("LocalResponseNorm", arguments), helpers=(LOCAL_RESPONSE_NORM,))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        if len(in_shapes[0]) == 3:
            return self._lrn(tape, inputs[0], name)
        # ONNX Runtime's LRN takes 4-D tensors only; it normalises across channels alone, so
        # 1-D and 3-D inputs are viewed as (N, C, everything else, 1) and reshaped back.
        view = (in_shapes[0][0], math.prod(in_shapes[0][1:]), 1)
        as_image = tape.op(
            "Reshape",
            [inputs[0], tape.constant(f"{name}.image_shape", [0, *view], integer=True)],
            f"{name}.as_image",
            shape=view,
        )
        normalised = self._lrn(tape, as_image, f"{name}.lrn", shape=view)
        return tape.op("Reshape", [normalised, tape.constant(f"{name}.shape", [0, *out_shape], integer=True)], name)

    def _lrn(self, tape: Emitter, x: str, output: str, shape: Shape | None = None) -> str:
        return tape.op("LRN", [x], output, shape=shape, size=self.size, alpha=self.alpha, beta=self.beta, bias=self.k)
