"""Code generation: a checked spec as PyTorch or Keras source whose parameters are the compiled model's.

`export(model, "pytorch")` gives the source text (export/pytorch.py); `write_export` writes it to a
file with `cnndsl compile`'s refusals (never over the spec or a file it includes, a directory or a
device) and atomically. Generating code imports neither torch nor keras.
"""

from __future__ import annotations

import os
import sys
import types

from ..diagnostics import CnnError, error, shorten
from ..files import write_atomically
from ..model import CheckedModel, check
from ..onnx.write import _check_output as check_output  # compile's refusals, for any output file
from .keras import keras_source
from .pytorch import pytorch_source

TARGETS = ("pytorch", "keras")


def export(model: CheckedModel, target: str = "pytorch") -> str:
    """The source text of `model` for `target` (one of TARGETS)."""
    if target not in TARGETS:
        raise ValueError(f"unknown export target {target!r}; choose one of {', '.join(TARGETS)}")
    return keras_source(model) if target == "keras" else pytorch_source(model)


def write_export(model: CheckedModel, target: str, output: str) -> None:
    """Write the source for `target` to `output`, checked as `cnndsl compile` checks its output."""
    check_output(output, model, None, what=f"its {target} source")
    data = export(model, target).encode("utf-8")
    try:
        write_atomically(output, lambda out: out.write(data))
    except OSError as problem:
        message = f"cannot write '{shorten(output)}': {problem.strerror or problem}"
        raise CnnError([error("E503", message, None)]) from None


class _CallablePackage(types.ModuleType):
    """`cnndsl.export` is the API's function until this package is imported, which makes the name
    the package's (Python sets a package's submodules as its attributes): so the package is called
    as the function is."""

    def __call__(self, spec: str | os.PathLike[str] | CheckedModel, target: str = "pytorch") -> str:
        return export(spec if isinstance(spec, CheckedModel) else check(spec), target)


sys.modules[__name__].__class__ = _CallablePackage
