"""What a budget can assert: the table of quantities, each with its unit, its arguments, how to
measure it on a checked network and what each layer contributes to it (docs/analysis.md, "Budgets").

The analyses behind `flops`, `memory` and `rf` run only when a budget asks for them: they are
methods of the checked model, computed on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..ir import Graph, Node
from .counts import LayerStats
from .memory import ELEMENT_BYTES, OPTIMIZER_STATES

if TYPE_CHECKING:
    from .memory import Memory
    from .receptive import ReceptiveField

MAX_BATCH = 2**31 - 1  # as --batch: a batch past it is not a batch any runtime takes


class Measured(Protocol):
    """What a budget reads of a checked network (cnndsl.model.CheckedModel provides it)."""

    @property
    def graph(self) -> Graph: ...
    @property
    def stats(self) -> dict[Node, LayerStats]: ...
    @property
    def trainable_params(self) -> int: ...
    @property
    def total_macs(self) -> int: ...
    @property
    def layer_flops(self) -> dict[Node, int]: ...
    @property
    def total_flops(self) -> int: ...
    def memory(self, batch: int = 1, training: bool = False, optimizer: str = "adam") -> Memory: ...
    def receptive_field(self, node_or_name: Node | str | None = None) -> ReceptiveField: ...
    def last_feature_map(self, output: str | None = None) -> Node | None: ...


class Unmeasurable(Exception):
    """The network has no such quantity (a receptive field without spatial axes): E220 at the budget."""


Arguments = Mapping[str, int | str]
# What an argument's value may be: a whole number from a range, or one of a few words.
ArgumentValues = range | tuple[str, ...]


class Quantity(NamedTuple):
    """One row of the table: what `assert NAME ...` measures."""

    name: str
    unit: str  # in messages: 'the network has 11,689,512 parameters'
    of_bytes: bool  # whether byte units (8GiB) may write its limit
    arguments: Mapping[str, ArgumentValues]  # accepted argument words and what each may be
    measure: Callable[[Measured, Arguments], int]
    per_layer: Callable[[Measured, Arguments], dict[Node, int]]  # what each layer contributes
    verb: str = "the network has"  # what precedes the value in a failed budget's message
    how_to_grow: str = "grow the largest layers"  # the help of a floor the network is under


def _memory(model: Measured, arguments: Arguments) -> Memory:
    optimizer = arguments.get("train")
    batch = arguments.get("batch", 1)
    assert isinstance(batch, int)
    if optimizer is None:
        return model.memory(batch)
    assert isinstance(optimizer, str)
    return model.memory(batch, training=True, optimizer=optimizer)


def _memory_per_layer(model: Measured, arguments: Arguments) -> dict[Node, int]:
    """Training: each layer's weights, their gradients and optimizer state, and what it keeps for
    the backward pass (these add up to the total). Inference: each layer's weights and output."""
    memory = _memory(model, arguments)
    states = OPTIMIZER_STATES[memory.optimizer] if memory.optimizer is not None else 0
    nodes = [node for node, _ in model.graph.layer_nodes()]
    result = {}
    for node, layer in zip(nodes, memory.layers, strict=True):
        if memory.training:
            trained = ELEMENT_BYTES * model.stats[node].trainable * (1 + states)
            result[node] = layer.weight_bytes + trained + layer.kept_bytes
        else:
            result[node] = layer.weight_bytes + layer.output_bytes
    return result


def _last_feature_map(model: Measured) -> Node:
    node = model.last_feature_map()
    if node is None:
        raise Unmeasurable("'rf' is the receptive field of the last feature map, and this network has no spatial axes")
    return node


def _narrowest_axis(model: Measured, node: Node) -> int:
    return min(model.receptive_field(node).size)


def _receptive_field(model: Measured, _: Arguments) -> int:
    """The last feature map's field on its narrowest axis: `rf >= 224` holds when every axis sees 224."""
    return _narrowest_axis(model, _last_feature_map(model))


def _field_growth(model: Measured, _: Arguments) -> dict[Node, int]:
    """How much each layer up to the last feature map widens the field (narrowest axis) over its
    widest input's."""
    last = _last_feature_map(model)
    growth: dict[Node, int] = {}
    for node, _layer in model.graph.layer_nodes():
        widest_input = max(_narrowest_axis(model, p) for p in node.inputs)
        growth[node] = max(_narrowest_axis(model, node) - widest_input, 0)
        if node is last:
            break
    return growth


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity(
            "params",
            "parameters",
            False,
            {},
            lambda model, _: model.trainable_params,
            lambda model, _: {node: stats.trainable for node, stats in model.stats.items()},
        ),
        Quantity(
            "macs",
            "MACs",
            False,
            {},
            lambda model, _: model.total_macs,
            lambda model, _: {node: stats.macs for node, stats in model.stats.items()},
        ),
        Quantity(
            "flops",
            "FLOPs",
            False,
            {},
            lambda model, _: model.total_flops,
            lambda model, _: dict(model.layer_flops),
        ),
        Quantity(
            "memory",
            "bytes",
            True,
            {"batch": range(1, MAX_BATCH + 1), "train": tuple(OPTIMIZER_STATES)},
            lambda model, arguments: _memory(model, arguments).total,
            _memory_per_layer,
            verb="the network needs",
        ),
        Quantity(
            "rf",
            "input positions",
            False,
            {},
            _receptive_field,
            _field_growth,
            verb="the last feature map sees",
            how_to_grow="widen the field before the last feature map (larger kernels, strides or dilations, or "
            "more layers)",
        ),
    )
}
