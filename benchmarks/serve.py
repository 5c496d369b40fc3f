"""`cnndsl serve` under load: throughput and latency of a real Triton server, driven by tritonclient.

    python -m benchmarks.serve [SPEC] [--clients 8] [--requests 200] [--protocol grpc|http]
                               [--max-batch 8] [--instances 1]

starts `cnndsl serve SPEC` on free loopback ports (Python 3.13 with the serve extra: PyTriton's model
stub needs it), waits until it is ready, then runs a bounded load test: CLIENTS threads, each with its
own client, send REQUESTS single-sample requests one after another, and the run stops by itself. It
prints the requests that failed, the throughput and the latency percentiles, then stops the server
with SIGTERM. tests/test_serve.py uses `serving` and `load_test` from here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STARTUP_SECONDS = 240  # a cold start copies the server's binaries and loads the model


def free_ports(count: int) -> list[int]:
    """Ports free on the loopback address now (the kernel's picks; all held until all are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@dataclass
class Server:
    """A running `cnndsl serve` child process and where it listens (its JSON 'ready' line)."""

    process: subprocess.Popen[str]
    ready: dict[str, Any]
    log: list[str] = field(default_factory=list)  # its standard error, read by a thread

    @property
    def http(self) -> str:
        return str(self.ready["http"]).removeprefix("http://")

    @property
    def grpc(self) -> str:
        return str(self.ready["grpc"]).removeprefix("grpc://")

    @property
    def model(self) -> str:
        return str(self.ready["model"])

    def terminate(self, signum: int = signal.SIGTERM, timeout: float = 120) -> int:
        """Send `signum` and wait for the exit status."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


@contextlib.contextmanager
def serving(spec: str, *options: str, python: str = sys.executable) -> Iterator[Server]:
    """`cnndsl serve SPEC OPTIONS` on free loopback ports, once it says it is ready; killed at the end
    if it is still running. Raises RuntimeError with its output when it exits or stalls first."""
    http, grpc, metrics = free_ports(3)
    argv = [python, "-m", "cnndsl", "serve", spec, "--host", "127.0.0.1", "--format", "json"]
    argv += ["--port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics), *options]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        line = _first_line(process, STARTUP_SECONDS)
        if not line:
            process.kill()
            process.wait()
            reader.join(5)
            raise RuntimeError(f"cnndsl serve exited {process.returncode} before it was ready:\n{''.join(log)}")
        yield Server(process, json.loads(line), log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The child's first line of standard output, or '' when it exits or `timeout` passes first."""
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


@dataclass
class LoadResult:
    requests: int
    failed: int
    seconds: float
    latencies: list[float]  # of the requests that succeeded, in seconds
    errors: list[str]  # the first few failures' messages

    @property
    def throughput(self) -> float:
        return (self.requests - self.failed) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    def render(self) -> str:
        return (
            f"{self.requests:,} requests, {self.failed} failed, {self.seconds:.2f} s: "
            f"{self.throughput:,.0f} requests/s; latency p50 {self.percentile(50) * 1e3:.1f} ms, "
            f"p99 {self.percentile(99) * 1e3:.1f} ms, max {max(self.latencies, default=float('nan')) * 1e3:.1f} ms"
        )


def load_test(
    server: Server, sample: np.ndarray, *, clients: int = 8, requests: int = 200, protocol: str = "grpc"
) -> LoadResult:
    """`clients` threads, each with its own tritonclient, send `requests` one-sample requests of
    `sample` (the input's shape with a batch of 1) one after another; every request is counted."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    start_together = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        infer = _infer_function(server, protocol, sample)
        start_together.wait()
        for _ in range(requests):
            began = time.perf_counter()
            try:
                infer()
            except Exception as problem:  # tritonclient's InferenceServerException, a connection error
                errors[index].append(str(problem))
                continue
            latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_together.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    failures = [message for messages in errors for message in messages]
    return LoadResult(clients * requests, len(failures), seconds, [t for ts in latencies for t in ts], failures[:5])


def _infer_function(server: Server, protocol: str, sample: np.ndarray) -> Any:
    """A no-argument callable sending `sample` to the server's model once, over `protocol`."""
    if protocol == "grpc":
        import tritonclient.grpc as triton
    else:
        import tritonclient.http as triton  # type: ignore[no-redef]
    client = triton.InferenceServerClient(server.grpc if protocol == "grpc" else server.http)
    request = triton.InferInput(str(server.ready["inputs"][0]["name"]), list(sample.shape), "FP32")
    request.set_data_from_numpy(sample)
    return lambda: client.infer(server.model, [request])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="specs/mobilenet_v2.cnn")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per client")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--max-batch", default="8")
    parser.add_argument("--instances", default="1")
    args = parser.parse_args()

    import cnndsl

    shape = (1, *cnndsl.check_file(args.spec).input_shape)
    sample = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    print(f"{args.spec}: {args.clients} clients x {args.requests} requests over {args.protocol}, batch 1 each")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with serving(args.spec, "--max-batch", args.max_batch, "--instances", args.instances) as server:
        load_test(server, sample, clients=args.clients, requests=10, protocol=args.protocol)  # warm-up
        result = load_test(server, sample, clients=args.clients, requests=args.requests, protocol=args.protocol)
        status = server.terminate()
    print(result.render())
    for message in result.errors:
        print("  failed:", message)
    print(f"server stopped by SIGTERM, exit status {status}")


if __name__ == "__main__":
    main()
