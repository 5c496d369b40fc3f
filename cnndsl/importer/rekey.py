"""The weights of a structured spec under its own parameter names. Blocks and repetitions name their
layers by the language's rules (`unit3.conv2`), so the spec is checked and each of its layers that
holds parameters is paired with the imported layer in the same place: the spec expands to the
imported layers in the order `structure.flattened` gives, which this verifies layer by layer."""

from __future__ import annotations

import math

import numpy as np

from ..diagnostics import CnnError
from ..model import check_text
from .graph import Layer


class StructureMismatch(RuntimeError):
    """An internal error: the structured spec does not expand to the imported layers."""


def keyed_weights(text: str, origin: str, layers: list[Layer]) -> dict[str, np.ndarray]:
    """The imported layers' weights by the parameter names `cnndsl compile` gives the spec `text`."""
    try:
        model = check_text(text, origin)
    except CnnError as problem:
        raise StructureMismatch(f"the structured spec of {origin} does not check: {problem}") from None
    holders = []
    for node, kind in model.graph.layer_nodes():
        declared = kind.parameters([model.shapes[p] for p in node.inputs])
        if declared:
            holders.append((node.name, {weight.name: math.prod(weight.shape) for weight in declared}))
    imported = [layer for layer in layers if layer.weights]
    if len(holders) != len(imported):
        raise StructureMismatch(f"{len(holders)} layers with parameters in the spec, {len(imported)} imported")
    weights: dict[str, np.ndarray] = {}
    for (name, sizes), layer in zip(holders, imported, strict=True):
        if sizes != {suffix: array.size for suffix, array in layer.weights.items()}:
            raise StructureMismatch(f"the spec's '{name}' ({sizes}) is not the imported '{layer.node_name}'")
        weights.update({f"{name}.{suffix}": np.asarray(a, dtype=np.float32) for suffix, a in layer.weights.items()})
    return weights
