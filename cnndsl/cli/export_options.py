"""The arguments of `cnndsl export FILE --to pytorch -o OUT` and `cnndsl weights MODEL.onnx -o OUT`
(cli/export.py runs them). Building the parser imports neither the export package nor onnx."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# The export package's targets, repeated here so that building the parser does not import it;
# tests/test_export_cli.py checks they agree.
TARGET_NAMES = ("pytorch", "keras")


def add_export_command(command: Callable[[str, str, argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    """Add `export` and `weights` with `command` (options.build_parser's)."""
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true", help="print errors only: no warnings, no result line")
    export = command("export", "generate PyTorch or Keras source whose parameters are the compiled model's", quiet)
    export.add_argument("file", metavar="FILE", help="the .cnn spec")
    export.add_argument("--to", choices=TARGET_NAMES, default="pytorch", help="the framework (default: pytorch)")
    export.add_argument("-o", "--output", metavar="OUT", help="the Python file to write (default: standard output)")
    weights = command("weights", "extract a compiled model's weights into an .npz a PyTorch state_dict loads", quiet)
    # `file`, as every command names its input (options.spec_paths skips an .onnx one)
    weights.add_argument("file", metavar="MODEL", help="the .onnx model `cnndsl compile` wrote")
    weights.add_argument("-o", "--output", required=True, metavar="OUT", help="the .npz archive to write")
