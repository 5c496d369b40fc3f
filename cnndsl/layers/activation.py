"""Element-wise activations: as layers (`-> relu`) and as a suffix of conv and fc (`conv 3x3 64 relu`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple

from .base import Arg, ArgIssue, Layer, Shape, real, register

if TYPE_CHECKING:
    from ..onnx.emit import Tape


class Function(NamedTuple):
    onnx_op: str
    parameter: str | None = None  # name of the optional number (`leakyrelu 0.2`)
    default: float | None = None
    doc: str = ""


FUNCTIONS: dict[str, Function] = {
    "relu": Function("Relu", doc="max(0, x)"),
    "relu6": Function("Clip", doc="min(max(0, x), 6)"),
    "leakyrelu": Function("LeakyRelu", "slope", 0.01, "x if x > 0 else slope*x (slope 0.01)"),
    "elu": Function("Elu", "alpha", 1.0, "x if x > 0 else alpha*(exp(x)-1) (alpha 1.0)"),
    "sigmoid": Function("Sigmoid", doc="1 / (1 + exp(-x))"),
    "tanh": Function("Tanh", doc="tanh(x)"),
    "gelu": Function("Gelu", doc="x * Phi(x), exact (erf) form"),
    "softmax": Function("Softmax", doc="normalised exponentials over the channel axis"),
    "identity": Function("Identity", doc="x"),
}

ACTIVATION_WORDS = tuple(FUNCTIONS)


def suffix_args() -> tuple[Arg, ...]:
    """The arguments a layer gets by accepting an activation suffix."""
    return (
        Arg(
            "activation",
            words=ACTIVATION_WORDS,
            value_after_word="activation_value",
            doc="apply an activation to the output: " + ", ".join(ACTIVATION_WORDS),
        ),
        Arg("activation_value", real(), doc="the activation's number (leakyrelu slope, elu alpha)"),
    )


def checked_value(function: str | None, value: float | None) -> float | None:
    if function is None:
        return None
    spec = FUNCTIONS[function]
    if value is not None and spec.parameter is None:
        raise ArgIssue("E202", f"{function} takes no number", arg="activation_value")
    if spec.parameter is None:
        return None
    return spec.default if value is None else value


def suffix_text(function: str | None, value: float | None) -> str:
    if function is None:
        return ""
    spec = FUNCTIONS[function]
    return function if value is None or value == spec.default else f"{function} {value:g}"


def emit_function(tape: Tape, function: str, value: float | None, name: str, x: str, output: str) -> str:
    spec = FUNCTIONS[function]
    if function == "relu6":
        low = tape.constant(f"{name}.min", 0.0)
        high = tape.constant(f"{name}.max", 6.0)
        return tape.op("Clip", [x, low, high], output)
    if function == "softmax":
        return tape.op("Softmax", [x], output, axis=1)
    if spec.parameter is not None:
        return tape.op(spec.onnx_op, [x], output, alpha=float(value))
    return tape.op(spec.onnx_op, [x], output)


@register
class Activation(Layer):
    kind: ClassVar[str] = "activation"
    aliases: ClassVar[tuple[str, ...]] = ACTIVATION_WORDS
    summary: ClassVar[str] = "element-wise activation; the layer's word names the function"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("value", real(), positional=True, doc="leakyrelu's slope or elu's alpha"),
    )

    function: str
    value: float | None = None

    @classmethod
    def spellings(cls) -> tuple[str, ...]:
        return ACTIVATION_WORDS

    @classmethod
    def from_args(cls, args: dict, word: str) -> Activation:
        try:
            return cls(word, checked_value(word, args["value"]))
        except ArgIssue as issue:
            raise ArgIssue(issue.code, issue.message, arg="value") from None

    @property
    def display_kind(self) -> str:
        return self.function

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def describe(self) -> str:
        spec = FUNCTIONS[self.function]
        return "" if spec.parameter is None else f"{spec.parameter} {self.value:g}"

    def emit(self, tape: Tape, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return emit_function(tape, self.function, self.value, name, inputs[0], name)
