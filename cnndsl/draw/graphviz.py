"""Graphviz: a diagram as dot source (no dependency), and rendered to SVG or PNG by the `dot` program.

The `dot` program is run as a subprocess rather than through the Python `graphviz` binding: the
binding does the same (it runs `dot` too), adds a dependency without types, and cannot render when
the program is missing either. The binding is the optional `draw` extra for users who want it.

A box's dot identifier is its name, so that the SVG's <title> of every box names its layer; merges
are drawn as small circles (+, times) or a trapezium (concat), blocks above the depth as frames.
"""

from __future__ import annotations

import shutil
import subprocess

from .diagram import COLOURS, MERGE_SYMBOLS, Box, Diagram, frame_steps

RANKDIRS = ("TB", "LR", "BT", "RL")
INSTALL_HINT = "install Graphviz: apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS)"


class DotMissing(Exception):
    """The `dot` program is not installed; the message says how to install it."""


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def count_text(value: int) -> str:
    """1234567 -> '1.23M': short enough for a box."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{suffix}"
    return str(value)


def box_label(box: Box) -> str:
    """The box's text: name, kind, and parameters and MACs where it has any."""
    figures = ", ".join(
        f"{count_text(value)} {unit}" for value, unit in ((box.params, "params"), (box.macs, "MACs")) if value
    )
    kind = box.kind_label if box.kind_label != box.name else ""  # the input box: 'input' once
    return "\n".join(part for part in (box.name, kind, figures) if part)


def tooltip(box: Box) -> str:
    return (
        f"{box.name} ({box.kind_label}): output {box.shape}, {box.params:,} params, {box.macs:,} MACs, "
        f"receptive field {box.rf}; {box.path}:{box.line}"
    )


def _node_line(box: Box) -> str:
    attributes = {"fillcolor": COLOURS[box.family], "tooltip": tooltip(box), "id": box.key}
    if box.is_merge and box.kind in MERGE_SYMBOLS and MERGE_SYMBOLS[box.kind] != "concat":
        attributes.update(shape="circle", label=MERGE_SYMBOLS[box.kind], width="0.35", fixedsize="true")
    elif box.is_merge:
        attributes.update(shape="trapezium", label=box.kind)
    else:
        attributes["label"] = box_label(box)
        if box.is_block:
            attributes["style"] = "filled,rounded,bold"
    return f"{quoted(box.name)} [{', '.join(f'{key}={quoted(value)}' for key, value in attributes.items())}];"


def dot_text(diagram: Diagram, rankdir: str = "TB") -> str:
    """The diagram as Graphviz dot source: boxes in frames of their blocks, a legend of colours."""
    lines = [
        f"digraph {quoted(diagram.title)} {{",
        f"  graph [rankdir={rankdir}, fontname=Helvetica, fontsize=11, nodesep=0.25, ranksep=0.35, "
        f"label={quoted(_caption(diagram))}, labelloc=t];",
        '  node [shape=box, style="filled,rounded", fontname=Helvetica, fontsize=10, margin="0.12,0.04"];',
        '  edge [fontname=Helvetica, fontsize=8, color="#555555", fontcolor="#333333", arrowsize=0.6];',
    ]
    lines += _clustered(diagram.boxes)
    names = {box.key: box.name for box in diagram.boxes}
    lines += [
        f"  {quoted(names[edge.tail])} -> {quoted(names[edge.head])} [label={quoted(edge.shape)}];"
        for edge in diagram.edges
    ]
    lines += _legend(diagram)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _caption(diagram: Diagram) -> str:
    depth = "every layer" if diagram.depth is None else f"depth {diagram.depth}"
    return f"{diagram.title} ({depth})"


def _clustered(boxes: list[Box]) -> list[str]:
    """Node lines, each inside the nested subgraphs of its frames (opened and closed as the
    boxes, in graph order, enter and leave blocks; a block met again later gets a second frame)."""
    lines: list[str] = []
    for step in frame_steps(boxes):
        indent = "  " * (step.depth + 1)
        if step.box is not None:
            lines.append(indent + _node_line(step.box))
        elif step.scope is not None:
            lines.append(f"{indent}subgraph {quoted('cluster_' + step.scope.path)} {{")
            lines.append(
                f'{indent}  label={quoted(f"{step.scope.path} ({step.scope.kind})")}; style="rounded,dashed"; '
                'color="#888888"; fontsize=9; labeljust=l;'
            )
        else:
            lines.append(indent + "}")
    return lines


def _legend(diagram: Diagram) -> list[str]:
    """One node holding a table of the colours (laid out as a box at the top, beside the input),
    rather than a node per colour, which dot would spread along the graph's ranks."""
    rows = "".join(
        f'<TR><TD BGCOLOR="{COLOURS[family]}" STYLE="ROUNDED">{family}</TD></TR>' for family in diagram.families()
    )
    table = (
        '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="3">'
        f'<TR><TD BORDER="0">Legend</TD></TR>{rows}</TABLE>'
    )
    # A space in its name: no layer's name has one.
    return [f'  "colour legend" [shape=plaintext, style="", fontsize=8, label=<{table}>];']


def render(dot_source: str, format: str) -> bytes:
    """`dot_source` laid out and drawn by Graphviz's `dot` as `format` ('svg' or 'png')."""
    program = shutil.which("dot")
    if program is None:
        raise DotMissing(f"drawing .{format} needs the dot program of Graphviz, which is not installed: {INSTALL_HINT}")
    finished = subprocess.run(
        [program, f"-T{format}"], input=dot_source.encode("utf-8"), capture_output=True, check=False
    )
    if finished.returncode != 0:  # our dot text is valid: a failure is dot's, say what it said
        raise RuntimeError(f"dot failed: {finished.stderr.decode('utf-8', 'replace').strip()[:500]}")
    return finished.stdout
