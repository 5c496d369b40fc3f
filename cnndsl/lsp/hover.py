"""Hover (a layer's shapes, parameters, MACs, receptive field and memory; a block call's totals)
and inlay hints (each layer's output shape), read from a document's checked model."""

from __future__ import annotations

from collections.abc import Iterable

from ..diagnostics import byte_size
from ..ir import Node, Scope
from ..layers.base import Shape
from ..model import CheckedModel
from ..source import Source, Span
from .documents import Analysis
from .index import Token


def hover_text(analysis: Analysis, offset: int) -> str | None:
    """Markdown for what is under `offset`: a block call's instances, else the innermost layer."""
    model, index = analysis.model, analysis.index
    if model is None or index is None:
        return None
    token = index.token_at(offset)
    if token is not None and token.role == "kind":
        instances = block_instances(model, analysis.path, token)
        if instances:
            return _block_text(model, token, instances)
    nodes = layers_at(model, analysis.path, offset)
    return _layer_text(analysis, nodes) if nodes else None


def layers_at(model: CheckedModel, path: str, offset: int) -> list[Node]:
    """The layers of the innermost element of `path` around `offset` (several where a repetition
    or a block called more than once expands it), in order."""
    around = [node for node in model.layers if node.source.path == path and node.span.start <= offset <= node.span.end]
    if not around:
        return []
    innermost = min((node.span for node in around), key=lambda span: span.end - span.start)
    return [node for node in around if node.span == innermost]


def block_instances(model: CheckedModel, path: str, call: Token) -> dict[Scope, list[Node]]:
    """The layers of each instance of the block a `kind` token calls, by the instance's scope: the
    instances this very call made (one at the top level; one per expansion of the block or
    repetition it is written in)."""
    instances: dict[Scope, list[Node]] = {}
    for node in model.layers:
        for scope in node.scopes:
            if scope.kind == call.name and scope.call is not None and _made_by(scope.call, path, call.span):
                instances.setdefault(scope, []).append(node)
    return instances


def _made_by(place: tuple[Source, Span], path: str, token: Span) -> bool:
    source, span = place
    return source.path == path and span.start <= token.start < span.end


def _block_text(model: CheckedModel, call: Token, instances: dict[Scope, list[Node]]) -> str:
    nodes = [node for members in instances.values() for node in members]
    names = ", ".join(f"`{scope.path}`" for scope in list(instances)[:3]) + (", ..." if len(instances) > 3 else "")
    lines = [f"**{call.name}** (block) {names}"]
    if len(instances) > 1:
        lines.append(f"{len(instances)} instances; totals of all of them")
    else:
        members = nodes
        inside = set(members)
        inputs = [p for node in members for p in node.inputs if p not in inside]
        if inputs:
            lines.append(f"input {_shape(model.shapes[inputs[0]])} → output {_shape(model.shapes[members[-1]])}")
    params = sum(model.stats[node].params for node in nodes)
    macs = sum(model.stats[node].macs for node in nodes)
    lines.append(f"params {params:,} · MACs {macs:,} · {len(nodes):,} layers")
    return "\n\n".join(lines)


def _layer_text(analysis: Analysis, nodes: list[Node]) -> str:
    model = analysis.model
    assert model is not None
    node = nodes[0]
    stats = model.stats[node]
    inputs = ", ".join(_shape(model.shapes[p]) for p in node.inputs)
    lines = [f"**{node.kind}** `{node.name}`"]
    if len(nodes) > 1:
        lines.append(f"this line expands to {len(nodes):,} layers; the first shown")
    lines.append(f"input {inputs} → output {_shape(model.shapes[node])}")
    trainable = f" ({stats.trainable:,} trainable)" if stats.non_trainable else ""
    lines.append(f"params {stats.params:,}{trainable} · MACs {stats.macs:,}")
    lines.append(f"receptive field {model.receptive_field(node).describe()}")
    memory = analysis.layer_memory.get(node.name)
    if memory is not None:
        lines.append(
            f"memory at batch 1: output {byte_size(memory.output_bytes)}, weights {byte_size(memory.weight_bytes)}"
        )
    return "\n\n".join(lines)


def output_shapes(analysis: Analysis) -> Iterable[tuple[Span, str]]:
    """Where an element of the document ends, and the output shape written there: one per
    element whose layers all give the same shape (an element a repetition expands to several
    shapes gets none), and one per block call with a single instance."""
    model, index = analysis.model, analysis.index
    if model is None or index is None:
        return
    by_span: dict[Span, set[Shape]] = {}
    for node in model.layers:
        if node.source.path == analysis.path:
            by_span.setdefault(node.span, set()).add(model.shapes[node])
    for span, shapes in by_span.items():
        if len(shapes) == 1:
            yield span, _shape(next(iter(shapes)))
    for token in index.tokens:
        if token.role == "kind" and token.scope is None:
            instances = block_instances(model, analysis.path, token)
            if len(instances) == 1:
                members = next(iter(instances.values()))
                yield token.extent, _shape(model.shapes[members[-1]])


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape))
