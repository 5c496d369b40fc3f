"""Analysis: floating-point operations per layer, from each kind's `flops` declaration.

Computed when asked for (CheckedModel.layer_flops), not while checking: `cnndsl check` does not
pay for it. The conventions per kind are in docs/analysis.md, "FLOPs".
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..layers.base import Shape


def count_flops(graph: Graph, shapes: dict[Node, Shape]) -> dict[Node, int]:
    """FLOPs per sample of every layer, in the graph's order."""
    return {node: layer.flops([shapes[p] for p in node.inputs], shapes[node]) for node, layer in graph.layer_nodes()}
