"""Fully connected layers and the layers around them: flatten and dropout."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from .activation import checked_value, emit_function, suffix_args, suffix_text
from .base import Arg, Layer, Shape, ShapeIssue, integer, real, register, shape_text
from .initializers import Uniform

if TYPE_CHECKING:
    from ..onnx.emit import Tape


@register
class Dense(Layer):
    kind: ClassVar[str] = "fc"
    aliases: ClassVar[tuple[str, ...]] = ("dense", "linear")
    summary: ClassVar[str] = "fully connected layer over a flat vector (flatten first)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("features", integer(1), positional=True, required=True, doc="output features"),
        Arg("nobias", words=("nobias",), doc="no bias term"),
        *suffix_args(),
    )

    features: int
    nobias: str | None = None
    activation: str | None = None
    activation_value: float | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> Dense:
        args["activation_value"] = checked_value(args["activation"], args["activation_value"])
        return cls(**args)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (in_shape,) = inputs
        if len(in_shape) != 1:
            raise ShapeIssue(
                "E402",
                f"fc needs a flat vector, but its input is {shape_text(in_shape)}",
                notes=[f"flattening gives {math.prod(in_shape):,} features"],
                help="insert '-> flatten' before this layer",
            )
        return (self.features,)

    def params(self, inputs: list[Shape], output: Shape) -> tuple[int, int]:
        return inputs[0][0] * self.features + (0 if self.nobias else self.features), 0

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return inputs[0][0] * self.features

    def describe(self) -> str:
        return ", ".join(
            p for p in ("nobias" if self.nobias else "", suffix_text(self.activation, self.activation_value)) if p
        )

    def emit(self, tape: Tape, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        fan_in = in_shapes[0][0]
        operands = [inputs[0], tape.weight(f"{name}.weight", (self.features, fan_in), Uniform(fan_in))]
        if not self.nobias:
            operands.append(tape.weight(f"{name}.bias", (self.features,), Uniform(fan_in)))
        gemm_out = f"{name}.gemm" if self.activation else name
        y = tape.op("Gemm", operands, gemm_out, transB=1)
        if self.activation:
            y = emit_function(tape, self.activation, self.activation_value, name, y, name)
        return y


@register
class Flatten(Layer):
    kind: ClassVar[str] = "flatten"
    summary: ClassVar[str] = "flatten channels and spatial axes into one vector (the batch axis stays)"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (math.prod(inputs[0]),)

    def emit(self, tape: Tape, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return tape.op("Flatten", inputs, name, axis=1)


@register
class Dropout(Layer):
    kind: ClassVar[str] = "dropout"
    summary: ClassVar[str] = "dropout (training only: it is not emitted into the inference model)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("p", real(0.0, 1.0, open_max=True), 0.5, positional=True, doc="drop probability in [0, 1)"),
    )

    p: float = 0.5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def describe(self) -> str:
        return f"p={self.p:g}"

    def emit(self, tape: Tape, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return inputs[0]
