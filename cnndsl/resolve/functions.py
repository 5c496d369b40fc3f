"""The functions of the expression language (`divisible`, `ceil`, `floor`, `round`, `min`, `max`).

They exist to scale a network family in one line (EfficientNet's `divisible(c * width, 8)` and
`ceil(n * depth)`) with the rounding the reference implementations use, so that a scaled spec has
exactly the reference's channel counts and depths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

Number = int | float


class FunctionIssue(Exception):
    """A function's argument is out of its domain; `argument` is its position (0-based)."""

    def __init__(self, argument: int, message: str):
        super().__init__(message)
        self.argument, self.message = argument, message


class Function(NamedTuple):
    implementation: Callable[..., Number]
    arity: int
    usage: str  # how it is called, for messages


def divisible(value: Number, divisor: Number) -> int:
    """torchvision's `_make_divisible(value, divisor)`: the multiple of `divisor` nearest `value`
    (halves up), at least `divisor`, and never more than 10% below `value`."""
    if isinstance(divisor, float) and divisor.is_integer():
        divisor = int(divisor)
    if not isinstance(divisor, int) or divisor < 1:
        raise FunctionIssue(1, f"the divisor must be a positive integer, got {divisor}")
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def round_half_away(value: Number) -> int:
    """Halves round away from zero (2.5 -> 3, -2.5 -> -3), as C's round() and most people do;
    not Python's round(), which rounds halves to the even neighbour (round(2.5) == 2)."""
    magnitude = abs(value)
    whole = math.floor(magnitude)
    # magnitude - whole is exact in floating point, unlike magnitude + 0.5.
    result = whole + 1 if magnitude - whole >= 0.5 else whole
    return int(result) if value >= 0 else -int(result)


FUNCTIONS: dict[str, Function] = {
    "divisible": Function(divisible, 2, "divisible(value, divisor)"),
    "ceil": Function(math.ceil, 1, "ceil(x)"),
    "floor": Function(math.floor, 1, "floor(x)"),
    "round": Function(round_half_away, 1, "round(x)"),
    "min": Function(min, 2, "min(a, b)"),
    "max": Function(max, 2, "max(a, b)"),
}
