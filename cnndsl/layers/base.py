"""The layer contract: what every layer kind declares, and the registry.

A layer kind is one class in one file. It declares

- its attributes (`signature`: how the words after its name bind; `from_args` validates them),
- its shape rule (`output_shape`),
- its weights, once (`parameters`: name, shape, initialiser, trainable); parameter counts, the
  summary, the .npz loader and ONNX emission all derive from that declaration,
- its multiply-accumulates (`macs`) and the scratch memory ONNX Runtime needs (`scratch_values`),
- its floating-point operations (`flops`, by default two per multiply-accumulate) and what it keeps
  for the backward pass while training (`kept_for_backward`, by default nothing; `views_input`),
- what each output position reads of its inputs along the spatial axes (`reach`, by default the
  same position; receptive fields follow it),
- the lowest ONNX opset it can be emitted at (`opset_needed`), and how it is emitted (`emit`,
  which may branch on `tape.opset`),
- the traits lint rules ask about (`dropped_input`, `output_function`, `ends_with_bias`,
  `normalises_batch`, `training_only`, `is_dropout`, `is_convolution`, `ends_feature_maps`,
  `is_classifier`),
- example arguments (`examples`) and the input ranks it takes (`ranks`), from which the
  registry-wide conformance test (tests/test_layer_contract.py) builds, checks, compiles and runs
  one- and three-layer models: a registered kind is tested without a test written for it.

Registering it (`@register`) makes it known to the resolver, the docs and the tests. Layers import
nothing from the passes that use them: emission goes through the `Emitter` protocol, defined beside
this contract (layers/emission.py) and implemented by cnndsl/onnx.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

from .backward import Kept as Kept  # the contract's word for what a layer keeps, re-exported
from .emission import Emitter, Weight
from .emission import Shape as Shape  # the contract's word for a shape, re-exported
from .markers import SAME

# Any single extent above this is treated as a mistake rather than a tensor (E303).
MAX_EXTENT = 2**31 - 1

# The oldest ONNX opset any kind is emitted at: Softmax over the channel axis of an N-D tensor
# needs 13 (before it, Softmax flattened every axis after the first).
MIN_OPSET = 13


class ShapeIssue(Exception):
    """Raised by `output_shape`; the shape pass turns it into a located diagnostic."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        notes: Sequence[str] = (),
        help: str | None = None,
        input_index: int | None = None,
    ):
        super().__init__(message)
        self.code, self.message, self.notes, self.help = code, message, tuple(notes), help
        self.input_index = input_index


class Record:
    """An immutable value with named fields, compared and hashed by value: a frozen dataclass
    whose fields are read from the class's annotations (ClassVar ones excepted) when the class is
    made, instead of generating and compiling methods. `cnndsl check` imports about a dozen of
    them, and compiling their methods took a tenth of its run time.

    Not a named tuple: an argument value must never be mistaken for a tuple of extents.
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **options: Any):
        super().__init_subclass__(**options)
        # The class's own annotations (from 3.14 they are computed on access, not stored). Not
        # inspect.get_annotations: importing inspect would cost `cnndsl check` more than this.
        annotations = cls.__dict__.get("__annotations__") or cls.__annotations__  # noqa: RUF063
        own = [name for name, annotation in annotations.items() if not str(annotation).startswith("ClassVar")]
        cls._fields = (*cls._fields, *(name for name in own if name not in cls._fields))
        cls._defaults = {**cls._defaults, **{name: cls.__dict__[name] for name in own if name in cls.__dict__}}

    def __init__(self, *args: Any, **kwargs: Any):
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} arguments, got {len(args)}")
        values = dict(zip(fields, args, strict=False))  # the rest come by keyword or default
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{type(self).__name__} got an unexpected or repeated argument {name!r}")
            values[name] = value
        for name in fields:
            if name not in values:
                if name not in self._defaults:
                    raise TypeError(f"{type(self).__name__} is missing the argument {name!r}")
                values[name] = self._defaults[name]
            object.__setattr__(self, name, values[name])

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"


class ArgIssue(Exception):
    """Raised while binding or validating an argument; carries the argument's name for its span."""

    def __init__(self, code: str, message: str, *, arg: str | None = None, help: str | None = None):
        super().__init__(message)
        self.code, self.message, self.arg, self.help = code, message, arg, help


# --- argument signatures ----------------------------------------------------------------------
# A converter turns one evaluated item (int, float, str word, tuple of ints, Window, Pair, list)
# into the attribute value, or raises ArgIssue.

Converter = Callable[[Any, str], Any]


class Arg(NamedTuple):
    """One attribute of a layer kind.

    positional: bound from the leading items in order (`conv 3x3 64`).
    words: the attribute is set by naming one of these words (`relu`, `ceil`, `avg`), and the
           value is the word; `value_after_word` lets the word take an optional number (`leakyrelu 0.2`).
    Otherwise it is a keyword: its name followed by one value (`pad 1`, `groups 2`).
    """

    name: str
    convert: Converter | None = None
    default: Any = None
    positional: bool = False
    words: tuple[str, ...] = ()
    value_after_word: str | None = None  # name of the attribute that the optional number sets
    required: bool = False
    doc: str = ""


class WindowValue(Record):
    """`11x11/4`: an extent and a stride, as bound (before broadcasting to the input's rank)."""

    extent: Any
    stride: Any


class PairValue(Record):
    first: Any
    second: Any


def integer(minimum: int | None = None, maximum: int = MAX_EXTENT) -> Callable[[Any, str], int]:
    def convert(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ArgIssue("E301", f"{name} must be an integer, got {_show(value)}", arg=name)
        if minimum is not None and value < minimum:
            raise ArgIssue("E302", f"{name} must be at least {minimum}, got {value}", arg=name)
        if value > maximum:
            raise ArgIssue("E303", f"{name} is too large: {value} (the limit is {maximum:,})", arg=name)
        return int(value)

    return convert


def real(
    minimum: float | None = None, maximum: float | None = None, *, open_max: bool = False, exclusive_min: bool = False
) -> Callable[[Any, str], float]:
    def convert(value: Any, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArgIssue("E301", f"{name} must be a number, got {_show(value)}", arg=name)
        number = float(value)
        if not math.isfinite(number):
            raise ArgIssue("E303", f"{name} must be a finite number, got {number}", arg=name)
        low_bad = minimum is not None and (number <= minimum if exclusive_min else number < minimum)
        high_bad = maximum is not None and (number >= maximum if open_max else number > maximum)
        if low_bad or high_bad:
            low = "" if minimum is None else ("(" if exclusive_min else "[") + f"{minimum:g}"
            high = "" if maximum is None else f"{maximum:g}" + (")" if open_max else "]")
            raise ArgIssue("E302", f"{name} must be in {low or '(-inf'}, {high or 'inf)'}, got {number:g}", arg=name)
        return number

    return convert


def extents(minimum: int = 1) -> Callable[[Any, str], tuple[int, ...]]:
    """An integer or `AxBxC`: one value per spatial axis, broadcast later to the input's rank."""
    scalar = integer(minimum)

    def convert(value: Any, name: str) -> tuple[int, ...]:
        values = value if isinstance(value, tuple) else (value,)
        return tuple(scalar(v, name) for v in values)

    return convert


def window(minimum: int = 1) -> Callable[[Any, str], WindowValue]:
    """`k`, `AxB`, or either with `/stride`."""
    convert_extents = extents(minimum)

    def convert(value: Any, name: str) -> WindowValue:
        if isinstance(value, WindowValue):
            return WindowValue(convert_extents(value.extent, name), convert_extents(value.stride, "stride"))
        return WindowValue(convert_extents(value, name), None)

    return convert


def choice(*options: str) -> Callable[[Any, str], str]:
    def convert(value: Any, name: str) -> str:
        if value not in options:
            raise ArgIssue("E302", f"{name} must be one of {', '.join(options)}; got {_show(value)}", arg=name)
        return str(value)

    return convert


def _show(value: Any) -> str:
    if isinstance(value, WindowValue):
        return "a window with a stride"
    if isinstance(value, PairValue):
        return "a begin,end pair"
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, list):
        return "an array"
    return repr(value) if isinstance(value, str) else str(value)


def broadcast(values: tuple[int, ...], rank: int, what: str) -> tuple[int, ...]:
    if len(values) == 1:
        return values * rank
    if len(values) != rank:
        raise ShapeIssue(
            "E403",
            f"{what} has {len(values)} axes but the input has {rank} spatial axes",
            help=f"give one value or {rank} values, such as {'x'.join(['3'] * rank)}",
        )
    return values


def shape_text(shape: Shape) -> str:
    return "x".join(str(v) for v in shape)


# --- layer kinds ------------------------------------------------------------------------------


class Layer(Record):
    """Base of all layer kinds. Subclasses are records of their attributes."""

    kind: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    signature: ClassVar[tuple[Arg, ...]] = ()
    summary: ClassVar[str] = ""
    # Number of inputs: 1 for ordinary layers, None for merges (any number, at least two).
    arity: ClassVar[int | None] = 1
    # For the conformance test: the layer as written in a spec, from the simplest form to the
    # fullest, each valid on an input of 4 channels and extent 8 per spatial axis and applicable
    # three times in a row; and the spatial ranks of the inputs the kind takes (0: a flat vector).
    examples: ClassVar[tuple[str, ...]] = ()
    ranks: ClassVar[tuple[int, ...]] = (0, 1, 2, 3)

    # Traits the lint rules ask about, instead of testing classes.
    training_only: ClassVar[bool] = False  # an identity at inference: emitted as nothing, makes no tensor
    is_dropout: ClassVar[bool] = False  # drops whole activations while training (W102)
    is_convolution: ClassVar[bool] = False  # a sliding weighted window over feature maps (W102)
    ends_feature_maps: ClassVar[bool] = False  # after it there are no feature maps (flatten, fc)
    is_classifier: ClassVar[bool] = False  # a fully connected layer, the classic head (W103)
    normalises_batch: ClassVar[bool] = False  # subtracts a per-channel mean (W105)
    # Its output is a view of its first input's storage in PyTorch (flatten, a slice): keeping the
    # output for the backward pass keeps that storage (training memory).
    views_input: ClassVar[bool] = False

    @classmethod
    def from_args(cls, args: dict[str, Any], word: str) -> Layer:
        """Build from bound arguments (defaults filled in) and the word that named the kind;
        raise ArgIssue for invalid values."""
        return cls(**args)

    @classmethod
    def spellings(cls) -> tuple[str, ...]:
        """The words that name this kind in a spec."""
        return (cls.kind, *cls.aliases)

    @property
    def display_kind(self) -> str:
        return self.kind

    def output_shape(self, inputs: list[Shape]) -> Shape:
        raise NotImplementedError

    def parameters(self, inputs: list[Shape]) -> tuple[Weight, ...]:
        """The parameter tensors this layer owns, given its input shapes (validated by
        `output_shape`). The one declaration counts, summaries, the .npz loader and emission use."""
        return ()

    def params(self, inputs: list[Shape]) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts, as PyTorch counts them: from `parameters`."""
        trainable = fixed = 0
        for weight in self.parameters(inputs):
            if weight.trainable:
                trainable += weight.size
            else:
                fixed += weight.size
        return trainable, fixed

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        """Multiply-accumulates, torchvision's convention: conv and fc only, bias excluded."""
        return 0

    def scratch_values(self, inputs: list[Shape]) -> int:
        """Values per sample ONNX Runtime allocates while running this layer, besides its output
        (`run` counts them in the memory it needs)."""
        return 0

    def flops(self, inputs: list[Shape], output: Shape) -> int:
        """Floating-point operations per sample (docs/analysis.md, "FLOPs"): two per
        multiply-accumulate (a multiply and an add); a kind that does other arithmetic (a bias, an
        activation, a normalisation, a window's comparisons, a merge) adds its own."""
        return 2 * self.macs(inputs, output)

    def kept_for_backward(self, inputs: list[Shape], output: Shape) -> Kept:
        """What PyTorch's autograd keeps of this layer for the backward pass, while training
        (docs/analysis.md, "Memory"). By default nothing: a reshape, a concatenation or a sum
        needs no tensor to pass gradients back."""
        return Kept()

    def reach(self, inputs: list[Shape], output: Shape) -> tuple[Any, ...]:
        """Per input, what each output position reads of it along the spatial axes (receptive
        fields, docs/analysis.md): a tuple of per-axis declarations from layers/reach.py (a Window,
        a Scatter, a Resample), WHOLE where every output value depends on the whole input, None
        where only its shape is used, or SAME where each output position reads the same position
        of it: the default (activations, normalisations over the channels, channel splits, add,
        concat)."""
        return tuple(SAME for _ in inputs)

    def opset_needed(self, inputs: list[Shape]) -> tuple[int, str]:
        """The lowest ONNX opset this layer, with these attributes and inputs, can be emitted at,
        and what needs it (an operator's name, for E504)."""
        return MIN_OPSET, self.display_kind

    def describe(self) -> str:
        """Short attribute text for summaries, e.g. '11x11/4, pad 2'."""
        return ""

    def emit(self, tape: Emitter, name: str, inputs: list[str], in_shapes: list[Shape], out_shape: Shape) -> str:
        """Append ONNX nodes and initializers for this layer; return the output tensor name."""
        raise NotImplementedError

    # traits that depend on the attributes

    def dropped_input(self, in_shape: Shape) -> list[tuple[int, str]]:
        """Per spatial axis: the real input rows the windows never read, and the formula (W101)."""
        return []

    def output_function(self) -> str | None:
        """The activation function applied last ('relu', 'softmax'), if any (W104, `run`)."""
        return None

    @property
    def ends_with_bias(self) -> bool:
        """The last thing this layer does is add a trainable bias (W105)."""
        return False

    @property
    def sequence_positions(self) -> int:
        """The positions the layer takes in a `seq`, which numbers layers as PyTorch's nn.Sequential
        numbers modules: one, or two for a layer with an activation suffix (its own module there)."""
        return 1


REGISTRY: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    for word in cls.spellings():
        if word in REGISTRY:
            raise ValueError(f"layer word {word!r} registered twice")
        REGISTRY[word] = cls
    return cls
