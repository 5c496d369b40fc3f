"""Calibration data for int8 quantization (`compile --precision int8 --calibrate DATA`).

Static quantization fixes every activation's int8 range ahead of time from the values it takes on
the calibration samples; the ranges are only as good as the samples. So the data is checked before
anything is quantized, and each mistake is its own diagnostic:

- E802: it cannot be read: missing, not an .npy/.npz array, an .npz of several arrays, a folder
  with no .npy file;
- E803: its samples do not fit the model's input (shape, or a type other than floating point:
  uint8 images are a sign that they were not normalised as the model's inputs are);
- E804: it holds NaN or infinity, which would make every range downstream meaningless;
- E805: it holds fewer than MIN_SAMPLES samples.

DATA is an .npy array (N x the input's shape, or one sample), an .npz archive of one such array, or
a folder of .npy files, each one sample or a batch, taken in name order. Files are read with
cnndsl.npy, which trusts nothing a header claims.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .. import npy
from ..diagnostics import CnnError, error, first_line, shorten

# Fewer samples than this cannot stand for the inputs the model will see: each activation's range
# would be set by a handful of values. ONNX Runtime's guidance is a few hundred.
MIN_SAMPLES = 16
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Calibration:
    """Checked calibration samples (float32, N x the model's input shape) and how ranges are taken
    from them: 'minmax', 'entropy' or 'percentile'."""

    samples: NDArray[np.float32]
    source: str
    method: str = "minmax"

    def __post_init__(self) -> None:
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {self.method!r}")


def load_calibration(path: str | os.PathLike[str], input_shape: tuple[int, ...], method: str = "minmax") -> Calibration:
    """The samples at `path`, checked against `input_shape` (one sample's: channels and extents,
    no batch axis). Raises CnnError (E802-E805)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(entry for entry in os.listdir(path) if entry.lower().endswith(".npy"))
        if not files:
            raise _failure(
                "E802",
                f"the calibration folder '{shorten(path)}' holds no .npy file",
                help="save the samples with numpy.save, one file per sample or per batch",
            )
        arrays = [_read(os.path.join(path, name), input_shape) for name in files]
        samples = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    else:
        samples = _read(path, input_shape)
    _check_values(samples, path)
    return Calibration(samples, path, method)


def _read(path: str, input_shape: tuple[int, ...]) -> NDArray[np.float32]:
    """One file's samples as N x input_shape float32; the header is checked before the data is read."""
    try:
        handle = npy.open_regular(path)
    except (npy.NpyError, OSError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else first_line(problem)
        raise _failure("E802", f"cannot read calibration data '{shorten(path)}': {reason.lower()}") from None
    try:
        with handle:
            if handle.read(len(npy.ZIP_MAGIC)) == npy.ZIP_MAGIC:
                handle.seek(0)
                with npy.Archive(handle) as archive:
                    if len(archive.keys) != 1:
                        names = ", ".join(sorted(archive.keys)) or "none"
                        raise _failure(
                            "E802",
                            f"the calibration archive '{shorten(path)}' holds {len(archive.keys)} arrays ({names}); "
                            "it must hold one",
                            help="save the input samples alone: numpy.savez(path, samples)",
                        )
                    (key,) = archive.keys
                    header = archive.header(key)
                    shape = _sample_shape(header, path, input_shape)
                    return _as_samples(archive.read(key, header), shape)
            handle.seek(0)
            header = npy.read_header(handle)
            shape = _sample_shape(header, path, input_shape)
            return _as_samples(npy.read_data(handle, header), shape)
    except (npy.NpyError, *npy.READ_ERRORS) as problem:
        raise _failure(
            "E802",
            f"cannot read calibration data '{shorten(path)}': {first_line(problem)}",
            help="save the samples with numpy.save(path, array) or numpy.savez(path, array)",
        ) from None


def _sample_shape(header: npy.Header, path: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The samples' shape, batch axis included (a single sample gets one): E803 unless floating
    point numbers of the model's input shape."""
    expected = "x".join(map(str, input_shape))
    if header.dtype.kind != "f":
        raise _failure(
            "E803",
            f"calibration data '{shorten(path)}' holds {npy.dtype_text(header.dtype)} values; "
            f"the model's input is float32",
            help="calibrate on the inputs exactly as the model will see them: converted to float and "
            "normalised as in training",
        )
    shape = (1, *header.shape) if header.shape == input_shape else header.shape
    if shape[1:] != input_shape:
        raise _failure(
            "E803",
            f"calibration data '{shorten(path)}' has shape {npy.shape_text(header.shape)}, "
            f"but the model's input is Nx{expected}",
            notes=("N is the number of samples; a file of one sample may omit it",),
        )
    return shape


def _as_samples(array: NDArray[np.floating], shape: tuple[int, ...]) -> NDArray[np.float32]:
    return np.ascontiguousarray(array.reshape(shape), dtype=np.float32)


def _check_values(samples: NDArray[np.float32], path: str) -> None:
    finite = np.isfinite(samples)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(len(samples), -1).all(axis=1))
        raise _failure(
            "E804",
            f"calibration data '{shorten(path)}' holds NaN or infinity in {len(bad):,} of "
            f"{len(samples):,} samples (first: sample {bad[0]})",
            help="drop or repair those samples: one of them would set the ranges of every layer after it",
        )
    if len(samples) < MIN_SAMPLES:
        raise _failure(
            "E805",
            f"calibration data '{shorten(path)}' holds {len(samples):,} sample{'s' if len(samples) != 1 else ''}; "
            f"int8 calibration needs at least {MIN_SAMPLES}",
            notes=("each activation's int8 range is fixed by the values it takes on these samples",),
            help="give a few hundred samples drawn like the inputs the model will serve, e.g. from the training set",
        )


def _failure(code: str, message: str, *, notes: tuple[str, ...] = (), help: str | None = None) -> CnnError:
    return CnnError([error(code, message, None, notes=notes, help=help)])
