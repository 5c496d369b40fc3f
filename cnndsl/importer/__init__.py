"""`cnndsl import`: an ONNX model lifted into a readable spec, and its weights into an .npz archive
keyed by the spec's parameter names. reading.py loads and checks the file, mapping.py (with the
patterns of patterns.py and fused.py) reads its nodes into layers, writing.py writes the spec."""

from __future__ import annotations

from .graph import Graph
from .mapping import layers_of
from .reading import Shape, read_model
from .writing import Spec, write_spec


def import_model(path: str, input_shape: Shape | None = None) -> Spec:
    """The spec and weights of the ONNX model at `path`; CnnError (E7xx) for what cannot be imported."""
    import os

    model = read_model(path, input_shape)
    graph = Graph(model)
    layers, aliases = layers_of(graph)
    outputs = [aliases.get(name, name) for name in graph.outputs]
    return write_spec(layers, model.input_name, model.input_shape, outputs, os.path.basename(path))


__all__ = ["Spec", "import_model"]
