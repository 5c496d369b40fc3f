"""The arguments of `cnndsl diff A.cnn B.cnn`. Apart from cli/diff.py, which imports the summary:
building the parser, as every command does, must not."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..analysis.memory import OPTIMIZER_STATES

ArgumentType = Callable[[str], object]


def add_diff_command(
    command: Callable[[str, str], argparse.ArgumentParser],
    depth: ArgumentType,
    batch: ArgumentType,
    column_names: ArgumentType,
) -> None:
    """Add `diff` with `command` (options.build_parser's); the argument types are summary's, so
    that --depth, --batch and --columns accept what they accept there."""
    diff = command("diff", "compare two specs by stage or block: params, MACs, memory, receptive field, text")
    # Both into `files`, as check's: the rules of each are settled for `files` (options.spec_paths).
    diff.add_argument("files", action="append", metavar="A.cnn", help="the spec compared from")
    diff.add_argument("files", action="append", metavar="B.cnn", help="the spec compared to")
    diff.add_argument(
        "--depth",
        type=depth,
        default=1,
        metavar="N",
        help="match rows at N levels of nesting, as summary --depth folds them (default 1: top-level "
        "layers, stages and blocks)",
    )
    diff.add_argument(
        "--columns",
        type=column_names,
        default=(),
        metavar="NAMES",
        help="summary columns to compare besides params and macs, comma-separated: rf, flops, "
        "out_bytes (its totals: inference and training memory), ...; 'all' for every one",
    )
    diff.add_argument(
        "--batch", type=batch, default=1, metavar="N", help="batch size of the memory figures (default 1)"
    )
    diff.add_argument(
        "--optimizer",
        choices=tuple(OPTIMIZER_STATES),
        default="adam",
        help="the optimizer whose state the training memory counts (out_bytes column; default adam)",
    )
