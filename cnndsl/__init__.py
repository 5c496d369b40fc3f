"""cnndsl: a compiler for a small declarative language that describes convolutional networks.

    >>> import cnndsl
    >>> model = cnndsl.check_file("specs/alexnet.cnn")
    >>> model.total_params
    61100840

`cnndsl.compile_model` and `cnndsl.create_session` (ONNX, ONNX Runtime) import onnx lazily, so
importing cnndsl and checking specs stays fast.
"""

from __future__ import annotations

from typing import Any

from .diagnostics import CnnError, Diagnostic
from .model import CheckedModel, check_file, check_source, check_text
from .resolve import Limits

__version__ = "0.1.0"

__all__ = ["CheckedModel", "CnnError", "Diagnostic", "Limits", "__version__", "check", "check_file",
           "check_source", "check_text", "compile_model", "create_session"]


def check(spec: Any, limits: Limits = Limits()) -> CheckedModel:
    """Check a spec given as a path (str or PathLike naming an existing file) or as spec text."""
    import os

    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and os.path.isfile(spec)):
        return check_file(spec, limits)
    return check_text(spec, limits=limits)


def compile_model(spec: Any, **options: Any):
    """Check and compile a spec (path, text or CheckedModel) to an onnx.ModelProto."""
    from .onnx_emit import compile_model as emit

    return emit(spec if isinstance(spec, CheckedModel) else check(spec), **options)


def create_session(model: Any, device: str = "auto", **options: Any):
    """An ONNX Runtime session for a spec, a CheckedModel, a ModelProto or an .onnx path."""
    from .runtime import create_session as create

    return create(model, device=device, **options)
