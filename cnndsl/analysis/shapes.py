"""Shape pass: every node's output shape, from the input declaration forward.

Each layer kind owns its shape rule (`Layer.output_shape`); this pass only walks the DAG in
topological order and turns a ShapeIssue into a located diagnostic that also points at the
producers of the offending inputs.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, DiagnosticSink, Label, error
from ..ir import Graph, Node
from ..layers.base import MAX_EXTENT, Shape, ShapeIssue, shape_text
from ..source import Edit, Fix, Span


def infer_shapes(graph: Graph) -> dict[Node, Shape]:
    """Map every node to its output shape (batch axis excluded); raise CnnError on any mismatch."""
    shapes: dict[Node, Shape] = {graph.input: graph.input_shape}
    sink = DiagnosticSink()
    layout_note = _channels_last_note(graph.input_shape)
    for node, layer in graph.layer_nodes():
        if any(producer not in shapes for producer in node.inputs):
            continue  # an earlier error already explains this one
        in_shapes = [shapes[producer] for producer in node.inputs]
        try:
            shape = layer.output_shape(in_shapes)
        except ShapeIssue as issue:
            sink.add(_diagnostic(node, in_shapes, issue, layout_note))
            continue
        if any(extent > MAX_EXTENT for extent in shape):
            sink.add(
                error(
                    "E303",
                    f"the output {shape_text(shape)} has an extent over {MAX_EXTENT:,}",
                    Label(node.source, node.span),
                )
            )
            continue
        shapes[node] = shape
    sink.raise_if_errors()
    return shapes


# Inputs of this many channels, written last, are the usual channels-last slip ('input 32x32x3').
_LIKELY_CHANNELS = (1, 3, 4)
_LAYOUTS = {1: "CxW", 2: "CxHxW", 3: "CxDxHxW"}


def _channels_last_note(input_shape: Shape) -> str | None:
    """A note for every shape error when the input looks written channels-last: its last extent is
    a usual channel count (grey, RGB, RGBA) and its first is a plausible image extent instead.
    Such a spec only fails layers later, with a message about a collapsed width or a channel count."""
    if len(input_shape) < 2:
        return None
    first, last = input_shape[0], input_shape[-1]
    if last not in _LIKELY_CHANNELS or first < 8 or first <= last:
        return None
    written = shape_text(input_shape)
    meant = shape_text((last, *input_shape[:-1]))
    layout = _LAYOUTS.get(len(input_shape) - 1, "channels first")
    return (
        f"inputs are channels-first ({layout}): 'input {written}' reads as {first} channels of "
        f"{shape_text(input_shape[1:])}; did you mean 'input {meant}'?"
    )


def _diagnostic(node: Node, in_shapes: list[Shape], issue: ShapeIssue, layout_note: str | None) -> Diagnostic:
    if len(node.inputs) == 1:
        producer = node.inputs[0]
        text = f"input is {shape_text(in_shapes[0])}, from '{producer.name}'"
        secondary = []
    else:
        text = " vs ".join(shape_text(s) for s in in_shapes)
        shown = node.inputs if issue.input_index is None else (node.inputs[0], node.inputs[issue.input_index])
        secondary = [
            Label(p.source, p.span, f"'{p.name}' gives {shape_text(in_shapes[node.inputs.index(p)])}") for p in shown
        ]
    notes = issue.notes + ((layout_note,) if layout_note else ())
    return error(
        issue.code,
        f"{node.name}: {issue.message}",
        Label(node.source, node.span, text),
        secondary=secondary,
        notes=notes,
        help=issue.help,
        fix=_projection_shortcut(node, in_shapes) if issue.code == "E406" else None,
    )


def _projection_shortcut(node: Node, in_shapes: list[Shape]) -> Fix | None:
    """For the sum of a `residual { body }` without a shortcut whose body changes the shape: a
    shortcut of one 1x1 convolution, with the body's channels and the stride that gives the body's
    extents (the help's projection), written after the body. None where no such convolution fits."""
    text = node.source.text
    body, given = in_shapes
    if text[node.span.start : node.span.end] != "residual" or len(body) != len(given) or len(body) < 2:
        return None
    stride = -(-given[1] // body[1])  # a 1x1 convolution with stride s gives ceil(n / s) of n
    if any(-(-n // stride) != m for n, m in zip(given[1:], body[1:], strict=True)):
        return None
    end = _body_end(text, node.span.end)
    if end is None or text[end:].lstrip().startswith("shortcut"):
        return None
    conv = f"conv {'x'.join('1' for _ in body[1:])}{f'/{stride}' if stride > 1 else ''} {body[0]}"
    return Fix(f"add a projection shortcut: {conv}", (Edit(Span(end, end), f" shortcut {{ {conv} }}"),))


def _body_end(text: str, start: int) -> int | None:
    """The offset after the '}' that closes the first '{' from `start` (comments skipped)."""
    depth, index = 0, start
    while index < len(text):
        character = text[index]
        if character == "#":
            index = text.find("\n", index)
            if index < 0:
                return None
        elif character == "{":
            depth += 1
        elif character == "}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return None
