"""cnndsl: a compiler for a small declarative language that describes convolutional networks.

    >>> import cnndsl
    >>> model = cnndsl.check_file("specs/alexnet.cnn")
    >>> model.total_params
    61100840

`cnndsl.compile_model` and `cnndsl.create_session` (ONNX, ONNX Runtime) import onnx lazily, so
importing cnndsl and checking specs stays fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .diagnostics import CnnError, Diagnostic
from .model import CheckedModel, check, check_file, check_source, check_text
from .resolve import Limits
from .version import __version__

if TYPE_CHECKING:  # imported only by compile_model and create_session, when they are called
    import onnx
    import onnxruntime


__all__ = [
    "CheckedModel",
    "CnnError",
    "Diagnostic",
    "Limits",
    "__version__",
    "check",
    "check_file",
    "check_source",
    "check_text",
    "compile_model",
    "create_session",
    "export",
]


def compile_model(spec: str | os.PathLike[str] | CheckedModel, **options: Any) -> onnx.ModelProto:
    """Check and compile a spec (path, text or CheckedModel) to an onnx.ModelProto."""
    from .onnx import compile_model as emit

    return emit(spec if isinstance(spec, CheckedModel) else check(spec), **options)


def create_session(model: Any, device: str = "auto", **options: Any) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session for a spec, a CheckedModel, a ModelProto or an .onnx path."""
    from .runtime import create_session as create

    return create(model, device=device, **options)


def export(spec: str | os.PathLike[str] | CheckedModel, target: str = "pytorch") -> str:
    """The source text of a spec (path, text or CheckedModel) for `target` ("pytorch"): a module
    whose parameters are named and shaped as `compile_model`'s initializers."""
    from .export import export as generate

    return generate(spec if isinstance(spec, CheckedModel) else check(spec), target)
