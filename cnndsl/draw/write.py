"""Choosing the format from the output's name, and writing the diagram file.

A drawing is made in memory, then written atomically (cnndsl.files): a failure leaves an existing
file as it was. An output that would replace a spec the model was read from, a directory, or a
path that cannot be written is E503, as for `compile`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..diagnostics import CnnError, error, shorten
from ..files import write_atomically
from ..model import CheckedModel
from .diagram import diagram

# Format -> what it is; the extension of the output names it.
FORMATS = {
    "svg": "SVG image, laid out by Graphviz's dot",
    "png": "PNG image, laid out by Graphviz's dot",
    "dot": "Graphviz source",
    "mmd": "Mermaid flowchart",
    "html": "interactive report: one self-contained page",
}


@dataclass(frozen=True)
class DrawOptions:
    depth: int | None = None  # as summary --depth: None every layer, 0 and 1 top-level rows
    rankdir: str = "TB"  # TB, LR, BT or RL: the direction the data flows
    fold_repeats: bool = False  # a chain of identical block instances as one box with a count


def format_of(path: str, format: str | None = None) -> str:
    """`format`, or the one `path`'s extension names; ValueError listing the formats otherwise."""
    chosen = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if chosen not in FORMATS:
        shown = f"format '{format}'" if format else f"extension of '{shorten(path)}'"
        raise ValueError(
            f"unknown {shown}: the formats are {', '.join('.' + name for name in FORMATS)} (or give one with --format)"
        )
    return chosen


def drawing(model: CheckedModel, format: str, options: DrawOptions = DrawOptions()) -> bytes:
    """The file's content. Raises graphviz.DotMissing for svg and png without Graphviz."""
    if format == "html":
        from .html import html_report

        return html_report(model, options.depth, options.rankdir).encode("utf-8")
    picture = diagram(model, options.depth, options.fold_repeats)
    if format == "mmd":
        from .mermaid import mermaid_text

        return mermaid_text(picture, options.rankdir).encode("utf-8")
    from .graphviz import dot_text, render

    source = dot_text(picture, options.rankdir)
    return source.encode("utf-8") if format == "dot" else render(source, format)


def draw(model: CheckedModel, path: str, format: str | None = None, options: DrawOptions = DrawOptions()) -> str:
    """Write the diagram of `model` to `path`; return the format written."""
    chosen = format_of(path, format)
    _check_output(model, path)
    data = drawing(model, chosen, options)
    try:
        write_atomically(path, lambda out: out.write(data))
    except OSError as problem:
        raise _output_error(f"cannot write '{shorten(path)}': {problem.strerror or problem}") from None
    return chosen


def _check_output(model: CheckedModel, path: str) -> None:
    """Refuse a directory, and the spec or a file it includes (a diagram must not replace its source)."""
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise _output_error(f"the output '{shorten(path)}' is a directory", help="name the file: -o DIR/model.svg")
    output = os.path.realpath(path)
    for source in {node.source.path for node in model.graph.nodes} | {model.source.path}:
        if os.path.realpath(source) == output:
            raise _output_error(f"refusing to overwrite the spec '{shorten(source)}' with its diagram")


def _output_error(message: str, help: str | None = None) -> CnnError:
    return CnnError([error("E503", message, None, help=help)])
