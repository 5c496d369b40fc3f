"""The module tree of a generated model: the layers' dotted names (`layer3.2.conv1`) as nested modules.

A layer's parameters are `NAME.weight` in the compiled ONNX model, so its module must sit at the
path NAME of the generated one: every prefix of a name (`layer3`, `layer3.2`) is a container. A
container that takes one tensor in and gives one out is *callable*: its parent calls it, and it
is an `nn.Sequential` where its children are numbered and chained, or a class of its own. Any
other container is a plain holder of modules (`nn.ModuleList`, `nn.ModuleDict` or a class without
`forward`), whose layers the nearest callable ancestor computes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..ir import Graph, Node
from ..layers.framework import TorchCode

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_STEM_NUMBER = re.compile(r"([A-Za-z_]\w*?)(\d+)\Z")


@dataclass(eq=False)
class Container:
    path: str  # dotted; "" for the model itself
    depth: int  # how many name parts `path` has
    children: dict[str, Container | Node] = field(default_factory=dict)  # attribute -> module
    nodes: list[Node] = field(default_factory=list)  # every layer within, in graph order
    inputs: list[Node] = field(default_factory=list)  # tensors from outside that layers within read
    outputs: list[Node] = field(default_factory=list)  # layers within whose tensor is read outside
    form: str = "class"  # class | sequential | list | dict

    @property
    def callable(self) -> bool:
        return self.form in ("class", "sequential") and len(self.inputs) == 1 and len(self.outputs) == 1


def module_tree(graph: Graph, codes: dict[Node, TorchCode]) -> Container:
    """The model's containers, each with its layers, inputs and outputs, and its form decided."""
    root = Container("", 0, inputs=[graph.input], outputs=[node for _, node in graph.outputs])
    for node, _ in graph.layer_nodes():
        parts = node.name.split(".")
        container = root
        container.nodes.append(node)
        for depth, part in enumerate(parts[:-1], start=1):
            child = container.children.get(part)
            if not isinstance(child, Container):  # a layer named like a container stays a layer's name only
                child = Container(".".join(parts[:depth]), depth)
                container.children[part] = child
            container = child
            container.nodes.append(node)
        if codes[node].module is not None:
            container.children[parts[-1]] = node
    users = graph.consumers()
    graph_outputs = {node for _, node in graph.outputs}
    _settle(root, users, graph_outputs, codes)
    return root


def _settle(
    container: Container, users: dict[Node, list[Node]], graph_outputs: set[Node], codes: dict[Node, TorchCode]
) -> None:
    """Decide the forms of the containers below `container`, innermost first, and drop those that
    hold no module (their layers are computed by an ancestor, like any layer without a module)."""
    for key, child in list(container.children.items()):
        if not isinstance(child, Container):
            continue
        _settle(child, users, graph_outputs, codes)
        inside = set(child.nodes)
        child.inputs = list(dict.fromkeys(p for node in child.nodes for p in node.inputs if p not in inside))
        child.outputs = [
            node for node in child.nodes if node in graph_outputs or any(u not in inside for u in users[node])
        ]
        if not child.children:
            del container.children[key]
            continue
        child.form = _form(child, codes)


def _form(container: Container, codes: dict[Node, TorchCode]) -> str:
    keys = list(container.children)
    if all(_IDENTIFIER.match(key) for key in keys):
        return "class"
    if not all(key.isdigit() for key in keys):
        return "dict"
    if _chained(container, codes):
        return "sequential"
    return "list" if [int(key) for key in keys] == list(range(len(keys))) else "dict"


def numbered_chain(container: Container, codes: dict[Node, TorchCode]) -> tuple[str, int] | None:
    """(stem, first number) where the children are named one stem and consecutive numbers
    (`denselayer1`, `denselayer2`: a `repeat named`) and form one chain, as an `nn.Sequential`'s."""
    found = [_STEM_NUMBER.match(key) for key in container.children]
    if not found or any(match is None for match in found):
        return None
    stems = {match.group(1) for match in found if match}
    numbers = sorted(int(match.group(2)) for match in found if match)
    if len(stems) != 1 or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None
    stem = stems.pop()
    if not _chained(container, codes, {key: int(key.removeprefix(stem)) - numbers[0] for key in container.children}):
        return None
    return stem, numbers[0]


def _chained(container: Container, codes: dict[Node, TorchCode], positions: dict[str, int] | None = None) -> bool:
    """Whether the children, in the order of their numbers (`positions`, or the keys themselves),
    are one chain from the container's input to its output, with no other layer in between and
    no number left out (a layer's activation suffix takes the number after its own, as in `seq`)."""
    if len(container.inputs) != 1 or len(container.outputs) != 1:
        return False
    position = positions or {key: int(key) for key in container.children}
    expected, previous = 0, container.inputs[0]
    covered: set[Node] = set()
    for key in sorted(container.children, key=position.__getitem__):
        child = container.children[key]
        if position[key] != expected:
            return False
        if isinstance(child, Container):
            if not child.callable or child.inputs != [previous]:
                return False
            previous = child.outputs[0]
            covered.update(child.nodes)
            expected += 1
            continue
        code = codes[child]
        if code.call != "{m}({x})" or list(child.inputs) != [previous]:
            return False
        previous = child
        covered.add(child)
        expected += 2 if code.activation else 1
    return previous == container.outputs[0] and covered == set(container.nodes)


def access(container: Container, key: str) -> str:
    """How the container's child `key` is reached from the container: `.conv1`, `[0]`, `["0"]`."""
    if container.form in ("sequential", "list"):
        return f"[{key}]"
    if container.form == "dict":
        return f'["{key}"]'
    return f".{key}"
