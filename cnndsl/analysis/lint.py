"""Lint pass: warnings about valid networks that are probably not what was meant (W101-W105).

Rules ask layers for traits (cnndsl/layers/base.py) instead of testing their classes, so a new
layer kind takes part in them by declaring its traits.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, Label, first_per_line, warning
from ..ir import Graph, Node
from ..layers.base import Layer, Shape, shape_text
from .counts import LayerStats

W103_MIN_PARAMS = 1_000_000


def lint(graph: Graph, shapes: dict[Node, Shape], stats: dict[Node, LayerStats]) -> list[Diagnostic]:
    """Warnings, one per source location: a line expanded many times is reported once."""
    return first_per_line(_lint_nodes(graph, shapes, stats))


def _lint_nodes(graph: Graph, shapes: dict[Node, Shape], stats: dict[Node, LayerStats]) -> list[Diagnostic]:
    consumers = graph.consumers()
    found: list[Diagnostic] = []
    total = sum(s.params for s in stats.values())
    holders = [n for n in stats if stats[n].params]
    # W103 targets the classic bulk of a fully connected layer over a flattened feature map (AlexNet's
    # and VGG's fc6). The widest conv of a channel-doubling pyramid holds most parameters by design, and
    # under W103_MIN_PARAMS (4 MB of float32; LeNet-5, the MNIST models) a dominant layer costs nothing.
    for node, layer in graph.layer_nodes():
        in_shape = shapes[node.inputs[0]]
        found += _dropped_pixels(node, in_shape, layer.dropped_input(in_shape))
        if layer.is_dropout and _is_feature_map(in_shape) and _feeds_conv(node, consumers):
            found.append(
                warning(
                    "W102",
                    "dropout between convolutions",
                    Label(node.source, node.span, f"input is the feature map {shape_text(in_shape)}"),
                    help="use dropout in the fully connected layers; batch normalisation suits convolutions better",
                )
            )
        if (
            layer.is_classifier
            and len(holders) > 1
            and total >= W103_MIN_PARAMS
            and stats[node].params * 2 > total
            and _is_feature_map(_flattened_from(node, shapes))
        ):
            share = stats[node].params * 100 // total  # rounded down: never "100%" of less than all
            found.append(
                warning(
                    "W103",
                    f"'{node.name}' holds {share}% of all parameters ({stats[node].params:,} of {total:,})",
                    Label(node.source, node.span),
                    help="a global average pooling or a smaller layer before it shrinks this",
                )
            )
        if layer.output_function() and any(p.layer and p.layer.output_function() == "softmax" for p in node.inputs):
            found.append(
                warning(
                    "W104",
                    "activation after softmax",
                    Label(node.source, node.span),
                    help="softmax already yields probabilities; remove this activation or the softmax",
                )
            )
        if layer.ends_with_bias and consumers[node] and all(_layer(c).normalises_batch for c in consumers[node]):
            found.append(
                warning(
                    "W105",
                    f"{'convolution ' if layer.is_convolution else ''}bias immediately followed by batch normalization",
                    Label(node.source, node.span),
                    help="batch normalization subtracts the mean, cancelling the bias: add 'nobias'",
                )
            )
    return found


def _dropped_pixels(node: Node, in_shape: Shape, per_axis: list[tuple[int, str]]) -> list[Diagnostic]:
    lost = [(axis, unused, formula) for axis, (unused, formula) in enumerate(per_axis) if unused]
    if not lost:
        return []
    notes = [
        f"axis {axis + 1}: {formula}; the last {unused} input row(s) are never read" for axis, unused, formula in lost
    ]
    return [
        warning(
            "W101",
            f"the stride leaves input rows or columns unused (input {shape_text(in_shape)})",
            Label(node.source, node.span),
            notes=notes,
            help=f"pad the end by {max(u for _, u, _ in lost)} or change the stride or kernel "
            f"so that every row is covered",
        )
    ]


def _flattened_from(node: Node, shapes: dict[Node, Shape]) -> Shape:
    """The last shape with spatial axes before a layer's flat input (through flatten and dropout):
    a classifier after global pooling reads 1024x1x1, not a map (ShuffleNetV2 0.5x's fc holds 74% of
    its parameters because its 1000 classes are many for so small a network, which no pooling fixes)."""
    source = node.inputs[0]
    while len(shapes[source]) == 1 and source.layer is not None:
        source = source.inputs[0]
    return shapes[source]


def _is_feature_map(shape: Shape) -> bool:
    """A tensor with spatial extent. A 1x1 map after global pooling is a feature vector in a conv's
    layout (Keras's MobileNet head: pool global -> dropout -> conv 1x1 1000), not a map."""
    return any(extent > 1 for extent in shape[1:])


def _layer(node: Node) -> Layer:
    """The layer of a node after the input (only the input has none)."""
    assert node.layer is not None, "the graph input has no layer"
    return node.layer


def _feeds_conv(node: Node, consumers: dict[Node, list[Node]]) -> bool:
    """Whether a convolution reads this node's output while it is still a feature map."""
    pending, seen = list(consumers[node]), set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        layer = _layer(current)
        if layer.is_convolution:
            return True
        if not layer.ends_feature_maps:
            pending.extend(consumers[current])
    return False
