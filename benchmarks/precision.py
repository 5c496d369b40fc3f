"""int8 and fp16 against fp32 in ONNX Runtime on this CPU: `python -m benchmarks.precision [--batch 8]
[--rounds 20] [NETWORK...]`.

For each network, the spec is compiled (fp32) and converted to int8 (static QDQ, per-channel
weights) and fp16 with cnndsl.deploy; the three run in one process on the same batch, interleaved
(fp32, int8, fp16, fp32, ...), so that a change in the machine's load weighs on all alike. The
table gives their median latencies, the throughput ratio, the sizes and the kernels ONNX Runtime
chose: the operator types of each optimised graph (SessionOptions.optimized_model_filepath),
where QLinearConv / ConvInteger / QGemm / MatMulIntegerToFloat mean integer kernels ran, and the
CPU's flags for VNNI and AMX.

Speed does not depend on the calibration's values, so the int8 models here are calibrated on random
normal inputs (32 samples), which `cnndsl compile` refuses (E801): accuracy is measured by
tests/test_precision.py on a trained model instead.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np

import cnndsl
from cnndsl.deploy.calibration import Calibration
from cnndsl.deploy.precision import convert

NETWORKS = ("resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0")
SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")
INTEGER_KERNELS = ("QLinearConv", "ConvInteger", "MatMulIntegerToFloat", "QLinearMatMul", "MatMulInteger", "QGemm")


def cpu_flags() -> list[str]:
    """The CPU's VNNI and AMX flags (Linux's /proc/cpuinfo); empty when it has none."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return []
    return sorted(flag for flag in flags if "vnni" in flag or flag.startswith("amx") or flag == "avx512f")


def session(serialized: bytes, optimized: str) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = optimized
    return onnxruntime.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])


def kernels(path: str) -> collections.Counter[str]:
    import onnx

    return collections.Counter(node.op_type for node in onnx.load(path, load_external_data=False).graph.node)


def measure(name: str, batch: int, rounds: int) -> dict[str, Any]:
    model = cnndsl.check_file(os.path.join(SPECS, name + ".cnn"))
    proto = cnndsl.compile_model(model, seed=0)
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((32, *model.input_shape), dtype=np.float32)
    start = time.perf_counter()
    quantized = convert(proto, "int8", calibration=Calibration(samples, "random normal"), model=model)
    conversion = time.perf_counter() - start
    models = {
        "fp32": proto.SerializeToString(),
        "int8": quantized.SerializeToString(),
        "fp16": convert(proto, "fp16", model=model).SerializeToString(),
    }
    x = rng.standard_normal((batch, *model.input_shape), dtype=np.float32)
    with tempfile.TemporaryDirectory() as directory:
        sessions = {p: session(data, os.path.join(directory, p + ".onnx")) for p, data in models.items()}
        graphs = {p: kernels(os.path.join(directory, p + ".onnx")) for p in models}
    times: dict[str, list[float]] = {p: [] for p in models}
    for run in sessions.values():
        run.run(None, {"input": x})  # warm-up
    for _ in range(rounds):
        for precision, run in sessions.items():
            begin = time.perf_counter()
            run.run(None, {"input": x})
            times[precision].append(time.perf_counter() - begin)
    medians = {p: statistics.median(t) for p, t in times.items()}
    return {
        "network": name,
        "fp32_ms": medians["fp32"] * 1e3,
        "int8_ms": medians["int8"] * 1e3,
        "fp16_ms": medians["fp16"] * 1e3,
        "ratio": medians["fp32"] / medians["int8"],
        "fp32_mb": len(models["fp32"]) / 1e6,
        "int8_mb": len(models["int8"]) / 1e6,
        "conversion_s": conversion,
        "int8_kernels": {op: n for op, n in graphs["int8"].most_common() if op in INTEGER_KERNELS or "Quant" in op},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20, help="interleaved timed runs of each model")
    parser.add_argument("networks", nargs="*", default=NETWORKS)
    args = parser.parse_args()
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs, VNNI/AMX flags: {cpu_flags() or 'none'}")
    print(f"load average before: {os.getloadavg()[0]:.2f}; batch {args.batch}, {args.rounds} interleaved rounds")
    print(
        "| network | fp32 ms | int8 ms | int8/fp32 throughput | fp16 ms | fp32 MB | int8 MB | int8 conversion s "
        "| int8 graph after optimisation |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name in args.networks:
        row = measure(name, args.batch, args.rounds)
        graph = ", ".join(f"{op} x{n}" for op, n in row["int8_kernels"].items())
        print(
            f"| {name} | {row['fp32_ms']:.1f} | {row['int8_ms']:.1f} | {row['ratio']:.2f}x | {row['fp16_ms']:.1f} | "
            f"{row['fp32_mb']:.1f} | "
            f"{row['int8_mb']:.1f} | {row['conversion_s']:.1f} | {graph} |",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
