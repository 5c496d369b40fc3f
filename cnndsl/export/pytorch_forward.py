"""`forward` of a block's class from its calls' steps (export/pytorch_blocks.py).

Steps that only some calls have are guarded by their conditional module (`if self.downsample is
not None:`); otherwise the calls' different steps become an `if`/`elif`/`else` over the spec's
conditions, between the steps all calls share. A number of a step that differs between calls
reads the parameters it needs from `self`, which `__init__` keeps (`self.stride = stride`).
Where no one body holds all calls, `branched_body` splits them by a condition of the spec into
two bodies, each an `if` part of both `__init__` and `forward` (ResNet's unit, basic or bottleneck).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .layout import INDENT, wrapped
from .pytorch_calls import Calls, NoBlockClass, expression_for, generalized, merged, skeleton
from .pytorch_expressions import evaluate
from .pytorch_init import init_lines

_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*\b(?!\()")
_NOT_NAMES = {"if", "else", "and", "or", "not", "math", "True", "False"}
Statement = Callable[[list[str], Calls], str]


def branched_body(
    calls: Calls, inits: list[list[str]], forwards: list[list[str]], indent: str, reason: NoBlockClass
) -> tuple[list[str], list[str], list[str]]:
    """`__init__`'s and `forward`'s statements as an `if`/`else` over the first of the spec's
    conditions that splits the calls into two groups each of which is one body (ResNet's unit,
    basic or bottleneck by `expansion == 1`); `reason` where none does."""
    for condition in calls.conditions:
        holds = [bool(evaluate(condition, v)) for v in calls.values]
        if all(holds) or not any(holds):
            continue
        parts = []
        try:
            for side in (True, False):
                group = [k for k, here in enumerate(holds) if here == side]
                subset = calls.subset(group)
                init, conditional = init_lines(subset, [inits[k] for k in group], indent + INDENT)
                forward, stored = forward_lines(subset, [forwards[k] for k in group], indent + INDENT, conditional)
                parts.append((init, forward, stored))
        except NoBlockClass:
            continue
        read: list[str] = []
        test = _kept(condition, read)
        (then_init, then_forward, then_stored), (else_init, else_forward, else_stored) = parts
        init = [f"{indent}if {condition}:", *then_init, f"{indent}else:", *else_init]
        forward = [f"{indent}if {test}:", *then_forward, f"{indent}else:", *else_forward]
        kept = [f"{indent}self.{name} = {name}" for name in read]
        stored = list(dict.fromkeys(line.strip() for line in [*kept, *then_stored, *else_stored]))
        return init, forward, [f"{indent}{line}" for line in stored]
    raise reason


def forward_lines(
    calls: Calls, forwards: list[list[str]], indent: str, conditional: dict[str, str]
) -> tuple[list[str], list[str]]:
    """`forward`'s statements, and the `self.NAME = NAME` lines `__init__` ends with for the
    parameters `forward` reads."""
    read: list[str] = []

    def statement(statements: list[str], subset: Calls) -> str:
        text = generalized(statements, subset.values, lambda written: _kept(expression_for(subset, written), read))
        return _SLICE.sub(_spaced_slice, text)

    groups: dict[tuple[str, ...], list[int]] = {}
    for k, steps in enumerate(forwards):
        groups.setdefault(tuple(_shape(steps)), []).append(k)
    if len(groups) == 1:
        lines = [line for at in range(len(forwards[0])) for line in _step(indent, forwards, at, calls, statement)]
    else:
        before = len(read)
        guarded = _guarded(calls, forwards, indent, conditional, statement)
        if guarded is None:
            del read[before:]  # what the attempt read is not kept
        lines = (
            guarded if guarded is not None else _branches(calls, forwards, [*groups.values()], indent, statement, read)
        )
    stored = [f"{indent}self.{name} = {name}" for name in dict.fromkeys(read)]
    return lines, stored


# A slice of a subscript, `x[:, 0:self.cout // 2]`: ruff spaces its colon where a bound is more than
# a name or a number.
_SLICE = re.compile(r"(?<=[\[,])( ?)([^\[\]:,]*):([^\[\]:,]*)(?=[\],])")
_SIMPLE_BOUND = re.compile(r"-?\w*")


def _spaced_slice(match: re.Match[str]) -> str:
    space, lower, upper = match.groups()
    if _SIMPLE_BOUND.fullmatch(lower) and _SIMPLE_BOUND.fullmatch(upper):
        return match.group(0)
    return f"{space}{lower} : {upper}" if lower and upper else f"{space}{lower}{' :' if lower else ': '}{upper}"


_ASSIGNED = re.compile(r"(\w+) = ")


def _renamed(steps: list[str]) -> list[str]:
    """The steps with the values they name (after their layers: `block_3_1`, which a call with
    one module fewer calls `block_2_1`) renamed in order of assignment, to compare calls' steps."""
    names = dict.fromkeys(match.group(1) for step in steps for match in [_ASSIGNED.match(step)] if match)
    names.pop("x", None)
    if not names:
        return steps
    pattern = re.compile(rf"(?<![\w.])(?:{'|'.join(map(re.escape, names))})\b")
    numbered = {name: f"value{index}" for index, name in enumerate(names)}
    return [pattern.sub(lambda match: numbered[match.group(0)], step) for step in steps]


def _shape(steps: list[str]) -> list[str]:
    """What makes calls' steps one group: the same steps, whatever their values are named."""
    return [skeleton(step) for step in _renamed(steps)]


def _kept(expression: str, read: list[str]) -> str:
    """`expression` reading the names it uses from `self`, each noted in `read`."""

    def kept(match: re.Match[str]) -> str:
        name = match.group(0)
        if name in _NOT_NAMES:
            return name
        read.append(name)
        return f"self.{name}"

    return _NAME.sub(kept, expression)


def _step(indent: str, forwards: list[list[str]], at: int, calls: Calls, statement: Statement) -> list[str]:
    """Step `at` of every call (counted from the end where negative), as one statement."""
    return wrapped(indent, statement([steps[at] for steps in forwards], calls))


def _guarded(
    calls: Calls, forwards: list[list[str]], indent: str, conditional: dict[str, str], statement: Statement
) -> list[str] | None:
    """`forward` where the steps some calls lack are each the call of a module built under the
    same condition (`if self.downsample is not None:`); None where they are not."""
    positions = merged(forwards, skeleton)
    lines: list[str] = []
    for index in range(len(positions[0])):
        present = [k for k, row in enumerate(positions) if row[index] is not None]
        steps = [forwards[k][positions[k][index] or 0] for k in present]
        presence = [row[index] is not None for row in positions]
        if len(present) == len(forwards):
            lines += wrapped(indent, statement(steps, calls))
            continue
        used = [attribute for attribute in conditional if f"self.{attribute}(" in steps[0]]
        if len(used) != 1:
            return None
        try:
            if calls.condition(presence) != conditional[used[0]]:
                return None
        except NoBlockClass:
            return None
        text = statement(steps, calls.subset(present))
        lines += [f"{indent}if self.{used[0]} is not None:", *wrapped(indent + INDENT, text)]
    return lines


def _branches(
    calls: Calls,
    forwards: list[list[str]],
    groups: list[list[int]],
    indent: str,
    statement: Statement,
    read: list[str],
) -> list[str]:
    """`forward` as the steps all calls share around an `if`/`elif`/`else` of each group's own."""
    # What the groups share is compared as written: a value named differently is a group's own.
    shapes = [list(map(skeleton, forwards[group[0]])) for group in groups]
    prefix = 0
    while all(len(shape) > prefix for shape in shapes) and len({shape[prefix] for shape in shapes}) == 1:
        prefix += 1
    suffix = 0
    while all(len(shape) - prefix > suffix for shape in shapes) and len({shape[-1 - suffix] for shape in shapes}) == 1:
        suffix += 1
    groups = sorted(groups, key=lambda group: len(forwards[group[0]]) == prefix + suffix)  # an empty part last
    everyone = [k for group in groups for k in group]
    first_negated = calls.subset(everyone).condition([k in groups[0] for k in everyone]).startswith("not ")
    if len(groups) == 2 and first_negated and len(forwards[groups[0][0]]) != prefix + suffix:
        groups.reverse()  # `if CONDITION:` before `else:` rather than `if not CONDITION:`
    lines = [line for at in range(prefix) for line in _step(indent, forwards, at, calls, statement)]
    remaining = [k for group in groups for k in group]
    for number, group in enumerate(groups):
        middle = range(prefix, len(forwards[group[0]]) - suffix)
        if number == len(groups) - 1:
            if not middle:
                break
            lines.append(f"{indent}else:")
        else:
            subset = calls.subset(remaining)
            condition = _kept(subset.condition([k in group for k in remaining]), read)
            lines.append(f"{indent}{'if' if number == 0 else 'elif'} {condition}:")
        part, inner = [forwards[k] for k in group], calls.subset(group)
        lines += [line for at in middle for line in _step(indent + INDENT, part, at, inner, statement)]
        remaining = [k for k in remaining if k not in group]
    return lines + [line for at in range(-suffix, 0) for line in _step(indent, forwards, at, calls, statement)]
