"""The arguments of `cnndsl compile --triton-repo DIR` and `cnndsl serve FILE` (cli/serve_command.py runs
them). Building the parser, as every command does, imports neither onnx nor PyTriton."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..deploy.triton_names import DEFAULT_MAX_BATCH, DEVICE_KINDS, model_name_problem
from .runtime_options import INT32_MAX, UINT64_MAX

MAX_INSTANCES = 1024
PORT_RANGE = (1, 65535)


def _model_name(text: str) -> str:
    problem = model_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _add_model_options(
    command: argparse.ArgumentParser, whole_number: Callable[[int, int], Callable[[str], int]]
) -> None:
    """What the repository's config and the server share: batching, instances, device, name. They
    default to None, so that compile can tell them given without --triton-repo; cli/serve_command.py's
    `batching` fills in the defaults (cnndsl.deploy.triton.Batching's)."""
    command.add_argument(
        "--max-batch",
        type=whole_number(0, INT32_MAX),
        metavar="N",
        help=f"the largest batch the dynamic batcher forms (default {DEFAULT_MAX_BATCH}; "
        "0: no batching, a request is one whole model input)",
    )
    command.add_argument(
        "--instances",
        type=whole_number(1, MAX_INSTANCES),
        metavar="K",
        help="copies of the model that run requests at the same time (default 1)",
    )
    command.add_argument(
        "--device",
        choices=tuple(DEVICE_KINDS),
        help="where the model runs: ONNX Runtime on the CPU, or with CUDA on the GPU (default cpu)",
    )
    command.add_argument(
        "--name",
        type=_model_name,
        metavar="NAME",
        help="the model's name in Triton (default: the spec's name)",
    )


def add_triton_options(
    compile_: argparse.ArgumentParser, whole_number: Callable[[int, int], Callable[[str], int]]
) -> None:
    """Add --triton-repo and its settings to `compile`."""
    compile_.add_argument(
        "--triton-repo",
        metavar="DIR",
        help="write DIR/NAME/config.pbtxt and DIR/NAME/1/model.onnx, a model repository for Triton's "
        "onnxruntime backend, instead of -o OUT.onnx",
    )
    _add_model_options(compile_, whole_number)


def add_serve_command(
    command: Callable[[str, str], argparse.ArgumentParser],
    whole_number: Callable[[int, int], Callable[[str], int]],
    compile_options: Callable[[argparse.ArgumentParser, str], None],
) -> None:
    """Add `serve` with `command` (options.build_parser's); `compile_options` adds compile's options."""
    serve = command("serve", "serve a spec or .onnx on a Triton server (PyTriton, Python 3.13; ONNX Runtime inside)")
    serve.add_argument("file", metavar="FILE.cnn|FILE.onnx", help="a spec (compiled in memory) or an ONNX model")
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1; 0.0.0.0 for every one)"
    )
    port = whole_number(*PORT_RANGE)
    serve.add_argument("--port", type=port, default=8000, metavar="HTTP", help="the HTTP port (default 8000)")
    serve.add_argument("--grpc-port", type=port, default=8001, metavar="P", help="the gRPC port (default 8001)")
    serve.add_argument(
        "--metrics-port", type=port, default=8002, metavar="P", help="the Prometheus metrics port (default 8002)"
    )
    _add_model_options(serve, whole_number)
    compile_options(serve, " (a .cnn only)")
    serve.add_argument(
        "--seed",
        type=whole_number(0, UINT64_MAX),
        default=0,
        metavar="S",
        help="seed of the weight initialisation, 0 to 2**64-1 (a .cnn only; default 0)",
    )
