"""The syntax tree of one .cnn file: named tuples, each with its source span.

No Lark object survives into this tree (tests/test_parser.py checks that).
"""

from __future__ import annotations

from typing import NamedTuple

from ..source import Source, Span

# --- argument values --------------------------------------------------------------------------


class Number(NamedTuple):
    value: int | float
    span: Span


class Name(NamedTuple):
    id: str
    span: Span


class Dims(NamedTuple):
    """`3x3x3`: a literal extent per axis."""

    values: tuple[int, ...]
    span: Span


class Negate(NamedTuple):
    operand: Expr
    span: Span


class Not(NamedTuple):
    """`!x`: 1 where x is 0, else 0."""

    operand: Expr
    span: Span


class Binary(NamedTuple):
    op: str
    left: Expr
    right: Expr
    span: Span


class Conditional(NamedTuple):
    test: Expr
    then: Expr
    otherwise: Expr
    span: Span


class Call(NamedTuple):
    """`min(a, b)`, `divisible(c * w, 8)`: a function of the expression language (inside parentheses)."""

    function: Name
    arguments: tuple[Expr, ...]
    span: Span


class Attribute(NamedTuple):
    """`in.c`, `x.h`, `in.shape[i]`: a number read from a named tensor's shape."""

    tensor: Name
    attribute: Name
    axis: Expr | None  # the i of `shape[i]`
    span: Span


class ComputedDims(NamedTuple):
    """`(k)x1`, `1x(2*k+1)`: an extent per axis, some of them computed."""

    extents: tuple[Expr, ...]
    span: Span


class Array(NamedTuple):
    """A literal tensor such as a hand-crafted kernel: `[[1 0 -1] [2 0 -2] [1 0 -1]]`."""

    elements: tuple[Number | Array, ...]
    span: Span


class Window(NamedTuple):
    """`11x11/4`, `3/2`, `3x3/s`: an extent and a stride (also `[1 1 1] / 3`: a scaled array)."""

    extent: Item
    stride: Item
    span: Span


class Pair(NamedTuple):
    """`1,2`: begin and end padding."""

    first: Item
    second: Item
    span: Span


Expr = Number | Name | Negate | Not | Binary | Conditional | Call | Attribute
Item = Expr | Dims | ComputedDims | Array | Window | Pair
# The items that are one number (an expression), for the checks that ask "is this a value?".
EXPRESSIONS = (Number, Name, Negate, Not, Binary, Conditional, Call, Attribute)


# --- statements -------------------------------------------------------------------------------


class Body(NamedTuple):
    chains: tuple[Chain, ...]
    span: Span


class Followup(NamedTuple):
    """A second braced group of a combinator: `residual { ... } shortcut { ... }`."""

    keyword: Name
    body: Body
    span: Span


class Element(NamedTuple):
    """One step of a chain: a layer, a block call, a tensor reference or a combinator."""

    label: Name | None
    kind: Name
    items: tuple[Item, ...]
    body: Body | None
    followups: tuple[Followup, ...]
    span: Span

    @property
    def head_span(self) -> Span:
        """The kind and its arguments, without any braced body (where most diagnostics point)."""
        end = self.items[-1].span.end if self.items else self.kind.span.end
        return Span(self.span.start, end)


class Chain(NamedTuple):
    target: Name | None
    elements: tuple[Element, ...]
    span: Span


class InputDecl(NamedTuple):
    dims: tuple[int, ...]
    span: Span


class Use(NamedTuple):
    path: str
    span: Span


class Output(NamedTuple):
    names: tuple[Name, ...]
    span: Span


class Param(NamedTuple):
    name: Name
    default: Expr | None
    span: Span


class BlockDef(NamedTuple):
    name: Name
    params: tuple[Param, ...]
    body: Body
    span: Span


class BudgetArgument(NamedTuple):
    """`batch 32`, `train adam`: a word of a budget quantity's arguments, and its value if any."""

    name: Name
    value: Number | Name | None
    span: Span


class BudgetValue(NamedTuple):
    """`5M`, `1.5G`, `8GiB`: the number as written (read exactly by the budget pass) and its unit."""

    number: str
    unit: Name | None
    span: Span


class Assert(NamedTuple):
    """`assert params <= 5M`, `assert memory(batch 32, train adam) <= 8GiB`: a budget on the network."""

    quantity: Name
    arguments: tuple[BudgetArgument, ...]
    op: str
    op_span: Span
    value: BudgetValue
    span: Span


Statement = InputDecl | Use | Output | BlockDef | Assert | Chain


class Module(NamedTuple):
    source: Source
    statements: tuple[Statement, ...]
