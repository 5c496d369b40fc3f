"""The language server: pygls wiring of the features to the open documents' checks.

Each open or change of a document checks it and publishes its diagnostics, then re-checks the
open documents that include it (directly or not). A change is checked as soon as the messages
already received are handled, not after a delay: keystrokes that arrived while a check ran are
checked once, at the last text. A request reads the check of the document's current text (made
then, if a change is still waiting). pygls
answers a request whose handler raises with an error response and logs a failing notification,
and goes on serving either way.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..resolve import Limits
from ..rules import ConfigCache
from ..version import __version__
from . import completion, hover, navigation, reports
from .documents import Analysis, Libraries
from .navigation import Names
from .positions import lsp_range, offset, path_of, use_encoding


class CnnLanguageServer(LanguageServer):
    def __init__(self, limits: Limits) -> None:
        super().__init__("cnndsl", __version__)
        self.limits = limits
        self.analyses: dict[str, Analysis] = {}  # by URI, of the open documents
        self.checked: dict[str, int | None] = {}  # by URI: the version of the document each analysis checked
        self.open_texts: dict[str, str] = {}  # by path: included files are read from these first
        self.libraries = Libraries(self.open_texts, limits)
        self.rules_cache: ConfigCache = {}
        self.inlay_hints = False  # initializationOptions {"inlayHints": true} turns them on

    def changed(self, uri: str) -> None:
        asyncio.get_running_loop().call_soon(self._check_unless_checked, uri)

    def _check_unless_checked(self, uri: str) -> None:
        if uri in self.workspace.text_documents and self.checked.get(uri) != self._version(uri):
            self.check(uri)

    def check(self, uri: str) -> None:
        """Check the document's current text, publish its diagnostics, and re-check its includers."""
        document = self.workspace.get_text_document(uri)
        path = path_of(uri)
        self.open_texts[path] = document.source
        self._check_one(uri, document.source, document.version)
        self.checked[uri] = document.version
        for other, analysis in list(self.analyses.items()):
            if other != uri and analysis.index is not None and self._includes(analysis, path):
                self._check_one(other, self.workspace.get_text_document(other).source, None)

    def _check_one(self, uri: str, text: str, version: int | None) -> None:
        analysis = Analysis(path_of(uri), text, self.analyses.get(uri), self.rules_cache, self.limits, self.open_texts)
        self.analyses[uri] = analysis
        diagnostics = [reports.lsp_diagnostic(d, analysis.source, analysis.index) for d in analysis.diagnostics]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    def _includes(self, analysis: Analysis, path: str) -> bool:
        assert analysis.index is not None
        return any(file.source.path == path for file in self.libraries.closure(analysis.index)[1:])

    def close(self, uri: str) -> None:
        self.analyses.pop(uri, None)
        self.checked.pop(uri, None)
        self.open_texts.pop(path_of(uri), None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def analysis(self, uri: str) -> Analysis:
        """The latest check of a document; one not open is read from disk and checked now."""
        found = self.analyses.get(uri)
        if found is None:
            return Analysis(path_of(uri), self._text(uri), None, self.rules_cache, self.limits, self.open_texts)
        if self.checked.get(uri) != self._version(uri):  # a change is waiting to be checked: check it now
            self.check(uri)
            return self.analyses[uri]
        return found

    def _text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def _version(self, uri: str) -> int | None:
        return self.workspace.get_text_document(uri).version


def build_server(limits: Limits) -> CnnLanguageServer:
    server = CnnLanguageServer(limits)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CnnLanguageServer, params: types.InitializeParams) -> None:
        use_encoding(ls.workspace.position_encoding)
        options = params.initialization_options
        ls.inlay_hints = isinstance(options, dict) and options.get("inlayHints") is True

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CnnLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CnnLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.changed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: CnnLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CnnLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.close(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: CnnLanguageServer, params: types.HoverParams) -> types.Hover | None:
        analysis = ls.analysis(params.text_document.uri)
        text = hover.hover_text(analysis, offset(analysis.source, params.position))
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: CnnLanguageServer, params: types.DefinitionParams) -> list[types.Location]:
        names, at = _names_at(ls, params.text_document.uri, params.position)
        if names is None:
            return []
        included = names.included_file_at(at)
        if included is not None:
            return [navigation.file_start(included)]
        token = names.index.token_at(at)
        place = names.definition(names.index, token) if token is not None else None
        return [navigation.location(place)] if place is not None else []

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls: CnnLanguageServer, params: types.ReferenceParams) -> list[types.Location]:
        names, at = _names_at(ls, params.text_document.uri, params.position)
        token = names.index.token_at(at) if names is not None else None
        if names is None or token is None:
            return []
        return [navigation.location(place) for place in names.references(token, params.context.include_declaration)]

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(ls: CnnLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        index = ls.analysis(params.text_document.uri).index
        return navigation.outline(index) if index is not None else []

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" ", ">", "{", ":"]))
    def complete(ls: CnnLanguageServer, params: types.CompletionParams) -> list[types.CompletionItem]:
        analysis = ls.analysis(params.text_document.uri)
        text, at = analysis.text, offset(analysis.source, params.position)
        before = text[text.rfind("\n", 0, at) + 1 : at]
        blocks = {}
        if analysis.index is not None:
            for file in reversed(ls.libraries.closure(analysis.index)):
                blocks.update(file.blocks)
        return completion.completions(before, analysis.index, blocks)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION)
    def code_actions(ls: CnnLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return reports.quick_fixes(params.text_document.uri, params.context.diagnostics)

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def inlay_hints(ls: CnnLanguageServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        if not ls.inlay_hints:
            return []
        analysis = ls.analysis(params.text_document.uri)
        wanted = params.range
        hints = []
        for span, shape in hover.output_shapes(analysis):
            end = lsp_range(analysis.source, span).end
            if wanted.start.line <= end.line <= wanted.end.line:
                hints.append(types.InlayHint(position=end, label=f" → {shape}", kind=types.InlayHintKind.Type))
        return sorted(hints, key=lambda hint: (hint.position.line, hint.position.character))

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: CnnLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        from .formatting import whole_document_edit

        document = ls.workspace.get_text_document(params.text_document.uri)
        return whole_document_edit(path_of(params.text_document.uri), document.source)

    return server


def _names_at(ls: CnnLanguageServer, uri: str, where: types.Position) -> tuple[Names | None, int]:
    analysis = ls.analysis(uri)
    if analysis.index is None:
        return None, 0
    return Names(analysis.index, ls.libraries), offset(analysis.index.source, where)


def serve(limits: Limits) -> None:
    """Serve over standard input and output until the client asks the server to exit; check every
    document within `limits`."""
    logging.basicConfig(level=logging.WARNING)  # on standard error: standard output carries the protocol
    build_server(limits).start_io()
