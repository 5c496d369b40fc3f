"""`cnndsl export FILE --to pytorch` and `cnndsl weights MODEL.onnx -o w.npz`: the commands (their
arguments: cli/export_options.py). The export package is imported when they run."""

from __future__ import annotations

import argparse
import sys

from .status import EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from ..diagnostics import render_text, shorten
    from ..export import export, write_export
    from ..model import check_file
    from . import options

    model = check_file(args.file, options.limits(args), rules=options.rules(args, args.file))
    for warning in [] if args.quiet else model.warnings:
        print(render_text(warning) + "\n", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(export(model, args.to))
        return EXIT_OK
    write_export(model, args.to, args.output)
    if not args.quiet:
        print(f"wrote {shorten(args.output)} ({args.to})")
    return EXIT_OK


def run_weights(args: argparse.Namespace) -> int:
    from ..diagnostics import shorten
    from ..export.weights import extract_weights

    count = extract_weights(args.file, args.output)
    if not args.quiet:
        print(f"wrote {shorten(args.output)} ({count} arrays)")
    return EXIT_OK
