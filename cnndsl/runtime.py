"""Running models in ONNX Runtime: sessions on a chosen device, and `cnndsl run`'s report.

Devices: 'cpu'; 'cuda' (an error, listing what is available, when the CUDA execution provider is
missing or does not come up); 'auto' (CUDA when a session really runs on it, otherwise the CPU).
ONNX Runtime's own logging is turned down to errors, so that nothing but cnndsl's report reaches
stdout.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .diagnostics import CnnError, Diagnostic, error
from .model import CheckedModel, check_file
from .resolve import Limits

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
_LOG_ERRORS_ONLY = 3


def _ort():
    import onnxruntime

    onnxruntime.set_default_logger_severity(_LOG_ERRORS_ONLY)
    return onnxruntime


def _fail(code: str, message: str, *, notes: tuple[str, ...] = (), help: str | None = None) -> CnnError:
    return CnnError([error(code, message, None, notes=notes, help=help)])


# --- what to load -----------------------------------------------------------------------------

def _is_onnx_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and os.fspath(value).lower().endswith(".onnx")


def model_source(model: Any, *, limits: Limits = Limits(), **compile_options: Any) -> tuple[Any, str]:
    """What ONNX Runtime loads (serialized bytes or a path) and a description of where it came from.

    model: a spec path or text, a CheckedModel, an onnx.ModelProto, serialized bytes or an .onnx path.
    """
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "serialized model"
    if _is_onnx_path(model):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise _fail("E506", f"cannot load '{path}': " + ("it is a directory" if os.path.isdir(path)
                                                                else "no such file"))
        return path, path
    if type(model).__name__ == "ModelProto":
        return model.SerializeToString(), "ModelProto"
    if not isinstance(model, CheckedModel):
        from . import check

        model = check(model, limits)
    from . import onnx_emit

    result = onnx_emit.plan(model, **compile_options)
    if result.serialized_size() > onnx_emit.PROTOBUF_LIMIT:
        raise _fail("E506", f"'{model.name}' is too large to compile in memory "
                            f"({result.weight_bytes / 1e9:,.1f} GB of weights)",
                    help="compile it to a file first (cnndsl compile) and run the .onnx file")
    import io

    buffer = io.BytesIO()
    result.write(buffer)
    return buffer.getvalue(), f"{model.source.path} (compiled in memory, opset {result.opset})"


# --- sessions ---------------------------------------------------------------------------------

def available_providers() -> list[str]:
    return list(_ort().get_available_providers())


def create_session(model: Any, device: str = "auto", *, limits: Limits = Limits(),
                   threads: int | None = None, **compile_options: Any):
    """An onnxruntime.InferenceSession on `device`; `session.get_providers()[0]` is the one used.

    compile_options (opset, batch, seed, weights) apply when `model` is a spec.
    """
    source, _ = model_source(model, limits=limits, **compile_options)
    return _session(source, device, threads)


def _options(threads: int | None):
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = _LOG_ERRORS_ONLY
    if threads:
        options.intra_op_num_threads = threads
    return options


def _load(source: Any, providers: list[str], threads: int | None):
    ort = _ort()
    # Provider libraries may print while loading; keep stdout for cnndsl's own output.
    with contextlib.redirect_stdout(sys.stderr):
        return ort.InferenceSession(source, sess_options=_options(threads), providers=providers)


def _session(source: Any, device: str, threads: int | None):
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    available = available_providers()
    if device == "cuda" and CUDA not in available:
        raise _fail("E505", "CUDA was requested, but ONNX Runtime has no CUDA execution provider",
                    notes=(f"available providers: {', '.join(available)}",),
                    help="install the gpu extra (pip install 'cnndsl[gpu]'; not together with the cpu extra) "
                         "or use --device cpu")
    if device in ("cuda", "auto") and CUDA in available:
        _preload_cuda_libraries()
        try:
            session = _load(source, [CUDA, CPU], threads)
        except Exception as problem:  # a broken CUDA set-up or a bad model: tell which below
            cuda_problem: Exception | None = problem
            session = None
        else:
            cuda_problem = None
        if session is not None and session.get_providers()[0] == CUDA:
            return session
        if device == "cuda":
            _load_checked(source, threads)  # a model that does not load at all is E506, not a device issue
            raise _fail("E505", "the CUDA execution provider is installed but did not start",
                        notes=((f"ONNX Runtime said: {_first_line(cuda_problem)}",) if cuda_problem else ())
                        + (f"available providers: {', '.join(available)}",),
                        help="check the CUDA 12/13 and cuDNN 9 libraries (onnxruntime.preload_dlls), "
                             "or use --device cpu")
        if session is not None:  # auto: ONNX Runtime already fell back to the CPU
            return session
    return _load_checked(source, threads)


def _load_checked(source: Any, threads: int | None):
    try:
        return _load(source, [CPU], threads)
    except Exception as problem:
        where = source if isinstance(source, str) else "the model"
        raise _fail("E506", f"ONNX Runtime cannot load {where}: {_first_line(problem)}",
                    help="is it an ONNX model? (cnndsl compile writes one)") from None


def _first_line(problem: BaseException | None) -> str:
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__


def _preload_cuda_libraries() -> None:
    ort = _ort()
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        with contextlib.redirect_stdout(sys.stderr):
            preload()
    except Exception:  # the session's own start-up reports what is missing
        pass


def device_of(session) -> str:
    return "cuda" if session.get_providers()[0] == CUDA else "cpu"


# --- cnndsl run -------------------------------------------------------------------------------

@dataclass
class OutputStat:
    name: str
    array: np.ndarray
    top: list[list[tuple[int, float]]] = field(default_factory=list)  # per sample: (index, probability)
    softmaxed: bool = False

    def render(self) -> list[str]:
        a = self.array
        lines = [f"output:  {self.name} {'x'.join(map(str, a.shape))} {a.dtype}"]
        if self.top:
            source = "softmax of the outputs" if self.softmaxed else "outputs are probabilities"
            for index, top in enumerate(self.top[:4]):
                cells = ", ".join(f"{i} ({p:.4f})" for i, p in top)
                lines.append(f"  top-{len(top)} sample {index}: {cells}")
            if len(self.top) > 4:
                lines.append(f"  ... {len(self.top) - 4} more samples")
            lines.append(f"  ({source})")
        if a.size:
            finite = a[np.isfinite(a)] if np.issubdtype(a.dtype, np.floating) else a
            if finite.size:
                lines.append(f"  min {finite.min():.6g}, max {finite.max():.6g}, mean {finite.mean():.6g}, "
                             f"std {finite.std():.6g}")
            if finite.size != a.size:
                lines.append(f"  {a.size - finite.size:,} values are NaN or infinite")
        return lines


@dataclass
class RunReport:
    model: str
    device: str
    providers: list[str]
    input_name: str
    input_shape: tuple[int, ...]
    input_source: str
    outputs: list[OutputStat]
    latencies: list[float]  # seconds, one per timed run
    warnings: list[Diagnostic] = field(default_factory=list)  # the spec's lint, for a .cnn

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)

    def render(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        lines = [f"model:   {self.model}",
                 f"device:  {self.device} ({self.providers[0]})",
                 f"input:   {self.input_name} {shape} float32, {self.input_source}"]
        for output in self.outputs:
            lines.extend(output.render())
        runs = len(self.latencies)
        lines.append(f"latency: median {self.median * 1e3:.3f} ms over {runs} run{'s' if runs != 1 else ''} "
                     f"(min {min(self.latencies) * 1e3:.3f} ms, max {max(self.latencies) * 1e3:.3f} ms; "
                     f"after 1 warm-up run), batch {self.input_shape[0]}")
        return "\n".join(lines)


def run_file(path: str | os.PathLike, *, device: str = "auto", batch: int | None = None,
             input_path: str | os.PathLike | None = None, repeat: int = 10, seed: int = 0,
             limits: Limits = Limits(), threads: int | None = None, **compile_options: Any) -> RunReport:
    """Load a .cnn or .onnx file, run it `repeat` times after one warm-up, and report."""
    path = os.fspath(path)
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    model: Any = path if _is_onnx_path(path) else check_file(path, limits)
    source, description = model_source(model, limits=limits, **compile_options)
    session = _session(source, device, threads)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise _fail("E507", f"the model has {len(inputs)} inputs; cnndsl run feeds exactly one",
                    notes=tuple(f"input '{i.name}' {i.shape}" for i in inputs))
    spec = inputs[0]
    if input_path is not None:
        x, origin = _read_input(os.fspath(input_path), spec, batch)
    else:
        x, origin = _random_input(spec, batch, seed)
    feed = {spec.name: x}
    names = [o.name for o in session.get_outputs()]
    try:
        results = session.run(names, feed)  # warm-up
        latencies = []
        for _ in range(repeat):
            start = time.perf_counter()
            results = session.run(names, feed)
            latencies.append(time.perf_counter() - start)
    except Exception as problem:
        raise _fail("E506", f"ONNX Runtime failed to run the model: {_first_line(problem)}") from None
    outputs = [_describe_output(name, np.asarray(value)) for name, value in zip(names, results)]
    return RunReport(description, device_of(session), session.get_providers(), spec.name, tuple(x.shape),
                     origin, outputs, latencies, list(getattr(model, "warnings", [])))


def _fixed_dims(spec) -> tuple[Any, list[Any]]:
    if not spec.shape:
        raise _fail("E507", f"input '{spec.name}' is a scalar; cnndsl run feeds a batch of tensors")
    return spec.shape[0], list(spec.shape[1:])


def _random_input(spec, batch: int | None, seed: int) -> tuple[np.ndarray, str]:
    if spec.type != "tensor(float)":
        raise _fail("E507", f"input '{spec.name}' has type {spec.type}; random inputs are float only",
                    help="give an input array with --input x.npy")
    model_batch, dims = _fixed_dims(spec)
    if any(not isinstance(d, int) for d in dims):
        raise _fail("E507", f"input '{spec.name}' has symbolic dimensions {spec.shape}",
                    help="give an input array with --input x.npy")
    if isinstance(model_batch, int):
        if batch is not None and batch != model_batch:
            raise _fail("E507", f"the model was compiled for a batch of {model_batch}, not {batch}",
                        help="leave --batch out, or compile without --batch for a symbolic batch")
        batch = model_batch
    batch = batch or 1
    shape = (batch, *dims)
    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    return x, f"random normal (seed {seed})"


def _read_input(path: str, spec, batch: int | None) -> tuple[np.ndarray, str]:
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise _fail("E507", f"cannot read input '{path}': no such file") from None
    except (OSError, ValueError) as problem:
        raise _fail("E507", f"cannot read input '{path}': it is not a NumPy .npy array ({_first_line(problem)})",
                    help="save the input with numpy.save(path, array)") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise _fail("E507", f"input '{path}' is an .npz archive; give one array saved with numpy.save")
    if x.dtype.kind not in "fiu":
        raise _fail("E507", f"input '{path}' has type {x.dtype}, not a real number type")
    model_batch, dims = _fixed_dims(spec)
    if len(x.shape) == len(dims):  # a single sample without the batch axis
        x = x[np.newaxis]
    expected = "x".join(str(d) if isinstance(d, int) else "N" for d in spec.shape)
    fits = len(x.shape) == len(spec.shape) and all(
        not isinstance(d, int) or d == n for d, n in zip(spec.shape, x.shape))
    if not fits:
        raise _fail("E507", f"input '{path}' has shape {'x'.join(map(str, x.shape))}, but the model takes "
                            f"{expected}", notes=("N is the batch size; a single sample may omit it",))
    if batch is not None and batch != x.shape[0]:
        raise _fail("E507", f"input '{path}' holds a batch of {x.shape[0]}, but --batch {batch} was given")
    return np.ascontiguousarray(x, dtype=np.float32), path


def _describe_output(name: str, array: np.ndarray) -> OutputStat:
    stat = OutputStat(name, array)
    if array.ndim == 2 and array.shape[1] >= 2 and np.issubdtype(array.dtype, np.floating) \
            and np.isfinite(array).all():
        values = array.astype(np.float64)
        probabilities = bool((values >= 0).all() and (values <= 1).all()
                             and np.allclose(values.sum(axis=1), 1.0, atol=1e-3))
        if not probabilities:
            values = np.exp(values - values.max(axis=1, keepdims=True))
            values /= values.sum(axis=1, keepdims=True)
        stat.softmaxed = not probabilities
        k = min(5, values.shape[1])
        for row in values:
            order = np.argsort(-row, kind="stable")[:k]
            stat.top.append([(int(i), float(row[i])) for i in order])
    return stat
