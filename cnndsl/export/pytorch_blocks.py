"""One PyTorch class per block definition, with the block's parameters as constructor arguments.

Each call of a block is first written as its own body, with the numbers the call bound
(`nn.Conv2d(256, 64, kernel_size=1, bias=False)`). The class replaces each number that differs
between calls by an expression over the block's parameters: one of the spec's own expressions in
the block (`expansion * c`), a parameter, or `in_channels` (the input's channel count, passed by
the caller, for what the spec reads from the input's shape). A statement that only some calls have
(`if project { downsample: ... }`) is built under `if PARAMETER:` and its module is None otherwise.
Every choice is checked against every call (the expression, evaluated on the call's arguments,
gives each call's number), so each instance is exactly the body it had; where no such class
exists, the block is written as one class per distinct body, as a comment in the file says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..ir import Scope
from ..resolve.functions import divisible
from ..syntax import ast
from .layout import INDENT, LINE_LENGTH, wrapped
from .structure import Container

# A literal number of a generated statement (not part of a name such as `bn1`, nor a quoted key).
_NUMBER = re.compile(r"(?<![\w.\"])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.\"])")
_ATTRIBUTE = re.compile(r"self\.(\w+) = ")
_OPERATORS = {"+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3}
_PYTHON_OPERATOR = {"/": "//"}  # a block's widths divide evenly; candidates are checked on every call
_FUNCTIONS = {"min": min, "max": max, "divisible": divisible}
DEFAULT_MARK = "\x00"  # before a torch default the block classes fill in only to compare calls
DIVISIBLE_HELPER = '''def divisible(value: float, divisor: int) -> int:
    """The multiple of `divisor` nearest `value` (halves up), at least `divisor`, never 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
'''


class NoBlockClass(Exception):
    """Why a block has no one class for all its calls; the generated file's comment says it."""


@dataclass
class Instance:
    container: Container
    scope: Scope
    in_channels: int
    init: list[str]  # `self.NAME = CONSTRUCTION`, numbers as this call bound them
    forward: list[str]  # forward's statements, after its signature

    @property
    def arguments(self) -> dict[str, object]:
        return dict(self.scope.arguments)


@dataclass
class BlockClass:
    name: str
    parameters: list[tuple[str, str | None]]  # (name, Python default)
    defaults: dict[str, object]
    uses_in_channels: bool
    source: str

    def call(self, instance: Instance) -> str:
        arguments = instance.arguments
        words = [str(instance.in_channels)] if self.uses_in_channels else []
        for name, default in self.parameters:
            value = _literal(arguments[name])
            if default is None:
                words.append(value)
            elif arguments[name] != self.defaults[name]:
                words.append(f"{name}={value}")
        return f"{self.name}({', '.join(words)})"


def _literal(value: object) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def python_expression(expression: ast.Expr, parameters: set[str]) -> tuple[str, int] | None:
    """The expression in Python over the parameters, with its precedence; None where it reads
    anything else (a repeat counter, a tensor's shape) or uses what is not translated."""
    if isinstance(expression, ast.Number):
        return repr(expression.value), 9
    if isinstance(expression, ast.Name):
        return (expression.id, 9) if expression.id in parameters else None
    if isinstance(expression, ast.Negate):
        operand = python_expression(expression.operand, parameters)
        return None if operand is None else (f"-{_parenthesized(operand, 6)}", 6)
    if isinstance(expression, ast.Call) and expression.function.id in _FUNCTIONS:
        arguments = [python_expression(argument, parameters) for argument in expression.arguments]
        if any(argument is None for argument in arguments):
            return None
        texts = ", ".join(argument[0] for argument in arguments if argument)
        return f"{expression.function.id}({texts})", 9
    if isinstance(expression, ast.Binary) and expression.op in _OPERATORS:
        left, right = python_expression(expression.left, parameters), python_expression(expression.right, parameters)
        if left is None or right is None:
            return None
        precedence = _OPERATORS[expression.op]
        operator = _PYTHON_OPERATOR.get(expression.op, expression.op)
        return f"{_parenthesized(left, precedence)} {operator} {_parenthesized(right, precedence + 1)}", precedence
    return None


def _parenthesized(operand: tuple[str, int], precedence: int) -> str:
    return f"({operand[0]})" if operand[1] < precedence else operand[0]


def _expressions(body: ast.Body) -> Iterator[ast.Expr]:
    """The block body's argument expressions, in source order."""
    for chain in body.chains:
        for element in chain.elements:
            for item in element.items:
                yield from _item_expressions(item)
            if element.body is not None:
                yield from _expressions(element.body)
            for followup in element.followups:
                yield from _expressions(followup.body)


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


def _evaluate(expression: str, arguments: dict[str, object]) -> object:
    try:
        return eval(
            expression, {"__builtins__": {}, **_FUNCTIONS}, dict(arguments)
        )  # only names of parameters, numbers and operators: built from the AST
    except Exception:  # a candidate that fails on a call (a division by zero) is not the call's expression
        return None


def block_class(name: str, definition: ast.BlockDef, instances: list[Instance]) -> BlockClass:
    """The class for all the calls of one block; NoBlockClass where there is none."""
    parameters = [parameter.name.id for parameter in definition.params]
    defaults: dict[str, object] = {}
    signature: list[tuple[str, str | None]] = []
    for parameter in definition.params:
        if parameter.default is None:
            if defaults:
                raise NoBlockClass("a parameter without a default follows one with a default")
            signature.append((parameter.name.id, None))
            continue
        default = python_expression(parameter.default, set())
        if default is None:
            raise NoBlockClass(f"the default of '{parameter.name.id}' is not a number")
        signature.append((parameter.name.id, default[0]))
        defaults[parameter.name.id] = _evaluate(default[0], {})
    values = [instance.arguments for instance in instances]
    if any(not isinstance(value, int | float) for arguments in values for value in arguments.values()):
        raise NoBlockClass("an argument is not a number")
    channels = "in_channels" if "in_channels" not in parameters else "input_channels"
    for arguments, instance in zip(values, instances, strict=True):
        arguments[channels] = instance.in_channels
    candidates = list(dict.fromkeys(_candidates(definition, set(parameters))))
    candidates += [*parameters, channels]
    reference = max(instances, key=lambda instance: (len(instance.init), len(instance.forward)))
    init_present = [_subsequence(reference.init, instance.init, _skeleton) for instance in instances]
    forward_present = [_subsequence(reference.forward, instance.forward, str) for instance in instances]
    lines: list[str] = []
    conditions: dict[str, str] = {}  # attribute -> the parameter it exists under
    for index in range(len(reference.init)):
        present = [position[index] for position in init_present]
        calls = [
            (instance.init[at], v) for instance, v, at in zip(instances, values, present, strict=True) if at is not None
        ]
        built = _generalized(calls, candidates)
        if all(position is not None for position in present):
            lines += wrapped(INDENT * 2, built)
            continue
        condition = _condition(parameters, values, [position is not None for position in present])
        attribute = _ATTRIBUTE.match(built)
        if attribute is None:
            raise NoBlockClass("a statement only some calls have is not a module")
        conditions[attribute.group(1)] = condition
        lines += [f"{INDENT * 2}self.{attribute.group(1)}: nn.Module | None = None", f"{INDENT * 2}if {condition}:"]
        lines += wrapped(INDENT * 3, built)
    lines += ["", f"{INDENT}def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    for index, statement in enumerate(reference.forward):
        if all(position[index] is not None for position in forward_present):
            lines += wrapped(INDENT * 2, statement)
            continue
        used = [attribute for attribute in conditions if f"self.{attribute}(" in statement]
        has_step = [position[index] is not None for position in forward_present]
        if len(used) != 1 or _condition(parameters, values, has_step) != conditions[used[0]]:
            raise NoBlockClass("a step of forward that only some calls have is not a conditional module's")
        lines += [f"{INDENT * 2}if self.{used[0]} is not None:", *wrapped(INDENT * 3, statement)]
    uses_channels = any(re.search(rf"\b{channels}\b", line) for line in lines)
    head = [(channels, None)] if uses_channels else []
    types = {name: "float" if any(isinstance(v[name], float) for v in values) else "int" for name in parameters}
    words = [f"{n}: {types.get(n, 'int')}" + (f" = {d}" if d is not None else "") for n, d in [*head, *signature]]
    declaration = _signature(["self", *words])
    source = "\n".join([f"class {name}(nn.Module):", *declaration, f"{INDENT * 2}super().__init__()", *lines])
    return BlockClass(name, signature, defaults, uses_channels, source + "\n")


def _signature(words: list[str]) -> list[str]:
    """`def __init__(...) -> None:` laid out as ruff formats it."""
    line = f"{INDENT}def __init__({', '.join(words)}) -> None:"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = INDENT * 2 + ", ".join(words)
    contents = [inner] if len(inner) <= LINE_LENGTH else [f"{INDENT * 2}{word}," for word in words]
    return [f"{INDENT}def __init__(", *contents, f"{INDENT}) -> None:"]


def _candidates(definition: ast.BlockDef, parameters: set[str]) -> Iterator[str]:
    for expression in _expressions(definition.body):
        translated = python_expression(expression, parameters)
        if translated is not None and not isinstance(expression, ast.Number):
            yield translated[0]


def _skeleton(statement: str) -> str:
    return _NUMBER.sub("#", statement.replace(DEFAULT_MARK, ""))


def _subsequence(reference: list[str], other: list[str], key: object) -> list[int | None]:
    """For each statement of `reference`, its position in `other`, which must be `reference` less
    some statements (compared by `key`); NoBlockClass otherwise."""
    keyed = key if callable(key) else str
    positions: list[int | None] = []
    next_index = 0
    for statement in reference:
        if next_index < len(other) and keyed(other[next_index]) == keyed(statement):
            positions.append(next_index)
            next_index += 1
        else:
            positions.append(None)
    if next_index != len(other):
        raise NoBlockClass("its calls differ in more than statements some of them leave out")
    return positions


def _condition(parameters: list[str], values: list[dict[str, object]], present: list[bool]) -> str:
    for name in parameters:
        if all(bool(arguments[name]) == here for arguments, here in zip(values, present, strict=True)):
            return name
    raise NoBlockClass("no parameter decides which calls have a statement")


def _generalized(calls: list[tuple[str, dict[str, object]]], candidates: list[str]) -> str:
    """One statement of every call that has it (the same but for numbers), each number that differs
    between calls replaced by the first candidate expression that gives every call's number. A
    torch default filled in to compare the calls (after DEFAULT_MARK) is left out where it is the
    same in all."""
    split = [_NUMBER.split(statement) for statement, _ in calls]
    numbers = [_NUMBER.findall(statement) for statement, _ in calls]
    text = split[0][0].replace(DEFAULT_MARK, "")
    for hole in range(len(numbers[0])):
        written = [_number(found[hole]) for found in numbers]
        if len(set(written)) > 1:
            text += _expression_for(written, [arguments for _, arguments in calls], candidates)
        elif any(pieces[hole].endswith(DEFAULT_MARK) for pieces in split):
            text = text[: text.rindex(", ")]  # the default, as torch_code leaves it out
        else:
            text += numbers[0][hole]
        text += split[0][hole + 1].replace(DEFAULT_MARK, "")
    return text


def _number(text: str) -> int | float:
    return float(text) if "." in text or "e" in text else int(text)


def _expression_for(written: list[int | float], values: list[dict[str, object]], candidates: list[str]) -> str:
    for candidate in candidates:
        if all(_evaluate(candidate, arguments) == number for arguments, number in zip(values, written, strict=True)):
            return candidate
    raise NoBlockClass(f"no expression over its parameters gives the numbers {', '.join(map(str, written[:4]))}...")
