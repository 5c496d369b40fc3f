"""Includes and linking: the block table of a spec and of the files it `use`s.

Files are followed with an explicit stack, not recursion, so a chain of 10,000 included files
needs no deep Python stack; the files being included are kept in a set too, so a cycle is found
in O(1) per `use`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ..diagnostics import CnnError, DiagnosticSink, Label, error
from ..layers import REGISTRY
from ..reader import file_problem
from ..source import Source
from ..syntax import ast
from .frames import COMBINATORS, BlockInfo, Stop
from .limits import Limits


class Linker:
    """Collects the blocks a spec defines, following its `use` statements."""

    def __init__(
        self, module: ast.Module, read_module: Callable[[str], ast.Module], limits: Limits, sink: DiagnosticSink
    ):
        self.module = module
        self.read_module = read_module
        self.limits = limits
        self.include_root = None if limits.include_root is None else os.path.realpath(limits.include_root)
        self.sink = sink
        self.blocks: dict[str, BlockInfo] = {}
        self.included_by: dict[str, tuple[Source, ast.Use]] = {}  # file -> the `use` that first included it
        self.including: set[str] = set()  # the files on the include stack, for cycles in O(1)

    def link(self) -> dict[str, BlockInfo]:
        """The block table; raises Stop when files include each other too deeply."""
        main = os.path.abspath(self.module.source.path)
        self.including.add(main)
        # The files being included, outermost first (their paths, and where each is in its
        # statements). One list for the whole chain, pushed and popped: n files cost n, not n^2.
        include_stack = [main]
        work: list[tuple[ast.Module, Iterator[ast.Statement]]] = [(self.module, iter(self.module.statements))]
        while work:
            module, statements = work[-1]
            for statement in statements:
                if isinstance(statement, ast.Use):
                    included = self._include(module.source, statement, include_stack)
                    if included is not None:
                        work.append((included, iter(included.statements)))
                        break  # the included file's statements first; this file's rest afterwards
                elif isinstance(statement, ast.BlockDef):
                    self._define_block(statement, module.source)
                elif module is not self.module:
                    self.sink.add(
                        error(
                            "E215",
                            "an included file may only define blocks and include files",
                            Label(module.source, statement.span),
                        )
                    )
            else:
                work.pop()
                if work:  # an included file is done
                    self.including.discard(include_stack.pop())
        return self.blocks

    def _include(self, source: Source, use: ast.Use, include_stack: list[str]) -> ast.Module | None:
        """The file a `use` names, pushed on the include stack; None when it is not to be read."""
        base = os.path.dirname(os.path.abspath(source.path))
        path = os.path.normpath(os.path.join(base, use.path))
        if path in self.including:
            self._cycle(source, use, path, include_stack)
            return None
        if path in self.included_by:
            return None  # already included (a diamond: two libraries share a third): its blocks are known
        if len(include_stack) > self.limits.max_depth:
            self.sink.add(
                error(
                    "E216",
                    f"files include each other more than {self.limits.max_depth:,} levels deep",
                    Label(source, use.span),
                    help="raise the limit with --max-depth",
                )
            )
            raise Stop
        if self.include_root is not None and not _inside(os.path.realpath(path), self.include_root):
            # Nothing of the file is read, so no line of it can be quoted in a diagnostic.
            self.sink.add(
                error(
                    "E212",
                    f"'{use.path}' is outside the include root",
                    Label(source, use.span),
                    notes=[f"the include root is {self.include_root}"],
                    help="specs may only include files below the include root (--include-root)",
                )
            )
            return None
        problem = file_problem(path)
        if problem is not None:
            message = (
                f"cannot find the included file '{use.path}'"
                if problem == "no such file"
                else f"cannot include '{use.path}': it is {problem}"
                if problem.startswith("a ")
                else f"cannot include '{use.path}': {problem}"
            )
            self.sink.add(
                error(
                    "E212",
                    message,
                    Label(source, use.span),
                    notes=[f"looked for {_shown_path(path)}"],
                    help="paths are relative to the including file",
                )
            )
            return None
        try:
            included = self.read_module(path)
        except CnnError as failure:
            for diagnostic in failure.diagnostics:
                self.sink.add(diagnostic)
            return None
        self.included_by[path] = (source, use)
        include_stack.append(path)
        self.including.add(path)
        return included

    def _cycle(self, source: Source, use: ast.Use, path: str, include_stack: list[str]) -> None:
        # The other `use` statements of the cycle: those that included each file after `path`.
        secondary = [
            Label(
                self.included_by[p][0],
                self.included_by[p][1].span,
                f"'{os.path.basename(self.included_by[p][0].path)}' includes '{os.path.basename(p)}' here",
            )
            for p in include_stack[include_stack.index(path) + 1 :]
            if p in self.included_by
        ]
        message = (
            f"'{use.path}' includes itself"
            if path == include_stack[-1]
            else f"the includes form a cycle: '{use.path}' is already being included"
        )
        self.sink.add(
            error(
                "E212",
                message,
                Label(source, use.span, "includes " + repr(use.path)),
                secondary=secondary,
                notes=[" -> ".join(os.path.basename(p) for p in [*include_stack, path])],
                help="remove one of these 'use' lines; to share blocks between files, "
                "move them into a third file that both include",
            )
        )

    def _define_block(self, definition: ast.BlockDef, source: Source) -> None:
        name = definition.name.id
        declared: dict[str, ast.Param] = {}
        for param in definition.params:
            first = declared.setdefault(param.name.id, param)
            if first is not param:
                self.sink.add(
                    error(
                        "E210",
                        f"block '{name}' has two parameters named '{param.name.id}'",
                        Label(source, param.name.span),
                        secondary=[Label(source, first.name.span, "first declared here")],
                    )
                )
        if name in REGISTRY or name in COMBINATORS:
            self.sink.add(
                error(
                    "E210",
                    f"block '{name}' would hide the built-in '{name}'",
                    Label(source, definition.name.span),
                    help="give the block another name",
                )
            )
        elif name in self.blocks:
            earlier = self.blocks[name]
            self.sink.add(
                error(
                    "E210",
                    f"block '{name}' is defined twice",
                    Label(source, definition.name.span),
                    secondary=[Label(earlier.source, earlier.definition.name.span, "first defined here")],
                )
            )
        else:
            self.blocks[name] = BlockInfo(definition, source)


def _shown_path(path: str) -> str:
    """A path as the user would type it from here: relative below the working directory."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root
