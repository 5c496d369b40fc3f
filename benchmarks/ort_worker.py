"""ONNX Runtime latency of several .onnx models of one architecture, interleaved, in one process.

    python -m benchmarks.ort_worker --threads T --batches 1,8 --repeat R NAME=PATH [NAME=PATH ...]

Every model gets the same SessionOptions (intra-op threads T, one inter-op thread, all graph
optimisations) and the same input. For each batch size: one warm-up run per model, then R rounds
of A B C ... each timed on its own; the median per model. The fp32 matrix-multiply rate of numpy
(2048x2048 @ 2048x2048) is measured in the same process, in the same rounds (M A B C M A B C ...),
so that it sees the same machine load as the models. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


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

    matmul = Matmul(args.matmul_size)
    rates: list[float] = []
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = {}
    for item in args.models:
        name, _, path = item.partition("=")
        sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    results: dict = {"threads": args.threads, "latency_s": {}}
    rng = np.random.default_rng(0)
    for batch in (int(b) for b in args.batches.split(",")):
        x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
        feeds = {name: {s.get_inputs()[0].name: x} for name, s in sessions.items()}
        for name, session in sessions.items():  # warm-up
            session.run(None, feeds[name])
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(args.repeat):
            rates.append(matmul())
            for name, session in sessions.items():
                start = time.perf_counter()
                session.run(None, feeds[name])
                times[name].append(time.perf_counter() - start)
        results["latency_s"][str(batch)] = {name: statistics.median(t) for name, t in times.items()}
    results["matmul_gflops"] = {"median": statistics.median(rates), "max": max(rates), "samples": rates}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
