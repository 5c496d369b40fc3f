"""Shape pass: every node's output shape, from the input declaration forward.

Each layer kind owns its shape rule (`Layer.output_shape`); this pass only walks the DAG in
topological order and turns a ShapeIssue into a located diagnostic that also points at the
producers of the offending inputs.
"""

from __future__ import annotations

from .diagnostics import DiagnosticSink, Label, error
from .ir import Graph, Node
from .layers.base import MAX_EXTENT, Shape, ShapeIssue, shape_text


def infer_shapes(graph: Graph) -> dict[Node, Shape]:
    """Map every node to its output shape (batch axis excluded); raise CnnError on any mismatch."""
    shapes: dict[Node, Shape] = {graph.input: graph.input_shape}
    sink = DiagnosticSink()
    for node in graph.nodes[1:]:
        if any(producer not in shapes for producer in node.inputs):
            continue  # an earlier error already explains this one
        in_shapes = [shapes[producer] for producer in node.inputs]
        try:
            shape = node.layer.output_shape(in_shapes)
        except ShapeIssue as issue:
            sink.add(_diagnostic(node, in_shapes, issue))
            continue
        if any(extent > MAX_EXTENT for extent in shape):
            sink.add(error("E303", f"the output {shape_text(shape)} has an extent over {MAX_EXTENT:,}",
                           Label(node.source, node.span)))
            continue
        shapes[node] = shape
    sink.raise_if_errors()
    return shapes


def _diagnostic(node: Node, in_shapes: list[Shape], issue: ShapeIssue):
    if len(node.inputs) == 1:
        producer = node.inputs[0]
        text = f"input is {shape_text(in_shapes[0])}, from '{producer.name}'"
        secondary = []
    else:
        text = " vs ".join(shape_text(s) for s in in_shapes)
        shown = node.inputs if issue.input_index is None else (node.inputs[0], node.inputs[issue.input_index])
        secondary = [Label(p.source, p.span, f"'{p.name}' gives {shape_text(in_shapes[node.inputs.index(p)])}")
                     for p in shown]
    # The label already names the input shape; a note repeating it would only add noise.
    notes = [note for note in issue.notes if len(node.inputs) != 1 or note != f"input is {shape_text(in_shapes[0])}"]
    return error(issue.code, f"{node.name}: {issue.message}", Label(node.source, node.span, text),
                 secondary=secondary, notes=notes, help=issue.help)
