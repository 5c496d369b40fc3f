"""What a layer's output positions read of its inputs, per spatial axis: the declarations behind
receptive fields (`Layer.reach`, cnndsl/analysis/receptive.py, docs/analysis.md).

Along one axis, output index `o` reads a set of input indices. Every declaration here says which,
twice over:

- unbounded (`first(o)`, `last(o)`): the lowest and highest index read as if the input went on
  for ever (padding counted as input). These are non-decreasing in `o` and periodic: moving `o`
  on by `period` moves both by `advance`. The forward pass composes them into each tensor's
  size, jump and start.
- exact (`read(o, n)`): the real input indices (0 .. n-1) that `o`'s value depends on, after
  padding, clamping and zero interpolation weights. The per-position field follows them back.

A layer declares, per input, a tuple of these (one per spatial axis of its output), SAME (every
output position reads the same position of the input: the default), WHOLE (every output value
depends on every position of that input), or None (only its shape is used). The declarations
are Records (layers/base.py), not named tuples: `cnndsl check` imports this module and does not
use it, and making named-tuple classes would cost it a millisecond.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import gcd
from typing import Any, Protocol

from .base import Record
from .markers import SAME, WHOLE

__all__ = ["IDENTITY", "SAME", "WHOLE", "Resample", "Scatter", "Window", "describe", "fold"]


class AxisReach(Protocol):
    """One axis of one input: the declaration's interface (see the module's docstring)."""

    @property
    def period(self) -> int: ...

    @property
    def advance(self) -> int: ...

    def first(self, o: int) -> int | None: ...

    def last(self, o: int) -> int | None: ...

    def taps(self, o: int) -> list[int]:
        """Every input index `o` reads, unbounded."""
        ...

    def read(self, o: int, n: int) -> Iterable[int]: ...


def fold(index: int, n: int, mode: str) -> int | None:
    """The real index an index outside 0 .. n-1 reads under a padding mode (None: a constant)."""
    if 0 <= index < n:
        return index
    if mode == "reflect":  # PyTorch's reflect: -1 reads 1 (the edge is not repeated)
        period = 2 * (n - 1)
        if period == 0:
            return 0
        index %= period
        return index if index < n else period - index
    if mode == "replicate":
        return 0 if index < 0 else n - 1
    if mode == "circular":
        return index % n
    return None


class Window(Record):
    """A sliding window: `o` reads `o * stride - pad + dilation * t` for t in 0 .. kernel-1
    (convolution, pooling; kernel 1 and stride 1 is the identity, stride 0 a broadcast extent of 1,
    a negative pad an offset such as a crop's)."""

    kernel: int = 1
    stride: int = 1
    pad: int = 0
    dilation: int = 1
    mode: str = "zeros"  # how a tap outside the input reads: zeros (nothing), reflect, replicate, circular

    @property
    def period(self) -> int:
        return 1

    @property
    def advance(self) -> int:
        return self.stride

    def first(self, o: int) -> int:
        return o * self.stride - self.pad

    def last(self, o: int) -> int:
        return o * self.stride - self.pad + self.dilation * (self.kernel - 1)

    def taps(self, o: int) -> list[int]:
        return [o * self.stride - self.pad + self.dilation * t for t in range(self.kernel)]

    def read(self, o: int, n: int) -> Iterable[int]:
        begin = o * self.stride - self.pad
        if self.mode == "zeros" and begin >= 0 and begin + self.dilation * (self.kernel - 1) < n:
            return range(begin, begin + self.dilation * (self.kernel - 1) + 1, self.dilation)
        taps = (fold(begin + self.dilation * t, n, self.mode) for t in range(self.kernel))
        return {t for t in taps if t is not None}


IDENTITY = Window()


class Scatter(Record):
    """A transposed convolution: input index i writes `i * stride - pad + dilation * t`, t in
    0 .. kernel-1, so `o` reads the i with `i * stride = o + pad - dilation * t`."""

    kernel: int
    stride: int = 1
    pad: int = 0
    dilation: int = 1

    @property
    def period(self) -> int:
        return self.stride

    @property
    def advance(self) -> int:
        return 1

    def sources(self, o: int) -> list[int]:
        s, shifted = self.stride, o + self.pad
        return sorted(
            (shifted - self.dilation * t) // s for t in range(self.kernel) if (shifted - self.dilation * t) % s == 0
        )

    def taps(self, o: int) -> list[int]:
        return self.sources(o)

    def first(self, o: int) -> int | None:
        sources = self.sources(o)
        return min(sources) if sources else None

    def last(self, o: int) -> int | None:
        sources = self.sources(o)
        return max(sources) if sources else None

    def read(self, o: int, n: int) -> Iterable[int]:
        return [i for i in self.sources(o) if 0 <= i < n]


class Resample(Record):
    """Resizing `size_in` to `size_out` positions (a ratio; only it matters unbounded):
    nearest, `o` reads floor(o * size_in / size_out) (ONNX's asymmetric coordinates, PyTorch's
    'nearest'); linear, the two neighbours of (o + 1/2) * size_in / size_out - 1/2, clamped to
    the input, a neighbour whose weight is exactly 0 not read (PyTorch's align_corners=False)."""

    size_in: int
    size_out: int
    mode: str = "nearest"

    @property
    def period(self) -> int:
        return self.size_out // gcd(self.size_in, self.size_out)

    @property
    def advance(self) -> int:
        return self.size_in // gcd(self.size_in, self.size_out)

    def position(self, o: int) -> tuple[int, int]:
        """The unbounded sampling position as (floor, remainder over 2 * size_out)."""
        if self.mode == "nearest":
            return o * self.size_in // self.size_out, 0
        return divmod((2 * o + 1) * self.size_in - self.size_out, 2 * self.size_out)

    def first(self, o: int) -> int:
        return self.position(o)[0]

    def last(self, o: int) -> int:
        whole, rest = self.position(o)
        return whole + (rest > 0)

    def taps(self, o: int) -> list[int]:
        first, last = self.first(o), self.last(o)
        return [first] if first == last else [first, last]

    def read(self, o: int, n: int) -> Iterable[int]:
        whole, rest = self.position(o)
        if self.mode == "nearest":
            return [min(max(whole, 0), n - 1)]
        if whole < 0:  # clamped to the first position: it alone is read
            return [0]
        if rest == 0 or whole >= n - 1:
            return [min(whole, n - 1)]
        return [whole, whole + 1]


def describe(reach: Any) -> str:
    """For messages and tests: a declaration in words."""
    if reach is None:
        return "shape only"
    if reach is WHOLE or reach is SAME:
        return repr(reach)
    return ", ".join(map(repr, reach))
