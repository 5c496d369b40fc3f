"""`cnndsl fmt FILE...`: rewrite specs in the canonical layout (cnndsl.syntax.format; docs/format.md).

Like ruff format and black: files are rewritten in place, `-` reads standard input and writes
standard output, --check and --diff write nothing and exit 1 when a file would change. A file that
cannot be read or does not parse is a diagnostic (exit 1) and is left as it is. Building the parser
does not import the formatter: only running the command does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from ..diagnostics import CnnError, Diagnostic, error, render_text, shorten, to_json
from .status import EXIT_ERRORS, EXIT_OK

if TYPE_CHECKING:
    from ..rules import ConfigCache

# cli.commands' exit statuses (which imports this module, so they cannot be imported from there).
STDIN = "-"
SPEC_SUFFIX = ".cnn"


def add_fmt_command(command: Callable[[str, str], argparse.ArgumentParser], line_length: Callable[[str], int]) -> None:
    """Add `fmt` with `command` (options.build_parser's); `line_length` checks --line-length."""
    fmt = command("fmt", "rewrite specs in the canonical layout, comments kept")
    fmt.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="the .cnn specs to format, or directories to format every .cnn spec in; - formats "
        "standard input to standard output",
    )
    fmt.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list the files that would change and exit 1 if any would",
    )
    fmt.add_argument(
        "--diff", action="store_true", help="write nothing; print what would change as a unified diff (exit 1 if any)"
    )
    fmt.add_argument(
        "--line-length",
        type=line_length,
        metavar="N",
        help="break lines longer than N (default: line-length of [tool.cnndsl] in the nearest "
        "pyproject.toml, else 120)",
    )


class Outcome(NamedTuple):
    """What became of one file: `diff` with --diff, `formatted` for standard input (in the JSON output)."""

    path: str
    changed: bool
    diagnostics: list[Diagnostic]
    diff: str | None = None
    formatted: str | None = None


def run_fmt(args: argparse.Namespace) -> int:
    """Format every file given; the exit status as documented in docs/format.md."""
    cache: ConfigCache = {}
    outcomes = [_format_one(path, args, cache) for path in _spec_files(args.files)]
    failed = [outcome for outcome in outcomes if outcome.diagnostics]
    changed = [outcome for outcome in outcomes if outcome.changed]
    if args.format == "json":
        _print_json(outcomes, args)
    elif not args.quiet and args.files != [STDIN]:  # a filter (an editor's formatprg) prints the text alone
        print(
            _summary_line(len(changed), len(outcomes) - len(changed) - len(failed), len(failed), args), file=sys.stderr
        )
    if failed or (changed and (args.check or args.diff)):
        return EXIT_ERRORS
    return EXIT_OK


def _spec_files(paths: list[str]) -> list[str]:
    """The paths given, a directory replaced by the .cnn specs under it (sorted), each path once."""
    found: list[str] = []
    for path in paths:
        if path != STDIN and os.path.isdir(path):
            for directory, subdirectories, names in os.walk(path):
                subdirectories.sort()
                found += [os.path.join(directory, name) for name in sorted(names) if name.endswith(SPEC_SUFFIX)]
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def _format_one(path: str, args: argparse.Namespace, cache: ConfigCache) -> Outcome:
    """Format one file (or standard input) as the options say; diagnostics are printed as text here."""
    from ..reader import read_source, source_from_bytes
    from ..syntax.format import configured_line_length, format_text

    shown = "<stdin>" if path == STDIN else path
    try:
        if path == STDIN:
            source = source_from_bytes(shown, sys.stdin.buffer.read(args.max_file_bytes + 1))
        else:
            source = read_source(path, args.max_file_bytes)
        line_length = args.line_length or configured_line_length(path, cache)
        formatted = format_text(source.text, shown, line_length)
    except CnnError as failure:
        if args.format == "text":
            _report(failure.diagnostics)
        return Outcome(shown, False, failure.diagnostics)
    changed, text_output = formatted != source.text, args.format == "text"
    diff = _diff(shown, source.text, formatted) if args.diff and changed else None
    if diff is not None and text_output:
        sys.stdout.write(diff)
    if path == STDIN and not (args.check or args.diff):
        if not text_output:
            return Outcome(shown, changed, [], formatted=formatted)
        sys.stdout.write(formatted)  # all of it, changed or not, as a filter does
    elif changed and args.check and text_output and not args.quiet:
        print(f"would reformat: {shown}", file=sys.stderr)
    elif changed and not (args.check or args.diff):
        try:
            _write(path, formatted)
        except CnnError as failure:
            if text_output:
                _report(failure.diagnostics)
            return Outcome(shown, False, failure.diagnostics)
    return Outcome(shown, changed, [], diff=diff)


def _report(diagnostics: list[Diagnostic]) -> None:
    """Diagnostics as text on standard error (in JSON they are part of the result)."""
    for diagnostic in diagnostics:
        print(render_text(diagnostic) + "\n", file=sys.stderr)


def _write(path: str, formatted: str) -> None:
    from ..files import write_atomically

    target = os.path.realpath(path)  # a symbolic link stays one: the file it names is formatted
    data = formatted.encode("utf-8")
    try:
        write_atomically(target, lambda out: out.write(data))
    except OSError as problem:
        raise CnnError(
            [error("E503", f"cannot write '{shorten(path)}': {problem.strerror or problem}", None)]
        ) from None


def _diff(shown: str, before: str, after: str) -> str:
    """A unified diff, as diff -u writes one (a last line without a line break says so)."""
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"{shown}\t(original)",
        f"{shown}\t(formatted)",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _summary_line(changed: int, unchanged: int, failed: int, args: argparse.Namespace) -> str:
    def files(count: int) -> str:
        return f"{count} file{'' if count == 1 else 's'}"

    writes = not (args.check or args.diff)
    parts = [
        f"{files(changed)} {'reformatted' if writes else 'would be reformatted'}",
        f"{files(unchanged)} {'left unchanged' if writes else 'already formatted'}",
    ]
    if failed:
        parts.append(f"{files(failed)} could not be formatted")
    return ", ".join(parts)


def _print_json(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    import json

    files = []
    for outcome in outcomes:
        entry: dict[str, object] = {"path": outcome.path, "changed": outcome.changed}
        entry.update({key: value for key, value in (("diff", outcome.diff), ("formatted", outcome.formatted)) if value})
        entry["diagnostics"] = [to_json(d) for d in outcome.diagnostics]
        files.append(entry)
    print(json.dumps({"files": files, "written": not (args.check or args.diff)}, indent=2))
