"""A spec's weights between its own layout and Keras's (`cnndsl weights --layout keras`, `--from keras`).

The spec's layout is the ONNX model's (and PyTorch's state_dict): arrays keyed by parameter name,
`conv1.weight`, channels first. Keras's is the model `cnndsl export --to keras` builds: arrays keyed
by each variable's path, `conv1/kernel` (Keras 3's `Variable.path`, the layer's name and the
variable's), channels last, in the order of the layers' `get_weights()`. So a Keras model takes an
archive with `for variable in model.weights: variable.assign(arrays[variable.path])`. The conversion
is what each kind's `keras_code` declares, the generated file's WEIGHTS table; keras is not imported.

Arrays are checked against the spec before anything is converted: a missing, unexpected or
misshapen array, or one that is not of real numbers or holds NaN, is a located E502, all reported
together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..diagnostics import CnnError, Diagnostic, Label, did_you_mean, error
from ..ir import Node
from ..layers.base import shape_text
from ..model import CheckedModel
from .keras import keras_codes, keras_name

Arrays = Mapping[str, NDArray[np.generic]]

# PyTorch buffers that are not weights, which a state_dict saved as .npz holds: a batch norm's
# count of training batches, beside its running mean.
TORCH_BUFFERS = {"num_batches_tracked": "running_mean"}


class KerasVariable(NamedTuple):
    """One Keras variable and the spec's weight it holds."""

    path: str  # `layer/variable`
    weight: str  # the spec's `layer.weight`
    node: Node
    shape: tuple[int, ...]  # the spec's
    keras_shape: tuple[int, ...]
    reshaped: tuple[int, ...]  # the spec's array reshaped, before its axes are reordered
    axes: tuple[int, ...]


def keras_variables(model: CheckedModel) -> list[KerasVariable]:
    """Every variable of the Keras model, in the order of its layers' weights; E510 as the export."""
    variables = []
    for node, code in keras_codes(model).items():
        assert node.layer is not None  # a layer node
        shapes = {w.name: w.shape for w in node.layer.parameters([model.shapes[p] for p in node.inputs])}
        for weight in code.weights:
            shape = shapes[weight.name]
            reshaped = _resolved(weight.reshape, shape) if weight.reshape else shape
            keras_shape = tuple(reshaped[axis] for axis in weight.axes)
            path, name = f"{keras_name(node.name)}/{weight.variable}", f"{node.name}.{weight.name}"
            variables.append(KerasVariable(path, name, node, shape, keras_shape, reshaped, weight.axes))
    return variables


def spec_weights(model: CheckedModel) -> dict[str, tuple[tuple[int, ...], Node]]:
    """Every parameter of the spec by name: its shape and its layer."""
    return {
        f"{node.name}.{weight.name}": (weight.shape, node)
        for node, layer in model.graph.layer_nodes()
        for weight in layer.parameters([model.shapes[p] for p in node.inputs])
    }


def to_keras(model: CheckedModel, arrays: Arrays, source: str) -> dict[str, NDArray[np.float32]]:
    """The spec's weights (its layout, checked against it) keyed and laid out as Keras's variables."""
    expected = spec_weights(model)
    ignored = {
        name.removesuffix(marker) + buffer
        for name in expected
        for buffer, marker in TORCH_BUFFERS.items()
        if name.endswith(f".{marker}")
    }
    checked = _checked({k: v for k, v in arrays.items() if k not in ignored}, expected, source, "parameter")
    return {v.path: np.transpose(checked[v.weight].reshape(v.reshaped), v.axes) for v in keras_variables(model)}


def from_keras(model: CheckedModel, arrays: Arrays, source: str) -> dict[str, NDArray[np.float32]]:
    """Keras's variables (checked against the spec's Keras model) as the spec's weights."""
    variables = keras_variables(model)
    checked = _checked(arrays, {v.path: (v.keras_shape, v.node) for v in variables}, source, "Keras variable")
    return {v.weight: np.transpose(checked[v.path], np.argsort(v.axes)).reshape(v.shape) for v in variables}


def _resolved(reshape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """`reshape` with its -1 (at most one) worked out for an array of `shape`."""
    known = math.prod(extent for extent in reshape if extent != -1)
    return tuple(math.prod(shape) // known if extent == -1 else extent for extent in reshape)


def _checked(
    arrays: Arrays, expected: dict[str, tuple[tuple[int, ...], Node]], source: str, what: str
) -> dict[str, NDArray[np.float32]]:
    """The expected arrays as float32; E502 for each one missing, misshapen, not real or not
    finite, and for each array nothing expects."""
    problems: list[Diagnostic] = []
    unexpected = [key for key in arrays if key not in expected]
    missing = [key for key in expected if key not in arrays]
    checked = {}
    for key, (shape, node) in expected.items():
        label = Label(node.source, node.span, f"'{key}' is {shape_text(shape)}")
        array = arrays.get(key)
        if array is None:
            message = f"'{source}' has no array '{key}' ({shape_text(shape)})"
            problems.append(error("E502", message, label, help=did_you_mean(key, unexpected)))
        elif array.dtype.kind not in "fiu":
            problems.append(error("E502", f"array '{key}' in '{source}' has type {array.dtype}, not real", label))
        elif tuple(array.shape) != shape:
            shown = shape_text(tuple(array.shape)) or "()"
            message = f"array '{key}' in '{source}' has shape {shown}, but '{node.name}' needs {shape_text(shape)}"
            problems.append(error("E502", message, label))
        elif not np.isfinite(array).all():
            problems.append(error("E502", f"array '{key}' in '{source}' contains NaN or infinite values", label))
        else:
            checked[key] = np.ascontiguousarray(array, dtype=np.float32)
    for key in unexpected:
        message = f"'{source}' has an array '{key}' that is not a {what} of this model"
        problems.append(error("E502", message, None, help=did_you_mean(key, missing)))
    if problems:
        raise CnnError(problems)
    return checked
