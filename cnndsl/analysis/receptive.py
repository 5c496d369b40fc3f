"""Receptive fields: which input positions each value of each tensor depends on (docs/analysis.md,
"Receptive fields"). Computed when asked for (the summary's rf column, the JSON, the Python API),
never while checking.

Every layer declares, per input and per spatial axis, what each of its output positions reads
(`Layer.reach`, layers/reach.py). Two passes follow those declarations:

- forward (here), over the whole graph: per tensor and input axis, the field of every position
  as if the input went on for ever (padding counted): size, jump, start. A position's first and
  last input index are periodic in it (after an upsampling by 2 neighbours share a field), so an
  axis is kept as a period, what it advances by, and the fields of one period. A merge takes
  per position the hull of its inputs' fields (the largest over the paths); the narrowest path
  is followed too, and a tensor says whether its paths differ.
- backward, from one position (analysis/region.py): the exact set of input positions its value
  depends on, per axis, clipped to each tensor on the way. Its bounding box is what the gradient
  of that value with respect to the input is nonzero on (tests/test_receptive_field.py measures it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any, NamedTuple

from ..ir import Graph, Node
from ..layers.base import Shape
from ..layers.reach import IDENTITY, SAME, WHOLE, Window


class AxisField(NamedTuple):
    """One spatial axis of a receptive field, in the graph input's positions along that axis.

    size: the largest number of input positions a value of the tensor spans (counting padding:
        it may exceed the input); for a whole-input axis, the input's extent.
    jump: input positions between the fields of neighbouring positions of the tensor (a fraction
        after upsampling); 0 for a whole-input axis.
    start, end: the first and last input position of the field of the tensor's first position
        (start may be negative: the field reaches into the padding); centre is their midpoint.
    smallest: the size along the narrowest path from the input (equal to size without merges).
    whole: every value depends on the whole input along this axis (global pooling, flatten,
        a gate from global pooling, statistics over the spatial axes).
    """

    size: int
    jump: Fraction
    start: int
    end: int
    smallest: int
    whole: bool = False

    @property
    def centre(self) -> Fraction:
        return Fraction(self.start + self.end, 2)


class ReceptiveField(NamedTuple):
    """The receptive field of one tensor (`CheckedModel.receptive_field`).

    axes: one AxisField per spatial axis of the graph's input (none for a flat input).
    paths_differ: some merge on the way joins paths whose fields differ; the sizes are then the
        largest over the paths, `smallest` the narrowest path's.
    whole_from: the layer that first made an axis whole-input ('avgpool', 'flatten'), if any.
    approximate: the fields were listed for the first MOST_LISTED positions of an axis only (a
        chain of resizes between sizes with no common factor, on an axis longer than that), the
        rest following at the average jump; never so for a spec in specs/. text() starts with '~'.
    at, region: for a position of the tensor (`receptive_field(node, at=...)`), the first and last
        real input position its value depends on, per axis (None: it depends on no input position);
        unclipped: that position's field as if the input went on for ever (whole-input axes: the
        input), per axis. region is unclipped cut to the input, except where a dilated window's
        taps straddle a border, a padding reflects, or an interpolation weight is exactly 0.
    """

    name: str
    axes: tuple[AxisField, ...]
    paths_differ: bool = False
    whole_from: str | None = None
    approximate: bool = False
    at: tuple[int, ...] | None = None
    region: tuple[tuple[int, int], ...] | None = None
    unclipped: tuple[tuple[int, int] | None, ...] | None = None

    @property
    def size(self) -> tuple[int, ...]:
        return tuple(axis.size for axis in self.axes)

    @property
    def jump(self) -> tuple[Fraction, ...]:
        return tuple(axis.jump for axis in self.axes)

    @property
    def start(self) -> tuple[int, ...]:
        return tuple(axis.start for axis in self.axes)

    @property
    def smallest(self) -> tuple[int, ...]:
        return tuple(axis.smallest for axis in self.axes)

    @property
    def is_global(self) -> bool:
        """Every value depends on the whole input (along every axis)."""
        return bool(self.axes) and all(axis.whole for axis in self.axes)

    def text(self) -> str:
        """'195x195', 'global', 'global (3x3 narrowest)', '7xglobal' (one axis whole) ... for a
        table cell; '~' first where approximate."""
        if not self.axes:
            return "-"
        mark = "~" if self.approximate else ""
        if self.is_global:
            narrow = [axis.smallest for axis in self.axes]
            if self.paths_differ and narrow != [axis.size for axis in self.axes]:
                return f"{mark}global ({'x'.join(map(str, narrow))} narrowest)"
            return f"{mark}global"
        return mark + "x".join("global" if a.whole else str(a.size) for a in self.axes)

    def describe(self) -> str:
        """text(), then for a local field its jump, start and narrowest path:
        '427x427, jump 32, start -213, narrowest path 11x11' (one number where every axis has it)."""
        text = self.text()
        if self.axes and not self.is_global:
            text += f", jump {per_axis(a.jump for a in self.axes)}, start {per_axis(a.start for a in self.axes)}"
            if self.paths_differ:
                text += f", narrowest path {'x'.join(map(str, self.smallest))}"
        return text

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "size": [a.size for a in self.axes],
            "jump": [_number(a.jump) for a in self.axes],
            "start": [a.start for a in self.axes],
            "centre": [_number(a.centre) for a in self.axes],
            "smallest": [a.smallest for a in self.axes],
            "global": [a.whole for a in self.axes],
            "paths_differ": self.paths_differ,
            "approximate": self.approximate,
        }
        if self.whole_from is not None:
            data["global_from"] = self.whole_from
        if self.at is not None:
            region, unclipped = self.region, self.unclipped or ()
            data.update(at=list(self.at), region=region and [list(r) for r in region])
            data["unclipped"] = [r and list(r) for r in unclipped]
        return data


def per_axis(values: Iterable[Any]) -> str:
    """One value when every axis has it ('32'), else one per axis ('4,2')."""
    texts = [str(v) for v in values]
    return texts[0] if len(set(texts)) == 1 else ",".join(texts)


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


# --- the forward pass ------------------------------------------------------------------------


class _Axis(NamedTuple):
    """The unbounded fields of a tensor's positions along one input axis: position o's first and
    last input position are first[o % period] + (o // period) * advance, and likewise `last`.
    None in both: that position depends on nothing (a transposed convolution's gap). `whole`:
    every position depends on the whole input."""

    period: int
    advance: int
    first: tuple[int | None, ...]
    last: tuple[int | None, ...]
    whole: bool = False
    size: int = -1  # the most input positions a position spans (computed when not given)
    approximate: bool = False  # past MOST_LISTED positions, fields follow at the average jump

    def at(self, o: int) -> tuple[int | None, int | None]:
        turns, r = divmod(o, self.period)
        a, b = self.first[r], self.last[r]
        if a is None or b is None:
            return None, None
        shift = turns * self.advance
        return a + shift, b + shift

    @property
    def holes(self) -> bool:
        return None in self.first


def _axis(
    period: int, advance: int, first: tuple[int | None, ...], last: tuple[int | None, ...], approximate: bool = False
) -> _Axis:
    """An _Axis with its size."""
    size = max((b - a + 1 for a, b in zip(first, last, strict=True) if a is not None and b is not None), default=0)
    return _Axis(period, advance, first, last, size=size, approximate=approximate)


def _whole(extent: int) -> _Axis:
    return _Axis(1, 0, (0,), (extent - 1,), True, extent)


_START = _Axis(1, 1, (0,), (0,), size=1)  # the input itself: position o is input position o


MOST_LISTED = 4096  # positions whose fields one axis of one tensor lists, at the most


def _longest_period(extent: int) -> int:
    """Periods past this are not kept (resizes between sizes with no common factor, in a chain,
    multiply theirs): the fields of the tensor's own positions are then listed instead, up to
    MOST_LISTED of them (past it, the rest follow at the average jump: `approximate`)."""
    return min(max(64, 4 * extent), MOST_LISTED)


def _through(field: _Axis, reach: Any, extent: int) -> _Axis:
    """The field of a layer's output along one axis (`extent` positions long), given its input's
    and the declaration."""
    if field.whole or (type(reach) is Window and reach == IDENTITY):
        return field
    if field.period == 1 and type(reach) is Window and field.first[0] is not None:
        # The common case, in constant time: a window over a field with one position per period.
        (a,), (b,), jump = field.first, field.last, field.advance
        assert a is not None and b is not None
        begin = -reach.pad * jump
        end = begin + reach.dilation * (reach.kernel - 1) * jump
        size = b - a + 1 + end - begin
        return _Axis(1, reach.stride * jump, (a + begin,), (b + end,), size=size, approximate=field.approximate)
    step, advance = reach.period, reach.advance
    turns = 1 if advance == 0 else field.period // math.gcd(advance, field.period)
    period = step * turns
    new_advance = 0 if advance == 0 else (turns * advance // field.period) * field.advance
    approximate = field.approximate
    if period > _longest_period(extent):
        # Exact for the tensor's own positions; beyond them (where a later layer's padding reads)
        # it goes on at the average jump.
        average_jump = Fraction(advance, step) * Fraction(field.advance, field.period)
        period, approximate = min(extent, MOST_LISTED), approximate or extent > MOST_LISTED
        new_advance = math.ceil(average_jump * period)
    first: list[int | None] = []
    last: list[int | None] = []
    for o in range(period):
        if field.holes or reach.first(o) is None:
            spans = [field.at(x) for x in reach.taps(o)]
            starts = [a for a, _ in spans if a is not None]
            ends = [b for _, b in spans if b is not None]
            first.append(min(starts) if starts else None)
            last.append(max(ends) if ends else None)
        else:
            first.append(field.at(reach.first(o))[0])
            last.append(field.at(reach.last(o))[1])
    return _axis(period, new_advance, tuple(first), tuple(last), approximate)


def _hull(fields: list[_Axis], extent: int) -> _Axis:
    """The per-position hull of several fields of one tensor's axis (`extent` positions long)."""
    for field in fields:
        if field.whole:
            return field
    if all(field == fields[0] for field in fields):
        return fields[0]
    approximate = any(f.approximate for f in fields)
    if all(f.period == 1 and f.advance == fields[0].advance and f.first[0] is not None for f in fields):
        low, high = min(f.first[0] or 0 for f in fields), max(f.last[0] or 0 for f in fields)  # none is None
        return _Axis(1, fields[0].advance, (low,), (high,), size=high - low + 1, approximate=approximate)
    jumps = {Fraction(f.advance, f.period) for f in fields}
    period = 1
    for f in fields:
        period = period * f.period // math.gcd(period, f.period)
    if len(jumps) == 1 and period <= _longest_period(extent):
        advance = int(next(iter(jumps)) * period)
    else:
        # Their jumps differ (a crop joined to a strided path), or the period is too long: exact
        # for the tensor's own positions, beyond them at the largest jump (see _through).
        period, approximate = min(extent, MOST_LISTED), approximate or extent > MOST_LISTED
        advance = max(math.ceil(jump * period) for jump in jumps)
    first: list[int | None] = []
    last: list[int | None] = []
    for o in range(period):
        spans = [f.at(o) for f in fields]
        starts = [a for a, _ in spans if a is not None]
        ends = [b for _, b in spans if b is not None]
        first.append(min(starts) if starts else None)
        last.append(max(ends) if ends else None)
    return _axis(period, advance, tuple(first), tuple(last), approximate)


class _State(NamedTuple):
    widest: tuple[_Axis, ...]
    narrowest: tuple[_Axis, ...]
    differ: bool
    whole_from: str | None


class Fields:
    """The forward pass's result: per tensor its per-axis fields; `field(node)` its ReceptiveField."""

    def __init__(self, extents: Shape, states: dict[Node, _State]):
        self._extents, self._states = extents, states
        self._fields: dict[Node, ReceptiveField] = {}
        self._jumps: dict[tuple[int, int], Fraction] = {}

    def field(self, node: Node) -> ReceptiveField:
        field = self._fields.get(node)
        if field is None:
            field = self._fields[node] = self._make(node)
        return field

    def unclipped(self, node: Node, at: tuple[int, ...]) -> tuple[tuple[int, int] | None, ...]:
        """The field of `node` at position `at`, per axis, as if the input went on for ever."""
        result: list[tuple[int, int] | None] = []
        axes = self._states[node].widest
        for axis, o in zip(axes, at, strict=False):
            first, last = axis.at(o)
            result.append(None if first is None or last is None else (first, last))
        # A flat tensor (no position) depends on the whole input along every axis.
        result += [axis.at(0) for axis in axes[len(at) :]]  # type: ignore[misc]
        return tuple(result)

    def _jump(self, advance: int, period: int) -> Fraction:
        jump = self._jumps.get((advance, period))
        if jump is None:
            jump = self._jumps[advance, period] = Fraction(advance, period)
        return jump

    def _make(self, node: Node) -> ReceptiveField:
        state = self._states[node]
        axes = []
        for wide, narrow, extent in zip(state.widest, state.narrowest, self._extents, strict=True):
            smallest = extent if narrow.whole else narrow.size
            if wide.whole:
                axes.append(AxisField(extent, self._jump(0, 1), 0, extent - 1, smallest, True))
                continue
            first, last = wide.at(0)
            start, end = (0, -1) if first is None or last is None else (first, last)
            axes.append(AxisField(wide.size, self._jump(wide.advance, wide.period), start, end, smallest))
        approximate = any(axis.approximate for axis in state.widest)
        return ReceptiveField(node.name, tuple(axes), state.differ, state.whole_from, approximate)


def receptive_fields(graph: Graph, shapes: dict[Node, Shape]) -> Fields:
    """The fields of every tensor of the graph (the input's own included)."""
    extents = graph.input_shape[1:]
    start = tuple(_START for _ in extents)
    states: dict[Node, _State] = {graph.input: _State(start, start, False, None)}
    for node, layer in graph.layer_nodes():
        output = shapes[node]
        reaches = layer.reach([shapes[p] for p in node.inputs], output)
        if len(reaches) == 1 and reaches[0] is SAME:  # an activation, a batch norm ...: the same fields
            states[node] = states[node.inputs[0]]
        elif len(reaches) == 1 and reaches[0] is not None and reaches[0] is not WHOLE and (reaches[0] or not extents):
            # One input read position by position: the common case, without merging.
            state, reach = states[node.inputs[0]], reaches[0]
            wide = tuple(_through(f, r, n) for f, r, n in zip(state.widest, reach, output[1:], strict=True))
            narrow = (
                wide
                if state.narrowest is state.widest
                else tuple(_through(f, r, n) for f, r, n in zip(state.narrowest, reach, output[1:], strict=True))
            )
            states[node] = _State(wide, narrow, state.differ, state.whole_from)
        else:
            states[node] = _merged(node, reaches, states, extents, output)
    return Fields(extents, states)


def _merged(node: Node, reaches: tuple[Any, ...], states: dict[Node, _State], extents: Shape, output: Shape) -> _State:
    """A layer with several inputs, or one read whole: the hull of what each input gives."""
    widest: list[list[_Axis]] = [[] for _ in extents]
    narrowest: list[list[_Axis]] = [[] for _ in extents]
    differ = False
    whole_from: str | None = None
    for producer, reach in zip(node.inputs, reaches, strict=True):
        if reach is None:
            continue
        state = states[producer]
        differ = differ or state.differ
        whole_from = whole_from or state.whole_from
        for axis, extent in enumerate(extents):
            if reach is SAME:
                wide, narrow = state.widest[axis], state.narrowest[axis]
            elif reach is WHOLE or not reach:
                # WHOLE, or a flat tensor (no axes left): every position of the input.
                wide = narrow = _whole(extent)
                if not state.widest[axis].whole and whole_from is None:
                    whole_from = node.name
            else:
                wide = _through(state.widest[axis], reach[axis], output[axis + 1])
                narrow = _through(state.narrowest[axis], reach[axis], output[axis + 1])
            widest[axis].append(wide)
            narrowest[axis].append(narrow)
    wide_axes: list[_Axis] = []
    narrow_axes: list[_Axis] = []
    for axis in range(len(extents)):
        fields = widest[axis]
        if not fields:  # reads no input's values (only shapes): depends on nothing
            wide_axes.append(_axis(1, 0, (None,), (None,)))
            narrow_axes.append(_axis(1, 0, (None,), (None,)))
            continue
        if len(fields) > 1 and len(set(fields)) > 1:
            differ = True
        wide_axes.append(_hull(fields, output[axis + 1] if len(output) > axis + 1 else 1))
        narrow_axes.append(min(narrowest[axis], key=lambda f: (f.whole, f.size)))
    wide_tuple, narrow_tuple = tuple(wide_axes), tuple(narrow_axes)
    return _State(wide_tuple, wide_tuple if narrow_tuple == wide_tuple else narrow_tuple, differ, whole_from)
