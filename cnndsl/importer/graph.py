"""The read ONNX graph as the patterns see it: producers and consumers of each tensor, which tensors
carry data (descend from the input) and which are constants, and the layer records a pattern makes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx

from .reading import Model
from .shape_arithmetic import Shape

# Operators whose output depends on their input's shape only, never on its values.
_SHAPE_ONLY = frozenset({"Shape", "Size"})


@dataclass
class Layer:
    """One spec layer: its words (`conv 3x3/2 64 pad 1`), the data tensors it reads (ONNX names), the
    tensor it makes, its parameters by the suffix the layer kind gives them (`weight`, `bias`, ...),
    and the name its parameters are stored under in the model (`layer1.0.conv1`), if any."""

    words: str
    inputs: list[str]
    output: str
    node_name: str
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    parameter_stem: str | None = None
    takes_tensors: bool = False  # a merge or a resize/crop: every input is written as a tensor name


class Graph:
    """A model's nodes with the relations the patterns ask about."""

    def __init__(self, model: Model):
        self.model = model
        self.nodes = list(model.graph.node)
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        self.data = {model.input_name}
        for node in self.nodes:
            for output in node.output:
                self.producer[output] = node
            for name in node.input:
                self.consumers[name].append(node)
            if node.op_type not in _SHAPE_ONLY and any(name in self.data for name in node.input):
                self.data.update(output for output in node.output if output)
        self.outputs = [value.name for value in model.graph.output]

    def shape(self, tensor: str) -> Shape | None:
        return self.model.shapes.get(tensor)

    def constant(self, tensor: str) -> np.ndarray | None:
        return self.model.constants.get(tensor) if tensor else None

    def is_parameter(self, tensor: str) -> bool:
        """An initializer: a weight of the model, stored under a name worth keeping."""
        return tensor in self.model.initializers

    def readers(self, tensor: str) -> list[onnx.NodeProto]:
        """The nodes reading `tensor`, each once, in the graph's order."""
        return list({id(node): node for node in self.consumers.get(tensor, [])}.values())

    def only_consumer(self, tensor: str) -> onnx.NodeProto | None:
        """The one node reading `tensor`, when exactly one does and it is not a graph output."""
        readers = self.consumers.get(tensor, [])
        return readers[0] if len(readers) == 1 and tensor not in self.outputs else None


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def data_inputs(graph: Graph, node: onnx.NodeProto) -> list[str]:
    return [name for name in node.input if name in graph.data]


def constant_inputs(graph: Graph, node: onnx.NodeProto) -> list[str]:
    return [name for name in node.input if name and name not in graph.data]


def scalar(value: np.ndarray | None) -> float | None:
    """The one value of a constant that holds one (of any shape), else None."""
    if value is None or value.size != 1:
        return None
    return float(value.reshape(-1)[0])
