"""The arguments of `cnndsl draw FILE -o OUT` (cli/draw.py runs it). Building the parser, as every
command does, imports neither the diagram modules nor Graphviz."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# The draw package's formats and directions, repeated here so that building the parser does not
# import it; tests/test_draw.py checks they agree.
FORMAT_NAMES = ("svg", "png", "dot", "mmd", "html")
RANKDIRS = ("TB", "LR", "BT", "RL")


def add_draw_command(
    command: Callable[[str, str, argparse.ArgumentParser], argparse.ArgumentParser],
    depth: Callable[[str], object],
) -> None:
    """Add `draw` with `command` (options.build_parser's). Its --format is the picture's, so it has
    an output parent of its own instead of the text/json one; `depth` is summary's --depth type."""
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--format", choices=FORMAT_NAMES, help="the picture's format (default: from OUT's extension)")
    output.add_argument("-q", "--quiet", action="store_true", help="print errors only: no warnings, no result line")
    draw = command("draw", "draw an architecture diagram: svg, png, dot, mmd (Mermaid) or an html report", output)
    draw.add_argument("file", metavar="FILE", help="the .cnn spec")
    draw.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="the picture; its extension names the format: .svg and .png (need Graphviz's dot), .dot, "
        ".mmd, .html (interactive, self-contained)",
    )
    draw.add_argument(
        "--depth",
        type=depth,
        metavar="N",
        help="show N levels of nesting, as summary --depth: a block instance deeper than N is one box "
        "(0 and 1: top-level boxes only; default: every layer; html: the depth it opens at)",
    )
    draw.add_argument(
        "--rankdir",
        choices=RANKDIRS,
        default="TB",
        help="the direction data flows: TB (top to bottom; default), LR, BT, RL",
    )
    draw.add_argument(
        "--fold-repeats",
        action="store_true",
        help="draw a chain of identical block instances (ResNet's units) as one box with a count",
    )
