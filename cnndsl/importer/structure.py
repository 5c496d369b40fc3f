"""The imported layers as nested constructs: where the graph forks, the paths from the fork to the
layer that merges them become a `residual` (an add of two paths, one of which may be the fork itself),
a `concat` (every path a chain of its own) or a gate (the fork times a path from it: squeeze-and-
excitation, which blocks.py writes as a block with a named tensor, `mul in gate`). A graph with a
fork of any other form (a merge that also reads tensors from before the fork, a concatenation that
includes the fork itself, several outputs) has no such structure: `structure` then returns None and
the spec is written flat."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from .graph import Layer


@dataclass
class Residual:
    body: list[Item]
    shortcut: list[Item]  # empty: the identity


@dataclass
class Concat:
    branches: list[list[Item]]


@dataclass
class Gate:
    path: list[Item]  # from the fork to the gate it is multiplied by


Construct = Residual | Concat | Gate
Item = Layer | Construct


class _NotStructured(Exception):
    """A fork that no construct expresses."""


def structure(layers: list[Layer], input_name: str, outputs: list[str]) -> list[Item] | None:
    """The layers as one chain of layers and constructs from the input to the one output, or None."""
    if len(outputs) != 1:
        return None
    parser = _Parser(layers, outputs[0])
    try:
        items, end = parser.sequence(input_name, frozenset())
    except _NotStructured:
        return None
    if end != outputs[0] or _layer_count(items) != len(layers):
        return None
    return items


def _layer_count(items: list[Item]) -> int:
    """The imported layers the items stand for, each construct's merge (its add or concat) included."""
    return sum(
        1 + sum(_layer_count(path) for path in paths(item)) if not isinstance(item, Layer) else 1 for item in items
    )


def paths(item: Construct) -> list[list[Item]]:
    if isinstance(item, Gate):
        return [item.path]
    return [item.body, item.shortcut] if isinstance(item, Residual) else item.branches


def flattened(items: list[Item]) -> Iterator[Layer]:
    """The layers in the order the spec's text expands them: a residual's body before its shortcut,
    a concat's branches in order."""
    for item in items:
        if isinstance(item, Layer):
            yield item
        else:
            for path in paths(item):
                yield from flattened(path)


class _Parser:
    def __init__(self, layers: list[Layer], output: str):
        self.layers = layers
        self.output = output
        self.position = {id(layer): index for index, layer in enumerate(layers)}
        self.readers: dict[str, list[Layer]] = defaultdict(list)
        for layer in layers:
            for name in layer.inputs:
                self.readers[name].append(layer)

    def sequence(self, tensor: str, ends: frozenset[str]) -> tuple[list[Item], str]:
        """The chain from `tensor` until one of `ends` (a merge's operands) or the graph's end."""
        items: list[Item] = []
        while tensor not in ends:
            readers = self.readers.get(tensor, [])
            if not readers:
                break
            if len(readers) == 1:
                # a merge reached from outside a fork's paths, or one of a single tensor (DenseNet's first concat)
                if len(readers[0].inputs) != 1 or readers[0].takes_tensors:
                    raise _NotStructured
                items.append(readers[0])
                tensor = readers[0].output
                continue
            construct, tensor = self._fork(tensor)
            items.append(construct)
        return items, tensor

    def _fork(self, tensor: str) -> tuple[Item, str]:
        merge = self._merge_of(tensor)
        kind = merge.words.split()[0]
        operands = merge.inputs
        if not merge.takes_tensors or kind not in ("add", "concat", "mul") or len(set(operands)) != len(operands):
            raise _NotStructured
        if kind != "concat" and len(operands) != 2:
            raise _NotStructured
        ends = frozenset(operands)
        paths: dict[str, list[Item]] = {}
        for reader in self.readers[tensor]:
            if reader is merge:
                continue
            if len(reader.inputs) != 1 or reader.takes_tensors:
                raise _NotStructured
            rest, end = self.sequence(reader.output, ends)
            if end not in ends or end in paths:
                raise _NotStructured
            paths[end] = [reader, *rest]
        branches = [paths.get(operand, []) for operand in operands]
        if kind == "mul":
            if sorted(map(bool, branches)) != [False, True]:  # the fork itself times a path from it
                raise _NotStructured
            return Gate(branches[0] or branches[1]), merge.output
        if kind == "concat":
            if not all(branches):  # the fork itself among the concatenated: no branch expresses it
                raise _NotStructured
            return Concat(branches), merge.output
        body, shortcut = sorted(branches, key=lambda branch: -sum(1 for _ in flattened(branch)))
        if not body:
            raise _NotStructured
        return Residual(body, shortcut), merge.output

    def _merge_of(self, tensor: str) -> Layer:
        """The first layer at which every path leaving `tensor` has arrived: counting the edges still
        open from `tensor` and the layers reached from it, the layer that closes the last of them."""
        region = {tensor}
        open_edges = len(self.readers[tensor])
        start = min(self.position[id(layer)] for layer in self.readers[tensor])
        for layer in self.layers[start:]:
            inside = sum(1 for name in layer.inputs if name in region)
            if not inside:
                continue
            if inside != len(layer.inputs):
                raise _NotStructured
            open_edges -= inside
            if open_edges == 0:
                return layer
            if layer.output == self.output:
                raise _NotStructured
            region.add(layer.output)
            open_edges += len(self.readers[layer.output])
        raise _NotStructured
