"""What a layer kind declares for code generation (`cnndsl export`, cnndsl/export/): its PyTorch form.

A kind that has one defines `torch_code(inputs, output) -> TorchCode`, beside its ONNX emission:
the torch module that holds its parameters (under the names its `parameters` declares, with the
same shapes) and the expression `forward` computes with it. A kind without one, or attributes
torch has no form for, raise `NoTorchForm`; the exporter turns that into a located diagnostic.
The conformance test (tests/test_layer_contract.py) requires every registered kind to declare it
or to be listed there as unsupported, with the reason.

Layers only name torch's API in text: nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .base import Shape


class Constructor(NamedTuple):
    """A module's construction, `nn.Conv2d(3, 64, kernel_size=3)`: the callable and its arguments."""

    callee: str
    arguments: tuple[str, ...] = ()


class TorchCode(NamedTuple):
    """A layer in PyTorch.

    module: the module holding its parameters (or a parameterless torch module, for readability);
        None where `forward` computes it alone (an addition, a slice).
    call: the forward expression; `{m}` is the module, `{x}` the first input, `{xs}` every input
        separated by commas, `{0}`, `{1}`... each input.
    helper: the source of a class or function `module` names that torch lacks, written once into
        the generated file (a layer scale, a drop path).
    activation: an activation suffix (`conv 3x3 64 relu`): its module, which takes the next
        position in an `nn.Sequential` (as `seq` numbers it), and its functional form on `{x}`.
    """

    module: Constructor | None
    call: str = "{m}({x})"
    helper: str = ""
    activation: tuple[Constructor, str] | None = None


class NoTorchForm(Exception):
    """Raised by `torch_code` for what PyTorch cannot express exactly; the message says what."""


def torch_class(stem: str, shape: Shape) -> str:
    """The torch module for the input's spatial rank: `nn.Conv2d` for a CxHxW input (1d for a flat one)."""
    return f"nn.{stem}{max(len(shape) - 1, 1)}d"


def extent(values: Sequence[int]) -> str:
    """One per-axis value as torch takes it: `3` when every axis has it, `(3, 5)` otherwise."""
    if len(set(values)) == 1:
        return str(values[0])
    return f"({', '.join(map(str, values))})"


def number(value: float) -> str:
    """A float as Python source that reads back as the same value."""
    return repr(float(value))


def torch_padding(begin: Sequence[int], end: Sequence[int]) -> str:
    """`F.pad`'s amounts, the last axis first, for per-axis begin and end padding."""
    amounts = [amount for b, e in zip(reversed(begin), reversed(end), strict=True) for amount in (b, e)]
    return f"({', '.join(map(str, amounts))})"


# Keras (`cnndsl export --to keras`): channels-last functional models. A kind that has a form defines
# `keras_code(inputs, output) -> KerasCode`; what Keras cannot express exactly raises `NoKerasForm`.


class KerasWeight(NamedTuple):
    """One of a Keras layer's weights (in the order of its `get_weights()`), its variable named
    `variable` (the path `layer/variable`), from the spec's weight `name` (ONNX layout, channels
    first): reshaped to `reshape` where given, then its axes taken in the order `axes`. The reverse
    conversion undoes both."""

    name: str
    variable: str
    axes: tuple[int, ...] = (0,)
    reshape: tuple[int, ...] | None = None


class KerasCode(NamedTuple):
    """A layer in Keras 3's functional API, on channels-last tensors.

    layer: the Keras layer (the writer adds its `name=`); None where the input passes unchanged.
    inputs_as_list: a merge, called on the list of its inputs.
    before: parameterless layers applied first (explicit padding, a permutation), each with the
        suffix its name gets after the layer's.
    weights: how the spec's weights become the layer's, in the layer's order.
    helpers: the sources of layer classes Keras lacks (layers/keras_helpers.py), each written once
        into the generated file.
    activation: a suffix Keras takes by no name (`leakyrelu 0.1`): a layer applied after.
    after: parameterless layers applied last (a crop, a subsampling), named as `before`'s.
    """

    layer: Constructor | None
    inputs_as_list: bool = False
    before: tuple[tuple[str, Constructor], ...] = ()
    weights: tuple[KerasWeight, ...] = ()
    helpers: tuple[str, ...] = ()
    activation: Constructor | None = None
    after: tuple[tuple[str, Constructor], ...] = ()


class NoKerasForm(Exception):
    """Raised by `keras_code` for what Keras cannot express exactly; the message says what."""


def keras_class(stem: str, shape: Shape) -> str:
    """The Keras layer for the input's spatial rank: `keras.layers.Conv2D` for a CxHxW input."""
    return f"keras.layers.{stem}{max(len(shape) - 1, 1)}D"


def channels_last_kernel(rank: int) -> tuple[int, ...]:
    """Axes taking a kernel (out, in, *window) to Keras's (*window, in, out)."""
    return (*range(2, rank + 2), 1, 0)


def keras_padding(begin: Sequence[int], end: Sequence[int]) -> str:
    """A ZeroPadding or Cropping layer's `padding`: `(b, e)` for one axis, `((b, e), (b, e))` for several."""
    pairs = [f"({b}, {e})" for b, e in zip(begin, end, strict=True)]
    return pairs[0] if len(pairs) == 1 else f"({', '.join(pairs)})"


def per_axis_pairs(begin: Sequence[int], end: Sequence[int]) -> str:
    """A helper's (begin, end) per axis, always a tuple of pairs: `((1, 2),)`, `((1, 2), (0, 1))`."""
    pairs = [f"({b}, {e})" for b, e in zip(begin, end, strict=True)]
    return f"({pairs[0]},)" if len(pairs) == 1 else f"({', '.join(pairs)})"


def per_axis(values: Sequence[int]) -> str:
    """A helper's value per axis, always a tuple: `(2,)`, `(2, 3)`."""
    return f"({values[0]},)" if len(values) == 1 else f"({', '.join(map(str, values))})"
