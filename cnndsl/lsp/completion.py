"""Completion: where an element starts, the layer kinds, combinators, blocks and named tensors;
after a layer kind, its attributes; after a block's name, its parameters."""

from __future__ import annotations

from lsprotocol import types

from ..layers.base import REGISTRY, Layer
from ..resolve import COMBINATORS
from ..syntax import ast
from .index import FileIndex

STATEMENTS = ("input", "use", "output", "block", "assert")


def completions(
    line_before: str, index: FileIndex | None, blocks: dict[str, ast.BlockDef]
) -> list[types.CompletionItem]:
    """The items for a cursor after `line_before` (its line's text up to the cursor); none in a comment."""
    if "#" in line_before:
        return []
    segment = line_before.replace("{", "->").split("->")[-1]
    if ":" in segment:  # `layer1: stage`: what follows a label
        segment = segment.rsplit(":", 1)[-1]
    words = segment.split()
    if segment and not segment[-1].isspace() and words:
        words.pop()  # the word being typed
    if not words:
        statement_start = "->" not in line_before and "{" not in line_before and ":" not in line_before
        return _element_starts(index, blocks, statement_start)
    kind = words[0]
    if kind in REGISTRY:
        return _attributes(REGISTRY[kind])
    if kind in blocks:
        return [_parameter(param) for param in blocks[kind].params]
    return []


def _element_starts(
    index: FileIndex | None, blocks: dict[str, ast.BlockDef], statement_start: bool
) -> list[types.CompletionItem]:
    items = [
        types.CompletionItem(label=word, kind=types.CompletionItemKind.Function, detail=kind.summary)
        for word, kind in sorted(REGISTRY.items())
    ]
    items += [types.CompletionItem(label=word, kind=types.CompletionItemKind.Keyword) for word in COMBINATORS]
    items += [
        types.CompletionItem(
            label=name,
            kind=types.CompletionItemKind.Class,
            detail=f"block {name}({', '.join(param.name.id for param in definition.params)})",
        )
        for name, definition in sorted(blocks.items())
    ]
    tensors = sorted({token.name for token in index.tokens if token.role == "target"}) if index else []
    items += [types.CompletionItem(label=name, kind=types.CompletionItemKind.Variable) for name in ["in", *tensors]]
    if statement_start:
        items += [types.CompletionItem(label=word, kind=types.CompletionItemKind.Keyword) for word in STATEMENTS]
    return items


def _attributes(kind: type[Layer]) -> list[types.CompletionItem]:
    """The words a layer kind takes after its positional arguments: its keywords (`pad`) and the
    words that set an attribute by themselves (`nobias`, `relu`)."""
    hidden = {arg.value_after_word for arg in kind.signature if arg.value_after_word}
    items = []
    for arg in kind.signature:
        if arg.words:
            items += [
                types.CompletionItem(label=word, kind=types.CompletionItemKind.EnumMember, detail=arg.doc)
                for word in arg.words
            ]
        elif not arg.positional and arg.name not in hidden:
            name = arg.name.rstrip("_")
            items.append(types.CompletionItem(label=name, kind=types.CompletionItemKind.Property, detail=arg.doc))
    return items


def _parameter(param: ast.Param) -> types.CompletionItem:
    default = " (positional)" if param.default is None else " (has a default)"
    return types.CompletionItem(
        label=param.name.id, kind=types.CompletionItemKind.Property, detail=f"block parameter{default}"
    )
