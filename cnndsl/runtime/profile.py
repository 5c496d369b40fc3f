"""`cnndsl profile`: where a spec's time goes in ONNX Runtime, by layer and by source line.

The spec is compiled in memory and run with ONNX Runtime's per-node profiler on (one warm-up run,
then `repeat` profiled ones). Every emitted node carries its layer's name (`conv1`, or `conv1.pad`
for a layer's helper node), so each profiled node maps back to the layer it came from. ONNX
Runtime fuses nodes (a convolution, its batch norm and its activation become one kernel, named
after the last), so a layer without a node of its own is folded into the first layer after it, down
its only consumer, that has one: its time is in that row, and its MACs too, so that the row's
GFLOP/s stays the arithmetic done in that time. Nodes that ONNX Runtime inserted (layout reorders)
are reported apart, by their own names.

The reference rate is ONNX Runtime's own Gemm, 1024 x 1024 by 1024 x 1024 on the same device,
measured once per profile: a row's "of matmul" is how close its kernel comes to that rate.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from typing import Any, NamedTuple

import numpy as np

from ..ir import Node
from ..model import CheckedModel, check_file, check_text
from ..resolve import Limits
from ..rules import RuleSet
from .failure import fail
from .inputs import allocate, plan_input, spec_input
from .memory import check_memory, default_memory_limit, spec_needs
from .session import device_of, model_source, open_session

MATMUL_SIZE = 1024  # the reference Gemm: (SIZE x SIZE) @ (SIZE x SIZE), 2 * SIZE**3 FLOPs
MATMUL_RUNS = 5  # the best of these is the rate


class LayerTime(NamedTuple):
    """One row: a layer with a node of its own, and the layers fused into it."""

    node: Node
    fused: tuple[Node, ...]  # layers without a node of their own, folded into this one
    seconds: float  # per run
    flops: int  # per run: 2 x the MACs of the layer and of those fused into it, times the batch


class LineTime(NamedTuple):
    path: str
    line: int
    text: str
    seconds: float


class Profile(NamedTuple):
    model: CheckedModel
    device: str
    provider: str
    batch: int
    runs: int
    run_seconds: float  # the median wall time of one profiled run
    matmul_flops_per_second: float
    layers: list[LayerTime]  # by time, longest first
    lines: list[LineTime]  # by time, longest first
    runtime_nodes: dict[str, float]  # nodes ONNX Runtime inserted: name -> seconds per run

    @property
    def node_seconds(self) -> float:
        return sum(row.seconds for row in self.layers) + sum(self.runtime_nodes.values())


def profile_file(
    path: str | os.PathLike[str],
    *,
    device: str = "auto",
    batch: int = 1,
    repeat: int = 10,
    seed: int = 0,
    limits: Limits = Limits(),
    rules: RuleSet | None = None,
    max_memory: int | None = None,
) -> Profile:
    """Profile a spec: `repeat` runs after one warm-up, each node's kernel time mapped to its layer."""
    if repeat < 1 or batch < 1:
        raise ValueError("repeat and batch must be at least 1")
    model = check_file(path, limits, rules=rules)
    planned = plan_input(spec_input(model, batch), batch, None, seed)
    check_memory(spec_needs(model, planned), default_memory_limit() if max_memory is None else max_memory)
    source, _ = model_source(model, limits=limits, batch=batch)
    with tempfile.TemporaryDirectory(prefix="cnndsl-profile-") as directory:
        prefix = os.path.join(directory, "profile")

        def profiled(options: Any) -> None:
            options.enable_profiling = True
            options.profile_file_prefix = prefix

        session = open_session(source, device, None, configure=profiled)
        x = allocate(planned)
        walls: list[float] = []
        try:
            for _ in range(repeat + 1):  # the first is the warm-up, left out below
                start = time.perf_counter()
                session.run(None, {"input": x})
                walls.append(time.perf_counter() - start)
            trace_path = session.end_profiling()
        except Exception as problem:
            raise fail("E506", f"ONNX Runtime failed to run the model: {problem}") from None
        with open(trace_path, encoding="utf-8") as trace:
            events = json.load(trace)
    kernel_seconds = _kernel_seconds(events, repeat)
    layers, runtime_nodes = _layer_times(model, kernel_seconds, batch)
    return Profile(
        model,
        device_of(session),
        session.get_providers()[0],
        batch,
        repeat,
        float(np.median(walls[1:])),
        matmul_rate(device_of(session)),
        layers,
        _line_times(model, layers),
        runtime_nodes,
    )


def _kernel_seconds(events: list[dict[str, Any]], runs: int) -> dict[str, float]:
    """Seconds per run of each profiled node, by node name, the warm-up run left out."""
    run_events = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"), key=_ts)
    warm_up_end = _ts(run_events[0]) + run_events[0].get("dur", 0) if run_events else -1
    totals: dict[str, float] = defaultdict(float)
    for event in events:
        name = event.get("name", "")
        if event.get("cat") == "Node" and name.endswith("_kernel_time") and _ts(event) > warm_up_end:
            totals[name.removesuffix("_kernel_time")] += event.get("dur", 0) * 1e-6 / runs
    return totals


def _ts(event: dict[str, Any]) -> int:
    return int(event.get("ts", 0))


def _layer_of(node_name: str, layers: dict[str, Node]) -> Node | None:
    """The layer a node was emitted for: its name, or the longest prefix of it ending before a '.'
    or '_' (`conv1.pad`; ONNX Runtime's `relu_nchwc`)."""
    name = node_name
    while name:
        if name in layers:
            return layers[name]
        cut = max(name.rfind("."), name.rfind("_"))
        if cut <= 0:
            return None
        name = name[:cut]
    return None


def _layer_times(
    model: CheckedModel, kernel_seconds: dict[str, float], batch: int
) -> tuple[list[LayerTime], dict[str, float]]:
    by_name = {node.name: node for node in model.layers}
    seconds: dict[Node, float] = defaultdict(float)
    runtime_nodes: dict[str, float] = {}
    for name, spent in kernel_seconds.items():
        layer = _layer_of(name, by_name)
        if layer is None:
            runtime_nodes[name] = spent
        else:
            seconds[layer] += spent
    owners = _owners(model, set(seconds))
    fused: dict[Node, list[Node]] = defaultdict(list)
    for node, owner in owners.items():
        fused[owner].append(node)
    rows = [
        LayerTime(
            node,
            tuple(fused[node]),
            spent,
            2 * batch * sum(model.stats[n].macs for n in (node, *fused[node])),
        )
        for node, spent in seconds.items()
    ]
    rows.sort(key=lambda row: -row.seconds)
    return rows, runtime_nodes


def _owners(model: CheckedModel, profiled: set[Node]) -> dict[Node, Node]:
    """The profiled layer each layer without a node of its own was fused into. ONNX Runtime names
    a convolution fused with its batch norm and activation after the last of them, and keeps the
    convolution's name when it fuses an addition or activation after it: so a layer doing
    arithmetic folds into the first profiled layer down its only consumers, and one doing none (an
    add, an activation, a batch norm folded into weights) into the owner of its first input."""
    consumers = model.graph.consumers()
    owners: dict[Node, Node] = {}

    def downstream(node: Node) -> Node | None:
        current: Node | None = node
        while current is not None and current not in profiled:
            users = consumers[current]
            current = users[0] if len(users) == 1 else None
        return current

    for node in model.layers:  # topological: an input's owner is known before its consumer's
        if node in profiled:
            continue
        source = node.inputs[0] if node.inputs else None
        upstream = source if source in profiled else owners.get(source) if source is not None else None
        owner = upstream if model.stats[node].macs == 0 and upstream is not None else downstream(node)
        if owner is not None:
            owners[node] = owner
    return owners


def _line_times(model: CheckedModel, rows: list[LayerTime]) -> list[LineTime]:
    """Each row's time on the line of its layer doing the most arithmetic (the convolution of a
    fused convolution, batch norm and activation)."""
    totals: dict[tuple[str, int], float] = defaultdict(float)
    texts: dict[tuple[str, int], str] = {}
    for row in rows:
        worker = max((row.node, *row.fused), key=lambda n: model.stats[n].macs)
        line = worker.source.line_col(worker.span.start)[0]
        key = (worker.source.path, line)
        totals[key] += row.seconds
        texts[key] = worker.source.text.splitlines()[line - 1].strip()
    lines = [LineTime(path, line, texts[(path, line)], spent) for (path, line), spent in totals.items()]
    lines.sort(key=lambda item: -item.seconds)
    return lines


def matmul_rate(device: str) -> float:
    """FLOP/s of ONNX Runtime's Gemm on `device`, the best of MATMUL_RUNS after a warm-up: the rate
    a layer's kernel is compared with."""
    reference = check_text(f"input {MATMUL_SIZE}\nfc {MATMUL_SIZE}\n", "<matmul reference>")
    source, _ = model_source(reference, batch=MATMUL_SIZE)
    session = open_session(source, device, None)
    x = np.random.default_rng(0).standard_normal((MATMUL_SIZE, MATMUL_SIZE), dtype=np.float32)
    session.run(None, {"input": x})
    best = float("inf")
    for _ in range(MATMUL_RUNS):
        start = time.perf_counter()
        session.run(None, {"input": x})
        best = min(best, time.perf_counter() - start)
    return 2 * MATMUL_SIZE**3 / best
