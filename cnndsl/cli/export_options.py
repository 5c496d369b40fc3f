"""The arguments of `cnndsl export FILE --to pytorch -o OUT` and `cnndsl weights MODEL.onnx -o OUT`
(cli/export.py runs them). Building the parser imports neither the export package nor onnx."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# The export package's targets and weight layouts, repeated here so that building the parser does
# not import it; tests/test_export_cli.py and tests/test_weights_cli.py check they agree.
TARGET_NAMES = ("pytorch", "keras")
LAYOUT_NAMES = ("onnx", "keras")


def add_export_command(command: Callable[[str, str, argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    """Add `export` and `weights` with `command` (options.build_parser's)."""
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", help="print errors only: no warnings, no result line")
    export = command("export", "generate PyTorch or Keras source whose parameters are the compiled model's", quiet)
    export.add_argument("file", metavar="FILE", help="the .cnn spec")
    export.add_argument("--to", choices=TARGET_NAMES, default="pytorch", help="the framework (default: pytorch)")
    export.add_argument("-o", "--output", metavar="OUT", help="the Python file to write (default: standard output)")
    weights = command(
        "weights", "a compiled model's weights as an .npz a PyTorch state_dict loads, or in Keras's layout", quiet
    )
    # `file`, as every command names its input (options.spec_paths skips an .onnx one)
    weights.add_argument(
        "file", metavar="SOURCE", help="the .onnx model `cnndsl compile` wrote, or an .npz archive of weights"
    )
    weights.add_argument("-o", "--output", required=True, metavar="OUT", help="the .npz archive to write")
    weights.add_argument(
        "--layout",
        choices=LAYOUT_NAMES,
        default="onnx",
        help="the archive's layout: onnx (the spec's parameter names and shapes, which compile --weights and "
        "a PyTorch state_dict take; the default) or keras (the variables of export --to keras's model, "
        "by path); keras needs --spec",
    )
    weights.add_argument(
        "--from",
        dest="source_layout",
        choices=LAYOUT_NAMES,
        default="onnx",
        help="the layout of an .npz SOURCE (default: onnx); keras needs --spec",
    )
    weights.add_argument(
        "--spec", metavar="FILE.cnn", help="the spec the weights are of: it names and shapes Keras's variables"
    )
