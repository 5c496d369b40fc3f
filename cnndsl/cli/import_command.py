"""`cnndsl import MODEL.onnx`: the command (its arguments: cli/import_options.py). The importer and
onnx are imported when it runs."""

from __future__ import annotations

import argparse
import os

from .status import EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    from ..diagnostics import shorten
    from ..importer import import_model
    from ..importer.output import write_outputs

    output = args.output or os.path.splitext(args.file)[0] + ".cnn"
    spec = import_model(args.file, args.input_shape)
    write_outputs(spec, args.file, output, args.weights_out)
    wrote = f"wrote {shorten(output)} ({spec.layers:,} layers)"
    if args.weights_out:
        wrote += f" and {shorten(args.weights_out)} ({len(spec.weights):,} arrays)"
    if not args.quiet:
        print(wrote)
    return EXIT_OK
