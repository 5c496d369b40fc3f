"""Fully connected layers and the layers around them: flatten and dropout."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .activation import ActivationSuffix, checked_value, suffix_args, suffix_text
from .base import MIN_OPSET, Arg, Kept, Layer, Shape, ShapeIssue, integer, real, register, shape_text
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, KerasWeight, TorchCode, number
from .initializers import Uniform
from .reach import WHOLE


@register
class Dense(ActivationSuffix, Layer):
    kind: ClassVar[str] = "fc"
    aliases: ClassVar[tuple[str, ...]] = ("dense", "linear")
    summary: ClassVar[str] = "fully connected layer over a flat vector (flatten first)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("features", integer(1), positional=True, required=True, doc="output features"),
        Arg("nobias", words=("nobias",), doc="no bias term"),
        *suffix_args(),
    )
    examples: ClassVar[tuple[str, ...]] = ("fc 4", "fc 6 nobias relu", "fc 5 softmax")
    ranks: ClassVar[tuple[int, ...]] = (0,)
    ends_feature_maps: ClassVar[bool] = True
    is_classifier: ClassVar[bool] = True

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

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        fan_in = inputs[0][0]
        bias = () if self.nobias else (Weight("bias", (self.features,), Uniform(fan_in)),)
        return (Weight("weight", (self.features, fan_in), Uniform(fan_in)), *bias)

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        return inputs[0][0] * self.features

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return 2 * self.macs(inputs, output) + self.suffix_flops(output, not self.nobias)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return self.kept_with_suffix(output)

    def opset_needed(self, inputs: list[Shape]) -> tuple[int, str]:
        return self.with_function_opset((MIN_OPSET, "Gemm"))

    @property
    def ends_with_bias(self) -> bool:
        return not self.nobias and not self.activation

    def describe(self) -> str:
        return ", ".join(
            p for p in ("nobias" if self.nobias else "", suffix_text(self.activation, self.activation_value)) if p
        )

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        bias = ("bias=False",) if self.nobias else ()
        module = Constructor("nn.Linear", (str(inputs[0][0]), str(self.features), *bias))
        return TorchCode(module, activation=self.torch_suffix())

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        activation, after = self.keras_suffix()
        arguments = (str(self.features), *(("use_bias=False",) if self.nobias else ()), *activation)
        weights = (KerasWeight("weight", "kernel", (1, 0)), *(() if self.nobias else (KerasWeight("bias", "bias"),)))
        return KerasCode(Constructor("keras.layers.Dense", arguments), weights=weights, activation=after)

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        operands = [inputs[0], *tape.weights(name, self.parameters(in_shapes))]
        y = tape.op("Gemm", operands, self.own_output(name, "gemm"), transB=1)
        return self.emit_function_after(tape, name, y)


@register
class Flatten(Layer):
    kind: ClassVar[str] = "flatten"
    summary: ClassVar[str] = "flatten channels and spatial axes into one vector (the batch axis stays)"
    examples: ClassVar[tuple[str, ...]] = ("flatten",)
    ends_feature_maps: ClassVar[bool] = True
    views_input: ClassVar[bool] = True

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (math.prod(inputs[0]),)

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        return (WHOLE if len(inputs[0]) > 1 else (),)

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(Constructor("nn.Flatten"))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # The spec flattens channels first: the channels move back in front of the spatial axes, so
        # that a dense layer after it takes the spec's weights as they are.
        rank = len(inputs[0])
        if rank < 2:
            return KerasCode(Constructor("keras.layers.Flatten"))
        channels_first = Constructor("keras.layers.Permute", (f"({', '.join(map(str, (rank, *range(1, rank))))})",))
        return KerasCode(Constructor("keras.layers.Flatten"), before=(("channels_first", channels_first),))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return tape.op("Flatten", inputs, name, axis=1)


@register
class Dropout(Layer):
    kind: ClassVar[str] = "dropout"
    summary: ClassVar[str] = "dropout (training only: it is not emitted into the inference model)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("p", real(0.0, 1.0, open_max=True), 0.5, positional=True, doc="drop probability in [0, 1)"),
    )

    examples: ClassVar[tuple[str, ...]] = ("dropout", "dropout 0.2")
    training_only: ClassVar[bool] = True
    is_dropout: ClassVar[bool] = True

    p: float = 0.5

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def describe(self) -> str:
        return f"p={self.p:g}"

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        # The mask, in the values' type as PyTorch's CPU dropout keeps it (its CUDA kernel keeps
        # one byte a value).
        return Kept(values=math.prod(output))

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(Constructor("nn.Dropout", (number(self.p),)))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        return KerasCode(Constructor("keras.layers.Dropout", (number(self.p),)))

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return inputs[0]
