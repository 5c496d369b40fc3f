"""`cnndsl draw FILE -o OUT`: the command (its arguments: cli/draw_options.py). The diagram modules
and Graphviz are imported when it runs."""

from __future__ import annotations

import argparse
import sys

from .status import EXIT_OK, EXIT_USAGE


def run_draw(args: argparse.Namespace) -> int:
    from ..diagnostics import render_text, shorten
    from ..draw import DrawOptions, draw, format_of
    from ..draw.graphviz import DotMissing
    from ..model import check_file
    from . import options

    try:  # a usage error before any checking
        format = format_of(args.output, args.format)
    except ValueError as problem:
        print(f"cnndsl draw: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    model = check_file(args.file, options.limits(args), rules=options.rules(args, args.file))
    for warning in [] if args.quiet else model.warnings:
        print(render_text(warning) + "\n", file=sys.stderr)
    try:
        draw(model, args.output, format, DrawOptions(args.depth, args.rankdir, args.fold_repeats))
    except DotMissing as missing:
        print(f"cnndsl draw: error: {missing}; .dot, .mmd and .html need nothing", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        print(f"wrote {shorten(args.output)} ({format})")
    return EXIT_OK
