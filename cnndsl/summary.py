"""`cnndsl summary`: a torchinfo-style table, optionally folding block instances (--depth).

The table's columns come from a registry (COLUMNS): each Column names itself for `--columns`,
gives its header, the cell of a row, and the lines it adds under the table (its totals). A new
figure is one entry: `register_column(Column(...))`. Its `figure` (per row) and `totals` (per
model) are what `summary --json` carries for it, whether or not the table shows it. A column
computes what it shows when it is shown: `cnndsl summary` without --columns computes no
receptive field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .analysis.memory import ELEMENT_BYTES, ELEMENT_TYPE, Memory, output_bytes
from .analysis.receptive import per_axis
from .diagnostics import Diagnostic, byte_size, to_json
from .ir import Node, Scope
from .layers.base import shape_text
from .model import CheckedModel


@dataclass
class Row:
    name: str
    kind: str
    shape: str
    params: int
    macs: int
    attributes: str
    # The layers the row stands for, in order: one, or every layer of a folded block instance
    # (its figures are the last one's: output shape, receptive field); the graph input for the
    # table's first row.
    nodes: list[Node] = field(default_factory=list)

    @property
    def node(self) -> Node:
        """The layer whose output the row shows (a folded row's last)."""
        return self.nodes[-1]


class Table(NamedTuple):
    """What a column reads besides its row: the model and the summary's options."""

    model: CheckedModel
    depth: int | None = None
    batch: int = 1
    optimizer: str = "adam"  # the training memory's


class Column(NamedTuple):
    """One column of the summary.

    name: the word --columns selects it by. header: its heading. cell: its text for a row.
    totals: the lines it adds under the table (after the model's totals), or None.
    right: right-aligned (numbers). figure, totals_figure: what `summary --json` carries for it,
    per layer (under the key `name`) and for the model (`totals_key`), computed always.
    """

    name: str
    header: str
    cell: Callable[[Row, Table], str]
    totals: Callable[[Table], list[str]] | None = None
    right: bool = False
    figure: Callable[[Row, Table], Any] | None = None
    totals_figure: Callable[[Table], Any] | None = None
    totals_key: str = ""
    doc: str = ""


COLUMNS: dict[str, Column] = {}
DEFAULT_COLUMNS = ("name", "kind", "shape", "params", "macs", "attributes")


def register_column(column: Column) -> Column:
    if column.name in COLUMNS or column.name in ("all", "default"):
        raise ValueError(f"summary column {column.name!r} registered twice")
    COLUMNS[column.name] = column
    return column


def _count(value: int) -> str:
    return f"{value:,}" if value else "-"


register_column(Column("name", "Layer", lambda row, table: row.name, doc="layer name (a folded row: the block's)"))
register_column(Column("kind", "Kind", lambda row, table: row.kind, doc="layer kind (a folded row: the block's)"))
register_column(Column("shape", "Output shape", lambda row, table: row.shape, doc="output shape, batch axis not shown"))
register_column(Column("params", "Params", lambda row, table: _count(row.params), right=True, doc="parameters"))
register_column(Column("macs", "MACs", lambda row, table: _count(row.macs), right=True, doc="multiply-accumulates"))
register_column(Column("attributes", "Attributes", lambda row, table: row.attributes, doc="attributes as written"))


# --- receptive fields ------------------------------------------------------------------------


def _field_cell(figure: str) -> Callable[[Row, Table], str]:
    """The cell of an AxisField figure ('jump', 'start'): '-' where the field is global."""

    def cell(row: Row, table: Table) -> str:
        rf = table.model.receptive_field(row.node)
        return "-" if not rf.axes or rf.is_global else per_axis("-" if a.whole else getattr(a, figure) for a in rf.axes)

    return cell


def _field_totals(table: Table) -> list[str]:
    """The receptive field of each output, and of the last feature map when an output's is global."""
    model, lines = table.model, []
    for name, node in model.graph.outputs:
        rf = model.receptive_field(node)
        lines.append(
            f"Receptive field of {name}: {rf.describe()}" + (f" (from {rf.whole_from})" if rf.whole_from else "")
        )
        feature_map = model.last_feature_map(name)
        if feature_map is not None and feature_map is not node:
            lines.append(f"  last feature map {feature_map.name}: {model.receptive_field(feature_map).describe()}")
    return lines


def _outputs_figure(table: Table) -> dict[str, Any]:
    model = table.model
    result = {}
    for name, node in model.graph.outputs:
        data = model.receptive_field(node).to_dict()
        feature_map = model.last_feature_map(name)
        if feature_map is not None:
            data["last_feature_map"] = {"name": feature_map.name, **model.receptive_field(feature_map).to_dict()}
        result[name] = data
    return result


register_column(
    Column(
        "rf",
        "Receptive field",
        lambda row, table: table.model.receptive_field(row.node).text(),
        totals=_field_totals,
        figure=lambda row, table: table.model.receptive_field(row.node).to_dict(),
        totals_figure=_outputs_figure,
        totals_key="receptive_field",
        doc="receptive field size per axis, in input positions (docs/analysis.md)",
    )
)
register_column(
    Column("jump", "Jump", _field_cell("jump"), right=True, doc="input positions between neighbouring fields")
)
register_column(
    Column("start", "Start", _field_cell("start"), right=True, doc="first input position of the first field")
)


# --- FLOPs and memory (docs/analysis.md) -----------------------------------------------------


def _flops(row: Row, table: Table) -> int:
    flops = table.model.layer_flops
    return sum(flops[node] for node in row.nodes if node in flops)  # the input row has none


def _flops_totals(table: Table) -> list[str]:
    flops = table.model.total_flops
    return [f"Total FLOPs: {flops:,} ({_si(flops)}FLOPs)" if flops >= 1000 else f"Total FLOPs: {flops:,}"]


def _output_bytes(row: Row, table: Table) -> int:
    return output_bytes(table.model.shapes[row.node], table.batch)


def _memory(table: Table) -> tuple[Memory, Memory]:
    """At the table's batch: at inference, and while training with its optimizer."""
    model = table.model
    return model.memory(table.batch), model.memory(table.batch, training=True, optimizer=table.optimizer)


def _memory_totals(table: Table) -> list[str]:
    inference, training = _memory(table)
    at = f" while {inference.peak_layer}" if inference.peak_layer else ""
    return [
        f"Inference memory (batch {table.batch}, {ELEMENT_TYPE}): {byte_size(inference.total)} = weights "
        f"{byte_size(inference.weights)} + the most activations alive at once {byte_size(inference.activations)}{at}",
        f"Training memory (batch {table.batch}, {table.optimizer}): {byte_size(training.total)} = weights "
        f"{byte_size(training.weights)} + gradients {byte_size(training.gradients)} + optimizer state "
        f"{byte_size(training.optimizer_state)} + activations kept for backward {byte_size(training.activations)}",
    ]


def _memory_figure(table: Table) -> dict[str, Any]:
    inference, training = _memory(table)
    return {"inference": inference.to_dict(), "training": training.to_dict()}


register_column(
    Column(
        "flops",
        "FLOPs",
        lambda row, table: _count(_flops(row, table)),
        totals=_flops_totals,
        right=True,
        figure=_flops,
        doc="floating-point operations per sample (docs/analysis.md, FLOPs)",
    )
)
register_column(
    Column(
        "out_bytes",
        "Output bytes",
        lambda row, table: byte_size(_output_bytes(row, table)),
        totals=_memory_totals,
        right=True,
        figure=_output_bytes,
        totals_figure=_memory_figure,
        totals_key="memory",
        doc="the output tensor at --batch; its totals: inference and training memory (--optimizer)",
    )
)
register_column(
    Column(
        "weight_bytes",
        "Weight bytes",
        lambda row, table: byte_size(ELEMENT_BYTES * row.params) if row.params else "-",
        right=True,
        figure=lambda row, table: ELEMENT_BYTES * row.params,
        doc="the layer's parameters, trainable or not",
    )
)


# --- the table -------------------------------------------------------------------------------


def columns(names: Iterable[str] | None) -> list[Column]:
    """The columns to show: DEFAULT_COLUMNS for None; 'all' and 'default' stand for those sets.
    Raises ValueError naming an unknown column."""
    chosen: list[str] = []
    for name in DEFAULT_COLUMNS if names is None else names:
        group = list(COLUMNS) if name == "all" else list(DEFAULT_COLUMNS) if name == "default" else [name]
        for each in group:
            if each not in COLUMNS:
                raise ValueError(f"unknown column '{each}'; the columns are {', '.join(COLUMNS)}, or all, default")
            if each not in chosen:
                chosen.append(each)
    return [COLUMNS[name] for name in chosen]


def _fold_into(node: Node, depth: int | None) -> Scope | None:
    """The scope whose row `node` folds into at `depth`, or None when it keeps a row of its own.

    Depth 1 (like torchinfo's) shows top-level rows only: a block instance is one row. Depth 0 has no
    deeper level to show, so it folds the same way as 1 rather than being an error."""
    if depth is None:
        return None
    level = max(depth, 1)
    scopes = node.scopes
    return scopes[level - 1] if len(scopes) >= level else None


def rows(model: CheckedModel, depth: int | None = None) -> list[Row]:
    """One row per layer; with `depth` (>= 1), everything nested `depth` levels deep (block
    instances, repetitions, branches) folds into one row per enclosing instance, like torchinfo;
    0 folds like 1."""
    result: list[Row] = []
    folded: dict[str, Row] = {}
    for node in model.layers:
        stats = model.stats[node]
        shape = shape_text(model.shapes[node])
        scope = _fold_into(node, depth)
        if scope is not None:
            row = folded.get(scope.path)
            if row is None:
                row = folded[scope.path] = Row(scope.path, scope.kind, shape, 0, 0, "")
                result.append(row)
            row.shape = shape
            row.params += stats.params
            row.macs += stats.macs
            row.nodes.append(node)
            continue
        assert node.layer is not None, "model.layers holds no graph input"
        result.append(Row(node.name, node.kind, shape, stats.params, stats.macs, node.layer.describe(), [node]))
    return result


def render(
    model: CheckedModel,
    depth: int | None = None,
    names: Iterable[str] | None = None,
    batch: int = 1,
    optimizer: str = "adam",
) -> str:
    """The table; `names`: the columns (default DEFAULT_COLUMNS, as `columns` reads them)."""
    shown = columns(names)
    table = Table(model, depth, batch, optimizer)
    first = Row("input", "input", shape_text(model.input_shape), 0, 0, "", [model.graph.input])
    header = tuple(column.header for column in shown)
    cells = [header] + [tuple(column.cell(row, table) for column in shown) for row in [first, *rows(model, depth)]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = {i for i, column in enumerate(shown) if column.right}

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    rule = "=" * len(line(header))
    out = [f"{model.name} ({model.source.path})", rule, line(header), "-" * len(rule)]
    out += [line(row) for row in cells[1:]]
    out.append(rule)
    outputs = ", ".join(f"{name} {shape_text(shape)}" for name, shape in model.outputs)
    out += [
        f"Input: {shape_text(model.input_shape)} (batch axis not shown)",
        f"Outputs: {outputs}",
        f"Total params: {model.total_params:,}",
        f"Trainable params: {model.trainable_params:,}",
        f"Non-trainable params: {model.non_trainable_params:,}",
        f"Total MACs: {_macs_text(model.total_macs)}",
        f"Params size (float32): {model.param_bytes / 1e6:,.2f} MB",
    ]
    for column in shown:
        if column.totals is not None:
            out += column.totals(table)
    out.append(rule)
    return "\n".join(out)


def _macs_text(macs: int) -> str:
    """'15,470,264,320 (15.47 GMACs)'; a count under 1,000 needs no second spelling ('0', not '0 (0 MACs)')."""
    return f"{macs:,} ({_si(macs)}MACs)" if macs >= 1000 else f"{macs:,}"


def summary_dict(
    model: CheckedModel,
    depth: int | None = None,
    diagnostics: Iterable[Diagnostic] = (),
    batch: int = 1,
    optimizer: str = "adam",
) -> dict[str, Any]:
    """`summary --format json`: CheckedModel.to_dict(), its layers folded as `rows` folds them, every
    registered column's figures per layer and in total, and the diagnostics shown (the warnings)
    under "diagnostics"."""
    data = model.to_dict()
    if depth is not None:
        data["depth"] = depth
        data["layers"] = _folded_layers(model, data["layers"], depth)
    table = Table(model, depth, batch, optimizer)
    data["batch"] = batch
    figures = [column for column in COLUMNS.values() if column.figure is not None]
    for row, layer in zip(rows(model, depth), data["layers"], strict=True):
        for column in figures:
            assert column.figure is not None
            layer[column.name] = column.figure(row, table)
    for column in COLUMNS.values():
        if column.totals_figure is not None:
            data[column.totals_key or column.name] = column.totals_figure(table)
    data["diagnostics"] = [to_json(d) for d in diagnostics]
    return data


def _folded_layers(model: CheckedModel, layers: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """A folded block instance keeps the keys of a layer, with the sums of what it holds, the output
    of its last layer, the place of its first, and "folded": how many layers it stands for."""
    result: list[dict[str, Any]] = []
    folded: dict[str, dict[str, Any]] = {}
    for node, layer in zip(model.layers, layers, strict=True):
        scope = _fold_into(node, depth)
        if scope is None:
            result.append(layer)
            continue
        row = folded.get(scope.path)
        if row is None:
            row = folded[scope.path] = {"name": scope.path, "kind": scope.kind, "line": layer["line"]}
            row.update(path=layer["path"], folded=0, params=0, trainable_params=0, macs=0)
            result.append(row)
        row["output_shape"] = layer["output_shape"]
        row["folded"] += 1
        for key in ("params", "trainable_params", "macs", "flops"):
            if key in layer:
                row[key] = row.get(key, 0) + layer[key]
    return result


def _si(value: int) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {prefix}"
    return f"{value} "
