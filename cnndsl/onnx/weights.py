"""Trained weights from a NumPy .npz archive (`--weights`), keyed by parameter name.

An archive is untrusted input: it can claim any size or inflate to any size (a zip bomb). So the
archive's arrays are matched to the model's parameters by name, then by each member's .npy header
(type and shape), and only then is a member's data read: exactly the bytes that parameter needs
(cnndsl.npy). Nothing the model does not need is read, decompressed or allocated. Every mismatch
is a diagnostic (E501 for a file that is not an archive, E502 for its arrays), reported together.
"""

from __future__ import annotations

import os

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
        expected = {w.name for w in specs}
        unexpected = [key for key in archive.keys if key not in expected]
        missing = [w.name for w in specs if w.name not in archive.keys and not isinstance(w.init, Literal)]
        for spec in specs:
            label = Label(spec.node.source, spec.node.span, f"'{spec.name}' is {shape_text(spec.shape)}")
            if spec.name not in archive.keys:
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
            array = _read_weight(archive, spec, path)
            if isinstance(array, str):  # what is wrong with it
                sink.add(error("E502", array, label))
                continue
            if isinstance(spec.init, Literal):
                fixed = spec.init.draw(None, spec.shape)  # type: ignore[arg-type]  # a Literal draws nothing at random
                if not np.array_equal(array, fixed):
                    sink.add(
                        error(
                            "E502",
                            f"array '{spec.name}' in '{path}' differs from the kernel written in the spec",
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
                help=did_you_mean(name, missing),
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


def _read_weight(archive: npy.Archive, spec: WeightSpec, path: str) -> NDArray[np.float32] | str:
    """Parameter `spec`'s array from the archive as float32, or what is wrong with it (a message).
    The header is checked before any data is read."""
    try:
        header = archive.header(spec.name)
        if not header.is_real:
            return f"array '{spec.name}' in '{path}' has type {npy.dtype_text(header.dtype)}, not a real number type"
        if header.shape != spec.shape:
            return (
                f"array '{spec.name}' in '{path}' has shape {shape_text(header.shape) or '()'}, "
                f"but '{spec.node.name}' needs {shape_text(spec.shape)}"
            )
        array: NDArray[np.float32] = np.ascontiguousarray(archive.read(spec.name, header), dtype="<f4")
    except (npy.NpyError, *npy.READ_ERRORS) as problem:
        return f"array '{spec.name}' in '{path}' cannot be read: {first_line(problem)}"
    if not np.isfinite(array).all():
        return f"array '{spec.name}' in '{path}' contains NaN or infinite values"
    return array
