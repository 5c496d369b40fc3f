"""Running models in ONNX Runtime: sessions on a chosen device, and `cnndsl run`'s report.

Devices: 'cpu'; 'cuda' (an error, listing what is available, when the CUDA execution provider is
missing or does not come up); 'auto' (CUDA when a session really runs on it, otherwise the CPU).
ONNX Runtime's own logging is turned down to errors, so that nothing but cnndsl's report reaches
stdout.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .. import npy
from ..diagnostics import CnnError, Diagnostic, byte_size, error, first_line, shorten
from ..model import CheckedModel, check_file
from ..resolve import Limits
from ..rules import RuleSet

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
        problem = npy.regular_file_problem(path)  # a FIFO would make ONNX Runtime wait forever
        if problem is not None:
            raise _fail("E506", f"cannot load '{path}': {problem}")
        return path, path
    if type(model).__name__ == "ModelProto":
        return model.SerializeToString(), "ModelProto"
    if not isinstance(model, CheckedModel):
        from .. import check

        model = check(model, limits)
    from ..onnx import emit as onnx_emit

    result = onnx_emit.plan(model, **compile_options)
    onnx_emit.check_graph_size(result)
    if result.serialized_size() > onnx_emit.PROTOBUF_LIMIT:
        raise _fail(
            "E506",
            f"'{model.name}' is too large to compile in memory ({result.weight_bytes / 1e9:,.1f} GB of weights)",
            help="compile it to a file first (cnndsl compile) and run the .onnx file",
        )
    import io

    buffer = io.BytesIO()
    result.write(buffer)
    return buffer.getvalue(), f"{model.source.path} (compiled in memory, opset {result.opset})"


# --- sessions ---------------------------------------------------------------------------------


def available_providers() -> list[str]:
    return list(_ort().get_available_providers())


def create_session(
    model: Any, device: str = "auto", *, limits: Limits = Limits(), threads: int | None = None, **compile_options: Any
):
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
        raise _fail(
            "E505",
            "CUDA was requested, but ONNX Runtime has no CUDA execution provider",
            notes=(f"available providers: {', '.join(available)}",),
            help="install the gpu extra (pip install 'cnndsl[gpu]'; not together with the cpu extra) "
            "or use --device cpu",
        )
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
            raise _fail(
                "E505",
                "the CUDA execution provider is installed but did not start",
                notes=((f"ONNX Runtime said: {first_line(cuda_problem)}",) if cuda_problem else ())
                + (f"available providers: {', '.join(available)}",),
                help="check the CUDA 12/13 and cuDNN 9 libraries (onnxruntime.preload_dlls), or use --device cpu",
            )
        if session is not None:  # auto: ONNX Runtime already fell back to the CPU
            return session
    return _load_checked(source, threads)


def _load_checked(source: Any, threads: int | None):
    try:
        return _load(source, [CPU], threads)
    except Exception as problem:
        where = source if isinstance(source, str) else "the model"
        raise _fail(
            "E506",
            f"ONNX Runtime cannot load {where}: {first_line(problem)}",
            help="is it an ONNX model? (cnndsl compile writes one)",
        ) from None


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


# --- cnndsl run: the report -------------------------------------------------------------------


@dataclass
class OutputStat:
    name: str
    array: np.ndarray
    top: list[list[tuple[int, float]]] = field(default_factory=list)  # per sample: (index, probability)
    softmaxed: bool = False

    def render(self) -> list[str]:
        a = self.array
        lines = [f"output:  {self.name} {'x'.join(map(str, a.shape))} {_type_text(a)}"]
        if self.top:
            source = "softmax of the outputs" if self.softmaxed else "outputs are probabilities"
            for index, top in enumerate(self.top[:4]):
                cells = ", ".join(f"{i} ({p:.4f})" for i, p in top)
                lines.append(f"  top-{len(top)} sample {index}: {cells}")
            if len(self.top) > 4:
                lines.append(f"  ... {len(self.top) - 4} more samples")
            lines.append(f"  ({source})")
        if a.dtype.kind not in _NUMERIC_KINDS:
            lines.append(_values_text(a))
        elif a.size:
            lines.extend(_statistics(a))
        return lines


_NUMERIC_KINDS = "biuf"  # bool, integers, floating point: what statistics are computed for
_SHOWN_VALUES = 4


def _type_text(array: np.ndarray) -> str:
    """The element type as ONNX would say it: ONNX Runtime returns string tensors as object arrays."""
    if array.dtype.kind in "US" or (array.dtype.kind == "O" and all(isinstance(v, str) for v in array.flat)):
        return "string"
    return str(array.dtype)


def _values_text(array: np.ndarray) -> str:
    """A few values of a non-numeric output, instead of statistics."""
    shown = [shorten(repr(str(v) if isinstance(v, str) else v), 40) for v in array.flat[:_SHOWN_VALUES]]
    more = ", ..." if array.size > _SHOWN_VALUES else ""
    return f"  values: {', '.join(shown)}{more} (not numbers: no statistics)"


def _statistics(array: np.ndarray) -> list[str]:
    values = array.astype(np.float64) if array.dtype.kind in "biu" else array
    finite = values[np.isfinite(values)]
    lines = []
    if finite.size:
        lines.append(
            f"  min {finite.min():.6g}, max {finite.max():.6g}, mean {finite.mean():.6g}, std {finite.std():.6g}"
        )
    if finite.size != values.size:
        lines.append(f"  {values.size - finite.size:,} values are NaN or infinite")
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

    def render(self, context: bool = True) -> str:
        """The report; without `context` (`run -q`) only the outputs and the latency."""
        shape = "x".join(map(str, self.input_shape))
        lines = (
            [
                f"model:   {self.model}",
                f"device:  {self.device} ({self.providers[0]})",
                f"input:   {self.input_name} {shape} float32, {self.input_source}",
            ]
            if context
            else []
        )
        for output in self.outputs:
            lines.extend(output.render())
        runs = len(self.latencies)
        lines.append(
            f"latency: median {self.median * 1e3:.3f} ms over {runs} run{'s' if runs != 1 else ''} "
            f"(min {min(self.latencies) * 1e3:.3f} ms, max {max(self.latencies) * 1e3:.3f} ms; "
            f"after 1 warm-up run), batch {self.input_shape[0]}"
        )
        return "\n".join(lines)


# --- cnndsl run: loading, inputs and the memory check -------------------------------------------


def default_memory_limit() -> int:
    """What `run` may use by default: half the machine's physical memory, or 8 GiB where the
    operating system does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
        return _FALLBACK_MEMORY_LIMIT
    return pages * page_size // 2 if pages > 0 and page_size > 0 else _FALLBACK_MEMORY_LIMIT


_FALLBACK_MEMORY_LIMIT = 8 * 2**30


def run_file(
    path: str | os.PathLike,
    *,
    device: str = "auto",
    batch: int | None = None,
    input_path: str | os.PathLike | None = None,
    repeat: int = 10,
    seed: int = 0,
    limits: Limits = Limits(),
    threads: int | None = None,
    max_memory: int | None = None,
    top_k: int | None = None,
    rules: RuleSet | None = None,
    **compile_options: Any,
) -> RunReport:
    """Load a .cnn or .onnx file, run it `repeat` times after one warm-up, and report.

    max_memory: bytes the run may need (input, weights, live activations), checked before anything
    is allocated (E508); None for default_memory_limit(). top_k: show the k most likely classes of
    every 2-D output, softmaxing logits; None shows the top 5 of softmax outputs only. rules: the
    warnings a spec reports (cnndsl.rules; default DEFAULT_RULES)."""
    path = os.fspath(path)
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for name, value in (("max_memory", max_memory), ("top_k", top_k)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    limit = default_memory_limit() if max_memory is None else max_memory
    if _is_onnx_path(path):
        loaded = _load_onnx(path, device, threads, batch, input_path, seed, limit)
    else:
        loaded = _load_spec(path, device, threads, batch, input_path, seed, limit, limits, rules, compile_options)
    session, spec, planned = loaded.session, loaded.input, loaded.planned
    x = _allocate(planned)
    names = [o.name for o in session.get_outputs()]
    results, latencies = _timed_runs(session, names, {spec.name: x}, repeat)
    softmax_outputs = _softmax_outputs(loaded.model) if loaded.model is not None else None
    outputs = [_describe_output(name, np.asarray(value), softmax_outputs, top_k) for name, value in zip(names, results)]
    return RunReport(
        loaded.description,
        device_of(session),
        session.get_providers(),
        spec.name,
        tuple(x.shape),
        planned.origin,
        outputs,
        latencies,
        list(getattr(loaded.model, "warnings", [])),
    )


class _Loaded(NamedTuple):
    model: CheckedModel | None  # None for an .onnx file
    description: str
    session: Any
    input: _InputSpec
    planned: _PlannedInput


def _load_onnx(
    path: str,
    device: str,
    threads: int | None,
    batch: int | None,
    input_path: str | os.PathLike | None,
    seed: int,
    limit: int,
) -> _Loaded:
    """The session first: only it knows the model's input."""
    session = _session(model_source(path)[0], device, threads)
    spec = _only_input(session)
    planned = _plan_input(spec, batch, input_path, seed)
    _check_memory(_onnx_needs(session, spec, planned), limit)
    return _Loaded(None, path, session, spec, planned)


def _load_spec(
    path: str,
    device: str,
    threads: int | None,
    batch: int | None,
    input_path: str | os.PathLike | None,
    seed: int,
    limit: int,
    limits: Limits,
    rules: RuleSet | None,
    compile_options: dict[str, Any],
) -> _Loaded:
    """The memory check first, from the checker's shapes: compiling makes the weights."""
    model = check_file(path, limits, rules=rules)
    spec = _spec_input(model, compile_options.get("batch"))
    planned = _plan_input(spec, batch, input_path, seed)
    _check_memory(_spec_needs(model, planned), limit)
    source, description = model_source(model, limits=limits, **compile_options)
    # the serialized model goes with this frame: ONNX Runtime keeps its own copy of the weights
    return _Loaded(model, description, _session(source, device, threads), spec, planned)


def _timed_runs(session, names: list[str], feed: dict[str, np.ndarray], repeat: int) -> tuple[list, list[float]]:
    try:
        results = session.run(names, feed)  # warm-up
        latencies = []
        for _ in range(repeat):
            start = time.perf_counter()
            results = session.run(names, feed)
            latencies.append(time.perf_counter() - start)
    except Exception as problem:
        raise _fail("E506", f"ONNX Runtime failed to run the model: {first_line(problem)}") from None
    return results, latencies


class _InputSpec(NamedTuple):
    """What a session's input says (onnxruntime.NodeArg has the same fields): the dims are ints, or
    names / None for symbolic ones."""

    name: str
    type: str
    shape: list[Any]


class _PlannedInput(NamedTuple):
    """The input to feed, described before any of it is read or drawn."""

    shape: tuple[int, ...]  # batch axis included
    origin: str  # for the report: the file, or the random generator
    extra_bytes: int  # memory used while making it, beyond the float32 array itself
    make: Callable[[], np.ndarray]


def _only_input(session) -> _InputSpec:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise _fail(
            "E507",
            f"the model has {len(inputs)} inputs; cnndsl run feeds exactly one",
            notes=tuple(f"input '{i.name}' {i.shape}" for i in inputs),
        )
    return _InputSpec(inputs[0].name, inputs[0].type, list(inputs[0].shape or []))


def _spec_input(model: CheckedModel, compiled_batch: int | None) -> _InputSpec:
    """The input the compiled spec will have, known before compiling it."""
    from ..onnx.emit import INPUT_NAME

    return _InputSpec(INPUT_NAME, "tensor(float)", [compiled_batch or "N", *model.input_shape])


def _fixed_dims(spec: _InputSpec) -> tuple[Any, list[Any]]:
    if not spec.shape:
        raise _fail("E507", f"input '{spec.name}' is a scalar; cnndsl run feeds a batch of tensors")
    return spec.shape[0], list(spec.shape[1:])


def _plan_input(spec: _InputSpec, batch: int | None, input_path: str | os.PathLike | None, seed: int) -> _PlannedInput:
    if input_path is not None:
        return _plan_file_input(os.fspath(input_path), spec, batch)
    return _plan_random_input(spec, batch, seed)


def _plan_random_input(spec: _InputSpec, batch: int | None, seed: int) -> _PlannedInput:
    if spec.type != "tensor(float)":
        raise _fail(
            "E507",
            f"input '{spec.name}' has type {spec.type}; random inputs are float only",
            help="give an input array with --input x.npy",
        )
    model_batch, dims = _fixed_dims(spec)
    if any(not isinstance(d, int) for d in dims):
        raise _fail(
            "E507",
            f"input '{spec.name}' has symbolic dimensions {spec.shape}",
            help="give an input array with --input x.npy",
        )
    if isinstance(model_batch, int):
        if batch is not None and batch != model_batch:
            raise _fail(
                "E507",
                f"the model was compiled for a batch of {model_batch}, not {batch}",
                help="leave --batch out, or compile without --batch for a symbolic batch",
            )
        batch = model_batch
    shape = (batch or 1, *dims)
    return _PlannedInput(
        shape,
        f"random normal (seed {seed})",
        0,
        lambda: np.random.default_rng(seed).standard_normal(shape, dtype=np.float32),
    )


def _plan_file_input(path: str, spec: _InputSpec, batch: int | None) -> _PlannedInput:
    """Check the .npy file's header against the model; its data is read only by `make`."""
    header = _input_header(path)
    if not header.is_real:
        raise _fail("E507", f"input '{path}' has type {npy.dtype_text(header.dtype)}, not a real number type")
    _, dims = _fixed_dims(spec)
    given = header.shape
    shape = (1, *given) if len(given) == len(dims) else given  # a single sample may omit the batch axis
    expected = "x".join(str(d) if isinstance(d, int) else "N" for d in spec.shape)
    fits = len(shape) == len(spec.shape) and all(not isinstance(d, int) or d == n for d, n in zip(spec.shape, shape))
    if not fits:
        raise _fail(
            "E507",
            f"input '{path}' has shape {npy.shape_text(given)}, but the model takes {expected}",
            notes=("N is the batch size; a single sample may omit it",),
        )
    if batch is not None and batch != shape[0]:
        raise _fail("E507", f"input '{path}' holds a batch of {shape[0]}, but --batch {batch} was given")
    converted = header.fortran_order or header.dtype != np.dtype(np.float32)
    return _PlannedInput(shape, path, header.nbytes if converted else 0, lambda: _read_input(path, header, shape))


def _input_header(path: str) -> npy.Header:
    try:
        handle = npy.open_regular(path)
    except npy.NpyError as problem:
        raise _fail("E507", f"cannot read input '{path}': {problem}") from None
    except OSError as problem:
        raise _fail("E507", f"cannot read input '{path}': {problem.strerror or problem}") from None
    with handle:
        try:
            if handle.read(len(npy.ZIP_MAGIC)) == npy.ZIP_MAGIC:
                raise _fail("E507", f"input '{path}' is an .npz archive; give one array saved with numpy.save")
            handle.seek(0)
            return npy.read_header(handle)
        except (npy.NpyError, *npy.READ_ERRORS) as problem:
            raise _fail(
                "E507",
                f"cannot read input '{path}': {first_line(problem)}",
                help="save the input with numpy.save(path, array)",
            ) from None


def _read_input(path: str, header: npy.Header, shape: tuple[int, ...]) -> np.ndarray:
    try:
        with npy.open_regular(path) as handle:
            if npy.read_header(handle) != header:
                raise npy.NpyError("the file changed while it was read")
            x = npy.read_data(handle, header)
    except (npy.NpyError, *npy.READ_ERRORS) as problem:
        raise _fail("E507", f"cannot read input '{path}': {first_line(problem)}") from None
    return np.ascontiguousarray(x.reshape(shape), dtype=np.float32)


def _allocate(planned: _PlannedInput) -> np.ndarray:
    """The input array; the memory check came first, but the machine may still be short of memory."""
    try:
        return planned.make()
    except (MemoryError, ValueError) as problem:  # ValueError: numpy's "array is too big"
        raise _fail(
            "E508",
            f"the input array ({'x'.join(map(str, planned.shape))} float32, "
            f"{byte_size(_float32_bytes(planned.shape))}) cannot be allocated: "
            f"{first_line(problem)}",
            help="use a smaller --batch or input",
        ) from None


# --- cnndsl run: how much memory it needs -------------------------------------------------------


class _Need(NamedTuple):
    parts: list[tuple[str, int]]  # (what, bytes), shown in the message
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(size for _, size in self.parts)


_NUMPY_LIMIT = 2**63 - 1  # numpy sizes are int64: no array can hold more bytes


def _float32_bytes(shape: tuple[int, ...]) -> int:
    return 4 * math.prod(shape)


def _input_part(planned: _PlannedInput) -> tuple[str, int]:
    return "input", _float32_bytes(planned.shape) + planned.extra_bytes


def _spec_needs(model: CheckedModel, planned: _PlannedInput) -> _Need:
    """Input, weights and the activations alive at once, from the checker's exact shapes."""
    batch = planned.shape[0]
    peak, at = _peak_activation_values(model)
    weights = 2 * model.param_bytes  # the model compiled in memory and ONNX Runtime's copy of it
    notes = [f"input {'x'.join(map(str, planned.shape))} as float32"]
    if at is not None:
        notes.append(f"the most activations alive at once are those after '{at.name}', for a batch of {batch}")
    parts = [_input_part(planned), ("largest live activations", 4 * batch * peak)]
    if weights:
        parts.append(("weights", weights))
        notes.append(
            f"weights {byte_size(model.param_bytes)}, counted twice: the model compiled in memory "
            f"and ONNX Runtime's copy"
        )
    return _Need(parts, tuple(notes))


def _peak_activation_values(model: CheckedModel) -> tuple[int, Any]:
    """The most activation values (per sample) alive at once, walking the layers in order: a tensor
    lives from its layer until its last consumer has run (outputs until the end); and the layer
    after which that peak is reached. The input is counted on its own, and dropout makes no tensor."""
    nodes = model.graph.nodes
    last_use = {node: index for index, node in enumerate(nodes)}
    for index, node in enumerate(nodes):
        for producer in node.inputs:
            last_use[producer] = index
    for _, node in model.graph.outputs:
        last_use[node] = len(nodes)
    freed_after: dict[int, list[Any]] = {}
    for node, index in last_use.items():
        freed_after.setdefault(index, []).append(node)
    live = peak = 0
    at = None
    for index, node in enumerate(nodes[1:], start=1):
        live += _values_of(model, node)
        running = live + node.layer.scratch_values([model.shapes[p] for p in node.inputs])
        if running > peak:
            peak, at = running, node
        live -= sum(_values_of(model, done) for done in freed_after.get(index, ()) if done is not nodes[0])
    return peak, at


def _values_of(model: CheckedModel, node) -> int:
    if node.layer is not None and node.layer.is_dropout:  # an identity at inference: no tensor of its own
        return 0
    return math.prod(model.shapes[node])


_ELEMENT_BYTES = {
    "tensor(float)": 4,
    "tensor(double)": 8,
    "tensor(float16)": 2,
    "tensor(bfloat16)": 2,
    "tensor(int8)": 1,
    "tensor(uint8)": 1,
    "tensor(int16)": 2,
    "tensor(uint16)": 2,
    "tensor(int32)": 4,
    "tensor(uint32)": 4,
    "tensor(int64)": 8,
    "tensor(uint64)": 8,
    "tensor(bool)": 1,
}


def _onnx_needs(session, spec: _InputSpec, planned: _PlannedInput) -> _Need:
    """Input and outputs only: an .onnx file's weights are loaded already, and its inner tensors'
    shapes are not known without running it."""
    batch_name = spec.shape[0] if spec.shape else None
    outputs, unknown = 0, []
    for output in session.get_outputs():
        dims = [planned.shape[0] if d == batch_name and not isinstance(d, int) else d for d in output.shape or []]
        element = _ELEMENT_BYTES.get(output.type)
        if element is None or not all(isinstance(d, int) and d >= 0 for d in dims):
            unknown.append(output.name)
            continue
        outputs += element * math.prod(dims)
    notes = ["for an .onnx model the estimate covers the input and outputs only"]
    if unknown:
        notes.append(f"outputs of unknown size are not counted: {', '.join(unknown)}")
    return _Need([_input_part(planned), ("outputs", outputs)], tuple(notes))


def _check_memory(need: _Need, limit: int) -> None:
    total = need.total
    if total <= min(limit, _NUMPY_LIMIT):
        return
    parts = ", ".join(f"{what} {byte_size(size)}" for what, size in need.parts)
    if total > _NUMPY_LIMIT:  # no limit can allow it: numpy's sizes are 64-bit
        over, help = f"more than 64-bit sizes can address ({byte_size(_NUMPY_LIMIT)})", "use a smaller --batch or input"
    else:
        over, help = (
            f"over the limit of {byte_size(limit)}",
            "use a smaller --batch or input, or raise the limit with --max-memory BYTES (the default is half "
            "the physical memory)",
        )
    raise _fail("E508", f"running the model needs {byte_size(total)} ({parts}), {over}", notes=need.notes, help=help)


# --- cnndsl run: describing outputs -------------------------------------------------------------


def _softmax_outputs(model: CheckedModel) -> set[str]:
    """The outputs a softmax produces (dropout after it changes nothing at inference)."""
    names = set()
    for name, node in model.graph.outputs:
        while node.layer is not None and node.layer.is_dropout and node.inputs:
            node = node.inputs[0]
        if node.layer is not None and node.layer.output_function() == "softmax":
            names.add(name)
    return names


def _describe_output(name: str, array: np.ndarray, softmax_outputs: set[str] | None, top_k: int | None) -> OutputStat:
    """Statistics, and the top classes when the output is a classifier's: made by a softmax layer
    (a spec), already probabilities (an .onnx model), or when `top_k` asks for them."""
    stat = OutputStat(name, array)
    if array.ndim != 2 or array.shape[1] < 2 or array.dtype.kind != "f" or not np.isfinite(array).all():
        return stat
    values = array.astype(np.float64)
    probabilities = _are_probabilities(values)
    automatic = name in softmax_outputs if softmax_outputs is not None else probabilities
    if top_k is None and not automatic:
        return stat
    if not (probabilities or (softmax_outputs is not None and name in softmax_outputs)):
        values = np.exp(values - values.max(axis=1, keepdims=True))
        values /= values.sum(axis=1, keepdims=True)
        stat.softmaxed = True
    k = min(top_k or 5, values.shape[1])
    for row in values:
        order = np.argsort(-row, kind="stable")[:k]
        stat.top.append([(int(i), float(row[i])) for i in order])
    return stat


def _are_probabilities(values: np.ndarray) -> bool:
    return bool((values >= 0).all() and (values <= 1).all() and np.allclose(values.sum(axis=1), 1.0, atol=1e-3))
