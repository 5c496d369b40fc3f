"""cnndsl's diagnostics as LSP diagnostics (codes, ranges, related locations), and their fixes as
quick fixes. A fix travels in the diagnostic's `data`, so that a code action needs no state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsprotocol import types

from ..diagnostics import Diagnostic, Label, Severity
from ..source import Source, Span
from .index import FileIndex, Place
from .navigation import location
from .positions import lsp_range

_SEVERITIES = {Severity.ERROR: types.DiagnosticSeverity.Error, Severity.WARNING: types.DiagnosticSeverity.Warning}


def lsp_diagnostic(diagnostic: Diagnostic, document: Source, index: FileIndex | None) -> types.Diagnostic:
    """A diagnostic of `document`'s check. One located in an included file (a block's body) is
    shown on the `use` line that includes it, with its place as related information."""
    primary = diagnostic.primary
    here = primary is not None and primary.source.path == document.path
    related = [_related(label) for label in diagnostic.secondary]
    message = diagnostic.message
    if primary is not None and here:
        span = primary.span
        if primary.text:
            message += f" ({primary.text})"
    else:
        span = _including_use(primary, index)
        if primary is not None:
            related.insert(0, _related(primary))
            message = f"{primary.source.location(primary.span)}: {message}"
    message += "".join(f"\nnote: {note}" for note in diagnostic.notes)
    if diagnostic.help:
        message += f"\nhelp: {diagnostic.help}"
    fix = diagnostic.fix if here else None
    return types.Diagnostic(
        range=lsp_range(document, span),
        message=message,
        severity=_SEVERITIES[diagnostic.severity],
        code=diagnostic.code,
        source="cnndsl",
        related_information=related or None,
        data={"fix": _fix_data(document, fix.title, [(edit.span, edit.text) for edit in fix.edits])} if fix else None,
    )


def _related(label: Label) -> types.DiagnosticRelatedInformation:
    return types.DiagnosticRelatedInformation(location=location(Place(label.source, label.span)), message=label.text)


def _including_use(primary: Label | None, index: FileIndex | None) -> Span:
    """The `use` that includes the file of `primary` (else the first `use`; else the file's start)."""
    uses = index.uses if index is not None else []
    for use, path in uses:
        if primary is not None and path == primary.source.path:
            return use.span
    return uses[0][0].span if uses else Span(0, 0)


def _fix_data(document: Source, title: str, edits: list[tuple[Span, str]]) -> dict[str, Any]:
    def point(offset: int) -> dict[str, int]:
        where = lsp_range(document, Span(offset, offset)).start
        return {"line": where.line, "character": where.character}

    return {
        "title": title,
        "edits": [
            {"range": {"start": point(span.start), "end": point(span.end)}, "newText": text} for span, text in edits
        ],
    }


def quick_fixes(uri: str, diagnostics: Sequence[types.Diagnostic]) -> list[types.CodeAction]:
    """A code action for each diagnostic the client sends back whose data carries a fix."""
    actions = []
    for diagnostic in diagnostics:
        fix = diagnostic.data.get("fix") if isinstance(diagnostic.data, dict) else None
        if not isinstance(fix, dict):
            continue
        edits = [
            types.TextEdit(range=_range(edit["range"]), new_text=str(edit["newText"])) for edit in fix.get("edits", [])
        ]
        actions.append(
            types.CodeAction(
                title=str(fix.get("title", "fix")),
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic],
                edit=types.WorkspaceEdit(changes={uri: edits}),
                is_preferred=True,
            )
        )
    return actions


def _range(data: dict[str, dict[str, int]]) -> types.Range:
    start, end = data["start"], data["end"]
    return types.Range(
        start=types.Position(line=start["line"], character=start["character"]),
        end=types.Position(line=end["line"], character=end["character"]),
    )
