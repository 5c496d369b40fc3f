"""The grammar's rules turned into syntax-tree nodes (`ast`), built while the LALR parser reduces.

`TreeBuilder` has one method per rule or alias of grammars/cnn.lark; the LALR runtime (`lalr`)
calls it with the rule's kept children, as Lark's inline transformer does, so no parse tree is
ever built and deep nesting needs no recursion. Lark's reference parser (`export.lark_parser`)
runs the same builder, so the two parsers can be compared tree for tree.

Literals are converted here, and refused (`LiteralTooLarge`) before Python's own limits would
fail on them; a runaway file is stopped (`TooManyElements`) while it is still being read.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard

from ..source import Span
from . import ast
from .lalr import Token

# A literal with more significant digits than this is reported (E303) rather than converted:
# Python refuses int() of more than 4,300 digits, and no extent or count needs 20.
MAX_DIGITS = 19

# The kept children of one rule, as the grammar lays them out: tokens (`lalr.Token`, or Lark's
# own in the reference parser: both are a str with `type`, `start_pos` and `end_pos`) and the
# nodes that earlier callbacks built. Each method unpacks them by its rule's shape.
Children = list[Any]


class Spanned(Protocol):
    """A syntax node: anything with a span."""

    @property
    def span(self) -> Span: ...


class LiteralTooLarge(Exception):
    """A number with too many digits to convert (E303): `token` is the literal as written."""

    def __init__(self, token: Token, characters: int):
        super().__init__(str(token)[:20])
        self.token, self.characters = token, characters


class TooManyElements(Exception):
    """More elements than the limit the builder was given (E214), first over it at `span`."""

    def __init__(self, span: Span):
        super().__init__(span)
        self.span = span


def is_token(child: object) -> TypeGuard[Token]:
    """Whether a rule's child is a token rather than a node: tokens are the only `str` children."""
    return isinstance(child, str)


def token_span(token: Token) -> Span:
    """Where a token stands in the source."""
    return Span(token.start_pos, token.end_pos)


def covering_span(*parts: Token | Span | Spanned | None) -> Span:
    """The span covering tokens, spans and syntax nodes (None parts are skipped). Called for nearly
    every node, so written as one loop rather than lists and generators."""
    start, end = -1, -1
    for part in parts:
        if part is None:
            continue
        if isinstance(part, str):  # a token
            low, high = part.start_pos, part.end_pos
        else:
            low, high = part if isinstance(part, Span) else part.span
        if start < 0 or low < start:
            start = low
        if high > end:
            end = high
    return Span(start, end)


def _int(token: Token, text: str | None = None) -> int:
    """int() of a digit string, refusing absurd lengths before Python's own limit does."""
    text = str(token) if text is None else text
    if len(text.lstrip("0")) > MAX_DIGITS:
        raise LiteralTooLarge(token, len(str(token)))
    return int(text)


def _float(token: Token) -> float:
    """float() of a literal, refusing one that overflows to infinity."""
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise LiteralTooLarge(token, len(str(token)))
    return value


class TreeBuilder:
    """Inline LALR callbacks, named after the grammar's rules and aliases: each builds an AST node
    with a span."""

    def __init__(self, max_elements: int | None = None):
        # Each written layer, block call or tensor reference is an element. Counting them while
        # parsing stops a runaway file (a 10 MB one-line chain) before it is all held in memory.
        self.elements_left = max_elements

    # values
    def int(self, children: Children) -> ast.Number:
        (token,) = children
        return ast.Number(_int(token), token_span(token))

    def float(self, children: Children) -> ast.Number:
        (token,) = children
        return ast.Number(_float(token), token_span(token))

    def name(self, children: Children) -> ast.Name:
        (token,) = children
        return ast.Name(str(token), token_span(token))

    def dims(self, children: Children) -> ast.Dims:
        (token,) = children
        return ast.Dims(tuple(_int(token, v) for v in token.split("x")), token_span(token))

    def negate(self, children: Children) -> ast.Negate:
        minus, operand = children
        return ast.Negate(operand, covering_span(minus, operand))

    def logical_not(self, children: Children) -> ast.Not:
        bang, operand = children
        return ast.Not(operand, covering_span(bang, operand))

    def call(self, children: Children) -> ast.Call:
        function, _open, *arguments, close = children
        return ast.Call(
            ast.Name(str(function), token_span(function)),
            tuple(a for a in arguments if not is_token(a)),
            covering_span(function, close),
        )

    def attribute(self, children: Children) -> ast.Attribute:
        tensor, _dot, attribute, *axis = children  # axis: '[' expression ']' or nothing
        return ast.Attribute(
            ast.Name(str(tensor), token_span(tensor)),
            ast.Name(str(attribute), token_span(attribute)),
            axis[1] if axis else None,
            covering_span(tensor, attribute, *axis),
        )

    def shape(self, children: Children) -> ast.ComputedDims:
        """`(k)x1x(2*k+1)`: CROSS-joined integers, DIMS and parenthesised expressions."""
        extents: list[ast.Expr] = []
        opened: Token | None = None
        for child in children:
            if not is_token(child):
                extents.append(child)
            elif child.type == "LPAR":
                opened = child
            elif child.type == "RPAR":
                extents[-1] = extents[-1]._replace(span=covering_span(opened, child))
            elif child.type == "INT":
                extents.append(self.int([child]))
            elif child.type == "DIMS":
                start = child.start_pos
                for part in child.split("x"):
                    extents.append(ast.Number(_int(child, part), Span(start, start + len(part))))
                    start += len(part) + 1
        return ast.ComputedDims(tuple(extents), covering_span(children[0], children[-1]))

    def paren(self, children: Children) -> ast.Expr:
        open_, inner, close = children
        expression: ast.Expr = inner
        # The parentheses belong to the span, so carets cover what the user wrote.
        return expression._replace(span=covering_span(open_, close))

    def binary(self, children: Children) -> ast.Binary:
        left, op, right = children
        return ast.Binary(str(op), left, right, covering_span(left, right))

    def conditional(self, children: Children) -> ast.Conditional:
        test, _q, then, _c, otherwise = children
        return ast.Conditional(test, then, otherwise, covering_span(test, otherwise))

    def window(self, children: Children) -> ast.Window:
        extent, _slash, stride = children
        return ast.Window(extent, stride, covering_span(extent, stride))

    def pair(self, children: Children) -> ast.Pair:
        first, _comma, second = children
        return ast.Pair(first, second, covering_span(first, second))

    def number(self, children: Children) -> ast.Number:
        sign = -1 if len(children) == 2 else 1
        token = children[-1]
        value = _float(token) if token.type == "FLOAT" else _int(token)
        return ast.Number(sign * value, covering_span(*children))

    def array(self, children: Children) -> ast.Array:
        open_, *elements, close = [c for c in children if not (is_token(c) and c.type == "COMMA")]
        return ast.Array(tuple(elements), covering_span(open_, close))

    # statements
    def input_decl(self, children: Children) -> ast.InputDecl:
        keyword, dims = children
        values = tuple(_int(dims, v) for v in dims.split("x"))
        return ast.InputDecl(values, covering_span(keyword, dims))

    def use_decl(self, children: Children) -> ast.Use:
        keyword, path = children
        return ast.Use(path[1:-1], covering_span(keyword, path))

    def output_decl(self, children: Children) -> ast.Output:
        keyword, *rest = children
        names = tuple(ast.Name(str(t), token_span(t)) for t in rest if t.type == "NAME")
        return ast.Output(names, covering_span(keyword, *rest))

    def budget_argument(self, children: Children) -> ast.BudgetArgument:
        word, *rest = children
        value: ast.Number | ast.Name | None = None
        if rest:
            (token,) = rest
            value = self.int([token]) if token.type == "INT" else self.name([token])
        return ast.BudgetArgument(self.name([word]), value, covering_span(word, *rest))

    def budget_arguments(self, children: Children) -> tuple[ast.BudgetArgument, ...]:
        return tuple(c for c in children if isinstance(c, ast.BudgetArgument))

    def budget_value(self, children: Children) -> ast.BudgetValue:
        number, *unit = children
        return ast.BudgetValue(str(number), self.name(unit) if unit else None, covering_span(number, *unit))

    def assert_decl(self, children: Children) -> ast.Assert:
        keyword, quantity, *rest = children
        arguments: tuple[ast.BudgetArgument, ...] = rest[0] if len(rest) == 3 else ()
        op, value = rest[-2], rest[-1]
        return ast.Assert(
            self.name([quantity]), arguments, str(op), token_span(op), value, covering_span(keyword, value)
        )

    def param(self, children: Children) -> ast.Param:
        name = ast.Name(str(children[0]), token_span(children[0]))
        default = children[2] if len(children) == 3 else None
        return ast.Param(name, default, covering_span(*children))

    def params(self, children: Children) -> tuple[ast.Param, ...]:
        return tuple(c for c in children if isinstance(c, ast.Param))

    def body(self, children: Children) -> ast.Body:
        open_, *chains, close = children
        return ast.Body(tuple(chains), covering_span(open_, close))

    def block_def(self, children: Children) -> ast.BlockDef:
        keyword, name, *rest = children
        params = rest[0] if len(rest) == 2 else ()
        body = rest[-1]
        return ast.BlockDef(ast.Name(str(name), token_span(name)), params, body, covering_span(keyword, body))

    def followup(self, children: Children) -> ast.Followup:
        keyword, body = children
        return ast.Followup(ast.Name(str(keyword), token_span(keyword)), body, covering_span(keyword, body))

    def element(self, children: Children) -> ast.Element:
        if self.elements_left is not None:
            self.elements_left -= 1
            if self.elements_left < 0:
                raise TooManyElements(token_span(children[0]))
        label = None
        if len(children) >= 2 and is_token(children[1]) and children[1].type == "COLON":
            label = ast.Name(str(children[0]), token_span(children[0]))
            children = children[2:]
        kind_token, *rest = children
        items: list[ast.Item] = []
        body: ast.Body | None = None
        followups: list[ast.Followup] = []
        for child in rest:
            if isinstance(child, ast.Body):
                body = child
            elif isinstance(child, ast.Followup):
                followups.append(child)
            else:
                items.append(child)
        start = label.span if label else token_span(kind_token)
        last = followups[-1] if followups else body if body else items[-1] if items else kind_token
        return ast.Element(
            label,
            ast.Name(str(kind_token), token_span(kind_token)),
            tuple(items),
            body,
            tuple(followups),
            covering_span(start, last),
        )

    def chain(self, children: Children) -> ast.Chain:
        target = None
        if len(children) >= 2 and is_token(children[1]) and children[1].type == "EQUALS":
            target = ast.Name(str(children[0]), token_span(children[0]))
            children = children[2:]
        elements = tuple(c for c in children if isinstance(c, ast.Element))
        return ast.Chain(target, elements, covering_span(target, elements[0], elements[-1]))

    def start(self, children: Children) -> tuple[ast.Statement, ...]:
        return tuple(children)
