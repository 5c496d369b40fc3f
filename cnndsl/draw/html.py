"""The interactive HTML report: one self-contained page (no network needed to open it).

The page carries every layer (name, kind, colour family, output shape, parameters, MACs, output
bytes at batch 1, receptive field, source line, inputs) and every block scope as JSON; its script
(assets/report.js) folds them into boxes for the blocks the reader has expanded, lays them out with
the vendored dagre (vendor/dagre.min.js, its version in vendor/VERSION) and draws SVG: zoom and
pan, blocks that collapse and expand, a tooltip, the source line of a clicked box, and bar charts
of params, MACs and activation memory per box. The page opens at `depth`, as `summary --depth`;
without one, at the deepest level that shows at most OPENING_BOXES boxes (every layer of a small
network; ResNet-152 at depth 2, whose 516 layers take the browser seconds to lay out at once).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from ..analysis.memory import output_bytes
from ..ir import Node, Scope
from ..layers.base import shape_text
from ..model import CheckedModel
from ..source import Source, Span
from ..summary import rows
from .diagram import COLOURS, family

OPENING_BOXES = 150  # what dagre lays out in well under a second, and a reader takes in at a glance


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def report_data(model: CheckedModel, depth: int | None = None, rankdir: str = "TB") -> dict[str, Any]:
    """What the page's script reads: layers (the input first), scopes, source lines, colours."""
    scopes: dict[Scope, int] = {}
    scope_rows: list[dict[str, Any]] = []  # in the order of their numbers
    files: dict[str, int] = {}
    lines: dict[str, str] = {}
    layers: list[dict[str, Any]] = []
    index = {node: position for position, node in enumerate(model.graph.nodes)}
    for node in model.graph.nodes:
        for scope in node.scopes:  # outermost first: a parent is numbered before its children
            if scope not in scopes:
                parent = scopes[scope.parent] if scope.parent is not None else -1
                scopes[scope] = len(scope_rows)
                row: dict[str, Any] = {"path": scope.path, "kind": scope.kind, "parent": parent}
                if scope.call is not None:  # a block instance: its box shows the line that calls it
                    row["source"] = _place(*scope.call, files, lines)
                scope_rows.append(row)
        file, line = _place(node.source, node.span, files, lines)
        layers.append(_layer(model, node, index, scopes, file, line))
    return {
        "title": model.name,
        "depth": depth if depth is not None else opening_depth(model),
        "rankdir": rankdir,
        "layers": layers,
        "scopes": scope_rows,
        "files": list(files),
        "lines": lines,
        "colours": COLOURS,
    }


def opening_depth(model: CheckedModel) -> int | None:
    """The deepest level (None: every layer) with at most OPENING_BOXES boxes; 1 at least."""
    nesting = max((len(node.scopes) for node in model.layers), default=0)
    depths: list[int | None] = [None, *range(nesting, 1, -1)]
    for depth in depths:
        if len(rows(model, depth)) <= OPENING_BOXES:
            return depth
    return 1


def _place(source: Source, span: Span, files: dict[str, int], lines: dict[str, str]) -> tuple[int, int]:
    """(file number, line) of a span, its file numbered and its line's text kept on first sight."""
    file = files.setdefault(source.path, len(files))
    line = source.line_col(span.start)[0]
    if f"{file}:{line}" not in lines:
        text = source.text.splitlines()
        lines[f"{file}:{line}"] = text[line - 1].strip() if 0 < line <= len(text) else ""
    return file, line


def _layer(
    model: CheckedModel, node: Node, index: dict[Node, int], scopes: dict[Scope, int], file: int, line: int
) -> dict[str, Any]:
    shape = model.shapes[node]
    stats = model.stats.get(node)
    return {
        "name": node.name,
        "kind": node.kind,
        "family": family(node),
        "shape": shape_text(shape),
        "params": stats.params if stats else 0,
        "macs": stats.macs if stats else 0,
        "bytes": output_bytes(shape, 1),
        "rf": model.receptive_field(node).text(),
        "source": [file, line],
        "inputs": [index[producer] for producer in node.inputs],
        "scope": scopes[node.scope] if node.scope is not None else -1,
    }


def html_report(model: CheckedModel, depth: int | None = None, rankdir: str = "TB") -> str:
    """The page, with the data, the layout library and the script inlined."""
    data = json.dumps(report_data(model, depth, rankdir), separators=(",", ":"))
    page = _asset("assets/report.html")
    replacements = {
        "{{title}}": _escaped(model.name),
        "{{style}}": _asset("assets/report.css"),
        "{{dagre}}": _asset("vendor/dagre.min.js"),
        # '</' would end the script element early: JSON allows it escaped.
        "{{data}}": data.replace("</", "<\\/"),
        "{{script}}": _asset("assets/report.js"),
    }
    # One pass: a marker inside an inlined file (the library, the data) is left as it is.
    return re.sub("|".join(re.escape(marker) for marker in replacements), lambda m: replacements[m.group(0)], page)


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
