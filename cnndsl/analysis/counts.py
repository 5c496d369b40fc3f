"""Analysis pass: parameters and MACs per node, the parameter budget, and lint warnings."""

from __future__ import annotations

from typing import NamedTuple

from ..diagnostics import CnnError, Diagnostic, Label, error, warning
from ..ir import Graph, Node
from ..layers.activation import Activation
from ..layers.base import Shape, shape_text
from ..layers.conv import Conv
from ..layers.dense import Dense, Dropout, Flatten
from ..layers.norm import BatchNorm


class LayerStats(NamedTuple):
    trainable: int
    non_trainable: int
    macs: int

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


def count(graph: Graph, shapes: dict[Node, Shape], max_params: int) -> dict[Node, LayerStats]:
    """Parameters and MACs of every layer; E408 when the total exceeds the budget."""
    stats: dict[Node, LayerStats] = {}
    for node in graph.nodes[1:]:
        in_shapes = [shapes[p] for p in node.inputs]
        trainable, fixed = node.layer.params(in_shapes, shapes[node])
        stats[node] = LayerStats(trainable, fixed, node.layer.macs(in_shapes, shapes[node]))
    total = sum(s.params for s in stats.values())
    if total > max_params:
        largest = max(stats, key=lambda n: stats[n].params)
        raise CnnError(
            [
                error(
                    "E408",
                    f"the network has {total:,} parameters, over the budget of {max_params:,}",
                    Label(
                        largest.source,
                        largest.span,
                        f"the largest layer, '{largest.name}', has {stats[largest].params:,}",
                    ),
                    notes=[f"at 4 bytes each that is {byte_size(total * 4)} of weights"],
                    help="check the layer sizes; raise the budget with --max-params if intended",
                )
            ]
        )
    return stats


def byte_size(count: int) -> str:
    """A byte count in the largest binary unit that keeps it at least 1: '8.4 MiB', '74.5 GiB'.
    Rounded as shown (never '1,024.0 KiB'), and exact for any Python int: a batch may take more
    bytes than a float holds exactly."""
    if count < 1024:
        return f"{count:,} bytes"
    for power, unit in enumerate(_BINARY_UNITS, start=1):
        tenths = (count * 10 + 1024**power // 2) // 1024**power  # rounded to the nearest tenth
        if tenths < 10 * 1024 or unit == _BINARY_UNITS[-1]:
            whole, rest = divmod(tenths, 10)
            return f"{whole:,}.{rest} {unit}"
    raise AssertionError("unreachable")


_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


W103_MIN_PARAMS = 1_000_000


def lint(graph: Graph, shapes: dict[Node, Shape], stats: dict[Node, LayerStats]) -> list[Diagnostic]:
    """Warnings, one per source location: a line expanded many times is reported once."""
    grouped: dict[tuple, list[Diagnostic]] = {}
    for diagnostic in _lint_nodes(graph, shapes, stats):
        key = (diagnostic.code, diagnostic.primary.source.path, diagnostic.primary.span)
        grouped.setdefault(key, []).append(diagnostic)
    result = []
    for instances in grouped.values():
        first = instances[0]
        if len(instances) > 1:
            first = first._replace(
                notes=first.notes + (f"this line expands to {len(instances)} layers; shown for the first",)
            )
        result.append(first)
    return result


def _lint_nodes(graph: Graph, shapes: dict[Node, Shape], stats: dict[Node, LayerStats]) -> list[Diagnostic]:
    consumers = graph.consumers()
    found: list[Diagnostic] = []
    total = sum(s.params for s in stats.values())
    holders = [n for n in stats if stats[n].params]
    # W103 targets the classic bulk of a fully connected layer over a flattened feature map (AlexNet's
    # and VGG's fc6). The widest conv of a channel-doubling pyramid holds most parameters by design, and
    # under W103_MIN_PARAMS (4 MB of float32; LeNet-5, the MNIST models) a dominant layer costs nothing.
    for node in graph.nodes[1:]:
        layer = node.layer
        in_shape = shapes[node.inputs[0]]
        if hasattr(layer, "dropped_input"):
            found += _dropped_pixels(node, in_shape, layer.dropped_input(in_shape))
        if isinstance(layer, Dropout) and _is_feature_map(in_shape) and _feeds_conv(node, consumers):
            found.append(
                warning(
                    "W102",
                    "dropout between convolutions",
                    Label(node.source, node.span, f"input is the feature map {shape_text(in_shape)}"),
                    help="use dropout in the fully connected layers; batch normalisation suits convolutions better",
                )
            )
        if (
            isinstance(layer, Dense)
            and len(holders) > 1
            and total >= W103_MIN_PARAMS
            and stats[node].params * 2 > total
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
        if _is_activation(layer) and any(_ends_in_softmax(p.layer) for p in node.inputs if p.layer):
            found.append(
                warning(
                    "W104",
                    "activation after softmax",
                    Label(node.source, node.span),
                    help="softmax already yields probabilities; remove this activation or the softmax",
                )
            )
        if (
            isinstance(layer, Conv)
            and layer.bias
            and not layer.activation
            and [c for c in consumers[node]]
            and all(isinstance(c.layer, BatchNorm) for c in consumers[node])
        ):
            found.append(
                warning(
                    "W105",
                    "convolution bias immediately followed by batch normalization",
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


def _is_feature_map(shape: Shape) -> bool:
    """A tensor with spatial extent. A 1x1 map after global pooling is a feature vector in a conv's
    layout (Keras's MobileNet head: pool global -> dropout -> conv 1x1 1000), not a map."""
    return any(extent > 1 for extent in shape[1:])


def _is_activation(layer) -> bool:
    return isinstance(layer, Activation) or bool(getattr(layer, "activation", None))


def _ends_in_softmax(layer) -> bool:
    return (isinstance(layer, Activation) and layer.function == "softmax") or getattr(
        layer, "activation", None
    ) == "softmax"


def _feeds_conv(node: Node, consumers: dict[Node, list[Node]]) -> bool:
    pending, seen = list(consumers[node]), set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        if isinstance(current.layer, Conv):
            return True
        if not isinstance(current.layer, (Flatten, Dense)):
            pending.extend(consumers[current])
    return False
