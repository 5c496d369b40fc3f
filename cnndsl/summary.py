"""`cnndsl summary`: a torchinfo-style table, optionally folding block instances (--depth)."""

from __future__ import annotations

from dataclasses import dataclass

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


def rows(model: CheckedModel, depth: int | None = None) -> list[Row]:
    """One row per layer; with `depth` (>= 1), everything nested `depth` levels deep (block
    instances, repetitions, branches) folds into one row per enclosing instance, like torchinfo."""
    result: list[Row] = []
    folded: dict[str, Row] = {}
    for node in model.layers:
        stats = model.stats[node]
        shape = shape_text(model.shapes[node])
        if depth is not None and len(node.scopes) >= depth:
            scope = node.scopes[depth - 1]
            row = folded.get(scope.path)
            if row is None:
                row = folded[scope.path] = Row(scope.path, scope.kind, shape, 0, 0, "")
                result.append(row)
            row.shape = shape
            row.params += stats.params
            row.macs += stats.macs
            continue
        result.append(Row(node.name, node.kind, shape, stats.params, stats.macs, node.layer.describe()))
    return result


def render(model: CheckedModel, depth: int | None = None) -> str:
    table = [Row("input", "input", shape_text(model.input_shape), 0, 0, "")] + rows(model, depth)
    header = ("Layer", "Kind", "Output shape", "Params", "MACs", "Attributes")
    cells = [header] + [(r.name, r.kind, r.shape, f"{r.params:,}" if r.params else "-",
                         f"{r.macs:,}" if r.macs else "-", r.attributes) for r in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = {3, 4}

    def line(row) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

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
        f"Total MACs: {model.total_macs:,} ({_si(model.total_macs)}MACs)",
        f"Params size (float32): {model.param_bytes / 1e6:,.2f} MB",
        rule,
    ]
    return "\n".join(out)


def _si(value: int) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {prefix}"
    return f"{value} "
