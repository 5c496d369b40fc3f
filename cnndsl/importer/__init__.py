"""`cnndsl import`: an ONNX model lifted into a readable spec, and its weights into an .npz archive
keyed by the spec's parameter names. reading.py loads and checks the file (shape_arithmetic.py
evaluates what exporters compute from the input's shape), mapping.py reads its nodes into layers
with the patterns of patterns.py (one node), fused.py, arithmetic.py (modules spelled as arithmetic)
and channels_last.py (modules between two transposes); structure.py recovers residual, concat and
gate constructs, blocks.py writes them with blocks and repeats, rekey.py keys the weights by the
structured spec's names; writing.py writes the flat spec of a graph with no such structure."""

from __future__ import annotations

import os

from ..diagnostics import shorten
from .blocks import write_structured
from .graph import Graph
from .mapping import layers_of
from .reading import fail, read_model
from .rekey import keyed_weights
from .shape_arithmetic import Shape
from .structure import flattened, structure
from .writing import Spec, write_spec


def import_model(path: str, input_shape: Shape | None = None) -> Spec:
    """The spec and weights of the ONNX model at `path`; CnnError (E7xx) for what cannot be imported."""
    model = read_model(path, input_shape)
    graph = Graph(model)
    layers, aliases = layers_of(graph)
    outputs = [aliases.get(name, name) for name in graph.outputs]
    origin = os.path.basename(path)
    if not layers:  # Identity, a one-tensor Concat ...: a spec needs at least one layer (E218)
        raise fail("E703", f"'{shorten(path)}' has no layer: its output is its input", help="a spec is a network")
    items = structure(layers, model.input_name, outputs)
    if items is None:
        header = (
            f"# Imported from {origin} by cnndsl import, written flat: its forks and merges are not all\n"
            "# residual or concat paths, so they are named tensors."
        )
        return write_spec(layers, model.input_name, model.input_shape, outputs, header)
    header = (
        f"# Imported from {origin} by cnndsl import: residual and concat paths recovered, repeated units as blocks."
    )
    text = write_structured(items, model.input_shape, header)
    return Spec(text, keyed_weights(text, origin, list(flattened(items))), len(layers))


__all__ = ["Spec", "import_model"]
