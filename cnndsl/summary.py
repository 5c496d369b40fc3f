"""`cnndsl summary`: a torchinfo-style table, optionally folding block instances (--depth)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .diagnostics import Diagnostic, to_json
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
            continue
        assert node.layer is not None, "model.layers holds no graph input"
        result.append(Row(node.name, node.kind, shape, stats.params, stats.macs, node.layer.describe()))
    return result


def render(model: CheckedModel, depth: int | None = None) -> str:
    table = [Row("input", "input", shape_text(model.input_shape), 0, 0, ""), *rows(model, depth)]
    header = ("Layer", "Kind", "Output shape", "Params", "MACs", "Attributes")
    cells = [header] + [
        (r.name, r.kind, r.shape, f"{r.params:,}" if r.params else "-", f"{r.macs:,}" if r.macs else "-", r.attributes)
        for r in table
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = {3, 4}

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
        rule,
    ]
    return "\n".join(out)


def _macs_text(macs: int) -> str:
    """'15,470,264,320 (15.47 GMACs)'; a count under 1,000 needs no second spelling ('0', not '0 (0 MACs)')."""
    return f"{macs:,} ({_si(macs)}MACs)" if macs >= 1000 else f"{macs:,}"


def summary_dict(
    model: CheckedModel, depth: int | None = None, diagnostics: Iterable[Diagnostic] = ()
) -> dict[str, Any]:
    """`summary --format json`: CheckedModel.to_dict(), its layers folded as `rows` folds them, and
    the diagnostics shown (the warnings) under "diagnostics"."""
    data = model.to_dict()
    if depth is not None:
        data["depth"] = depth
        data["layers"] = _folded_layers(model, data["layers"], depth)
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
            row = folded[scope.path] = {
                "name": scope.path,
                "kind": scope.kind,
                "line": layer["line"],
                "path": layer["path"],
                "folded": 0,
                "params": 0,
                "trainable_params": 0,
                "macs": 0,
            }
            result.append(row)
        row["output_shape"] = layer["output_shape"]
        row["folded"] += 1
        for key in ("params", "trainable_params", "macs"):
            row[key] += layer[key]
    return result


def _si(value: int) -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f} {prefix}"
    return f"{value} "
