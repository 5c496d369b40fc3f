"""`cnndsl compile FILE --triton-repo DIR` and `cnndsl serve FILE` (their arguments: cli/serve_options.py).
onnx, ONNX Runtime and PyTriton are imported when they run.

`serve` runs until Ctrl-C, SIGTERM or SIGHUP, then stops the server and its processes and exits 0:
for a server, being asked to stop is how it ends, not a failure. It takes those signals over from
cnndsl.signals while it waits, so that they end the wait instead of unwinding the command; one
that comes while the server stops is held until it is down.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from .status import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from ..deploy.serve import ModelServer
    from ..deploy.triton import Batching
    from ..model import CheckedModel

_REPOSITORY_OPTIONS = ("max_batch", "instances", "device", "name")
_ALIVE_CHECK_SECONDS = 1.0  # how often the wait looks at whether the server still runs


def batching(args: argparse.Namespace) -> Batching:
    """The batching, instances and device the options give; each left out takes Batching's default."""
    from ..deploy.triton import Batching

    given = {option: getattr(args, option) for option in ("max_batch", "instances", "device")}
    return Batching(**{option: value for option, value in given.items() if value is not None})


def write_triton_repository(args: argparse.Namespace, model: CheckedModel) -> int:
    """`compile --triton-repo DIR`: the model and its config.pbtxt in DIR/NAME."""
    import json

    from ..deploy.precision import converted_model, default_opset
    from ..deploy.triton import write_repository
    from ..deploy.triton_names import default_model_name
    from ..diagnostics import shorten, to_json
    from ..onnx import compile_file
    from .precision import calibration, described, precision_json

    if args.output is not None:
        return _usage_error("compile", "-o/--output and --triton-repo: give one (the repository names its model file)")
    opsets: list[int] = []
    compile_options = {"opset": args.opset, "batch": args.batch, "seed": args.seed, "weights": args.weights}

    def write_model(path: str) -> None:
        """The model compile would write: in --precision (a conversion in memory) or streamed in fp32."""
        if args.precision == "fp32":
            opsets.append(compile_file(model, path, **compile_options).opset)
            return
        converted = converted_model(
            model, args.precision, calibration=calibration(model, args), io=args.io or "fp32", **compile_options
        )
        opsets.append(default_opset(converted))
        with open(path, "wb") as out:
            out.write(converted.SerializeToString())

    name = args.name or default_model_name(model.name)
    settings = batching(args)
    repository = write_repository(args.triton_repo, name, write_model, settings, os.path.basename(model.source.path))
    kind = f"{settings.instances} {settings.device.upper()} instance{'s' if settings.instances != 1 else ''}"
    batch = f"max batch {settings.max_batch}" if settings.max_batch else "no batching"
    if args.format == "json":
        result = {
            "repository": repository.directory,
            "model": name,
            "config": repository.config,
            "bytes": repository.model_bytes,
            "opset": opsets[0],
            "max_batch": settings.max_batch,
            "preferred_batch_sizes": list(settings.preferred_batch_sizes),
            "instances": settings.instances,
            "device": settings.device,
            "total_params": model.total_params,
            **precision_json(args),
            "diagnostics": [to_json(d) for d in ([] if args.quiet else model.warnings)],
        }
        print(json.dumps(result, indent=2))
    else:
        print(
            f"wrote model '{name}' to the Triton repository {shorten(repository.directory)} "
            f"({repository.model_bytes / 1e6:,.1f} MB, {described(args)}{model.total_params:,} parameters, "
            f"opset {opsets[0]}; "
            f"{batch}, {kind})"
        )
    return EXIT_OK


def check_repository_options(args: argparse.Namespace) -> int | None:
    """EXIT_USAGE, said why, when compile is given a repository's settings without --triton-repo."""
    given = [option for option in _REPOSITORY_OPTIONS if getattr(args, option, None) is not None]
    if args.triton_repo is None and given:
        shown = ", ".join("--" + option.replace("_", "-") for option in given)
        return _usage_error("compile", f"{shown}: only with --triton-repo DIR")
    return None


def run_serve(args: argparse.Namespace) -> int:
    from ..deploy.serve import Endpoints, ModelServer, pytriton_problem
    from ..deploy.triton_names import default_model_name
    from ..diagnostics import render_text
    from ..model import check_file
    from ..runtime import model_source
    from ..signals import deferred_signals
    from . import options

    problem = pytriton_problem()  # before compiling anything
    if problem is not None:
        raise problem
    ports = {"--port": args.port, "--grpc-port": args.grpc_port, "--metrics-port": args.metrics_port}
    if len(set(ports.values())) < len(ports):
        return _usage_error("serve", "--port, --grpc-port and --metrics-port must be three different ports")
    if args.file.lower().endswith(".onnx"):
        model: CheckedModel | str = args.file
        name = args.name or default_model_name(_stem(args.file))
    else:
        model = check_file(args.file, options.limits(args), rules=options.rules(args, args.file))
        for warning in [] if args.quiet else model.warnings:
            print(render_text(warning) + "\n", file=sys.stderr)
        name = args.name or default_model_name(model.name)
    compile_options = {"opset": args.opset, "seed": args.seed, "weights": args.weights}
    source, _ = model_source(model, **{key: value for key, value in compile_options.items() if value is not None})
    endpoints = Endpoints(args.host, args.port, args.grpc_port, args.metrics_port, name)
    server = ModelServer(source, endpoints, batching(args))
    try:
        server.start()
        _print_ready(args, server)
        _wait_for_stop(server)
    finally:
        with deferred_signals():  # a second Ctrl-C waits for the server to be down, then ends with 130
            server.stop()
    if not args.quiet and args.format == "text":
        print("stopped", flush=True)
    return EXIT_OK


def _print_ready(args: argparse.Namespace, server: ModelServer) -> None:
    import dataclasses
    import json

    endpoints, settings = server.endpoints, server.batching
    if args.format == "json":
        ready = {
            "model": endpoints.model,
            "http": endpoints.http,
            "grpc": endpoints.grpc,
            "metrics": endpoints.metrics,
            "ready": endpoints.ready,
            "infer": endpoints.infer,
            "max_batch": settings.max_batch,
            "instances": settings.instances,
            "device": settings.device,
            "inputs": [dataclasses.asdict(spec) for spec in server.inputs],
            "outputs": [dataclasses.asdict(spec) for spec in server.outputs],
        }
        print(json.dumps(ready), flush=True)  # one line: a script reads it as soon as it comes
        return
    batch = f"dynamic batching up to {settings.max_batch}" if settings.max_batch else "no batching"
    print(
        f"serving '{endpoints.model}' with ONNX Runtime on the {settings.device.upper()} "
        f"({settings.instances} instance{'s' if settings.instances != 1 else ''}, {batch})\n"
        f"  HTTP     {endpoints.http}   (ready: GET {endpoints.ready})\n"
        f"  gRPC     {endpoints.grpc}\n"
        f"  metrics  {endpoints.metrics}\n"
        f"  infer    POST {endpoints.infer}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )


def _wait_for_stop(server: ModelServer) -> None:
    """Wait until a termination signal arrives (or the server dies: E815). Signal handlers can be
    set in the main thread only: elsewhere (a host application's thread) the wait ends when the
    server does."""
    from ..diagnostics import CnnError, error
    from ..signals import TERMINATING

    stop = threading.Event()
    signums = (signal.SIGINT, *TERMINATING) if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signums}
    try:
        while not stop.wait(_ALIVE_CHECK_SECONDS):
            if not server.alive():
                raise CnnError([error("E815", f"the Triton server serving '{server.endpoints.model}' stopped", None)])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _usage_error(command: str, message: str) -> int:
    print(f"cnndsl {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE
