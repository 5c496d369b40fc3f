"""Emission probes: ONNX Runtime (CPU) latency of the ways a layer kind can be written in ONNX, alone.

    python -m benchmarks.probes --emission              # every probe, a table of latencies and ratios
    python -m benchmarks.emission --rounds 15           # the same, directly
    python -m benchmarks.emission --only gelu --json out.json

Layer norm over the channels of an NCHW map (ConvNeXt's LayerNorm2d): ONNX LayerNormalization
between a Transpose to channels-last and one back (what cnndsl emits from opset 17), the arithmetic
over axis 1 (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add: no transposes), and what
`torch.onnx.export` (dynamo) writes for torchvision's LayerNorm2d (with --torch). Hard-swish: the
HardSwish operator against x * HardSigmoid(x). GELU: the Gelu operator (opset 20) against its erf
expression, 0.5 * x * (1 + erf(x / sqrt(2))). Each at ConvNeXt-Tiny's stage maps (96x56x56,
192x28x28, 384x14x14, 768x7x7), batch 1 and 8.

Every variant is a one-layer model with its own session (the benchmark's SessionOptions: intra-op
threads = nproc, all graph optimisations, no spinning), all in one process and timed interleaved:
each round runs every variant once, a variant's time in a round being the mean of enough back-to-back
runs to last about 20 ms; the ratio is the median over rounds of variant / first variant in the same
round, with the distribution-free 95% interval of benchmarks.run.paired_ratio. The largest absolute
error against a float64 NumPy reference is reported beside it, so that a faster form is only
preferred when it is as exact.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .run import ROOT, paired_ratio

OPSET = 26  # cnndsl's default opset (cnndsl.onnx.versions)
EPS = 1e-6  # ConvNeXt's layer norm epsilon
SIZES = ((96, 56, 56), (192, 28, 28), (384, 14, 14), (768, 7, 7))
BATCHES = (1, 8)
_ROUND_S = 0.02


class Variant(NamedTuple):
    name: str
    model: bytes  # a serialised ModelProto: input x (N, C, H, W) -> output y, same shape


def _model(nodes: list[Any], initializers: list[Any], channels: int, opset: int = OPSET) -> bytes:
    from onnx import TensorProto, helper

    shape: list[str | int | None] = ["N", channels, "H", "W"]
    graph = helper.make_graph(
        nodes,
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return bytes(model.SerializeToString())


def _affine(channels: int, per_channel_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    scale = rng.uniform(0.5, 1.5, channels).astype(np.float32).reshape(per_channel_shape)
    shift = rng.uniform(-0.2, 0.2, channels).astype(np.float32).reshape(per_channel_shape)
    return scale, shift


def layer_norm_variants(channels: int) -> list[Variant]:
    from onnx import helper, numpy_helper

    node = helper.make_node
    scale, shift = _affine(channels, (channels,))
    flat = [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(shift, "shift")]
    transposed = _model(
        [
            node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
            node("LayerNormalization", ["t", "scale", "shift"], ["n"], axis=-1, epsilon=EPS),
            node("Transpose", ["n"], ["y"], perm=[0, 3, 1, 2]),
        ],
        flat,
        channels,
    )
    column = [
        numpy_helper.from_array(scale.reshape(channels, 1, 1), "scale"),
        numpy_helper.from_array(shift.reshape(channels, 1, 1), "shift"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        numpy_helper.from_array(np.array(EPS, np.float32), "eps"),
    ]
    arithmetic = _model(
        [
            node("ReduceMean", ["x", "axes"], ["mean"], keepdims=1),
            node("Sub", ["x", "mean"], ["centred"]),
            node("Pow", ["centred", "two"], ["squared"]),
            node("ReduceMean", ["squared", "axes"], ["variance"], keepdims=1),
            node("Add", ["variance", "eps"], ["shifted"]),
            node("Sqrt", ["shifted"], ["deviation"]),
            node("Div", ["centred", "deviation"], ["normalised"]),
            node("Mul", ["normalised", "scale"], ["scaled"]),
            node("Add", ["scaled", "shift"], ["y"]),
        ],
        column,
        channels,
    )
    return [Variant("Transpose + LayerNormalization (ours)", transposed), Variant("arithmetic over axis 1", arithmetic)]


def torch_layer_norm(channels: int, directory: str) -> Variant:
    """torch.onnx.export (dynamo, symbolic batch and size) of torchvision's LayerNorm2d, in a child
    process so that torch's threads stay out of the timed one."""
    out = os.path.join(directory, f"layernorm2d_{channels}.onnx")
    subprocess.run(
        [sys.executable, "-m", "benchmarks.emission", "--export-layernorm2d", str(channels), out],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    import onnx

    return Variant("torch.onnx.export of torchvision's LayerNorm2d", onnx.load(out).SerializeToString())


def export_layernorm2d(channels: int, out: str) -> None:
    import torch

    from .torchvision_models import torchvision

    module = torchvision().models.convnext.LayerNorm2d(channels, eps=EPS)
    scale, shift = _affine(channels, (channels,))  # the same scale and shift as the other variants
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(scale))
        module.bias.copy_(torch.from_numpy(shift))
    dims = {0: torch.export.Dim("N", min=1, max=64), 2: torch.export.Dim("H", min=2, max=512)}
    dims[3] = dims[2]
    x = torch.randn(2, channels, 14, 14)
    torch.onnx.export(
        module.eval(), (x,), out, dynamo=True, verbose=False, input_names=["x"], dynamic_shapes={"x": dims}
    )


def hard_swish_variants(channels: int) -> list[Variant]:
    from onnx import helper

    node = helper.make_node
    operator = _model([node("HardSwish", ["x"], ["y"])], [], channels)
    product = _model(
        [node("HardSigmoid", ["x"], ["s"], alpha=1 / 6, beta=0.5), node("Mul", ["x", "s"], ["y"])], [], channels
    )
    return [Variant("HardSwish (ours)", operator), Variant("x * HardSigmoid(x)", product)]


def gelu_variants(channels: int) -> list[Variant]:
    from onnx import helper, numpy_helper

    node = helper.make_node
    operator = _model([node("Gelu", ["x"], ["y"])], [], channels)
    constants = [
        numpy_helper.from_array(np.array(1 / math.sqrt(2), np.float32), "r"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    expression = _model(
        [
            node("Mul", ["x", "r"], ["scaled"]),
            node("Erf", ["scaled"], ["erf"]),
            node("Add", ["erf", "one"], ["one_plus"]),
            node("Mul", ["x", "half"], ["half_x"]),
            node("Mul", ["half_x", "one_plus"], ["y"]),
        ],
        constants,
        channels,
    )
    return [Variant("Gelu operator (ours)", operator), Variant("erf expression", expression)]


def reference(kind: str, x: np.ndarray) -> np.ndarray:
    """The float64 result the variants approximate."""
    x64 = x.astype(np.float64)
    if kind == "layernorm":
        scale, shift = _affine(x.shape[1], (1, x.shape[1], 1, 1))
        mean = x64.mean(axis=1, keepdims=True)
        variance = ((x64 - mean) ** 2).mean(axis=1, keepdims=True)
        return np.asarray((x64 - mean) / np.sqrt(variance + EPS) * scale + shift)
    if kind == "hardswish":
        return np.asarray(x64 * np.clip(x64 + 3, 0, 6) / 6)
    from math import erf

    return np.asarray(0.5 * x64 * (1 + np.vectorize(erf)(x64 / math.sqrt(2))))


def _session(model: bytes, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def measure(variants: list[Variant], x: np.ndarray, expected: np.ndarray, rounds: int, threads: int) -> dict[str, Any]:
    sessions = {v.name: _session(v.model, threads) for v in variants}
    errors = {name: float(np.abs(s.run(None, {"x": x})[0] - expected).max()) for name, s in sessions.items()}
    # Back-to-back runs per timing: about _ROUND_S each, from the warm-up's time.
    start = time.perf_counter()
    for session in sessions.values():
        session.run(None, {"x": x})
    inner = max(1, round(_ROUND_S * len(sessions) / (time.perf_counter() - start)))
    times: dict[str, list[float]] = {name: [] for name in sessions}
    order = list(sessions)
    for round_ in range(rounds):
        for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
            begin = time.perf_counter()
            for _ in range(inner):
                sessions[name].run(None, {"x": x})
            times[name].append((time.perf_counter() - begin) / inner)
    first = order[0]
    return {
        name: {
            "median_s": statistics.median(t),
            "ratio": paired_ratio(t, times[first]),
            "max_abs_error": errors[name],
            "inner": inner,
        }
        for name, t in times.items()
    }


PROBES: dict[str, Callable[[int], list[Variant]]] = {
    "layernorm": layer_norm_variants,
    "hardswish": hard_swish_variants,
    "gelu": gelu_variants,
}


def run(only: str | None, rounds: int, threads: int, with_torch: bool) -> tuple[list[str], dict[str, Any]]:
    rows = [
        "| probe | map | batch | variant | latency | ratio to ours (95% CI) | max abs error |",
        "| --- | --- | ---: | --- | ---: | --- | ---: |",
    ]
    raw: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as directory:
        for kind, make in PROBES.items():
            if only and only not in kind:
                continue
            for channels, height, width in SIZES:
                variants = make(channels)
                if kind == "layernorm" and with_torch:
                    variants.append(torch_layer_norm(channels, directory))
                for batch in BATCHES:
                    x = rng.standard_normal((batch, channels, height, width), dtype=np.float32) * 2
                    if kind == "layernorm":  # a trained network's maps are not centred
                        x += rng.uniform(-1, 1, (1, channels, 1, 1)).astype(np.float32)
                    result = measure(variants, x, reference(kind, x), rounds, threads)
                    raw[f"{kind} {channels}x{height}x{width} batch {batch}"] = result
                    for name, r in result.items():
                        ratio, low, high = r["ratio"]
                        interval = f" ({low:.3f}-{high:.3f})" if low is not None else ""
                        row = (
                            f"| {kind} | {channels}x{height}x{width} | {batch} | {name} | "
                            f"{r['median_s'] * 1e6:,.0f} us | {ratio:.3f}{interval} | {r['max_abs_error']:.1e} |"
                        )
                        print(row, flush=True)
                        rows.append(row)
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emission", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="layernorm, hardswish or gelu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-torch", action="store_true", help="leave out torch's export of LayerNorm2d")
    parser.add_argument("--markdown", metavar="FILE")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--export-layernorm2d", nargs=2, metavar=("C", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.export_layernorm2d:
        export_layernorm2d(int(args.export_layernorm2d[0]), args.export_layernorm2d[1])
        return 0
    import importlib.util

    with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    rows, raw = run(args.only, args.rounds, args.threads, with_torch)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(rows) + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
