"""`cnndsl diff A.cnn B.cnn`: two architectures side by side, row by row, matched by name.

The rows are the summary's (`summary.rows`, folded at --depth like `summary --depth`); a name both
models have is one row with both sides' figures and their change, and the rows come in A's order
with those only B has merged in where B has them (difflib.SequenceMatcher on the name sequences).
Every figure is a summary column's: the column's cell is what a side shows, its figure (or the
row's count of that name, for params and MACs) what the change and the JSON are computed from.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from ..diagnostics import CnnError, Label, error, shorten
from ..layers.base import shape_text
from ..model import CheckedModel
from ..source import Source
from ..summary import Column, Row, Table, columns, rows

DEFAULT_DEPTH = 1  # the top level: stages and blocks, as `summary --depth 1` shows them
COMPARED = ("params", "macs")  # shown whatever --columns adds
# Figures every JSON row carries besides the columns': what the row is.
DESCRIBED = ("kind", "shape")
ONLY_A, ONLY_B, CHANGED = "-", "+", "*"


class Matched(NamedTuple):
    """One row of the comparison: the row of each model with that name, None where it has none."""

    name: str
    a: Row | None
    b: Row | None


class LibraryFile(NamedTuple):
    """A `use`d file of either spec, named relative to the spec that uses it."""

    name: str
    state: str  # "differs", "only A", "only B" (files that are the same are not listed)


class Comparison(NamedTuple):
    a: Table
    b: Table
    columns: list[Column]
    rows: list[Matched]
    source_diff: list[str]  # a unified diff of the two spec files, without line ends
    libraries: list[LibraryFile]


def compare(
    a: CheckedModel,
    b: CheckedModel,
    depth: int = DEFAULT_DEPTH,
    names: Iterable[str] = (),
    batch: int = 1,
    optimizer: str = "adam",
) -> Comparison:
    """Match the rows of `a` and `b` at `depth`; `names`: summary columns to show besides params
    and MACs. Raises CnnError (E603) when no row name is common to both."""
    table_a, table_b = Table(a, depth, batch, optimizer), Table(b, depth, batch, optimizer)
    shown = [c for c in columns([*COMPARED, *names]) if c.name != "name"]  # the name is the row's key
    matched = match(rows(a, depth), rows(b, depth))
    if not any(m.a is not None and m.b is not None for m in matched):
        raise CnnError([_nothing_in_common(a, b, matched, depth)])
    return Comparison(table_a, table_b, shown, matched, _source_diff(a.source, b.source), _libraries(a, b))


def match(rows_a: list[Row], rows_b: list[Row]) -> list[Matched]:
    """A's rows in order, each with B's of the same name; B's other rows inserted where the diff of
    the two name sequences puts them. A name moved elsewhere in B is still one row, at A's place."""
    names_a, names_b = [row.name for row in rows_a], [row.name for row in rows_b]
    by_name_b = dict(zip(names_b, rows_b, strict=True))
    in_a = set(names_a)
    result: list[Matched] = []
    for _, a_start, a_end, b_start, b_end in difflib.SequenceMatcher(None, names_a, names_b, False).get_opcodes():
        result += [Matched(row.name, row, by_name_b.get(row.name)) for row in rows_a[a_start:a_end]]
        result += [Matched(row.name, None, row) for row in rows_b[b_start:b_end] if row.name not in in_a]
    return result


def _nothing_in_common(a: CheckedModel, b: CheckedModel, matched: list[Matched], depth: int) -> Any:
    first_b = next((node for node in b.layers if node.source is b.source), None)
    label = None if first_b is None else Label(b.source, first_b.span, "none of B's names is one of A's")
    return error(
        "E603",
        f"'{a.source.path}' and '{b.source.path}' have no layer or block name in common at depth {depth}",
        label,
        notes=[
            f"A's names: {_listed(m.name for m in matched if m.a is not None)}",
            f"B's names: {_listed(m.name for m in matched if m.b is not None)}",
        ],
        help="name the layers and blocks that correspond alike ('layer1: stage ...'), or compare at another --depth",
    )


def _listed(names: Iterable[str]) -> str:
    return shorten(", ".join(names), 100)


def _source_diff(a: Source, b: Source) -> list[str]:
    return list(difflib.unified_diff(a.text.splitlines(), b.text.splitlines(), a.path, b.path, lineterm="", n=1))


def _libraries(a: CheckedModel, b: CheckedModel) -> list[LibraryFile]:
    """The `use`d files that differ between the specs: named relative to the spec using them, so
    that 'lib/x.cnn' beside A and 'lib/x.cnn' beside B are compared even in other directories."""
    used_a, used_b = _used_files(a), _used_files(b)
    result = []
    for name in sorted(used_a.keys() | used_b.keys()):
        if name not in used_b:
            result.append(LibraryFile(name, "only A"))
        elif name not in used_a:
            result.append(LibraryFile(name, "only B"))
        elif used_a[name].text != used_b[name].text:
            result.append(LibraryFile(name, "differs"))
    return result


def _used_files(model: CheckedModel) -> dict[str, Source]:
    home = os.path.dirname(os.path.abspath(model.source.path))
    sources = {node.source for node in model.layers if node.source is not model.source}
    return {os.path.relpath(os.path.abspath(source.path), home): source for source in sources}


# --- figures ---------------------------------------------------------------------------------


def figure(column: Column, row: Row | None, table: Table) -> Any:
    """What a column measures of a row: its figure, else the row's field of its name (params, macs,
    kind, shape); None for a model without the row."""
    if row is None:
        return None
    if column.figure is not None:
        return column.figure(row, table)
    return getattr(row, column.name, None)


def change(a: Any, b: Any) -> Any:
    """B's figure less A's: for numbers, for lists of numbers of one length, key by key for dicts
    (keys whose figures have no change left out); None where figures are not numbers."""
    if _is_number(a) and _is_number(b):
        return b - a
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_is_number, a + b)):
        return [y - x for x, y in zip(a, b, strict=True)]
    if isinstance(a, dict) and isinstance(b, dict):
        changes = {key: change(a[key], b[key]) for key in a if key in b}
        return {key: value for key, value in changes.items() if value is not None} or None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def totals(table: Table, shown: list[Column]) -> dict[str, Any]:
    """A model's totals: params and MACs, and what the shown columns total (memory, receptive field)."""
    model = table.model
    result: dict[str, Any] = {
        "params": model.total_params,
        "trainable_params": model.trainable_params,
        "macs": model.total_macs,
    }
    for column in shown:
        if column.totals_figure is not None:
            result[column.totals_key or column.name] = column.totals_figure(table)
    return result


# --- JSON ------------------------------------------------------------------------------------


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """Every row with both sides' figures and their change, both totals and theirs, the text diff."""
    a, b, shown = comparison.a, comparison.b, comparison.columns
    described = [column for column in columns(DESCRIBED) if column not in shown]
    json_rows = []
    for matched in comparison.rows:
        side_a = _figures(matched.a, a, [*described, *shown])
        side_b = _figures(matched.b, b, [*described, *shown])
        json_rows.append(
            {
                "name": matched.name,
                "in": "both" if side_a and side_b else "a" if side_a else "b",
                "a": side_a,
                "b": side_b,
                "change": change(side_a, side_b) if side_a and side_b else None,
            }
        )
    totals_a, totals_b = totals(a, shown), totals(b, shown)
    return {
        "a": _described(a.model),
        "b": _described(b.model),
        "depth": a.depth,
        "batch": a.batch,
        "columns": [column.name for column in shown],
        "rows": json_rows,
        "totals": {"a": totals_a, "b": totals_b, "change": change(totals_a, totals_b)},
        "source_diff": comparison.source_diff,
        "libraries": [{"name": library.name, "state": library.state} for library in comparison.libraries],
    }


def _figures(row: Row | None, table: Table, shown: list[Column]) -> dict[str, Any] | None:
    return None if row is None else {column.name: figure(column, row, table) for column in shown}


def _described(model: CheckedModel) -> dict[str, Any]:
    return {"name": model.name, "path": model.source.path, "input": list(model.input_shape)}


# --- text ------------------------------------------------------------------------------------


def render(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    cells = _cells(comparison)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

    def line(row: tuple[str, ...]) -> str:
        # The marker and the name read left to right; both sides and the change line up right.
        return "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    table = [line(row) for row in cells]
    rule = "=" * max(map(len, table))
    out = [
        f"A: {_title(a.model)}",
        f"B: {_title(b.model)}",
        f"depth {a.depth}; {ONLY_A} only in A, {ONLY_B} only in B, {CHANGED} figures differ",
        rule,
        table[0],
        "-" * len(rule),
        *table[1:],
        rule,
        *_totals_lines(comparison),
        rule,
        *_libraries_lines(comparison.libraries),
    ]
    same = f"{a.model.source.path} and {b.model.source.path} have the same text"
    return "\n".join(out + (comparison.source_diff or [same]))


def _title(model: CheckedModel) -> str:
    return f"{model.name} ({model.source.path}), input {shape_text(model.input_shape)}"


def _cells(comparison: Comparison) -> list[tuple[str, ...]]:
    """The heading, then a row of cells per matched row: marker, name, and per column A's cell,
    B's and, for figures that are numbers, the change."""
    a, b = comparison.a, comparison.b
    numeric = {column.name for column in comparison.columns if _numeric(column, comparison)}
    heading = ["", "Layer"]
    for column in comparison.columns:
        heading += [f"{column.header} A", f"{column.header} B", *(["change"] if column.name in numeric else [])]
    result = [tuple(heading)]
    for matched in comparison.rows:
        row = [_marker(matched, comparison), matched.name]
        for column in comparison.columns:
            row += [_cell(column, matched.a, a), _cell(column, matched.b, b)]
            if column.name in numeric:
                figures = figure(column, matched.a, a), figure(column, matched.b, b)
                row.append("-" if not any(figures) else _signed(change(*figures)))  # as summary shows none
        result.append(tuple(row))
    return result


def _numeric(column: Column, comparison: Comparison) -> bool:
    """Whether a column's figures are numbers, so that the change is shown: judged on its first row."""
    first = comparison.rows[0]
    value = figure(column, first.a, comparison.a) if first.a else figure(column, first.b, comparison.b)
    return _is_number(value)


def _cell(column: Column, row: Row | None, table: Table) -> str:
    return "" if row is None else column.cell(row, table)


def _marker(matched: Matched, comparison: Comparison) -> str:
    if matched.b is None:
        return ONLY_A
    if matched.a is None:
        return ONLY_B
    differ = any(
        _cell(column, matched.a, comparison.a) != _cell(column, matched.b, comparison.b)
        for column in comparison.columns
    )
    return CHANGED if differ else ""


def _signed(value: Any) -> str:
    """A change as text: '+1,024', '-3', '0'; nothing where there is no number to change."""
    if value is None:
        return ""
    return "0" if value == 0 else f"{value:+,}"


def _totals_lines(comparison: Comparison) -> Iterator[str]:
    """Params and MACs of both and the change; then each shown column's totals for A and B, as
    `summary` words them (FLOPs, memory, receptive field), and the numbers among them that changed."""
    a, b = comparison.a.model, comparison.b.model
    for label, value_a, value_b in (
        ("Total params", a.total_params, b.total_params),
        ("Trainable params", a.trainable_params, b.trainable_params),
        ("Total MACs", a.total_macs, b.total_macs),
    ):
        yield f"{label}: A {value_a:,}, B {value_b:,}, change {_signed(value_b - value_a)}"
    for column in comparison.columns:
        if column.totals is None:
            continue
        for side, table in (("A", comparison.a), ("B", comparison.b)):
            yield from (f"{side}: {text}" for text in column.totals(table))
        if column.totals_figure is not None:
            changed = change(column.totals_figure(comparison.a), column.totals_figure(comparison.b))
            yield from (f"change: {key}: {text}" for key, text in _changed_numbers(changed))


def _changed_numbers(changed: Any) -> Iterator[tuple[str, str]]:
    """The non-zero numbers of a change, one line per key of its top level:
    ('inference', 'weights -2,113,024, total -1,711,616')."""
    if not isinstance(changed, dict):
        return
    for key, inner in changed.items():
        leaves = ", ".join(f"{path} {text}".strip() for path, text in _leaves(inner, ""))
        if leaves:
            yield key, leaves


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(dotted key, signed number) for each non-zero number; a list's numbers together, by axis."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        if any(value):
            yield path, " ".join(_signed(v) for v in value)
    elif value:
        yield path, _signed(value)


def _libraries_lines(libraries: list[LibraryFile]) -> list[str]:
    """Which `use`d files differ: the text diff below is of the two spec files only."""
    if not libraries:
        return []
    return ["used files that differ (not shown below): " + ", ".join(f"{f.name} ({f.state})" for f in libraries)]
