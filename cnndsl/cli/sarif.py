"""`check --format sarif`: every file's diagnostics as one SARIF 2.1.0 log, for GitHub code scanning.

One run of one tool (cnndsl), with a rule for every registered code (so that a result's rule
always resolves) and one result per diagnostic. Paths are made relative to the working directory
under the base id %SRCROOT%, as GitHub expects when the log is uploaded from the repository's root.
Columns count UTF-16 code units, SARIF's default and what GitHub reads; cnndsl counts characters,
so a line with characters outside the BMP (an emoji in a comment) is converted here.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ..codes import CODES
from ..diagnostics import Diagnostic, Label, Severity
from ..source import Source
from ..version import __version__

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"
DIAGNOSTICS_PAGE = "docs/diagnostics.md"

# One checked file and what it reported. The path places diagnostics that have no location of their
# own, such as E105 for a file that cannot be read.
CheckedFile = tuple[str | None, Sequence[Diagnostic]]


class Region(NamedTuple):
    """A span as line and columns: 1-based, the end column just past the span's last character,
    columns in UTF-16 code units."""

    start_line: int
    start_column: int
    end_line: int
    end_column: int


def region(label: Label) -> Region:
    source, span = label.source, label.span
    start_line, start_column = source.line_col(span.start)
    end_line, end_column = source.line_col(max(span.start, span.end))
    return Region(
        start_line,
        _utf16_column(source, start_line, start_column),
        end_line,
        _utf16_column(source, end_line, end_column),
    )


def _utf16_column(source: Source, line: int, column: int) -> int:
    before = source.line_text(line)[: column - 1]
    if before.isascii():  # the common case needs no encoding
        return column
    return len(before.encode("utf-16-le")) // 2 + 1


def relative_path(path: str) -> str | None:
    """A path relative to the working directory, with forward slashes ('specs/resnet.cnn'); None
    for a path outside it."""
    try:
        return pathlib.Path(os.path.abspath(path)).relative_to(pathlib.Path.cwd()).as_posix()
    except ValueError:
        return None


def anchor(code: str) -> str:
    """GitHub's anchor of the code's heading in docs/diagnostics.md ('### E101: syntax error: ...'):
    lower case, punctuation dropped, each space a hyphen."""
    heading = f"{code}: {CODES[code]}".lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def repository_url() -> str | None:
    """The Repository URL in the installed package's metadata ([project.urls] of pyproject.toml);
    None when it names none, and the rules then cite docs/diagnostics.md by its path alone."""
    from importlib import metadata

    try:
        urls: list[str] = metadata.metadata("cnndsl").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return None
    for entry in urls:
        name, _, url = entry.partition(",")
        if name.strip().lower() == "repository" and url.strip():
            return url.strip().rstrip("/")
    return None


def rules(page_url: str | None) -> list[dict[str, Any]]:
    """A reporting descriptor for every registered code, in CODES' order (results cite their index)."""
    descriptors = []
    for code, title in CODES.items():
        where = f"{page_url}#{anchor(code)}" if page_url else f"{DIAGNOSTICS_PAGE}#{anchor(code)}"
        help_text = f"{code}: {title}. A failing example, what cnndsl prints for it and its fix: {where}"
        help_markdown = f"{code}: {title}. A failing example and its fix: [{code}]({where})"
        descriptor: dict[str, Any] = {
            "id": code,
            "shortDescription": {"text": title},
            "fullDescription": {"text": f"{code}: {title}"},
            "help": {"text": help_text, "markdown": help_markdown},
            "defaultConfiguration": {"level": _level(_severity_of(code))},
        }
        if page_url:
            descriptor["helpUri"] = where
        descriptors.append(descriptor)
    return descriptors


def _severity_of(code: str) -> Severity:
    return Severity.WARNING if code.startswith("W") else Severity.ERROR


def _level(severity: Severity) -> str:
    return "warning" if severity is Severity.WARNING else "error"


def message_text(diagnostic: Diagnostic) -> str:
    """The message with its notes and help, one per line, as the text output words them."""
    lines = [diagnostic.message]
    lines.extend(f"note: {note}" for note in diagnostic.notes)
    if diagnostic.help:
        lines.append(f"help: {diagnostic.help}")
    return "\n".join(lines)


def _artifact(path: str) -> dict[str, Any]:
    """Inside the working directory: relative to %SRCROOT%; elsewhere: an absolute file URI."""
    relative = relative_path(path)
    if relative is None:
        return {"uri": pathlib.Path(os.path.abspath(path)).as_uri()}
    return {"uri": urllib.parse.quote(relative), "uriBaseId": SOURCE_ROOT}


def _physical_location(label: Label) -> dict[str, Any]:
    where = region(label)
    return {
        "artifactLocation": _artifact(label.source.path),
        "region": {
            "startLine": where.start_line,
            "startColumn": where.start_column,
            "endLine": where.end_line,
            "endColumn": where.end_column,
        },
    }


def result(diagnostic: Diagnostic, path: str | None, rule_index: dict[str, int]) -> dict[str, Any]:
    """One SARIF result. Secondary labels become related locations, each with its label's text."""
    entry: dict[str, Any] = {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index[diagnostic.code],
        "level": _level(diagnostic.severity),
        "message": {"text": message_text(diagnostic)},
    }
    if diagnostic.primary is not None:
        location: dict[str, Any] = {"physicalLocation": _physical_location(diagnostic.primary)}
        if diagnostic.primary.text:
            location["message"] = {"text": diagnostic.primary.text}
        entry["locations"] = [location]
    elif path is not None:  # a file that could not be read: the file is the location
        entry["locations"] = [{"physicalLocation": {"artifactLocation": _artifact(path)}}]
    if diagnostic.secondary:
        entry["relatedLocations"] = [
            {"id": number, "physicalLocation": _physical_location(label), "message": {"text": label.text or "here"}}
            for number, label in enumerate(diagnostic.secondary, start=1)
        ]
    return entry


def sarif_log(checked: Iterable[CheckedFile]) -> dict[str, Any]:
    repository = repository_url()
    page_url = f"{repository}/blob/main/{DIAGNOSTICS_PAGE}" if repository else None
    rule_index = {code: index for index, code in enumerate(CODES)}
    driver: dict[str, Any] = {
        "name": "cnndsl",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": rules(page_url),
    }
    if repository:
        driver["informationUri"] = repository
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {SOURCE_ROOT: {"uri": _directory_uri(pathlib.Path.cwd())}},
                "columnKind": "utf16CodeUnits",
                "results": [
                    result(diagnostic, path, rule_index) for path, diagnostics in checked for diagnostic in diagnostics
                ],
            }
        ],
    }


def _directory_uri(directory: pathlib.Path) -> str:
    """A base URI must end with a slash for relative URIs to resolve inside it."""
    uri = directory.as_uri()
    return uri if uri.endswith("/") else uri + "/"


def render_sarif(checked: Iterable[CheckedFile]) -> str:
    return json.dumps(sarif_log(checked), indent=2)
