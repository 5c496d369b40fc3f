"""`cnndsl serve`: a real Triton server (PyTriton's bundled one), driven by tritonclient over HTTP and gRPC.

One server serves a small two-output spec for the module: outputs equal ONNX Runtime's on the same
input (what `cnndsl run` computes), a bounded load test ends with no failed request, malformed
requests get Triton's errors while the server keeps serving, and SIGTERM stops it with exit 0, its
processes gone and its ports free. PyTriton 0.7's Python model stub loads only under Python 3.13, so
these run there (.ci/run makes a 3.13 environment for them); under an older Python, `cnndsl serve`
must refuse with E813, which the first test checks wherever it runs (pretending to be 3.11 under 3.13).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import cnndsl
from benchmarks.serve import Server, free_ports, load_test, serving
from cnndsl.cli import main

SERVABLE = sys.version_info >= (3, 13) and importlib.util.find_spec("pytriton") is not None
needs_pytriton = pytest.mark.skipif(
    not SERVABLE,
    reason="PyTriton's model stub loads only under Python 3.13 with the serve extra "
    f"(this is Python {sys.version_info.major}.{sys.version_info.minor}); .ci/run runs these in a 3.13 environment",
)

SPEC = """input 3x16x16
features = conv 3x3 8 pad 1 relu -> pool 2
logits = features -> flatten -> fc 10
box = features -> conv 1x1 4
output logits, box
"""
SEED = 7


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("serve") / "tiny.cnn"
    path.write_text(SPEC)
    return path


def _expected(spec: pathlib.Path, x: np.ndarray) -> list[np.ndarray]:
    """What `cnndsl run` computes: the spec compiled with the same seed, in ONNX Runtime."""
    outputs: list[np.ndarray] = cnndsl.create_session(str(spec), "cpu", seed=SEED).run(None, {"input": x})
    return outputs


def test_serve_refuses_under_an_older_python_with_E813(spec, monkeypatch, capsys):
    # Where the extra runs (Python 3.13), an older Python is what this process pretends to be.
    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))
    assert main(["serve", str(spec)]) == 1
    captured = capsys.readouterr()
    assert "error[E813]: cnndsl serve needs Python 3.13; this is Python 3.11" in captured.err
    assert captured.out == ""


@pytest.fixture(scope="module")
def server(spec):
    if not SERVABLE:
        pytest.skip(needs_pytriton.kwargs["reason"])
    pytest.importorskip("tritonclient.grpc", reason="the tests' client: tritonclient[grpc,http]")
    with serving(str(spec), "--seed", str(SEED), "--max-batch", "8", "--instances", "2") as running:
        yield running


def _http(server: Server):
    import tritonclient.http

    return tritonclient.http.InferenceServerClient(server.http)


def _grpc(server: Server):
    import tritonclient.grpc

    return tritonclient.grpc.InferenceServerClient(server.grpc)


@needs_pytriton
def test_ready_line_and_health_endpoints(server):
    ready = server.ready
    assert ready["model"] == "tiny"
    assert [(t["name"], t["data_type"], t["dims"]) for t in ready["inputs"]] == [("input", "TYPE_FP32", [3, 16, 16])]
    assert [t["name"] for t in ready["outputs"]] == ["logits", "box"]
    with urllib.request.urlopen(ready["ready"], timeout=10) as response:
        assert response.status == 200
    assert _http(server).is_model_ready("tiny")
    assert _grpc(server).is_server_live()


@needs_pytriton
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_outputs_equal_onnx_runtimes(server, spec, protocol):
    import tritonclient.grpc
    import tritonclient.http

    triton = tritonclient.http if protocol == "http" else tritonclient.grpc
    client = _http(server) if protocol == "http" else _grpc(server)
    x = np.random.default_rng(1).standard_normal((3, 3, 16, 16)).astype(np.float32)
    request = triton.InferInput("input", list(x.shape), "FP32")
    request.set_data_from_numpy(x)
    result = client.infer("tiny", [request])
    for name, expected in zip(["logits", "box"], _expected(spec, x), strict=True):
        np.testing.assert_allclose(result.as_numpy(name), expected, rtol=1e-5, atol=1e-6)


@needs_pytriton
def test_a_bounded_load_test_has_no_failed_request(server):
    sample = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)
    result = load_test(server, sample, clients=8, requests=200)
    assert (result.requests, result.failed) == (1600, 0), result.errors
    assert len(result.latencies) == 1600


@needs_pytriton
@pytest.mark.parametrize(
    ("name", "shape", "datatype", "words"),
    [
        ("input", [1, 3, 15, 16], "FP32", "unexpected shape"),
        ("input", [1, 3, 16, 16], "FP64", "data-type"),
        ("image", [1, 3, 16, 16], "FP32", "image"),
        ("input", [9, 3, 16, 16], "FP32", "batch-size"),  # past --max-batch 8
    ],
    ids=["shape", "dtype", "name", "batch"],
)
def test_a_malformed_request_gets_tritons_error_and_the_server_keeps_serving(
    server, spec, name, shape, datatype, words
):
    import tritonclient.grpc
    from tritonclient.utils import InferenceServerException

    client = _grpc(server)
    bad = tritonclient.grpc.InferInput(name, shape, datatype)
    bad.set_data_from_numpy(np.zeros(shape, np.float64 if datatype == "FP64" else np.float32))
    with pytest.raises(InferenceServerException) as refused:
        client.infer("tiny", [bad])
    assert words in str(refused.value)
    x = np.ones((1, 3, 16, 16), np.float32)
    good = tritonclient.grpc.InferInput("input", list(x.shape), "FP32")
    good.set_data_from_numpy(x)
    np.testing.assert_allclose(client.infer("tiny", [good]).as_numpy("logits"), _expected(spec, x)[0], rtol=1e-5)


@needs_pytriton
def test_a_port_in_use_is_E814(spec):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        grpc, metrics = free_ports(2)
        argv = [sys.executable, "-m", "cnndsl", "serve", str(spec), "--port", str(port)]
        argv += ["--grpc-port", str(grpc), "--metrics-port", str(metrics)]
        child = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert child.returncode == 1
    assert f"error[E814]: the HTTP port {port} on 127.0.0.1 is in use" in child.stderr


def _descendants(pid: int) -> set[int]:
    """The processes under `pid` (the Triton server and PyTriton's helpers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _stops_cleanly(running: Server, signum: int) -> None:
    """`signum` ends the server with exit 0, its processes gone and its ports free."""
    children = _descendants(running.process.pid)
    assert children, "the Triton server runs in a child process"
    status = running.terminate(signum)
    assert status == 0, "".join(running.log)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)]
    for address in (running.http, running.grpc):
        host, port = address.rsplit(":", 1)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port)))  # free again


@needs_pytriton
def test_ctrl_c_stops_a_server_cleanly(spec):
    with serving(str(spec), "--max-batch", "0") as running:
        _stops_cleanly(running, signal.SIGINT)


@needs_pytriton
def test_sigterm_stops_the_server_cleanly(server):
    # The last test of the module's server.
    _stops_cleanly(server, signal.SIGTERM)
