"""Trained weights from a NumPy .npz archive (`--weights`), keyed by parameter name.

An archive is untrusted input: it can claim any size or inflate to any size (a zip bomb). So the
archive's arrays are matched to the model's parameters by name, then by each member's .npy header
(type and shape), and only then is a member's data read: exactly the bytes that parameter needs
(cnndsl.npy). Nothing the model does not need is read, decompressed or allocated. Every mismatch
is a diagnostic (E501 for a file that is not an archive, E502 for its arrays), reported together.

A PyTorch `state_dict()` saved unchanged loads too (parameter names are torchvision's module paths):
- a parameter `L.<weight>` of a layer `L` that has no other parameter may be stored as `L` itself
  (torchvision's ConvNeXt keeps its layer scale as a bare nn.Parameter, `features.1.0.layer_scale`);
- an array whose shape differs from the parameter's only by axes of extent 1 is reshaped (a Linear's
  [out, in] for a 1x1 convolution's [out, in, 1, 1]);
- buffers that are not weights are ignored where the layer keeps them (`L.num_batches_tracked` of
  a batch norm `L`); any other key the model has no parameter for is still an error.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection

import numpy as np
from numpy.typing import NDArray

from .. import npy
from ..diagnostics import CnnError, DiagnosticSink, Label, did_you_mean, error, first_line
from ..layers.base import shape_text
from ..layers.initializers import Literal
from .tape import WeightSpec

_SAVE_HELP = "save trained weights with numpy.savez(path, **{'conv1.weight': array, ...})"


def load_npz(path: str | os.PathLike[str]) -> dict[str, NDArray[np.generic]]:
    """Every array of an .npz archive, whole (for archives known to fit in memory; `--weights`
    reads only what the model needs); E501 for a file that is not one, E502 for a bad array."""
    path = os.fspath(path)
    arrays: dict[str, NDArray[np.generic]] = {}
    sink = DiagnosticSink()
    with _open_npz(path) as archive:
        for key in archive.keys:
            try:
                arrays[key] = archive.read(key, archive.header(key))
            except (npy.NpyError, *npy.READ_ERRORS) as problem:
                sink.add(error("E502", f"array '{key}' in '{path}' cannot be read: {first_line(problem)}", None))
    sink.raise_if_errors()
    return arrays


def attach_weights(specs: list[WeightSpec], path: str | os.PathLike[str]) -> None:
    """Set each parameter's `array` from the archive at `path`; CnnError listing every mismatch.
    A parameter written in the spec (a Literal kernel) needs no array, and the archive's must
    equal it."""
    path = os.fspath(path)
    sink = DiagnosticSink()
    with _open_npz(path) as archive:
        keys = _archive_keys(specs, archive.keys)
        expected = {w.name for w in specs}
        unexpected = [
            key for key in archive.keys if key not in keys.values() and not _is_known_non_weight(key, expected)
        ]
        missing = [w.name for w in specs if w.name not in keys and not isinstance(w.init, Literal)]
        sole_parameters = _sole_parameters(specs)
        for spec in specs:
            label = Label(spec.node.source, spec.node.span, f"'{spec.name}' is {shape_text(spec.shape)}")
            key = keys.get(spec.name)
            if key is None:
                if not isinstance(spec.init, Literal):  # hand-crafted kernels come from the spec
                    # the likely mistake: this parameter saved under a mistyped name
                    sink.add(
                        error(
                            "E502",
                            f"'{path}' has no array '{spec.name}' ({shape_text(spec.shape)})",
                            label,
                            help=did_you_mean(spec.name, unexpected),
                        )
                    )
                continue
            array = _read_weight(archive, key, spec, path)
            if isinstance(array, str):  # what is wrong with it
                sink.add(error("E502", array, label))
                continue
            if isinstance(spec.init, Literal):
                fixed = spec.init.draw(None, spec.shape)  # type: ignore[arg-type]  # a Literal draws nothing at random
                if not np.array_equal(array, fixed):
                    sink.add(
                        error(
                            "E502",
                            f"array '{key}' in '{path}' differs from the kernel written in the spec",
                            label,
                            notes=["weights given in the spec are fixed"],
                            help="remove the array from the archive or change the spec",
                        )
                    )
                continue
            spec.array = array
    for name in unexpected:
        sink.add(
            error(
                "E502",
                f"'{path}' has an array '{name}' that is not a parameter of this model",
                None,
                help=_also_given(sole_parameters.get(name), keys) or did_you_mean(name, missing),
            )
        )
    sink.raise_if_errors()


def _open_npz(path: str) -> npy.Archive:
    """The archive at `path`, opened member by member; E501 unless it is a regular file holding a zip."""

    def fail(message: str, help: str | None = None) -> CnnError:
        return CnnError([error("E501", f"cannot read weights file '{path}': {message}", None, help=help)])

    try:
        handle = npy.open_regular(path)
    except npy.NpyError as problem:
        raise fail(str(problem)) from None
    except OSError as problem:
        raise fail(problem.strerror or str(problem)) from None
    try:
        if handle.read(len(npy.MAGIC)) == npy.MAGIC:
            raise fail("it holds a single array, not an .npz archive keyed by parameter name", help=_SAVE_HELP)
        handle.seek(0)
        return npy.Archive(handle)
    except CnnError:
        handle.close()
        raise
    except npy.READ_ERRORS:
        handle.close()
        raise fail("it is not a NumPy .npz archive", help=_SAVE_HELP) from None


# PyTorch buffers that are not weights, each with the parameter that marks a layer keeping it: a
# batch norm's count of training batches (used only to train with momentum=None).
_NON_WEIGHTS = {"num_batches_tracked": "running_mean"}


def _is_known_non_weight(key: str, parameters: set[str]) -> bool:
    layer, _, buffer = key.rpartition(".")
    marker = _NON_WEIGHTS.get(buffer)
    return marker is not None and f"{layer}.{marker}" in parameters


def _sole_parameters(specs: list[WeightSpec]) -> dict[str, str]:
    """Each layer that has exactly one parameter, by name, with that parameter's name."""
    layer_of = {spec.name: spec.name.rpartition(".")[0] for spec in specs}
    parameter_count = Counter(layer_of.values())
    return {layer: name for name, layer in layer_of.items() if parameter_count[layer] == 1}


def _archive_keys(specs: list[WeightSpec], keys: Collection[str]) -> dict[str, str]:
    """The archive key holding each parameter that has one: its own name, else, for a layer's
    only parameter, the layer's name (a bare nn.Parameter in PyTorch)."""
    found = {spec.name: spec.name for spec in specs if spec.name in keys}
    for layer, name in _sole_parameters(specs).items():
        if name not in found and layer in keys:
            found[name] = layer
    return found


def _also_given(parameter: str | None, found: dict[str, str]) -> str | None:
    """Help for a layer's name left unused because its only parameter is stored under its own name."""
    if parameter is not None and found.get(parameter) == parameter:
        return f"'{parameter}' holds the same parameter: keep one of the two"
    return None


def _read_weight(archive: npy.Archive, key: str, spec: WeightSpec, path: str) -> NDArray[np.float32] | str:
    """Parameter `spec`'s array, stored under `key`, as float32, or what is wrong with it (a
    message). The header is checked before any data is read."""
    try:
        header = archive.header(key)
        if not header.is_real:
            return f"array '{key}' in '{path}' has type {npy.dtype_text(header.dtype)}, not a real number type"
        if _without_unit_axes(header.shape) != _without_unit_axes(spec.shape):
            return (
                f"array '{key}' in '{path}' has shape {shape_text(header.shape) or '()'}, "
                f"but '{spec.node.name}' needs {shape_text(spec.shape)}"
            )
        array = archive.read(key, header).reshape(spec.shape)  # only axes of extent 1 differ
        weight: NDArray[np.float32] = np.ascontiguousarray(array, dtype="<f4")
    except (npy.NpyError, *npy.READ_ERRORS) as problem:
        return f"array '{key}' in '{path}' cannot be read: {first_line(problem)}"
    if not np.isfinite(weight).all():
        return f"array '{key}' in '{path}' contains NaN or infinite values"
    return weight


def _without_unit_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape without its axes of extent 1: shapes equal by this hold the same values in the same
    order (a Linear's [out, in] and a 1x1 convolution's [out, in, 1, 1])."""
    return tuple(extent for extent in shape if extent != 1)
