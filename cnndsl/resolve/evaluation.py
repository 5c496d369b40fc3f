"""The expression evaluator: argument items (numbers, names, arithmetic, windows, pairs, literal
arrays) to values. Iterative over nesting, so deep parentheses and arrays need no deep stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..diagnostics import did_you_mean
from ..layers.base import PairValue, WindowValue
from ..source import Span
from ..syntax import ast
from .frames import Env

FAILED: Final = object()  # what evaluating gives after its error was reported

_MAX_MAGNITUDE = 10**18


class EvalError(Exception):
    def __init__(self, code: str, message: str, span: Span, help: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.help = code, message, span, help


class Evaluator:
    """Evaluates argument items in one environment; raises EvalError."""

    def __init__(self, env: Env, words_allowed: bool):
        self.env = env
        self.words_allowed = words_allowed  # a name that is no variable is a word (`pad same`)

    def value(self, item: ast.Item) -> Any:
        if isinstance(item, ast.Dims):
            return self._checked(item.values, item.span)
        # A window's or a pair's parts are values, never windows or pairs: one level at most.
        if isinstance(item, ast.Window):
            return WindowValue(self.value(item.extent), self.value(item.stride))
        if isinstance(item, ast.Pair):
            return PairValue(self.value(item.first), self.value(item.second))
        if isinstance(item, ast.Array):
            return self._array(item)
        if isinstance(item, ast.Name) and item.id not in self.env and self.words_allowed:
            return item.id
        return self.expression(item)

    def _array(self, array: ast.Array) -> list[Any]:
        result: list[Any] = []
        stack = [(array, result)]
        while stack:
            node, target = stack.pop()
            for element in node.elements:
                if isinstance(element, ast.Array):
                    inner: list[Any] = []
                    target.append(inner)
                    stack.append((element, inner))
                else:
                    target.append(self._checked(element.value, element.span))
        return result

    def expression(self, root: ast.Expr) -> Any:
        if isinstance(root, (ast.Number, ast.Name)):  # most arguments: no stack needed
            return self._apply(root, [])
        # Post-order evaluation with an explicit stack.
        results: dict[int, Any] = {}
        stack: list[tuple[ast.Expr, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            children = _children(node)
            if not ready and children:
                stack.append((node, True))
                stack.extend((child, False) for child in children)
                continue
            results[id(node)] = self._apply(node, [results[id(c)] for c in children])
        return results[id(root)]

    def _apply(self, node: ast.Expr, operands: list[Any]) -> Any:
        if isinstance(node, ast.Number):
            return self._checked(node.value, node.span)
        if isinstance(node, ast.Name):
            if node.id not in self.env:
                raise EvalError(
                    "E209",
                    f"undefined name '{node.id}'",
                    node.span,
                    help=did_you_mean(node.id, self.env)
                    or ("names in arguments are block parameters or repeat counters" if not self.env else None),
                )
            return self.env[node.id]
        if isinstance(node, ast.Negate):
            return self._checked(-self._number(operands[0], node.operand.span), node.span)
        if isinstance(node, ast.Conditional):
            return operands[1] if operands[0] else operands[2]
        left, right = (self._number(v, s.span) for v, s in zip(operands, (node.left, node.right), strict=True))
        op = node.op
        result: int | float
        if op == "/":
            if right == 0:
                raise EvalError("E302", "division by zero", node.span)
            quotient = left / right
            result = (
                int(quotient) if isinstance(left, int) and isinstance(right, int) and left % right == 0 else quotient
            )
        else:
            result = _BINARY[op](left, right)
        return self._checked(result, node.span)

    def _number(self, value: Any, span: Span) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EvalError("E301", f"expected a number, got {value!r}", span)
        return value

    def _checked(self, value: Any, span: Span) -> Any:
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if abs(v) > _MAX_MAGNITUDE or v != v or v in (float("inf"), float("-inf")):
                raise EvalError("E303", f"the number {v} is too large", span)
        return value


# Comparisons give 1 or 0: the language has numbers only.
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "*": lambda a, b: a * b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b),
    ">": lambda a, b: int(a > b),
    "<=": lambda a, b: int(a <= b),
    ">=": lambda a, b: int(a >= b),
}


def _children(node: ast.Expr) -> list[ast.Expr]:
    if isinstance(node, ast.Negate):
        return [node.operand]
    if isinstance(node, ast.Binary):
        return [node.left, node.right]
    if isinstance(node, ast.Conditional):
        return [node.test, node.then, node.otherwise]
    return []
