"""The spec's expressions in Python, for the block classes' constructor code (export/pytorch_blocks.py).

A block's expression becomes the same arithmetic over the class's constructor arguments: a
parameter is its name, `in.c` is `in_channels` (the input's width, which the caller passes), a
repeat counter is the loop's variable, `(t ? a : b)` is `a if t else b`, `&&`, `||` and `!` are
`and`, `or` and `not`, and `ceil`, `floor`, `min`, `max` and `divisible` are Python's or the
generated file's own `divisible`. A quotient is `//`: widths divide evenly, and every expression
the generator uses is evaluated on every call's arguments and must give that call's number.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from types import CodeType

from ..resolve.functions import divisible
from ..syntax import ast

# Python's precedences, loosest first, as far as the generated expressions need them.
_CONDITIONAL, _OR, _AND, _NOT, _COMPARISON, _SUM, _PRODUCT, _UNARY, _ATOM = range(9)
_OPERATORS = {
    "||": ("or", _OR),
    "&&": ("and", _AND),
    **{op: (op, _COMPARISON) for op in ("==", "!=", "<", "<=", ">", ">=")},
    "+": ("+", _SUM),
    "-": ("-", _SUM),
    "*": ("*", _PRODUCT),
    "/": ("//", _PRODUCT),
    "%": ("%", _PRODUCT),
}
_FUNCTIONS = {"min": "min", "max": "max", "divisible": "divisible", "ceil": "math.ceil", "floor": "math.floor"}
IN_CHANNELS = "in_channels"
DIVISIBLE_HELPER = '''def divisible(value: float, divisor: int) -> int:
    """The multiple of `divisor` nearest `value` (halves up), at least `divisor`, never 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
'''
_NAMESPACE = {"__builtins__": {}, "min": min, "max": max, "divisible": divisible, "math": math}


def python_expression(expression: ast.Expr, names: set[str], rounded: bool = False) -> tuple[str, int] | None:
    """The expression in Python over `names` (the block's parameters, its counters, and
    `in_channels` for `in.c`), with its precedence; None where it reads anything else (another
    tensor's shape) or uses a function that is not translated. A quotient is `//`, but `/` in a
    function's argument (`rounded`: `math.floor(in_channels / 4)`), which the function rounds."""
    if isinstance(expression, ast.Number):
        return repr(expression.value), _ATOM
    if isinstance(expression, ast.Name):
        return (expression.id, _ATOM) if expression.id in names else None
    if isinstance(expression, ast.Attribute):
        reads_width = expression.tensor.id == "in" and expression.attribute.id == "c" and expression.axis is None
        return (IN_CHANNELS, _ATOM) if reads_width and IN_CHANNELS in names else None
    if isinstance(expression, ast.Negate | ast.Not):
        operand = python_expression(expression.operand, names, rounded)
        if operand is None:
            return None
        if isinstance(expression, ast.Not):
            return f"not {_parenthesized(operand, _NOT)}", _NOT
        return f"-{_parenthesized(operand, _UNARY)}", _UNARY
    if isinstance(expression, ast.Call) and expression.function.id in _FUNCTIONS:
        within = expression.function.id not in ("min", "max") or rounded
        arguments = [python_expression(argument, names, within) for argument in expression.arguments]
        if any(argument is None for argument in arguments):
            return None
        texts = ", ".join(argument[0] for argument in arguments if argument)
        return f"{_FUNCTIONS[expression.function.id]}({texts})", _ATOM
    if isinstance(expression, ast.Conditional):
        parts = [
            python_expression(part, names, rounded) for part in (expression.then, expression.test, expression.otherwise)
        ]
        if parts[0] is None or parts[1] is None or parts[2] is None:
            return None
        then, test, otherwise = (_parenthesized(part, _CONDITIONAL + 1) for part in parts if part)
        return f"{then} if {test} else {otherwise}", _CONDITIONAL
    if isinstance(expression, ast.Binary) and expression.op in _OPERATORS:
        left, right = (python_expression(side, names, rounded) for side in (expression.left, expression.right))
        if left is None or right is None:
            return None
        operator, precedence = _OPERATORS[expression.op]
        if rounded and expression.op == "/":
            operator = "/"
        # Python chains comparisons (`a == b == c`); the spec's are C's, so a nested one is parenthesised.
        left_precedence = precedence + 1 if precedence == _COMPARISON else precedence
        text = f"{_parenthesized(left, left_precedence)} {operator} {_parenthesized(right, precedence + 1)}"
        return text, precedence
    return None


def _parenthesized(operand: tuple[str, int], precedence: int) -> str:
    return f"({operand[0]})" if operand[1] < precedence else operand[0]


Guard = tuple[ast.Expr, bool]  # an `if`'s condition and whether the expression is in its `then` part


def body_expressions(
    body: ast.Body, guards: tuple[Guard, ...] = ()
) -> Iterator[tuple[ast.Element, ast.Expr, tuple[Guard, ...]]]:
    """The block body's argument expressions in source order, each with its element and the
    `if` conditions it is under."""
    for chain in body.chains:
        for element in chain.elements:
            for item in element.items:
                for expression in _item_expressions(item):
                    yield element, expression, guards
            is_if = (
                element.kind.id == "if" and len(element.items) == 1 and isinstance(element.items[0], ast.EXPRESSIONS)
            )
            if element.body is not None:
                inner = (*guards, (element.items[0], True)) if is_if else guards
                yield from body_expressions(element.body, inner)  # type: ignore[arg-type]
            for followup in element.followups:
                inner = (*guards, (element.items[0], False)) if is_if else guards
                yield from body_expressions(followup.body, inner)  # type: ignore[arg-type]


def _item_expressions(item: ast.Item) -> Iterator[ast.Expr]:
    if isinstance(item, ast.EXPRESSIONS):
        yield item
    elif isinstance(item, ast.Window):
        yield from _item_expressions(item.extent)
        yield from _item_expressions(item.stride)
    elif isinstance(item, ast.Pair):
        yield from _item_expressions(item.first)
        yield from _item_expressions(item.second)
    elif isinstance(item, ast.ComputedDims):
        yield from item.extents


def is_condition(element: ast.Element, expression: ast.Expr) -> bool:
    """Whether `expression` is the test of an `if` or of a `residual when` (not a layer's number)."""
    return element.kind.id == "if" or (element.kind.id == "residual" and expression is not element.items[0])


@functools.lru_cache(maxsize=4096)
def _compiled(expression: str) -> CodeType:
    return compile(expression, "<expression>", "eval")


def evaluate(expression: str, arguments: dict[str, object]) -> object:
    """A generated expression's value for one call's arguments; None where it fails there."""
    try:
        # Only names of parameters, numbers, operators and the functions above: built from the AST.
        return eval(_compiled(expression), _NAMESPACE, arguments)
    except Exception:  # a candidate that fails on a call (a division by zero) is not the call's expression
        return None
