"""PyTorch's nn.PReLU: max(0, x) + slope * min(0, x) with a learnt slope per channel
(num_parameters=C, the default) or one for every channel (`shared`, num_parameters=1), 0.25 at first.

The parameter is `weight` of torch's shape, (C,) or (1,), so a state_dict loads unchanged. ONNX's
PRelu broadcasts the slope against the trailing axes, where (C,) meets the last spatial axis of a
map: the map is emitted with its channels moved last and back around it (as layernorm does), which
keeps the declared weight torch's and every tensor's batch axis.
"""

from __future__ import annotations

import math
from typing import ClassVar

from .base import Arg, Kept, Layer, Shape, real, register
from .emission import Emitter, Weight
from .framework import Constructor, KerasCode, KerasWeight, TorchCode, number
from .initializers import Constant


@register
class PReLU(Layer):
    kind: ClassVar[str] = "prelu"
    summary: ClassVar[str] = "leaky relu with a learnt slope per channel, or one shared (PyTorch's nn.PReLU)"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("shared", words=("shared",), doc="one slope for every channel (PyTorch's num_parameters=1)"),
        Arg("init", real(), 0.25, doc="the slopes' initial value (0.25)"),
    )
    examples: ClassVar[tuple[str, ...]] = ("prelu", "prelu shared init 0.1")

    shared: str | None = None
    init: float = 0.25

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        return (Weight("weight", (1,) if self.shared else (inputs[0][0],), Constant(self.init)),)

    def output_function(self) -> str | None:
        return self.kind

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return 2 * math.prod(output)  # a comparison and a multiplication, as leakyrelu

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        return Kept(inputs=(0,))

    def describe(self) -> str:
        return ", ".join(
            part for part in (self.shared or "", "" if self.init == 0.25 else f"init {self.init:g}") if part
        )

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        count = () if self.shared else (str(inputs[0][0]),)
        return TorchCode(Constructor("nn.PReLU", (*count, f"init={number(self.init)}")))

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        # Keras's slope has the input's channels-last shape, 1 along each shared axis.
        rank = len(inputs[0]) - 1
        shared = tuple(range(1, rank + 1 + bool(self.shared)))
        slope = (*(1 for _ in range(rank)), 1 if self.shared else inputs[0][0])
        arguments = [f"alpha_initializer=keras.initializers.Constant({number(self.init)})"]
        if shared:
            arguments.append(f"shared_axes={list(shared)}")
        return KerasCode(
            Constructor("keras.layers.PReLU", tuple(arguments)),
            weights=(KerasWeight("weight", "alpha", tuple(range(len(slope))), slope),),
        )

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        (slope,) = tape.weights(name, self.parameters(in_shapes))
        (in_shape,) = in_shapes
        rank = len(in_shape) - 1  # spatial axes
        if self.shared or not rank:  # a slope of (1,) fits any shape, (C,) a flat vector's
            return tape.op("PRelu", [inputs[0], slope], name)
        channels_last = (*in_shape[1:], in_shape[0])
        x = tape.op(
            "Transpose", [inputs[0]], f"{name}.channels_last", shape=channels_last, perm=[0, *range(2, rank + 2), 1]
        )
        x = tape.op("PRelu", [x, slope], f"{name}.activated", shape=channels_last)
        return tape.op("Transpose", [x], name, perm=[0, rank + 1, *range(1, rank + 1)])
