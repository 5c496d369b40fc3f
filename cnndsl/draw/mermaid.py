"""Mermaid: a diagram as a `flowchart` (GitHub, GitLab and many documentation tools render it).

Boxes get Mermaid identifiers of their own (b0, b1, ...), their names go in the labels; frames are
subgraphs, colours are classes named after the families, merges are circles (+, times) or trapezoids.
"""

from __future__ import annotations

from .diagram import COLOURS, MERGE_SYMBOLS, Box, Diagram, frame_steps
from .graphviz import box_label

DIRECTIONS = {"TB": "TB", "LR": "LR", "BT": "BT", "RL": "RL"}


def class_name(family: str) -> str:
    return family.replace(" ", "_")


def _text(text: str) -> str:
    """A quoted Mermaid label: quotes as entities, line breaks as <br/>."""
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def _node(box: Box) -> str:
    if box.is_merge and MERGE_SYMBOLS.get(box.kind, "concat") != "concat":
        return f"{box.key}(({_text(MERGE_SYMBOLS[box.kind])}))"
    if box.is_merge:
        return f"{box.key}[/{_text(box.kind)}\\]"
    return f"{box.key}[{_text(box_label(box))}]"


def mermaid_text(diagram: Diagram, rankdir: str = "TB") -> str:
    lines = [f"%% {diagram.title}: drawn by cnndsl draw", f"flowchart {DIRECTIONS[rankdir]}"]
    lines += [
        f"  classDef {class_name(family)} fill:{colour},stroke:#555555,color:#000000"
        for family, colour in COLOURS.items()
    ]
    frame_count = 0  # a block met again later gets a second frame, with an identifier of its own
    for step in frame_steps(diagram.boxes):
        indent = "  " * (step.depth + 1)
        if step.box is not None:
            lines.append(indent + _node(step.box))
        elif step.scope is not None:
            lines.append(f"{indent}subgraph f{frame_count} [{_text(f'{step.scope.path} ({step.scope.kind})')}]")
            frame_count += 1
        else:
            lines.append(indent + "end")
    lines += [f"  {edge.tail} -->|{_text(edge.shape)}| {edge.head}" for edge in diagram.edges]
    for family in diagram.families():
        members = ",".join(box.key for box in diagram.boxes if box.family == family)
        lines.append(f"  class {members} {class_name(family)}")
    lines.append(f"  subgraph legend [{_text('Legend')}]")
    lines += [
        f"    legend_{name}[{_text(family)}]:::{name}" for family in diagram.families() if (name := class_name(family))
    ]
    lines.append("  end")
    return "\n".join(lines) + "\n"
