"""`check --format github`: diagnostics as GitHub Actions workflow commands (`::error file=...::...`),
which the runner turns into annotations shown inline on a pull request's changed lines.

Each diagnostic is one line on standard output. GitHub reads the properties up to `::` and the
message after it, so both are escaped as its runner (actions/toolkit, command.ts) unescapes them:
'%', CR and LF everywhere, and also ':' and ',' in properties.
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, Severity
from .sarif import message_text, region, relative_path


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(diagnostic: Diagnostic, path: str | None = None) -> str:
    """One annotation. Columns are given only for a span on one line: GitHub refuses a column range
    across lines. `path` places a diagnostic that has no location of its own (a file that cannot
    be read)."""
    command = "warning" if diagnostic.severity is Severity.WARNING else "error"
    properties: list[tuple[str, str]] = []
    if diagnostic.primary is not None:
        where = region(diagnostic.primary)
        properties.append(("file", _shown_path(diagnostic.primary.source.path)))
        properties += [("line", str(where.start_line)), ("endLine", str(where.end_line))]
        if where.start_line == where.end_line:
            # GitHub's end column is the span's last column; SARIF's (and region's) is the one after it.
            last = max(where.start_column, where.end_column - 1)
            properties += [("col", str(where.start_column)), ("endColumn", str(last))]
    elif path is not None:
        properties.append(("file", _shown_path(path)))
    properties.append(("title", diagnostic.code))
    listed = ",".join(f"{name}={escape_property(value)}" for name, value in properties)
    return f"::{command} {listed}::{escape_data(message_text(diagnostic))}"


def _shown_path(path: str) -> str:
    """A path relative to the working directory (the repository's root in a workflow), which is
    how GitHub matches an annotation to a file of the pull request."""
    relative = relative_path(path)
    return path if relative is None else relative
