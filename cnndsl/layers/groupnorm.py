"""Group normalisation, PyTorch's nn.GroupNorm(G, C): each sample's channels, in G groups of C/G, are
normalised over the group's channels and positions together, then scaled and shifted per channel
(`weight` and `bias` of C values, learnt unless `noaffine`). No running statistics.

ONNX's GroupNormalization changed meaning: at opset 18 its scale and bias have one value per group,
from 21 one per channel, as PyTorch's. Only the opset-21 operator is PyTorch's layer, so it is used
from 21; before, the layer is the arithmetic it stands for: the channels viewed as G rows, each
normalised by InstanceNormalization (which normalises everything after the row axis), and the
per-channel scale and shift applied with the channels moved last, where a (C,) weight broadcasts.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .base import Arg, Kept, Layer, Shape, ShapeIssue, integer, real, register
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, KerasWeight, TorchCode, number
from .norm import kept_by_normalisation, normalisation_flops, scale_and_shift
from .reach import WHOLE

GROUP_NORMALIZATION_OPSET = 21  # ONNX's GroupNormalization with per-channel scale and bias


def keras_group_norm(groups: int, eps: float, *, affine: bool) -> KerasCode:
    """Keras's GroupNormalization over the last axis, the channels, in `groups` consecutive runs."""
    arguments = [str(groups), f"epsilon={number(eps)}"]
    if not affine:
        arguments += ["center=False", "scale=False"]
    weights = (KerasWeight("weight", "gamma"), KerasWeight("bias", "beta")) if affine else ()
    return KerasCode(Constructor("keras.layers.GroupNormalization", tuple(arguments)), weights=weights)


@register
class GroupNorm(Layer):
    kind: ClassVar[str] = "groupnorm"
    summary: ClassVar[str] = (
        "group normalisation: each sample's channels in G groups, normalised per group, "
        "with a learnt scale and shift per channel"
    )
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg(
            "groups", integer(1), positional=True, required=True, doc="the number of groups G; it divides the channels"
        ),
        Arg("eps", real(0.0, exclusive_min=True), 1e-5, doc="epsilon added to the variance (1e-5)"),
        Arg("noaffine", words=("noaffine",), doc="no learnt scale and shift (PyTorch's affine=False)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("groupnorm 2", "groupnorm 1 eps 1e-3", "groupnorm 4 noaffine eps 1e-6")

    groups: int
    eps: float = 1e-5
    noaffine: str | None = None

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        if in_shape[0] % self.groups:
            raise ShapeIssue(
                "E404",
                f"groupnorm groups must divide the channels: {in_shape[0]} channels cannot be split into "
                f"{self.groups} groups",
                help="use a number of groups that divides the channels",
            )
        return in_shape

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        return () if self.noaffine else scale_and_shift(inputs[0][0])

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return normalisation_flops(math.prod(output), self.groups, affine=not self.noaffine)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return kept_by_normalisation(self.groups)

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        # The statistics are taken over the spatial axes: each value depends on the whole map.
        return (WHOLE if len(output) > 1 else (),)

    def describe(self) -> str:
        parts = (f"{self.groups} groups", self.noaffine or "", "" if self.eps == 1e-5 else f"eps {self.eps:g}")
        return ", ".join(part for part in parts if part)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        arguments = [str(self.groups), str(inputs[0][0])]
        if self.eps != 1e-5:
            arguments.append(f"eps={number(self.eps)}")
        if self.noaffine:
            arguments.append("affine=False")
        return TorchCode(Constructor("nn.GroupNorm", tuple(arguments)))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return keras_group_norm(self.groups, self.eps, affine=not self.noaffine)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        channels = in_shapes[0][0]
        affine = tape.weights(name, self.parameters(in_shapes))
        if tape.opset >= GROUP_NORMALIZATION_OPSET:
            scale, shift = affine or _identity(tape, name, channels)
            return tape.op(
                "GroupNormalization", [inputs[0], scale, shift], name, epsilon=self.eps, num_groups=self.groups
            )
        normalised = self._normalised(tape, name, inputs[0], in_shapes[0], f"{name}.normalised" if affine else name)
        if not affine:
            return normalised
        return _scaled_per_channel(tape, name, normalised, in_shapes[0], affine)

    def _normalised(self, tape: Emitter, name: str, x: str, in_shape: Shape, output: str) -> str:
        """x normalised per sample and group, in x's shape: G rows of (C/G) * positions values."""
        rows = (self.groups, math.prod(in_shape) // self.groups)
        x = tape.op(
            "Reshape", [x, tape.constant(f"{name}.rows_shape", [0, *rows], integer=True)], f"{name}.rows", shape=rows
        )
        scale, shift = _identity(tape, name, self.groups)
        x = tape.op("InstanceNormalization", [x, scale, shift], f"{name}.rows_normalised", shape=rows, epsilon=self.eps)
        return tape.op(
            "Reshape",
            [x, tape.constant(f"{name}.normalised_shape", [0, *in_shape], integer=True)],
            output,
            shape=in_shape,
        )


def _identity(tape: Emitter, name: str, size: int) -> tuple[str, str]:
    """A scale of ones and a shift of zeros: operators that require them, without a learnt one."""
    return tape.constant(f"{name}.ones", [1.0] * size), tape.constant(f"{name}.zeros", [0.0] * size)


def _scaled_per_channel(tape: Emitter, name: str, x: str, in_shape: Shape, affine: list[str]) -> str:
    """x * scale + shift with (C,) parameters: on a map, with the channels moved last and back."""
    scale, shift = affine
    rank = len(in_shape) - 1
    if not rank:
        return tape.op("Add", [tape.op("Mul", [x, scale], f"{name}.scaled"), shift], name)
    channels_last = (*in_shape[1:], in_shape[0])
    x = tape.op("Transpose", [x], f"{name}.channels_last", shape=channels_last, perm=[0, *range(2, rank + 2), 1])
    x = tape.op("Mul", [x, scale], f"{name}.scaled", shape=channels_last)
    x = tape.op("Add", [x, shift], f"{name}.shifted", shape=channels_last)
    return tape.op("Transpose", [x], name, perm=[0, rank + 1, *range(1, rank + 1)])
