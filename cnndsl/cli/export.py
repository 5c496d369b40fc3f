"""`cnndsl export FILE --to pytorch` and `cnndsl weights SOURCE -o w.npz`: the commands (their
arguments: cli/export_options.py). The export package is imported when they run."""

from __future__ import annotations

import argparse
import sys

from .status import EXIT_OK, EXIT_USAGE


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
    from ..export.weights import write_weights
    from ..model import check_file
    from . import options

    keras = "keras" in (args.layout, args.source_layout)
    problem = None
    if keras != (args.spec is not None):
        problem = (
            "--spec names Keras's variables: it goes with --layout keras or --from keras"
            if args.spec is not None
            else "Keras's layout is that of the spec's Keras model: give the spec with --spec FILE.cnn"
        )
    elif args.source_layout == "keras" and not args.file.lower().endswith(".npz"):
        problem = "--from keras is for an .npz archive; an ONNX model holds the spec's layout"
    elif args.source_layout == args.layout and args.file.lower().endswith(".npz"):
        problem = f"the archive is in the {args.layout} layout already: choose another with --layout"
    if problem is not None:
        print(f"cnndsl weights: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    model = None if args.spec is None else check_file(args.spec, options.limits(args))
    count = write_weights(args.file, args.output, layout=args.layout, source_layout=args.source_layout, model=model)
    if not args.quiet:
        print(f"wrote {shorten(args.output)} ({count} arrays{', Keras layout' if args.layout == 'keras' else ''})")
    return EXIT_OK
