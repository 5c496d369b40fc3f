"""The open documents' checks, and the included files' names.

Every change of a document is checked in full, in memory, by the same passes as `cnndsl check`
(the text checked under the document's path, so that `use` resolves from its directory; an
included file open in the editor is read as it is there, saved or not). A
check keeps what the features read: the diagnostics, the checked model when it passed, and the
names of the text (`FileIndex`), the last one that parsed while the text does not.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .. import reader
from ..diagnostics import CnnError, Diagnostic
from ..model import CheckedModel, check_source, parse_spec
from ..resolve import Limits
from ..rules import ConfigCache, RuleError, RuleSet, configured_rules
from ..source import Source
from .index import FileIndex

if TYPE_CHECKING:
    from ..analysis.memory import LayerMemory


class Analysis:
    """One check of one version of a document."""

    def __init__(
        self,
        path: str,
        text: str,
        previous: Analysis | None,
        rules_cache: ConfigCache,
        limits: Limits,
        unsaved: Mapping[str, str],
    ):
        self.path = path
        self.text = text
        self.model: CheckedModel | None = None
        self.diagnostics: list[Diagnostic] = []
        # The names of this text, or of the last text that parsed: a half-typed line keeps
        # definition and completion working for the rest of the file.
        self.index: FileIndex | None = previous.index if previous is not None else None
        self.source = Source(path, text)
        try:
            source = self.source = reader.source_from_text(path, text)
            module = parse_spec(source, limits)
            self.index = FileIndex(module)
            if self.is_library:
                return  # blocks alone: checked where a spec uses them; a check here would be E206
            rules = _rules(path, rules_cache)
            self.model = check_source(source, limits, rules=rules, unsaved=unsaved, module=module)
            self.diagnostics = self.model.warnings
        except CnnError as failure:
            self.diagnostics = failure.diagnostics

    @property
    def is_library(self) -> bool:
        """A file of blocks for others to `use`, with no input of its own."""
        return self.index is not None and not self.index.has_input and bool(self.index.blocks)

    @functools.cached_property
    def layer_memory(self) -> dict[str, LayerMemory]:
        """Each layer's bytes at batch 1, by name (computed on the first hover that shows them)."""
        return {} if self.model is None else {layer.name: layer for layer in self.model.memory().layers}


def _rules(path: str, cache: ConfigCache) -> RuleSet | None:
    try:
        return configured_rules(path, cache=cache) if os.path.isabs(path) else None
    except RuleError:
        return None  # `cnndsl check` reports a bad [tool.cnndsl] table; here the defaults apply


class Libraries:
    """The names of included files: read from the editor's buffer when the file is open there,
    else from disk (parsed once per modification time)."""

    def __init__(self, open_texts: dict[str, str], limits: Limits):
        self.open_texts = open_texts
        self.limits = limits
        self._parsed: dict[str, tuple[object, FileIndex | None]] = {}

    def index(self, path: str) -> FileIndex | None:
        text = self.open_texts.get(path)
        try:
            stamp: object = ("open", text) if text is not None else os.stat(path).st_mtime_ns
        except OSError:
            return None
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            source = (
                reader.source_from_text(path, text)
                if text is not None
                else reader.read_source(path, self.limits.max_file_bytes)
            )
            index: FileIndex | None = FileIndex(parse_spec(source, self.limits))
        except CnnError:
            index = None
        self._parsed[path] = (stamp, index)
        return index

    def closure(self, index: FileIndex) -> list[FileIndex]:
        """`index` and every file it includes, directly or not, each once (a cycle ends)."""
        found, seen, stack = [index], {index.source.path}, [index]
        while stack:
            for _, path in stack.pop().uses:
                if path not in seen:
                    seen.add(path)
                    included = self.index(path)
                    if included is not None:
                        found.append(included)
                        stack.append(included)
        return found
