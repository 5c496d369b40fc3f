"""Serving a compiled model on a real Triton server (`cnndsl serve`), through PyTriton.

PyTriton bundles a Triton server (2.51 in PyTriton 0.7) with the Python backend only: the model is an
ONNX Runtime session inside a Python callable that PyTriton binds, with `@batch` and Triton's dynamic
batcher in front (the same batching settings as a repository's config.pbtxt, cnndsl.deploy.triton).
Each instance has its own session. PyTriton's Python model stub is linked to Python 3.13: under an
older Python the server starts but cannot load the model, so `pytriton_problem` refuses it first.

The library starts and stops the server; waiting for a signal is the command line's business
(cnndsl.cli.serve_command): a library must not change a process's signal handlers.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..diagnostics import CnnError, error, first_line
from .triton import Batching, TensorSpec, tensor_spec

if TYPE_CHECKING:
    import numpy as np

PYTHON_NEEDED = (3, 13)  # the Python that PyTriton 0.7's model stub is linked to
DATA_TYPES = {  # Triton's data types -> numpy's, for PyTriton's tensor declarations
    "TYPE_FP32": "float32",
    "TYPE_FP16": "float16",
    "TYPE_FP64": "float64",
    "TYPE_INT8": "int8",
    "TYPE_UINT8": "uint8",
    "TYPE_INT16": "int16",
    "TYPE_UINT16": "uint16",
    "TYPE_INT32": "int32",
    "TYPE_UINT32": "uint32",
    "TYPE_INT64": "int64",
    "TYPE_UINT64": "uint64",
    "TYPE_BOOL": "bool",
}


_ORT_TYPES = {  # ONNX Runtime's type names -> Triton's data types
    f"tensor({ort})": f"TYPE_{triton}"
    for ort, triton in [
        ("float", "FP32"),
        ("float16", "FP16"),
        ("double", "FP64"),
        ("int8", "INT8"),
        ("uint8", "UINT8"),
        ("int16", "INT16"),
        ("uint16", "UINT16"),
        ("int32", "INT32"),
        ("uint32", "UINT32"),
        ("int64", "INT64"),
        ("uint64", "UINT64"),
        ("bool", "BOOL"),
    ]
}


@dataclass(frozen=True)
class Endpoints:
    """Where the server listens, and the model's name there."""

    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    model: str

    @property
    def ports(self) -> dict[str, int]:
        return {"HTTP": self.http_port, "gRPC": self.grpc_port, "metrics": self.metrics_port}

    @property
    def http(self) -> str:
        return f"http://{_url_host(self.host)}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"grpc://{_url_host(self.host)}:{self.grpc_port}"

    @property
    def metrics(self) -> str:
        return f"http://{_url_host(self.host)}:{self.metrics_port}/metrics"

    @property
    def ready(self) -> str:
        return f"{self.http}/v2/health/ready"

    @property
    def infer(self) -> str:
        return f"{self.http}/v2/models/{self.model}/infer"


def _url_host(host: str) -> str:
    """The host as a URL writes it: an IPv6 address in brackets; 'every address' as the loopback one."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def pytriton_problem() -> CnnError | None:
    """Why `cnndsl serve` cannot run here (E813), or None: PyTriton missing, or a Python older than
    the one its model stub is linked to."""
    version = ".".join(map(str, sys.version_info[:2]))
    needed = ".".join(map(str, PYTHON_NEEDED))
    if sys.version_info[:2] < PYTHON_NEEDED:
        return CnnError(
            [
                error(
                    "E813",
                    f"cnndsl serve needs Python {needed}; this is Python {version}",
                    None,
                    notes=[
                        "PyTriton's bundled Triton server loads Python models through a stub linked to "
                        f"Python {needed}: under an older Python the server starts but the model never loads"
                    ],
                    help=f"serve from a Python {needed} environment with PyTriton, made as docs/deploy.md shows; "
                    "or serve the repository that cnndsl compile --triton-repo writes with Triton's own server",
                )
            ]
        )
    if importlib.util.find_spec("pytriton") is None:
        return CnnError(
            [
                error(
                    "E813",
                    "cnndsl serve needs PyTriton, which is not installed",
                    None,
                    help="pip install nvidia-pytriton, in an environment made as docs/deploy.md shows",
                )
            ]
        )
    return None


def check_ports_free(endpoints: Endpoints) -> None:
    """E814 for a port already taken on the host, checked by binding it as the server will (with
    SO_REUSEADDR, so that a port a stopped server left in TIME_WAIT counts as free)."""
    for what, port in endpoints.ports.items():
        family = socket.AF_INET6 if ":" in endpoints.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((endpoints.host, port))
            except OSError as problem:
                in_use = problem.errno == errno.EADDRINUSE
                raise CnnError(
                    [
                        error(
                            "E814" if in_use else "E815",
                            f"the {what} port {port} on {endpoints.host} "
                            + ("is in use" if in_use else f"cannot be opened: {problem.strerror or problem}"),
                            None,
                            help=f"choose another port with {_PORT_OPTIONS[what]}, or stop what listens there"
                            if in_use
                            else "give an address of this machine with --host (0.0.0.0: every address)",
                        )
                    ]
                ) from None


_PORT_OPTIONS = {"HTTP": "--port", "gRPC": "--grpc-port", "metrics": "--metrics-port"}


class ModelServer:
    """A Triton server serving one ONNX model (serialized bytes or an .onnx path) with ONNX Runtime.

    `start()` returns once the model is ready; `stop()` stops the server and its processes."""

    def __init__(self, source: bytes | str, endpoints: Endpoints, batching: Batching) -> None:
        self.source, self.endpoints, self.batching = source, endpoints, batching
        self._triton: Any = None
        self.inputs: list[TensorSpec] = []  # known once started
        self.outputs: list[TensorSpec] = []

    def start(self) -> None:
        problem = pytriton_problem()
        if problem is not None:
            raise problem
        check_ports_free(self.endpoints)
        from ..runtime import create_session

        device = "cuda" if self.batching.device == "gpu" else "cpu"
        threads = max(1, (os.cpu_count() or 1) // self.batching.instances)  # the instances share the cores
        sessions = [create_session(self.source, device, threads=threads) for _ in range(self.batching.instances)]
        self.inputs, self.outputs = inputs, outputs = self._tensors(sessions[0])
        infer_functions = [self._infer_function(session, inputs, outputs) for session in sessions]

        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig

        from .triton import MAX_QUEUE_DELAY_MICROSECONDS

        host = self.endpoints.host
        config = TritonConfig(
            http_address=host,
            http_port=self.endpoints.http_port,
            grpc_address=host,
            grpc_port=self.endpoints.grpc_port,
            metrics_address=host,
            metrics_port=self.endpoints.metrics_port,
        )
        batching = self.batching.max_batch > 0
        model_config = ModelConfig(
            batching=batching,
            max_batch_size=self.batching.max_batch,
            batcher=DynamicBatcher(
                max_queue_delay_microseconds=MAX_QUEUE_DELAY_MICROSECONDS,
                preferred_batch_size=list(self.batching.preferred_batch_sizes) or None,
            ),
        )

        def declared(specs: list[TensorSpec]) -> list[Any]:
            return [Tensor(name=spec.name, dtype=_numpy_type(spec), shape=spec.dims) for spec in specs]

        self._triton = Triton(config=config)
        try:
            self._triton.bind(
                model_name=self.endpoints.model,
                infer_func=infer_functions,
                inputs=declared(inputs),
                outputs=declared(outputs),
                config=model_config,
                strict=True,
            )
            # The server's own output (CUDA, NVML and DCGM warnings on a machine without a GPU) is noise.
            with contextlib.redirect_stdout(sys.stderr):
                self._triton.run()
        except Exception as problem:  # PyTriton's errors, timeouts, a server that exits early
            self.stop()
            raise CnnError(
                [
                    error(
                        "E815",
                        f"the Triton server did not start serving '{self.endpoints.model}': {first_line(problem)}",
                        None,
                    )
                ]
            ) from None

    def alive(self) -> bool:
        return self._triton is not None and bool(self._triton.is_alive())

    def stop(self) -> None:
        if self._triton is not None:
            triton, self._triton = self._triton, None
            triton.stop()

    def _tensors(self, session: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """The model's inputs and outputs as Triton sees them (E812 for a fixed batch or a type Triton
        lacks), read off an ONNX Runtime session: the serving environment needs no onnx package
        (PyTriton's numpy<2 and onnx's need of numpy 2 on Python 3.13 exclude each other)."""

        def specs(values: list[Any]) -> list[TensorSpec]:
            return [
                tensor_spec(
                    value.name,
                    _ORT_TYPES.get(value.type),
                    value.type,
                    [dim if isinstance(dim, int) else -1 for dim in value.shape],
                    self.batching.max_batch,
                )
                for value in values
            ]

        return specs(session.get_inputs()), specs(session.get_outputs())

    def _infer_function(
        self, session: Any, inputs: list[TensorSpec], outputs: list[TensorSpec]
    ) -> Callable[..., dict[str, np.ndarray]]:
        """One instance: its own ONNX Runtime session behind PyTriton's @batch."""
        from pytriton.decorators import batch

        input_names = [spec.name for spec in inputs]
        output_names = [spec.name for spec in outputs]

        def infer(**arrays: np.ndarray) -> dict[str, np.ndarray]:
            results = session.run(output_names, {name: arrays[name] for name in input_names})
            return dict(zip(output_names, results, strict=True))

        batched: Callable[..., dict[str, np.ndarray]] = batch(infer)  # requests stacked into one batch
        return batched


def _numpy_type(spec: TensorSpec) -> Any:
    import numpy as np

    name = DATA_TYPES.get(spec.data_type)
    if name is None:
        raise CnnError([error("E812", f"PyTriton cannot declare '{spec.name}' of type {spec.data_type}", None)])
    return np.dtype(name).type
