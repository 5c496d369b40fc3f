"""Analysis pass: parameters and MACs per node from each layer's declaration, and the parameter budget (E408)."""

from __future__ import annotations

from typing import NamedTuple

from ..diagnostics import CnnError, Label, byte_size, error
from ..ir import Graph, Node
from ..layers.base import Shape


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
    for node, layer in graph.layer_nodes():
        in_shapes = [shapes[p] for p in node.inputs]
        trainable, fixed = layer.params(in_shapes)
        stats[node] = LayerStats(trainable, fixed, layer.macs(in_shapes, shapes[node]))
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
