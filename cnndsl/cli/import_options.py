"""The arguments of `cnndsl import MODEL.onnx -o MODEL.cnn [--weights-out MODEL.npz]` (cli/import_command.py
runs it). Building the parser, as every command does, imports neither onnx nor the importer."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def input_shape(text: str) -> tuple[int, ...]:
    """`3x224x224`: the input's shape without the batch axis, every extent a positive integer."""
    try:
        extents = tuple(int(part) for part in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape like 3x224x224") from None
    if not extents or any(extent < 1 or extent > 2**31 - 1 for extent in extents):
        raise argparse.ArgumentTypeError(f"'{text}': every extent must be 1 to 2**31-1")
    return extents


def add_import_command(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add `import` with `command` (options.build_parser's)."""
    lift = command("import", "lift an ONNX model into a spec, and its weights into an .npz archive")
    lift.add_argument("file", metavar="MODEL.onnx", help="the ONNX model (its external data beside it)")
    lift.add_argument("-o", "--output", metavar="OUT.cnn", help="the spec (default: the model's name with .cnn)")
    lift.add_argument(
        "--weights-out",
        metavar="OUT.npz",
        help="write the model's weights under the spec's parameter names, for cnndsl compile --weights",
    )
    lift.add_argument(
        "--input-shape",
        type=input_shape,
        metavar="CxHxW",
        help="the input's extents without the batch, for a model whose input has symbolic ones",
    )
