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

from .diagnostics import CnnError, Diagnostic, error
from .model import CheckedModel, check_file, check_source, check_text
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
]


def check(spec: str | os.PathLike[str], limits: Limits = Limits()) -> CheckedModel:
    """Check a spec given as a path (str or PathLike naming an existing file) or as spec text.

    A one-line string ending in '.cnn' is always a path: when no such file exists, CnnError E105.
    """
    if isinstance(spec, bytes):
        raise TypeError("check() takes spec text (str) or a path (str or os.PathLike), not bytes")
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and os.path.isfile(spec)):
        return check_file(spec, limits)
    if _looks_like_a_spec_path(spec):
        # Checked as text it would be E102 on its '.': report the path instead.
        if os.path.exists(spec):
            return check_file(spec, limits)  # a directory or a device: the reader says which
        raise CnnError(
            [
                error(
                    "E105",
                    f"cannot read '{spec}': no such file",
                    None,
                    help="check() takes spec text or the path of an existing spec file; "
                    "relative paths start from the current directory",
                )
            ]
        )
    return check_text(spec, limits=limits)


def _looks_like_a_spec_path(spec: str | os.PathLike[str]) -> bool:
    """One line ending in '.cnn' is a path (no statement ends so), never spec text."""
    return isinstance(spec, str) and "\n" not in spec and spec.strip().endswith(".cnn")


def compile_model(spec: str | os.PathLike[str] | CheckedModel, **options: Any) -> onnx.ModelProto:
    """Check and compile a spec (path, text or CheckedModel) to an onnx.ModelProto."""
    from .onnx import compile_model as emit

    return emit(spec if isinstance(spec, CheckedModel) else check(spec), **options)


def create_session(model: Any, device: str = "auto", **options: Any) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session for a spec, a CheckedModel, a ModelProto or an .onnx path."""
    from .runtime import create_session as create

    return create(model, device=device, **options)
