"""The expression evaluator: argument items (numbers, names, arithmetic, logic, function calls,
tensor attributes, shapes, windows, pairs, literal arrays) to values. Iterative over nesting, so
deep parentheses and arrays need no deep stack.

Numbers are Python ints and floats: `/` of integers that divide evenly stays an integer, and
otherwise gives a float, as do float literals and `*` by one. Whether a value must be an integer
is for the argument it binds to (an integer-valued float such as 32.0 is accepted there)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from ..diagnostics import Label, did_you_mean
from ..layers.base import PairValue, Shape, WindowValue, shape_text
from ..source import Span
from ..syntax import ast
from .frames import Env
from .functions import FUNCTIONS, FunctionIssue

FAILED: Final = object()  # what evaluating gives after its error was reported

_MAX_MAGNITUDE = 10**18


class EvalError(Exception):
    def __init__(self, code: str, message: str, span: Span, help: str | None = None, secondary: tuple[Label, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.span, self.help, self.secondary = code, message, span, help, secondary


class Tensors(Protocol):
    """The named tensors an expression may read the shape of (`in.c`, `x.h`)."""

    def tensor_shape(self, name: ast.Name, use: Span) -> Shape:
        """The shape of the tensor `name` names, read at `use`; EvalError when there is none or it
        is unknown."""
        ...


class Evaluator:
    """Evaluates argument items in one environment; raises EvalError."""

    def __init__(self, env: Env, words_allowed: bool, tensors: Tensors | None = None):
        self.env = env
        self.words_allowed = words_allowed  # a name that is no variable is a word (`pad same`)
        self.tensors = tensors

    def value(self, item: ast.Item) -> Any:
        if isinstance(item, ast.Dims):
            return self._checked(item.values, item.span)
        if isinstance(item, ast.ComputedDims):
            return tuple(self._number(self.expression(extent), extent.span) for extent in item.extents)
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
        # Post-order evaluation with an explicit stack. `&&`, `||` and `? :` evaluate their first
        # operand, then only the operand the result depends on, as in C: `(n == 0 ? 1 : 64 / n)`.
        results: dict[int, Any] = {}
        stack: list[tuple[ast.Expr, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if isinstance(node, ast.Conditional) or (isinstance(node, ast.Binary) and node.op in _SHORT_CIRCUIT):
                self._lazy(node, ready, results, stack)
                continue
            children = _children(node)
            if not ready and children:
                stack.append((node, True))
                stack.extend((child, False) for child in children)
                continue
            results[id(node)] = self._apply(node, [results[id(c)] for c in children])
        return results[id(root)]

    def _lazy(
        self,
        node: ast.Conditional | ast.Binary,
        ready: bool,
        results: dict[int, Any],
        stack: list[tuple[ast.Expr, bool]],
    ) -> None:
        """One visit of a short-circuit node: first its test, then (`ready`) the operand it picks."""
        first = node.test if isinstance(node, ast.Conditional) else node.left
        if id(first) not in results:
            stack.extend(((node, False), (first, False)))
            return
        test = self._number(results[id(first)], first.span) != 0
        if isinstance(node, ast.Conditional):
            chosen: ast.Expr | None = node.then if test else node.otherwise
        else:
            chosen = node.right if test == (node.op == "&&") else None  # else decided: 0 for &&, 1 for ||
        if chosen is None:
            results[id(node)] = int(test)
        elif not ready:
            stack.extend(((node, True), (chosen, False)))
        elif isinstance(node, ast.Conditional):
            results[id(node)] = results[id(chosen)]
        else:
            results[id(node)] = int(self._number(results[id(chosen)], chosen.span) != 0)

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
        if isinstance(node, ast.Not):
            return int(self._number(operands[0], node.operand.span) == 0)
        if isinstance(node, ast.Call):
            return self._call(node, operands)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, operands)
        assert isinstance(node, ast.Binary), node  # the short-circuit nodes never get here
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

    def _call(self, node: ast.Call, operands: list[Any]) -> int | float:
        name = node.function.id
        function = FUNCTIONS.get(name)
        if function is None:
            raise EvalError(
                "E219",
                f"unknown function '{name}'",
                node.function.span,
                help=did_you_mean(name, FUNCTIONS) or f"the functions are {', '.join(FUNCTIONS)}",
            )
        if len(operands) != function.arity:
            given = len(operands)
            raise EvalError(
                "E219",
                f"{name} takes {function.arity} argument{'s' * (function.arity != 1)}, got {given}",
                node.span,
                help=f"call it as {function.usage}",
            )
        numbers = [self._number(v, a.span) for v, a in zip(operands, node.arguments, strict=True)]
        try:
            result: int | float = function.implementation(*numbers)
        except FunctionIssue as issue:
            raise EvalError("E302", f"{name}: {issue.message}", node.arguments[issue.argument].span) from None
        self._checked(result, node.span)
        return result

    def _attribute(self, node: ast.Attribute, operands: list[Any]) -> int:
        """`x.c`, `x.h`, `x.shape[i]`, `x.rank`: a number read from a named tensor's shape."""
        tensor, attribute = node.tensor.id, node.attribute.id
        if attribute not in _ATTRIBUTES:
            raise EvalError(
                "E304",
                f"a tensor has no attribute '{attribute}'",
                node.attribute.span,
                help=did_you_mean(attribute, _ATTRIBUTES) or f"a tensor's attributes are {_ATTRIBUTE_LIST}",
            )
        if (attribute == "shape") != (node.axis is not None):
            written = f"({tensor}.shape[0])" if attribute == "shape" else f"{tensor}.{attribute}"
            raise EvalError(
                "E304",
                f"'{tensor}.shape' needs an axis" if attribute == "shape" else f"'{attribute}' takes no index",
                node.span,
                help=f"write {written}" + (": axis 0 is the channels, then the spatial axes" * (attribute == "shape")),
            )
        if self.tensors is None:
            raise EvalError("E304", "no tensor can be read here", node.span)
        shape = self.tensors.tensor_shape(node.tensor, node.span)
        rank = len(shape) - 1
        if attribute == "rank":
            return rank
        if attribute == "c":
            return shape[0]
        if attribute == "shape":
            assert node.axis is not None
            axis = self._number(operands[0], node.axis.span)
            if axis != int(axis) or not 0 <= axis <= rank:
                raise EvalError(
                    "E304",
                    f"'{tensor}' has no axis {axis}: it is {shape_text(shape)}",
                    node.axis.span,
                    help=f"the axes are 0 (the channels) to {rank}" if rank else "its only axis is 0, the channels",
                )
            return shape[int(axis)]
        spatial = _SPATIAL_AXES.get(rank, ())
        if attribute not in spatial:
            raise EvalError(
                "E304",
                f"'{tensor}' has no '{attribute}': it is {shape_text(shape)}, with {_axis_words(rank)}",
                node.attribute.span,
                help=f"its attributes are {', '.join(('c', *spatial))}, shape[i] and rank",
            )
        return shape[1 + spatial.index(attribute)]

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


# Comparisons and logical operators give 1 or 0: the language has numbers only.
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
_SHORT_CIRCUIT = frozenset({"&&", "||"})

# A tensor's attributes: the channels, the spatial extents its rank has, any axis, the rank.
_SPATIAL_AXES: dict[int, tuple[str, ...]] = {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")}
_ATTRIBUTES = ("c", "d", "h", "w", "l", "shape", "rank")
_ATTRIBUTE_LIST = "c (channels), h and w (2D), d (3D), l (1D), shape[i] and rank"


def _axis_words(rank: int) -> str:
    return "no spatial axes" if rank == 0 else f"{rank} spatial ax{'is' if rank == 1 else 'es'}"


def _children(node: ast.Expr) -> list[ast.Expr]:
    if isinstance(node, (ast.Negate, ast.Not)):
        return [node.operand]
    if isinstance(node, ast.Binary):
        return [node.left, node.right]
    if isinstance(node, ast.Call):
        return list(node.arguments)
    if isinstance(node, ast.Attribute) and node.axis is not None:
        return [node.axis]
    return []
