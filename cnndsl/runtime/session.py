"""ONNX Runtime sessions: what to load, and on which device.

A session loads serialized bytes or an .onnx path (`model_source`); a spec is checked and compiled
in memory first. Devices: 'cpu'; 'cuda' (E505, listing what is available, when the CUDA execution
provider is missing or does not come up); 'auto' (CUDA when a session really runs on it,
otherwise the CPU). ONNX Runtime's own logging is turned down to errors, and what provider
libraries print while loading goes to stderr, so that nothing but cnndsl's report reaches stdout.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import npy
from ..diagnostics import first_line
from ..model import CheckedModel, check
from ..resolve import Limits
from .failure import fail

if TYPE_CHECKING:
    import onnxruntime

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
_LOG_ERRORS_ONLY = 3


def _ort() -> Any:
    """The onnxruntime module (untyped), imported when first needed, logging errors only; E602
    when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        raise fail(
            "E602",
            "ONNX Runtime is not installed",
            help="install the cpu or the gpu extra: pip install 'cnndsl[cpu]' (or 'cnndsl[gpu]')",
        ) from None

    onnxruntime.set_default_logger_severity(_LOG_ERRORS_ONLY)
    return onnxruntime


# --- what to load -----------------------------------------------------------------------------


def is_onnx_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and os.fspath(value).lower().endswith(".onnx")


def model_source(model: Any, *, limits: Limits = Limits(), **compile_options: Any) -> tuple[bytes | str, str]:
    """What ONNX Runtime loads (serialized bytes or a path) and a description of where it came from.

    model: a spec path or text, a CheckedModel, an onnx.ModelProto, serialized bytes or an .onnx path.
    """
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "serialized model"
    if is_onnx_path(model):
        path = os.fspath(model)
        problem = npy.regular_file_problem(path)  # a FIFO would make ONNX Runtime wait forever
        if problem is not None:
            raise fail("E506", f"cannot load '{path}': {problem}")
        return path, path
    if type(model).__name__ == "ModelProto":
        serialized: bytes = model.SerializeToString()
        return serialized, "ModelProto"
    if not isinstance(model, CheckedModel):
        model = check(model, limits)
    from ..onnx import check_graph_size, plan, protobuf

    result = plan(model, **compile_options)
    check_graph_size(result)
    if result.serialized_size() > protobuf.PROTOBUF_LIMIT:
        raise fail(
            "E506",
            f"'{model.name}' is too large to compile in memory ({result.weight_bytes / 1e9:,.1f} GB of weights)",
            help="compile it to a file first (cnndsl compile) and run the .onnx file",
        )
    buffer = io.BytesIO()
    result.write(buffer)
    return buffer.getvalue(), f"{model.source.path} (compiled in memory, opset {result.opset})"


# --- sessions ---------------------------------------------------------------------------------


def available_providers() -> list[str]:
    return list(_ort().get_available_providers())


def create_session(
    model: Any, device: str = "auto", *, limits: Limits = Limits(), threads: int | None = None, **compile_options: Any
) -> onnxruntime.InferenceSession:
    """An onnxruntime.InferenceSession on `device`; `session.get_providers()[0]` is the one used.

    compile_options (opset, batch, seed, weights) apply when `model` is a spec.
    """
    source, _ = model_source(model, limits=limits, **compile_options)
    return open_session(source, device, threads)


def device_of(session: onnxruntime.InferenceSession) -> str:
    return "cuda" if session.get_providers()[0] == CUDA else "cpu"


def open_session(
    source: bytes | str, device: str, threads: int | None, *, configure: Callable[[Any], None] | None = None
) -> onnxruntime.InferenceSession:
    """A session for `source` (see model_source) on `device`, with `threads` intra-op threads;
    `configure` may set more of its onnxruntime.SessionOptions (`cnndsl profile` turns the profiler on)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    available = available_providers()
    if device == "cuda" and CUDA not in available:
        raise fail(
            "E505",
            "CUDA was requested, but ONNX Runtime has no CUDA execution provider",
            notes=(f"available providers: {', '.join(available)}",),
            help="install the gpu extra (pip install 'cnndsl[gpu]'; not together with the cpu extra) "
            "or use --device cpu",
        )
    if device in ("cuda", "auto") and CUDA in available:
        _preload_cuda_libraries()
        try:
            session = _load(source, [CUDA, CPU], threads, configure)
        except Exception as problem:  # a broken CUDA set-up or a bad model: tell which below
            cuda_problem: Exception | None = problem
            session = None
        else:
            cuda_problem = None
        if session is not None and session.get_providers()[0] == CUDA:
            return session
        if device == "cuda":
            _load_checked(source, threads, configure)  # a model that does not load at all is E506, not a device issue
            raise fail(
                "E505",
                "the CUDA execution provider is installed but did not start",
                notes=((f"ONNX Runtime said: {first_line(cuda_problem)}",) if cuda_problem else ())
                + (f"available providers: {', '.join(available)}",),
                help="check the CUDA 12/13 and cuDNN 9 libraries (onnxruntime.preload_dlls), or use --device cpu",
            )
        if session is not None:  # auto: ONNX Runtime already fell back to the CPU
            return session
    return _load_checked(source, threads, configure)


def _options(threads: int | None, configure: Callable[[Any], None] | None) -> onnxruntime.SessionOptions:
    options = _ort().SessionOptions()
    options.log_severity_level = _LOG_ERRORS_ONLY
    if threads:
        options.intra_op_num_threads = threads
    if configure is not None:
        configure(options)
    return options


def _load(
    source: bytes | str, providers: list[str], threads: int | None, configure: Callable[[Any], None] | None = None
) -> onnxruntime.InferenceSession:
    ort = _ort()
    # Provider libraries may print while loading; keep stdout for cnndsl's own output.
    with contextlib.redirect_stdout(sys.stderr):
        return ort.InferenceSession(source, sess_options=_options(threads, configure), providers=providers)


def _load_checked(
    source: bytes | str, threads: int | None, configure: Callable[[Any], None] | None = None
) -> onnxruntime.InferenceSession:
    """A session on the CPU; E506 when ONNX Runtime cannot load the model."""
    try:
        return _load(source, [CPU], threads, configure)
    except Exception as problem:
        where = source if isinstance(source, str) else "the model"
        raise fail(
            "E506",
            f"ONNX Runtime cannot load {where}: {first_line(problem)}",
            help="is it an ONNX model? (cnndsl compile writes one)",
        ) from None


def _preload_cuda_libraries() -> None:
    preload = getattr(_ort(), "preload_dlls", None)
    if preload is None:
        return
    try:
        with contextlib.redirect_stdout(sys.stderr):
            preload()
    except Exception:  # the session's own start-up reports what is missing
        pass
