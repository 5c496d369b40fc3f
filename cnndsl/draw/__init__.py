"""`cnndsl draw`: architecture diagrams (Graphviz, Mermaid, an interactive HTML report).

`diagram` folds a checked model into boxes at a depth (diagram.py); `graphviz`, `mermaid` and `html`
write that one model in their formats; `draw` picks the format from the output's extension and
writes the file, atomically.
"""

from __future__ import annotations

from .diagram import Box, Diagram, Edge, diagram
from .write import FORMATS, DrawOptions, draw, drawing, format_of

__all__ = ["FORMATS", "Box", "Diagram", "DrawOptions", "Edge", "diagram", "draw", "drawing", "format_of"]
