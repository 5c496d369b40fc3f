"""Analysis: the memory a model needs, at inference and while training (docs/analysis.md, "Memory").

- Each layer's output and weights, in bytes of the model's element type (float32: the only one a
  spec has).
- Inference at batch N: the weights, and the most tensors alive at once walking the layers in the
  order they are emitted; a tensor lives from its producer until its last consumer has run (the
  model's outputs until the end), and a layer's scratch (`scratch_values`) while it runs. This walk
  is also `cnndsl run`'s memory check (E508), which counts the input it holds on its own.
- Training at batch N: the weights, a gradient per trainable weight, the optimizer's state per
  trainable weight (SGD none, SGD with momentum one, Adam two), and the tensors autograd keeps for
  the backward pass, as each kind declares them (`kept_for_backward`): a tensor several layers keep
  is counted once, and a view (`views_input`) is its input's storage.

Computed when asked for (CheckedModel.memory), not while checking.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..ir import Graph, Node
from ..layers.base import Shape

ELEMENT_BYTES = 4  # float32
ELEMENT_TYPE = "float32"
INDEX_BYTES = 8  # PyTorch's int64 indices (max pooling)

# Values of optimizer state per trainable weight.
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}


class LayerMemory(NamedTuple):
    """One layer's bytes at a batch size."""

    name: str
    output_bytes: int  # its output tensor
    weight_bytes: int  # its parameters, trainable or not
    kept_bytes: int  # kept for the backward pass and not already kept by an earlier layer (training only)


class Memory(NamedTuple):
    """What a model needs at a batch size, by part; `total` is their sum."""

    batch: int
    training: bool
    optimizer: str | None  # training only
    weights: int  # every parameter, trainable or not
    gradients: int  # one per trainable weight (training)
    optimizer_state: int  # per trainable weight, as the optimizer keeps (training)
    activations: int  # inference: the most tensors alive at once; training: those kept for the backward pass
    peak_layer: str | None  # inference: the layer while which the most tensors are alive
    layers: tuple[LayerMemory, ...]
    element_type: str = ELEMENT_TYPE

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations

    def to_dict(self) -> dict[str, Any]:
        """The totals as plain data (per-layer figures are in the summary's layers)."""
        return {
            "batch": self.batch,
            "training": self.training,
            "optimizer": self.optimizer,
            "element_type": self.element_type,
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer_state": self.optimizer_state,
            "activations": self.activations,
            "peak_layer": self.peak_layer,
            "total": self.total,
        }


def validated(batch: object, training: object, optimizer: object) -> tuple[int, bool, str]:
    """The arguments of CheckedModel.memory, or TypeError/ValueError saying what is wrong."""
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise TypeError(f"batch must be an int, got {type(batch).__name__}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if not isinstance(training, bool):
        raise TypeError(f"training must be True or False, got {type(training).__name__}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_STATES)}; got {optimizer!r}")
    assert isinstance(optimizer, str)
    return batch, training, optimizer


def memory(graph: Graph, shapes: dict[Node, Shape], batch: int, training: bool, optimizer: str) -> Memory:
    """The model's memory at `batch` (arguments as `validated` returns them)."""
    trainable = fixed = 0
    per_layer: list[tuple[Node, int]] = []  # (node, weight bytes)
    for node, layer in graph.layer_nodes():
        node_trainable, node_fixed = layer.params([shapes[p] for p in node.inputs])
        trainable, fixed = trainable + node_trainable, fixed + node_fixed
        per_layer.append((node, ELEMENT_BYTES * (node_trainable + node_fixed)))
    kept = kept_bytes(graph, shapes, batch) if training else {}
    layers = tuple(
        LayerMemory(node.name, output_bytes(shapes[node], batch), weights, kept.get(node, 0))
        for node, weights in per_layer
    )
    weights = ELEMENT_BYTES * (trainable + fixed)
    if training:
        return Memory(
            batch,
            True,
            optimizer,
            weights,
            ELEMENT_BYTES * trainable,
            ELEMENT_BYTES * trainable * OPTIMIZER_STATES[optimizer],
            sum(kept.values()),
            None,
            layers,
        )
    peak, at = peak_activation_values(graph, shapes, count_input=True)
    return Memory(batch, False, None, weights, 0, 0, ELEMENT_BYTES * batch * peak, at.name if at else None, layers)


def output_bytes(shape: Shape, batch: int) -> int:
    return ELEMENT_BYTES * batch * math.prod(shape)


def peak_activation_values(graph: Graph, shapes: dict[Node, Shape], *, count_input: bool) -> tuple[int, Node | None]:
    """The most activation values (per sample) alive at once, walking the layers in the order they
    are emitted, and the layer while which that peak is reached. A tensor lives from its layer
    until its last consumer has run (the outputs until the end); a layer's scratch while it runs.
    A training-only layer (dropout) is not emitted and makes no tensor. `count_input`: the input
    is alive until its last consumer (run holds it throughout and counts it on its own)."""
    nodes = graph.nodes
    last_use = {node: index for index, node in enumerate(nodes)}
    for index, node in enumerate(nodes):
        for producer in node.inputs:
            last_use[producer] = index
    for _, node in graph.outputs:
        last_use[node] = len(nodes)
    freed_after: dict[int, list[Node]] = {}
    for node, index in last_use.items():
        if node is not nodes[0] or count_input:
            freed_after.setdefault(index, []).append(node)

    def values_of(node: Node) -> int:
        if node.layer is not None and node.layer.training_only:
            return 0
        return math.prod(shapes[node])

    live = values_of(nodes[0]) if count_input else 0
    peak, at = live, None
    for index, (node, layer) in enumerate(graph.layer_nodes(), start=1):
        live += values_of(node)
        running = live + layer.scratch_values([shapes[p] for p in node.inputs])
        if running > peak:
            peak, at = running, node
        live -= sum(values_of(done) for done in freed_after.get(index, ()))
    return peak, at


def kept_bytes(graph: Graph, shapes: dict[Node, Shape], batch: int) -> dict[Node, int]:
    """Per layer, the bytes it adds to what autograd keeps for the backward pass at `batch`: the
    tensors it keeps that no earlier layer keeps (a view is its input's storage), and its own.
    A layer without trainable weights whose inputs need no gradient (they come from the input
    through such layers alone) keeps nothing, as PyTorch records no backward for it."""
    storage: dict[Node, Node] = {graph.nodes[0]: graph.nodes[0]}
    needs_gradient = {graph.nodes[0]: False}
    kept: set[Node] = set()
    result: dict[Node, int] = {}
    for node, layer in graph.layer_nodes():
        in_shapes = [shapes[p] for p in node.inputs]
        storage[node] = storage[node.inputs[0]] if layer.views_input else node
        needs_gradient[node] = layer.params(in_shapes)[0] > 0 or any(needs_gradient[p] for p in node.inputs)
        if not needs_gradient[node]:
            result[node] = 0
            continue
        declared = layer.kept_for_backward(in_shapes, shapes[node])
        named = [node.inputs[i] for i in declared.inputs] + ([node] if declared.output else [])
        fresh = {storage[tensor] for tensor in named} - kept
        kept |= fresh
        per_sample = sum(math.prod(shapes[tensor]) for tensor in fresh) + declared.values
        result[node] = (
            batch * (ELEMENT_BYTES * per_sample + INDEX_BYTES * declared.index_values)
            + ELEMENT_BYTES * declared.fixed_values
        )
    return result
