"""The syntax tree of one .cnn file: frozen dataclasses, each with its source span.

No Lark object survives into this tree (tests/test_parser.py checks that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .source import Source, Span


# --- argument values --------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    value: int | float
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class Dims:
    """`3x3x3`: a literal extent per axis."""

    values: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Negate:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Conditional:
    test: Expr
    then: Expr
    otherwise: Expr
    span: Span


@dataclass(frozen=True)
class Array:
    """A literal tensor such as a hand-crafted kernel: `[[1 0 -1] [2 0 -2] [1 0 -1]]`."""

    elements: tuple[Union[Number, Array], ...]
    span: Span


@dataclass(frozen=True)
class Window:
    """`11x11/4`, `3/2`, `3x3/s`: an extent and a stride (also `[1 1 1] / 3`: a scaled array)."""

    extent: Item
    stride: Item
    span: Span


@dataclass(frozen=True)
class Pair:
    """`1,2`: begin and end padding."""

    first: Item
    second: Item
    span: Span


Expr = Union[Number, Name, Negate, Binary, Conditional]
Item = Union[Number, Name, Negate, Binary, Conditional, Dims, Array, Window, Pair]


# --- statements -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Body:
    chains: tuple[Chain, ...]
    span: Span


@dataclass(frozen=True)
class Followup:
    """A second braced group of a combinator: `residual { ... } shortcut { ... }`."""

    keyword: Name
    body: Body
    span: Span


@dataclass(frozen=True)
class Element:
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


@dataclass(frozen=True)
class Chain:
    target: Name | None
    elements: tuple[Element, ...]
    span: Span


@dataclass(frozen=True)
class InputDecl:
    dims: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Use:
    path: str
    span: Span


@dataclass(frozen=True)
class Output:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class Param:
    name: Name
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: Name
    params: tuple[Param, ...]
    body: Body
    span: Span


Statement = Union[InputDecl, Use, Output, BlockDef, Chain]


@dataclass(frozen=True)
class Module:
    source: Source
    statements: tuple[Statement, ...]
