"""`cnndsl run`: load a spec or an .onnx file, feed it one input, time it, and report.

The order matters for memory: everything is planned and checked (E508) before anything big is
allocated. For an .onnx file the session comes first, since only it knows the model's input; for
a spec the memory check comes first, from the checker's shapes, since compiling makes the weights.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..diagnostics import first_line
from ..model import CheckedModel, check_file
from ..resolve import Limits
from ..rules import RuleSet
from .failure import fail
from .inputs import InputSpec, PlannedInput, allocate, as_fed, only_input, plan_input, spec_input
from .memory import check_memory, default_memory_limit, onnx_needs, spec_needs
from .precision import read_precision
from .report import RunReport, describe_output, softmax_outputs
from .session import device_of, is_onnx_path, model_source, open_session

if TYPE_CHECKING:
    import onnxruntime


class _Loaded(NamedTuple):
    model: CheckedModel | None  # None for an .onnx file
    description: str
    session: onnxruntime.InferenceSession
    input: InputSpec
    planned: PlannedInput
    source: bytes | str  # what the session loaded


def run_file(
    path: str | os.PathLike[str],
    *,
    device: str = "auto",
    batch: int | None = None,
    input_path: str | os.PathLike[str] | None = None,
    repeat: int = 10,
    seed: int = 0,
    limits: Limits = Limits(),
    threads: int | None = None,
    max_memory: int | None = None,
    top_k: int | None = None,
    rules: RuleSet | None = None,
    convert: Callable[[CheckedModel, bytes | str], bytes] | None = None,
    **compile_options: Any,
) -> RunReport:
    """Load a .cnn or .onnx file, run it `repeat` times after one warm-up, and report.

    max_memory: bytes the run may need (input, weights, live activations), checked before anything
    is allocated (E508); None for default_memory_limit(). top_k: show the k most likely classes of
    every 2-D output, softmaxing logits; None shows the top 5 of softmax outputs only. rules: the
    warnings a spec reports (cnndsl.rules; default DEFAULT_RULES). convert: applied to a spec's
    compiled model before it runs (`run --precision`: cnndsl.deploy converts it)."""
    path = os.fspath(path)
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for name, value in (("max_memory", max_memory), ("top_k", top_k)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    limit = default_memory_limit() if max_memory is None else max_memory
    if is_onnx_path(path):
        loaded = _load_onnx(path, device, threads, batch, input_path, seed, limit)
    else:
        loaded = _load_spec(
            path, device, threads, batch, input_path, seed, limit, limits, rules, convert, compile_options
        )
    session, spec, planned = loaded.session, loaded.input, loaded.planned
    x = allocate(planned)
    precision, model_bytes = read_precision(loaded.source)
    names = [o.name for o in session.get_outputs()]
    fed = as_fed(spec, x)
    results, latencies = _timed_runs(session, names, {spec.name: fed}, repeat)
    softmax_names = softmax_outputs(loaded.model) if loaded.model is not None else None
    outputs = [
        describe_output(name, np.asarray(value), softmax_names, top_k)
        for name, value in zip(names, results, strict=True)
    ]
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
        precision,
        model_bytes,
        str(fed.dtype),
    )


def _load_onnx(
    path: str,
    device: str,
    threads: int | None,
    batch: int | None,
    input_path: str | os.PathLike[str] | None,
    seed: int,
    limit: int,
) -> _Loaded:
    """The session first: only it knows the model's input."""
    source = model_source(path)[0]
    session = open_session(source, device, threads)
    spec = only_input(session)
    planned = plan_input(spec, batch, input_path, seed)
    check_memory(onnx_needs(session, spec, planned), limit)
    return _Loaded(None, path, session, spec, planned, source)


def _load_spec(
    path: str,
    device: str,
    threads: int | None,
    batch: int | None,
    input_path: str | os.PathLike[str] | None,
    seed: int,
    limit: int,
    limits: Limits,
    rules: RuleSet | None,
    convert: Callable[[CheckedModel, bytes | str], bytes] | None,
    compile_options: dict[str, Any],
) -> _Loaded:
    """The memory check first, from the checker's shapes: compiling makes the weights."""
    model = check_file(path, limits, rules=rules)
    spec = spec_input(model, compile_options.get("batch"))
    planned = plan_input(spec, batch, input_path, seed)
    check_memory(spec_needs(model, planned), limit)
    source, description = model_source(model, limits=limits, **compile_options)
    if convert is not None:
        source = convert(model, source)
    return _Loaded(model, description, open_session(source, device, threads), spec, planned, source)


def _timed_runs(
    session: onnxruntime.InferenceSession, names: list[str], feed: dict[str, NDArray[np.float32]], repeat: int
) -> tuple[list[Any], list[float]]:
    """The outputs of the last run, and the seconds each of `repeat` runs took after one warm-up."""
    try:
        results = session.run(names, feed)  # warm-up
        latencies = []
        for _ in range(repeat):
            start = time.perf_counter()
            results = session.run(names, feed)
            latencies.append(time.perf_counter() - start)
    except Exception as problem:
        raise fail("E506", f"ONNX Runtime failed to run the model: {first_line(problem)}") from None
    return results, latencies
