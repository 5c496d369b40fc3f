"""Go to definition, find references and the document outline, from the names of a document and
of the files it includes (`FileIndex`)."""

from __future__ import annotations

from lsprotocol import types

from ..source import Source, Span
from .documents import Libraries
from .index import FileIndex, Place, Token
from .positions import lsp_range, uri_of


class Names:
    """A document's names together with those of every file it includes, directly or not."""

    def __init__(self, index: FileIndex, libraries: Libraries):
        self.index = index
        self.files = libraries.closure(index)
        self.blocks: dict[str, Place] = {}
        for file in self.files:
            for name, definition in file.blocks.items():
                self.blocks.setdefault(name, Place(file.source, definition.name.span))

    def definition(self, file: FileIndex, token: Token) -> Place | None:
        """Where the name `token` of `file` is defined: a block (in any of the files), or a named
        tensor or parameter of its scope. A block call's word names the block, as the checker reads it."""
        if token.role == "kind" and token.name in self.blocks:
            return self.blocks[token.name]
        span = file.local_definition(token)
        return Place(file.source, span) if span is not None else None

    def included_file_at(self, offset: int) -> str | None:
        """The path of the file a `use` at `offset` includes."""
        for use, path in self.index.uses:
            if use.span.start <= offset <= use.span.end:
                return path
        return None

    def references(self, token: Token, include_declaration: bool) -> list[Place]:
        """Every name, in the document and its included files, that has the definition `token` has."""
        target = self.definition(self.index, token)
        if target is None:
            return []
        found = []
        for file in self.files:
            for other in file.tokens:
                if self.definition(file, other) == target:
                    declaration = other.span == target.span and file.source.path == target.source.path
                    if include_declaration or not declaration:
                        found.append(Place(file.source, other.span))
        return found


def location(place: Place) -> types.Location:
    return types.Location(uri=uri_of(place.source.path), range=lsp_range(place.source, place.span))


def file_start(path: str) -> types.Location:
    return types.Location(uri=uri_of(path), range=lsp_range(Source(path, ""), Span(0, 0)))


def outline(index: FileIndex) -> list[types.DocumentSymbol]:
    """Blocks, with the labelled layers and named tensors inside them, then the top level's."""
    inside: dict[str, list[types.DocumentSymbol]] = {}  # by block: its labelled layers and tensors
    top: list[types.DocumentSymbol] = []
    for token in index.tokens:
        if token.role == "block" and token.name not in inside:
            symbol = _symbol(index.source, token, types.SymbolKind.Function)
            symbol.children = inside[token.name] = []
            top.append(symbol)
        elif token.role in ("label", "target"):
            kind = types.SymbolKind.Variable if token.role == "target" else types.SymbolKind.Field
            siblings = inside.get(token.scope, top) if token.scope is not None else top
            siblings.append(_symbol(index.source, token, kind))
    return top


def _symbol(source: Source, token: Token, kind: types.SymbolKind) -> types.DocumentSymbol:
    return types.DocumentSymbol(
        name=token.name,
        kind=kind,
        range=lsp_range(source, token.extent),
        selection_range=lsp_range(source, token.span),
        detail={"block": "block", "label": "layer", "target": "tensor"}[token.role],
    )
