"""A block's calls, each written with its own numbers, made into one class body (export/pytorch_blocks.py).

Statements are compared by their *skeleton*, the text with every number (or per-axis tuple of
numbers, or an expression a call inside writes for a number, marked with its value) blanked.
Where the skeletons agree, each number that differs between calls becomes the first candidate
expression that gives every call's number, or one per side of a condition of the spec
(`in_channels if stride > 1 else in_channels // 2`); where they do not, the statements are
merged (`merged`) and the parts only some calls have are chosen by the spec's conditions:
`__init__` in export/pytorch_init.py, `forward` in export/pytorch_forward.py.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .pytorch_expressions import evaluate

# A literal number of a generated statement (not part of a name such as `bn1`, nor a quoted key),
# a tuple of them (a per-axis kernel, `(1, 7)`), or an expression written for a number (marked).
_VALUE = re.compile(r"\x01[^\x02]*\x02|(?<![\w.\"])(?:\(\d+(?:, \d+)+\)|\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w.\"])")
Keyed = tuple[str, tuple[bool, ...]]  # a statement's skeleton and which of its numbers are defaults
DEFAULT_MARK = "\x00"  # before a default the classes fill in only to compare calls


def marked(expression: str, value: object) -> str:
    """`expression`, the spec's for a number of a call (`2 * c`), marked with its value so that
    calls compare by their numbers where they write different expressions."""
    return f"\x01{expression}\x03{literal(value)}\x02"


def written_expressions(statements: list[str]) -> list[str]:
    """The expressions marked in `statements`, in order."""
    return [_shown(token) for statement in statements for token in re.findall(r"\x01[^\x02]*\x02", statement)]


def _shown(token: str) -> str:
    return token[1:].split("\x03", 1)[0] if token.startswith("\x01") else token


class NoBlockClass(Exception):
    """Why a block has no one class for all its calls; the generated file's comment says it."""


def literal(value: object) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


@dataclass
class Calls:
    """The calls being merged and what their numbers and choices may be written with."""

    values: list[dict[str, object]]  # each call's arguments, `in_channels` among them
    numbers: list[str]  # candidate expressions for a number, the spec's own first
    conditions: list[str]  # candidate conditions, the spec's own first
    counter: str  # the loop variable of a repetition
    written: list[str] = field(default_factory=list)  # what calls inside write for their arguments

    def constant(self, value: object) -> str | None:
        """The expression for a number every call has: the one candidate that gives it in every
        call, for a width (a whole number from 8) or a fraction (an epsilon); None where no
        candidate or several do, or for the small numbers that kernels, strides and flags share
        with unrelated parameters."""
        if isinstance(value, bool) or not (
            (isinstance(value, int) and value >= 8) or (isinstance(value, float) and not value.is_integer())
        ):
            return None
        found = [c for c in self.numbers if all(evaluate(c, v) == value for v in self.values)]  # not `written`
        return found[0] if len(found) == 1 else None

    def subset(self, indices: list[int]) -> Calls:
        return Calls([self.values[k] for k in indices], self.numbers, self.conditions, self.counter, self.written)

    @property
    def candidates(self) -> list[str]:
        """What a number that differs between calls may be: the spec's expressions, then what
        calls inside write (`expansion * c`, the next unit's input width)."""
        return [*self.numbers, *self.written]

    def condition(self, present: list[bool]) -> str:
        """The first candidate condition (or its negation: an `else`) that holds exactly for the
        calls marked present."""
        for condition in self.conditions:
            holds = [bool(evaluate(condition, v)) for v in self.values]
            if holds == present:
                return condition
            if [not here for here in holds] == present:
                return f"not {condition}" if re.fullmatch(r"\w+", condition) else f"not ({condition})"
        raise NoBlockClass("no condition over its parameters decides which calls have a part")


@functools.lru_cache(maxsize=8192)
def skeleton(statement: str) -> str:
    return _VALUE.sub("#", statement.replace(DEFAULT_MARK, ""))


@functools.lru_cache(maxsize=8192)
def _defaults(statement: str) -> tuple[bool, ...]:
    """For each number of the statement, whether it is a default filled in to compare calls."""
    return tuple(piece.endswith(DEFAULT_MARK) for piece in _VALUE.split(statement)[:-1])


def value_of(text: str) -> object:
    if text.startswith("\x01"):
        return value_of(text[:-1].split("\x03", 1)[1])
    if text.startswith("("):
        return tuple(int(part) for part in text[1:-1].split(", "))
    return float(text) if "." in text or "e" in text else int(text)


def generalized(
    statements: list[str],
    values: list[dict[str, object]],
    expression_for: Callable[[list[object]], str],
    constant: Callable[[object], str | None] | None = None,
) -> str:
    """One statement for all of `statements` (the same but for numbers): each number that differs
    is `expression_for(its values)`, one that does not is `constant(it)` or the number. A default
    filled in to compare the calls (after DEFAULT_MARK) is left out where it is the same in all."""
    split = [_VALUE.split(statement) for statement in statements]
    numbers = [_VALUE.findall(statement) for statement in statements]
    text = split[0][0].replace(DEFAULT_MARK, "")
    for hole in range(len(numbers[0])):
        written = [value_of(found[hole]) for found in numbers]
        tokens = {_shown(found[hole]) for found in numbers}
        if len(tokens) == 1 and all(found[hole].startswith("\x01") for found in numbers):
            text += tokens.pop()  # the same expression in every call
        elif len({repr(value) for value in written}) > 1:
            text += _per_axis(written, expression_for)
        elif any(pieces[hole].endswith(DEFAULT_MARK) for pieces in split):
            text = text[: text.rindex(", ")]  # the default, as the call leaves it out
        elif len(tokens) > 1:  # the same number, written as different expressions
            text += _per_axis(written, expression_for) if not constant else constant(written[0]) or str(written[0])
        else:
            text += (constant(written[0]) if constant else None) or numbers[0][hole]
        text += split[0][hole + 1].replace(DEFAULT_MARK, "")
    return text


def _per_axis(written: list[object], expression_for: Callable[[list[object]], str]) -> str:
    """The expression for the values of one hole; for tuples that no expression gives whole
    (a layer scale's shape, `(128, 1, 1)`), a tuple of one per axis (`(c, 1, 1)`)."""
    try:
        return expression_for(written)
    except NoBlockClass:
        tuples = [value for value in written if isinstance(value, tuple)]
        if len(tuples) < len(written) or len({len(value) for value in tuples}) != 1:
            raise
    axes = []
    for axis in range(len(tuples[0])):
        column: list[object] = [value[axis] for value in tuples]
        axes.append(literal(column[0]) if len(set(column)) == 1 else expression_for(column))
    return f"({', '.join(axes)})"


def matching(candidates: Iterator[str], values: list[dict[str, object]], written: list[object]) -> str | None:
    for candidate in candidates:
        if all(evaluate(candidate, v) == number for v, number in zip(values, written, strict=True)):
            return candidate
    return None


def expression_for(calls: Calls, written: list[object]) -> str:
    """The first candidate that gives every call's number, or else one for the calls where a
    condition of the spec holds and one for the others (`in_channels if stride > 1 else c`)."""
    found = matching(iter(calls.candidates), calls.values, written)
    if found is not None:
        return found
    for condition in calls.conditions:
        holds = [bool(evaluate(condition, v)) for v in calls.values]
        if all(holds) or not any(holds):
            continue
        parts = []
        for side in (True, False):
            indices = [k for k, here in enumerate(holds) if here == side]
            sides = [calls.values[k] for k in indices], [written[k] for k in indices]
            parts.append(matching(iter(calls.candidates), *sides))
        if parts[0] is not None and parts[1] is not None:
            return f"{parts[0]} if {condition} else {parts[1]}"
    shown = ", ".join(map(str, written[:4]))
    raise NoBlockClass(f"no expression over its parameters gives the numbers {shown}...")


def merged(sequences: list[list[str]], key: Callable[[str], str]) -> list[list[int | None]]:
    """Each sequence's position of every element of a common supersequence (None where the
    sequence lacks it). The sequences are merged in turn, each aligned with the merge so far to
    match the most elements of equal keys, and among those the ones that agree most on which
    arguments are left at their defaults (an expansion `Cbs` apart from a depthwise one)."""
    keyed = [[(key(element), _defaults(element)) for element in sequence] for sequence in sequences]
    distinct: dict[str, int] = {}  # calls with the same steps are merged once
    for keys in keyed:
        distinct.setdefault(repr(keys), len(distinct))
    if len(distinct) < len(keyed):
        representatives = {index: keys for keys in keyed for index in [distinct[repr(keys)]]}
        merged_once = _merged([representatives[index] for index in range(len(distinct))])
        return [merged_once[distinct[repr(keys)]] for keys in keyed]
    return _merged(keyed)


def _merged(keyed: list[list[Keyed]]) -> list[list[int | None]]:
    union: list[Keyed] = []
    placements: list[list[int]] = []  # per sequence: the union index of each of its elements
    for sequence in keyed:
        width, length = len(union), len(sequence)

        def gain(a: int, b: int, union: list[Keyed] = union, sequence: list[Keyed] = sequence) -> int:
            if union[a][0] != sequence[b][0]:
                return 0
            agreeing: int = sum(x == y for x, y in zip(union[a][1], sequence[b][1], strict=False))
            return 1000 + agreeing

        score = [[0] * (length + 1) for _ in range(width + 1)]
        for a in range(width - 1, -1, -1):
            for b in range(length - 1, -1, -1):
                best = max(score[a + 1][b], score[a][b + 1])
                matched = gain(a, b)
                score[a][b] = max(best, matched + score[a + 1][b + 1]) if matched else best
        grown: list[Keyed] = []
        moved: dict[int, int] = {}
        placed: list[int] = []
        a = b = 0
        while a < width or b < length:
            matched = gain(a, b) if a < width and b < length else 0
            if matched and score[a][b] == matched + score[a + 1][b + 1]:
                moved[a] = len(grown)
                placed.append(len(grown))
                grown.append(sequence[b])
                a, b = a + 1, b + 1
            elif a < width and (b == length or score[a][b] == score[a + 1][b]):
                moved[a] = len(grown)
                grown.append(union[a])
                a += 1
            else:
                placed.append(len(grown))
                grown.append(sequence[b])
                b += 1
        placements = [[moved[p] for p in earlier] for earlier in placements]
        placements.append(placed)
        union = grown
    positions: list[list[int | None]] = []
    for placed in placements:
        row: list[int | None] = [None] * len(union)
        for index, at in enumerate(placed):
            row[at] = index
        positions.append(row)
    return positions
