"""Writing an import's spec and weights: both checked before either is written (E503, as compile's
outputs: never over the model or its external data, a directory, or a system file), then each
written atomically (cnndsl.files)."""

from __future__ import annotations

import os
from typing import IO

import numpy as np

from ..diagnostics import CnnError, error, shorten
from ..files import existing_kind, write_atomically
from ..onnx.write import _system_path
from .writing import Spec


def write_outputs(spec: Spec, model_path: str, output: str, weights_out: str | None) -> None:
    """Write the spec to `output` and, if asked, the weights archive to `weights_out`."""
    targets = [output] if weights_out is None else [output, weights_out]
    if weights_out is not None and os.path.abspath(weights_out) == os.path.abspath(output):
        raise _refused(f"the spec and the weights would both be '{shorten(output)}'", "name two files")
    for target in targets:
        _check(target, model_path)
    written: list[str] = []
    try:
        if weights_out is not None:  # straight into the file: a copy in memory first took ResNet-152 0.6 s
            write_atomically(weights_out, lambda out: _save(out, spec.weights))
            written.append(weights_out)
        write_atomically(output, lambda out: out.write(spec.text.encode("utf-8")))
    except OSError as problem:
        for path in written:  # no half of an import: a spec without its weights, or the reverse
            os.remove(path)
        raise _refused(
            f"cannot write '{shorten(str(problem.filename or output))}': {problem.strerror or problem}"
        ) from None


def _check(target: str, model_path: str) -> None:
    shown = shorten(target)
    kind = existing_kind(target)
    if kind == "a directory" or target.endswith(("/", os.sep)):
        raise _refused(f"the output '{shown}' is a directory", "name the file: -o DIR/model.cnn")
    if kind not in (None, "a regular file") or _system_path(target) is not None:
        raise _refused(f"the output '{shown}' is not a regular file", "name a file with -o OUT.cnn")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise _refused(f"the output's directory '{shorten(directory)}' does not exist")
    for protected in (model_path, model_path + ".data"):
        if os.path.exists(protected) and os.path.exists(target) and os.path.samefile(protected, target):
            raise _refused(f"refusing to overwrite the input '{shorten(protected)}'", "choose another output with -o")


def _refused(message: str, help: str | None = None) -> CnnError:
    return CnnError([error("E503", message, None, help=help)])


def _save(out: IO[bytes], weights: dict[str, np.ndarray]) -> int:
    np.savez(out, **weights)  # type: ignore[arg-type]
    return out.tell()
