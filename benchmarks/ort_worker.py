"""ONNX Runtime latency of several .onnx models of one architecture, interleaved, in one process.

    python -m benchmarks.ort_worker --threads T --batches 1,8 --repeat R NAME=PATH [NAME=PATH ...]

Every model gets the same SessionOptions (intra-op threads T, one inter-op thread, all graph
optimisations, no spinning of idle pool threads) and the same input. For each batch size: one
warm-up run per model, then R rounds of A B C ... (rotated each round) each timed on its own; the
median per model, and every round's times (for ratios paired within a round). The fp32
matrix-multiply rate of numpy (2048x2048 @ 2048x2048) is measured in the same process, in a block
of R products after each batch size's rounds (M M M ... between A B C blocks, not inside them: a
product disturbs the next model's timing), so that it sees the same machine load; --matmul-size 0
leaves it out. The warm-up's outputs are compared: `max_rel_diff` is each model's largest absolute
difference from the first model's output, over the largest magnitude of that output (the models
are meant to be the same network with the same weights). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

_BLAS_SETTLE_S = 0.2


class Matmul:
    """numpy's fp32 matmul (OpenBLAS/MKL, all cores); each call times one product, in GFLOP/s."""

    def __init__(self, size: int) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.size = size
        self.a = rng.random((size, size), dtype=np.float32)
        self.b = rng.random((size, size), dtype=np.float32)
        self.out = np.empty((size, size), dtype=np.float32)
        # Warm-up for half a second: thread pool start, page faults, clock ramp-up.
        deadline = time.perf_counter() + 0.5
        while time.perf_counter() < deadline:
            np.matmul(self.a, self.b, out=self.out)

    def __call__(self) -> float:
        import numpy as np

        start = time.perf_counter()
        np.matmul(self.a, self.b, out=self.out)
        return 2 * self.size**3 / (time.perf_counter() - start) / 1e9


def _blas_kernel() -> str:
    """Which BLAS and kernel numpy's matmul ran on (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl)"
    return (
        ", ".join(
            f"{i['internal_api']} {i.get('architecture', '')}".strip()
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
        or "none"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ort_worker")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("models", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args(argv)

    import numpy as np
    import onnxruntime as ort

    matmul = Matmul(args.matmul_size) if args.matmul_size else None
    rates: list[float] = []
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Several sessions share this process: an idle session's pool threads would otherwise spin and
    # take the cores from the one being timed.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {}
    for item in args.models:
        name, _, path = item.partition("=")
        sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    results: dict[str, Any] = {"threads": args.threads, "latency_s": {}}
    rng = np.random.default_rng(0)
    for batch in (int(b) for b in args.batches.split(",")):
        x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
        feeds = {name: {s.get_inputs()[0].name: x} for name, s in sessions.items()}
        outputs = {name: session.run(None, feeds[name])[0] for name, session in sessions.items()}  # warm-up
        first = next(iter(outputs.values()))
        scale = float(np.abs(first).max()) or 1.0
        results.setdefault("max_rel_diff", {})[str(batch)] = {
            name: float(np.abs(out - first).max()) / scale for name, out in outputs.items()
        }
        times: dict[str, list[float]] = {name: [] for name in sessions}
        order = list(sessions)
        for round_ in range(args.repeat):
            # Rotate which model goes first, so that none always follows the others.
            for name in order[round_ % len(order) :] + order[: round_ % len(order)]:
                start = time.perf_counter()
                sessions[name].run(None, feeds[name])
                times[name].append(time.perf_counter() - start)
        # The yardstick in its own block: AVX-512 products lower the clock and BLAS threads keep
        # spinning afterwards, which would slow whichever model ran right after a product.
        if matmul is not None:
            rates += [matmul() for _ in range(args.repeat)]
            time.sleep(_BLAS_SETTLE_S)
        results["latency_s"][str(batch)] = {name: statistics.median(t) for name, t in times.items()}
        results.setdefault("rounds_s", {})[str(batch)] = times
    results["matmul_gflops"] = {
        "median": statistics.median(rates) if rates else None,
        "max": max(rates, default=None),
        "samples": rates,
        "kernel": _blas_kernel(),
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
