"""The arguments of `cnndsl run` and `cnndsl profile`, the commands that run a model in ONNX Runtime."""

from __future__ import annotations

import argparse
from collections.abc import Callable

INT32_MAX, INT64_MAX, UINT64_MAX = 2**31 - 1, 2**63 - 1, 2**64 - 1


def add_runtime_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    whole_number: Callable[[int, int], Callable[[str], int]],
    compile_options: Callable[[argparse.ArgumentParser, str], None],
) -> None:
    """Add `run` and `profile` with `command` (options.build_parser's); `whole_number` is its argument
    type for numbers and `compile_options` adds compile's options (a .cnn file is compiled first)."""
    run = command("run", "run a spec or .onnx in ONNX Runtime")
    run.add_argument("file", metavar="FILE.cnn|FILE.onnx", help="a spec (compiled in memory) or an ONNX model")
    _add_device_option(run)
    run.add_argument(
        "--batch",
        type=whole_number(1, INT32_MAX),
        metavar="N",
        help="batch size (default: 1, or the model's fixed batch)",
    )
    run.add_argument("--input", metavar="x.npy", help="input array (default: random normal, seeded)")
    run.add_argument(
        "--repeat",
        type=whole_number(1, 1_000_000),
        default=10,
        metavar="K",
        help="timed runs for the median latency (default 10)",
    )
    run.add_argument(
        "--seed",
        type=whole_number(0, UINT64_MAX),
        default=0,
        metavar="S",
        help="seed of the random input, 0 to 2**64-1 (default 0)",
    )
    compile_options(run, " (a .cnn only)")
    run.add_argument(
        "--max-memory",
        type=whole_number(1, INT64_MAX),
        metavar="BYTES",
        help="the most memory the run may need (input, weights, activations), like 4e9; "
        "checked before anything is allocated (E508)",
    )
    run.add_argument(
        "--top-k",
        type=whole_number(1, 1_000_000),
        metavar="K",
        help="show the K most likely classes of every 2-D output (default: the top 5 of softmax outputs only)",
    )
    profile = command("profile", "time a spec's layers in ONNX Runtime, mapped to its source lines")
    profile.add_argument("file", metavar="FILE", help="the .cnn spec")
    _add_device_option(profile)
    profile.add_argument(
        "--batch", type=whole_number(1, INT32_MAX), default=1, metavar="N", help="batch size (default 1)"
    )
    profile.add_argument(
        "--repeat",
        type=whole_number(1, 100_000),
        default=10,
        metavar="K",
        help="profiled runs after one warm-up; times are their mean (default 10)",
    )


def _add_device_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run (default auto: CUDA when ONNX Runtime has it, else CPU)",
    )
