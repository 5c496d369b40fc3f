"""Element-wise activations: as layers (`-> relu`) and as a suffix of conv and fc (`conv 3x3 64 relu`)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

from .base import MIN_OPSET, Arg, ArgIssue, Kept, Layer, Shape, real, register
from .emission import Emitter
from .framework import Constructor, KerasCode, TorchCode, number
from .keras_helpers import TANH_GELU


class Function(NamedTuple):
    onnx_op: str
    parameter: str | None = None  # name of the optional number (`leakyrelu 0.2`)
    default: float | None = None
    doc: str = ""
    opset: int = MIN_OPSET  # the oldest ONNX opset it can be emitted at
    # Operations per value: one per comparison, arithmetic operation or elementary function
    # (exp, log, tanh, erf) in the formula in `doc` (docs/analysis.md, "FLOPs").
    flops: int = 1
    # What PyTorch's autograd keeps for its backward pass: the function's "input", its "output",
    # or None (nothing). For the functions PyTorch also runs in place, what the out-of-place form
    # keeps; relu keeps its output either way.
    keeps: str | None = "input"


FUNCTIONS: dict[str, Function] = {
    "relu": Function("Relu", doc="max(0, x)", keeps="output"),
    "relu6": Function("Clip", doc="min(max(0, x), 6)", flops=2),
    "leakyrelu": Function("LeakyRelu", "slope", 0.01, "x if x > 0 else slope*x (slope 0.01)", flops=2),
    "elu": Function("Elu", "alpha", 1.0, "x if x > 0 else alpha*(exp(x)-1) (alpha 1.0)", flops=4),
    "sigmoid": Function("Sigmoid", doc="1 / (1 + exp(-x))", flops=4, keeps="output"),
    "tanh": Function("Tanh", doc="tanh(x)", keeps="output"),
    # ONNX's Gelu operator from opset 20, its expression before (see _gelu): every opset.
    # 0.5 * x * (1 + erf(x / sqrt(2))): five operations; the tanh form, GELU_TANH_FLOPS.
    "gelu": Function("Gelu", doc="x * Phi(x), exact (erf) form; `gelu tanh`: the tanh approximation", flops=5),
    "hardsigmoid": Function("HardSigmoid", doc="relu6(x + 3) / 6, PyTorch's (ONNX's default slope is 0.2)", flops=4),
    "hardswish": Function("HardSwish", doc="x * relu6(x + 3) / 6 (MobileNetV3)", flops=5),
    "silu": Function("Mul", doc="x * sigmoid(x), also called swish (EfficientNet)", flops=5),
    "softplus": Function("Softplus", doc="log(1 + exp(x))", flops=3),
    "mish": Function("Mish", doc="x * tanh(softplus(x))", flops=5),
    # An exponential, its share of the sum over the channels, and a division, per value.
    "softmax": Function("Softmax", doc="normalised exponentials over the channel axis", flops=3, keeps="output"),
    "identity": Function("Identity", doc="x", flops=0, keeps=None),
}

# 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))): x^3 is two multiplications.
GELU_TANH_FLOPS = 9

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


def function_opset(function: str | None) -> tuple[int, str]:
    """The opset an activation needs and its operator (MIN_OPSET for none)."""
    if function is None:
        return MIN_OPSET, "Identity"
    spec = FUNCTIONS[function]
    return spec.opset, spec.onnx_op


def function_flops(function: str | None, approximate: str | None = None) -> int:
    """Operations per value of an activation (0 for none)."""
    if function is None:
        return 0
    return GELU_TANH_FLOPS if function == "gelu" and approximate == "tanh" else FUNCTIONS[function].flops


def suffix_text(function: str | None, value: float | None) -> str:
    if function is None:
        return ""
    spec = FUNCTIONS[function]
    return function if value is None or value == spec.default else f"{function} {value:g}"


def emit_function(
    tape: Emitter, function: str, value: float | None, name: str, x: str, output: str, approximate: str | None = None
) -> str:
    spec = FUNCTIONS[function]
    if function == "gelu":
        return _gelu(tape, name, x, output, approximate)
    if function == "relu6":
        low = tape.constant(f"{name}.min", 0.0)
        high = tape.constant(f"{name}.max", 6.0)
        return tape.op("Clip", [x, low, high], output)
    if function == "softmax":
        return tape.op("Softmax", [x], output, axis=1)
    if function == "hardsigmoid":
        return _hard_sigmoid(tape, x, output)
    if function == "hardswish":
        if tape.opset >= HARD_SWISH_OPSET:
            return tape.op("HardSwish", [x], output)
        # Before the operator existed: x * hardsigmoid(x), the operator's own definition.
        return tape.op("Mul", [x, _hard_sigmoid(tape, x, f"{name}.hardsigmoid")], output)
    if function == "silu":
        return tape.op("Mul", [x, tape.op("Sigmoid", [x], f"{name}.sigmoid")], output)
    if function == "mish" and tape.opset < MISH_OPSET:
        # Before the operator existed: its definition, x * tanh(softplus(x)).
        softplus = tape.op("Softplus", [x], f"{name}.softplus")
        return tape.op("Mul", [x, tape.op("Tanh", [softplus], f"{name}.tanh")], output)
    if spec.parameter is not None:
        assert value is not None, "checked_value gives every parameterised function its number"
        return tape.op(spec.onnx_op, [x], output, alpha=float(value))
    return tape.op(spec.onnx_op, [x], output)


# PyTorch's module and functional form of each function (cnndsl export); its number, where it has
# one, is the modules' first argument and the functions' second.
TORCH_FORMS: dict[str, tuple[str, str]] = {
    "relu": ("nn.ReLU", "F.relu"),
    "relu6": ("nn.ReLU6", "F.relu6"),
    "leakyrelu": ("nn.LeakyReLU", "F.leaky_relu"),
    "elu": ("nn.ELU", "F.elu"),
    "sigmoid": ("nn.Sigmoid", "torch.sigmoid"),
    "tanh": ("nn.Tanh", "torch.tanh"),
    "gelu": ("nn.GELU", "F.gelu"),
    "hardsigmoid": ("nn.Hardsigmoid", "F.hardsigmoid"),
    "hardswish": ("nn.Hardswish", "F.hardswish"),
    "silu": ("nn.SiLU", "F.silu"),
    "softplus": ("nn.Softplus", "F.softplus"),
    "mish": ("nn.Mish", "F.mish"),
    "softmax": ("nn.Softmax", "torch.softmax"),
    "identity": ("nn.Identity", ""),
}


def torch_function(function: str, value: float | None, approximate: str | None = None) -> tuple[Constructor, str]:
    """The function's torch module and its functional form on `{x}`."""
    module, functional = TORCH_FORMS[function]
    if function == "identity":
        return Constructor(module), "{x}"
    arguments: tuple[str, ...] = ()
    if function == "softmax":
        arguments = ("dim=1",)
    elif approximate:
        arguments = (f'approximate="{approximate}"',)
    elif value is not None:
        arguments = (number(value),)
    return Constructor(module, arguments), f"{functional}({', '.join(('{x}', *arguments))})"


# Keras's names for the functions whose Keras form takes no number; softmax is over the last axis,
# the channels of a channels-last tensor.
KERAS_NAMES = {
    **{word: word for word in ("relu", "relu6", "sigmoid", "tanh", "gelu", "silu", "softplus", "mish", "softmax")},
    "hardsigmoid": "hard_sigmoid",
    "hardswish": "hard_silu",
    "identity": "linear",
}


def keras_function(function: str, value: float | None) -> tuple[str | None, Constructor]:
    """The function's Keras name where a layer's `activation=` can take it, and its layer."""
    if function == "leakyrelu":
        return None, Constructor("keras.layers.LeakyReLU", (f"negative_slope={number(value or 0.0)}",))
    if function == "elu" and value != 1.0:
        return None, Constructor("keras.layers.ELU", (f"alpha={number(value or 0.0)}",))
    name = KERAS_NAMES.get(function, function)
    return name, Constructor("keras.layers.Activation", (f'"{name}"',))


class ActivationSuffix:
    """What the layers that take an activation suffix (`conv 3x3 64 relu`, `fc 10 softmax`) share:
    the function's traits, the opset it needs, and its node after the layer's own."""

    activation: str | None
    activation_value: float | None

    def output_function(self) -> str | None:
        return self.activation

    @property
    def sequence_positions(self) -> int:
        return 2 if self.activation else 1

    def suffix_flops(self, output: Shape, bias: bool) -> int:
        """Per sample, besides the weights' multiply-accumulates: an add per output value for the
        bias, and the activation's operations."""
        return math.prod(output) * (int(bias) + function_flops(self.activation))

    def kept_with_suffix(self, output: Shape) -> Kept:
        """The layer keeps its input (its weights' gradient needs it); the activation keeps the
        values before it, a tensor of the output's size only this layer makes, or its output."""
        keeps = FUNCTIONS[self.activation].keeps if self.activation else None
        return Kept(inputs=(0,), output=keeps == "output", values=math.prod(output) if keeps == "input" else 0)

    def with_function_opset(self, own: tuple[int, str]) -> tuple[int, str]:
        """The layer's own opset need, or the function's where that is newer."""
        return max(own, function_opset(self.activation))

    def own_output(self, name: str, node: str) -> str:
        """The tensor the layer's own node writes: the layer's, unless a function follows it."""
        return f"{name}.{node}" if self.activation else name

    def torch_suffix(self) -> tuple[Constructor, str] | None:
        return torch_function(self.activation, self.activation_value) if self.activation else None

    def keras_suffix(self) -> tuple[tuple[str, ...], Constructor | None]:
        """The layer's `activation=` argument, or the layer after it that applies the function."""
        if not self.activation:
            return (), None
        name, layer = keras_function(self.activation, self.activation_value)
        return ((f'activation="{name}"',), None) if name else ((), layer)

    def emit_function_after(self, tape: Emitter, name: str, y: str) -> str:
        if self.activation is None:
            return y
        return emit_function(tape, self.activation, self.activation_value, name, y, name)


HARD_SWISH_OPSET = 14  # ONNX's HardSwish operator
MISH_OPSET = 18  # ONNX's Mish operator
GELU_OPSET = 20  # ONNX's Gelu operator, both forms (its `approximate` attribute)


def _gelu(tape: Emitter, name: str, x: str, output: str, approximate: str | None) -> str:
    """PyTorch's GELU, 0.5 * x * (1 + g(x)): g = erf(x / sqrt(2)) exactly, or with approximate='tanh'
    g = tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)). The Gelu operator from opset 20; before it, that
    expression (as torch.onnx exports it)."""
    if tape.opset >= GELU_OPSET:
        # The exact form is the operator's default, written as before this attribute was used.
        form: dict[str, Any] = {"approximate": approximate} if approximate else {}
        return tape.op("Gelu", [x], output, **form)
    if approximate == "tanh":
        cube = tape.op("Mul", [tape.op("Mul", [x, x], f"{name}.gelu_square"), x], f"{name}.gelu_cube")
        cubic = tape.op("Mul", [cube, tape.constant(f"{name}.gelu_coefficient", 0.044715)], f"{name}.gelu_cubic")
        inner = tape.op("Add", [x, cubic], f"{name}.gelu_inner")
        scale = tape.constant(f"{name}.gelu_scale", math.sqrt(2 / math.pi))
        g = tape.op("Tanh", [tape.op("Mul", [inner, scale], f"{name}.gelu_scaled")], f"{name}.gelu_tanh")
    else:
        scaled = tape.op("Mul", [x, tape.constant(f"{name}.gelu_scale", 1 / math.sqrt(2))], f"{name}.gelu_scaled")
        g = tape.op("Erf", [scaled], f"{name}.gelu_erf")
    one_plus = tape.op("Add", [g, tape.constant(f"{name}.gelu_one", 1.0)], f"{name}.gelu_one_plus")
    half_x = tape.op("Mul", [x, tape.constant(f"{name}.gelu_half", 0.5)], f"{name}.gelu_half_x")
    return tape.op("Mul", [half_x, one_plus], output)


def _hard_sigmoid(tape: Emitter, x: str, output: str) -> str:
    """PyTorch's hardsigmoid, relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1), as ONNX's HardSigmoid."""
    return tape.op("HardSigmoid", [x], output, alpha=1 / 6, beta=0.5)


@register
class Activation(Layer):
    kind: ClassVar[str] = "activation"
    aliases: ClassVar[tuple[str, ...]] = ACTIVATION_WORDS
    summary: ClassVar[str] = "element-wise activation; the layer's word names the function"
    signature: ClassVar[tuple[Arg, ...]] = (
        Arg("value", real(), positional=True, doc="leakyrelu's slope or elu's alpha"),
        Arg("approximate", words=("tanh",), doc="gelu's tanh approximation (PyTorch's approximate='tanh')"),
    )

    examples: ClassVar[tuple[str, ...]] = (
        *(f"{word} {spec.default:g}" if spec.parameter else word for word, spec in FUNCTIONS.items()),
        "gelu tanh",
    )

    function: str
    value: float | None = None
    approximate: str | None = None  # gelu's form: None (exact) or "tanh"

    @classmethod
    def spellings(cls) -> tuple[str, ...]:
        return ACTIVATION_WORDS

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> Activation:
        if args["approximate"] and word != "gelu":
            raise ArgIssue("E202", f"{word} has no {args['approximate']} form; only gelu does", arg="approximate")
        try:
            return cls(word, checked_value(word, args["value"]), args["approximate"])
        except ArgIssue as issue:
            raise ArgIssue(issue.code, issue.message, arg="value") from None

    @property
    def display_kind(self) -> str:
        return self.function

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def opset_needed(self, inputs: list[Shape]) -> tuple[int, str]:
        return function_opset(self.function)

    def output_function(self) -> str | None:
        return self.function

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        return function_flops(self.function, self.approximate) * math.prod(output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        keeps = FUNCTIONS[self.function].keeps
        return Kept(inputs=(0,) if keeps == "input" else (), output=keeps == "output")

    def describe(self) -> str:
        spec = FUNCTIONS[self.function]
        if spec.parameter is None:
            return self.approximate or ""
        return f"{spec.parameter} {self.value:g}"

    def torch_code(self, inputs: list[Shape], output: Shape) -> TorchCode:
        return TorchCode(torch_function(self.function, self.value, self.approximate)[0])

    def keras_code(self, inputs: list[Shape], output: Shape) -> KerasCode:
        if self.approximate:  # Keras's gelu layer takes no `approximate`
            return KerasCode(Constructor("TanhGelu"), helpers=(TANH_GELU,))
        return KerasCode(keras_function(self.function, self.value)[1])

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        return emit_function(tape, self.function, self.value, name, inputs[0], name, self.approximate)
