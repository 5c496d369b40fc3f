"""The spec text of imported layers, and the weights archive keyed by the spec's parameter names.

Layers are written in node order as chains: a layer continues the chain when it reads the previous
layer's result and nothing else does. A tensor read elsewhere, or more than once, ends its chain
and gets a name (`NAME = ...`), which later statements start from. Layers with parameters are
labelled with the module path their parameters had (`layer1.0.conv1` becomes `layer1_0_conv1:`),
so that `cnndsl compile --weights` finds `layer1_0_conv1.weight` in the archive written beside.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..layers import REGISTRY
from .graph import Layer
from .shape_arithmetic import Shape

# Words that cannot be a label or tensor name: the language's keywords, `in`, and every layer kind
# (`relu = ...` would read as a layer).
RESERVED = frozenset(
    {
        "input",
        "output",
        "use",
        "block",
        "in",
        "repeat",
        "residual",
        "shortcut",
        "concat",
        "seq",
        "if",
        "else",
        "as",
        "from",
        "named",
        "when",
        "assert",
    }
) | frozenset(REGISTRY)
_LINE = 100
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]+")


@dataclass
class Spec:
    text: str
    weights: dict[str, np.ndarray]  # by the spec's parameter names
    layers: int


class Names:
    """Unique names in the spec's one scope, labels and tensors together."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str:
        name = _NOT_NAME.sub("_", wanted).strip("_") or "t"
        name = "n" + name if name[0].isdigit() else name + "_out" if name in RESERVED else name
        chosen, suffix = name, 2
        while chosen in self.used:
            chosen, suffix = f"{name}_{suffix}", suffix + 1
        self.used.add(chosen)
        return chosen


def module_path(node_name: str) -> str:
    """A readable path from an exporter's node name: TorchScript's
    '/features/features.4/block/block.0/block.0.0/Conv' is 'features.4.block.0.0' (each scope is a
    module's attribute, then its full name within its parent, then the operator's name)."""
    parts = [part for part in node_name.split("/") if part]
    if len(parts) > 1 and parts[-1][:1].isupper():  # the operator's name ends TorchScript's names
        parts = parts[:-1]
    path: list[str] = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):  # 'block.0' within 'block': the same module, deeper
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path) or node_name


def write_spec(layers: list[Layer], input_name: str, input_shape: Shape, outputs: list[str], header: str) -> Spec:
    names = Names()
    readers = Counter(name for layer in layers for name in layer.inputs)
    readers.update(outputs)
    labels = [
        names.take(layer.parameter_stem or module_path(layer.node_name)) if layer.weights else None for layer in layers
    ]
    tensor_names = {input_name: "in"}
    statements: list[list[str]] = []  # per statement: its parts, the first being its source or merge
    ends: list[str] = []  # each statement's result tensor
    current = None
    for layer, label in zip(layers, labels, strict=True):
        prefix = f"{label}: " if label else ""
        first = layer.inputs[0]
        continues = first == current and readers[first] == 1 and first not in outputs
        operands = layer.inputs[1:] if continues else layer.inputs
        words = layer.words + "".join(f" {{{name}}}" for name in operands) if layer.takes_tensors else layer.words
        if continues:
            statements[-1].append(prefix + words)
        elif layer.takes_tensors:
            statements.append([prefix + words])
        else:
            statements.append([f"{{{first}}}", prefix + words])
        if not continues:
            ends.append(layer.output)
        else:
            ends[-1] = layer.output
        current = layer.output
    referenced = {name for part in (p for s in statements for p in s) for name in re.findall(r"\{([^}]*)\}", part)}
    if len(outputs) > 1 or (ends and ends[-1] != outputs[-1]):
        referenced.update(outputs)
    for layer in layers:
        if layer.output in referenced and layer.output not in tensor_names:
            stem = module_path(layer.node_name)
            kind = layer.words.split()[0]
            tensor_names[layer.output] = names.take(stem if kind in stem else f"{stem}_{kind}")
    lines = [header, f"input {'x'.join(map(str, input_shape))}", ""]
    for parts, end in zip(statements, ends, strict=True):
        text = " -> ".join(parts)
        if len(text) > _LINE:  # one layer a line, as the specs in specs/ break long chains
            text = "\n  -> ".join(parts)
        text = re.sub(r"\{([^}]*)\}", lambda m: tensor_names[m.group(1)], text)
        lines.append(f"{tensor_names[end]} = {text}" if end in referenced else text)
    if len(outputs) > 1 or (ends and ends[-1] != outputs[-1]):
        lines.append("output " + ", ".join(tensor_names[name] for name in outputs))
    weights = {
        f"{label}.{suffix}": np.asarray(array, dtype=np.float32)
        for layer, label in zip(layers, labels, strict=True)
        if label
        for suffix, array in layer.weights.items()
    }
    return Spec("\n".join(lines) + "\n", weights, len(layers))
