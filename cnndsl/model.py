"""The checking pipeline and the checked model it produces (the Python API's main object).

    read -> parse -> resolve -> infer shapes -> count and lint

ONNX emission (cnndsl.onnx.emit) and execution (cnndsl.runtime) start from a CheckedModel;
nothing here imports onnx or onnxruntime.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from . import analysis, reader, resolve
from .analysis import LayerStats
from .diagnostics import CnnError, Diagnostic, error
from .ir import Graph, Node
from .layers.base import Shape
from .resolve import Limits
from .rules import DEFAULT_RULES, RuleSet, reported
from .source import Source
from .syntax import parser
from .syntax.ast import Module


class CheckedModel:
    """A spec that passed every check: its graph, shapes, counts and warnings."""

    def __init__(
        self,
        graph: Graph,
        shapes: dict[Node, Shape],
        stats: dict[Node, LayerStats],
        warnings: list[Diagnostic] | None = None,
    ):
        self.graph = graph
        self.shapes = shapes
        self.stats = stats
        self.warnings = warnings if warnings is not None else []

    def __repr__(self) -> str:
        return f"CheckedModel({self.source.path!r}: {len(self.layers)} layers, {self.total_params:,} parameters)"

    @property
    def source(self) -> Source:
        return self.graph.source

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.source.path))[0]

    @property
    def layers(self) -> list[Node]:
        return self.graph.nodes[1:]

    @property
    def trainable_params(self) -> int:
        return sum(s.trainable for s in self.stats.values())

    @property
    def non_trainable_params(self) -> int:
        return sum(s.non_trainable for s in self.stats.values())

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def total_macs(self) -> int:
        return sum(s.macs for s in self.stats.values())

    @property
    def param_bytes(self) -> int:
        return 4 * self.total_params  # float32

    @property
    def input_shape(self) -> Shape:
        return self.graph.input_shape

    @property
    def outputs(self) -> list[tuple[str, Shape]]:
        return [(name, self.shapes[node]) for name, node in self.graph.outputs]

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain data; shapes exclude the batch axis."""
        return {
            "name": self.name,
            "input": list(self.input_shape),
            "outputs": [{"name": name, "shape": list(shape)} for name, shape in self.outputs],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "param_bytes": self.param_bytes,
            "layers": [
                {
                    "name": node.name,
                    "kind": node.kind,
                    "line": node.source.line_col(node.span.start)[0],
                    "path": node.source.path,
                    "inputs": [p.name for p in node.inputs],
                    "attributes": node.layer.describe(),
                    "output_shape": list(self.shapes[node]),
                    "params": self.stats[node].params,
                    "trainable_params": self.stats[node].trainable,
                    "macs": self.stats[node].macs,
                }
                for node in self.layers
            ],
        }


def _max_elements(limits: Limits) -> int:
    """What one file may write: a layer and a tensor reference per layer at the most (`x -> relu`),
    so a file past this cannot be a network within the layer limit, and is not read to its end."""
    return 2 * limits.max_layers


def _read_module(path: str, limits: Limits) -> Module:
    return parser.parse(reader.read_source(path, limits.max_file_bytes), limits.max_depth, _max_elements(limits))


def check_source(source: Source, limits: Limits = Limits(), *, rules: RuleSet | None = None) -> CheckedModel:
    """Run every checking pass; raise CnnError with located diagnostics on failure.

    rules: the warnings to report (default DEFAULT_RULES: every W code but the opt-in W103; see
    cnndsl.rules). Errors are always reported. `# cnndsl: ignore[...]` comments are honoured either way.
    """
    return _check_validated(source, _validated(limits), rules)


def _check_validated(source: Source, limits: Limits, rules: RuleSet | None) -> CheckedModel:
    return _with_deep_stack(limits.max_depth, _check, source, limits, DEFAULT_RULES if rules is None else rules)


def _validated(limits: Limits | None) -> Limits:
    if limits is None:
        return Limits()
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a cnndsl.Limits, got {type(limits).__name__}")
    return limits.validated()


def _with_deep_stack(depth: int, function, *args):
    """Run `function` in a thread with a stack and recursion limit sized for `depth` levels.

    Block expansion recurses a few frames per nesting level; specs may nest up to Limits.max_depth
    (10,000 by default), far past Python's default recursion limit of 1,000. Where the address
    space is limited (`ulimit -v`, a sandboxed service) a smaller stack is tried, with a recursion
    limit to match, down to none at all (this thread). Either way, nesting deeper than the stack
    allows is a RecursionError, which becomes E216, never a crash.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args)
        except RecursionError:
            outcome["error"] = CnnError(
                [
                    error(
                        "E216",
                        f"the spec nests too deeply to expand (more than "
                        f"{sys.getrecursionlimit() // _FRAMES_PER_LEVEL:,} "
                        f"levels here)",
                        None,
                        help="nest fewer levels of repeat, if, residual, concat and block calls",
                    )
                ]
            )
        except BaseException as failure:  # re-raised in the caller's thread
            outcome["error"] = failure

    frames = _FRAMES_PER_LEVEL * min(depth, _MAX_LEVELS) + _FRAMES_BESIDES_NESTING
    stack = min(_MAX_STACK_BYTES, max(_MIN_STACK_BYTES, frames * _BYTES_PER_FRAME))
    while stack >= _SMALLEST_STACK_BYTES and not _run_in_thread(target, stack, min(frames, stack // _BYTES_PER_FRAME)):
        stack //= 4
    if stack < _SMALLEST_STACK_BYTES:  # no thread could start: expand on this thread's own stack
        target()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _run_in_thread(target, stack_bytes: int, frames: int) -> bool:
    """Run `target` to its end in a thread with this stack and recursion limit; False when the
    thread cannot start (its stack does not fit the address space)."""
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, frames))
    try:
        previous_size = threading.stack_size(stack_bytes)
        try:
            worker = threading.Thread(target=target, name="cnndsl-check", daemon=True)
            worker.start()
        except RuntimeError:  # "can't start new thread"
            return False
        finally:
            threading.stack_size(previous_size)
        worker.join()
        return True
    finally:
        sys.setrecursionlimit(previous_limit)


# Expanding one level of nesting takes at most 6 Python frames (element -> combinator -> body ->
# chain -> element, a block call one more); the rest is headroom. Stacks are virtual address space
# only: pages are touched as deep as the recursion really goes. Python 3.11+ keeps most
# Python-to-Python calls off the C stack; the stack is sized for those that are not.
_FRAMES_PER_LEVEL = 8
_FRAMES_BESIDES_NESTING = 20_000
_MAX_LEVELS = 1_000_000  # past --max-depth's own ceiling: the recursion limit must fit a C int
_BYTES_PER_FRAME = 8 * 2**10
_MIN_STACK_BYTES = 1024 * 2**20
_MAX_STACK_BYTES = 16 * 2**30
_SMALLEST_STACK_BYTES = 4 * 2**20


def _check(source: Source, limits: Limits, rules: RuleSet = DEFAULT_RULES) -> CheckedModel:
    module = parser.parse(source, limits.max_depth, _max_elements(limits))
    graph, resolve_warnings = resolve.resolve(module, lambda path: _read_module(path, limits), limits)
    shapes = analysis.infer_shapes(graph)
    stats = analysis.count(graph, shapes, limits.max_params)
    warnings = reported(rules, resolve_warnings + analysis.lint(graph, shapes, stats))
    return CheckedModel(graph, shapes, stats, warnings)


def check_file(path: str | os.PathLike, limits: Limits = Limits(), *, rules: RuleSet | None = None) -> CheckedModel:
    """Check a spec file; `rules` as for check_source (a pyproject.toml is not read: see
    cnndsl.rules.configured_rules for the command line's selection)."""
    limits = _validated(limits)  # before reading: the file size limit is one of them
    return _check_validated(reader.read_source(os.fsdecode(path), limits.max_file_bytes), limits, rules)


def check_text(
    text: str, path: str = "<text>", limits: Limits = Limits(), *, rules: RuleSet | None = None
) -> CheckedModel:
    if not isinstance(text, str):
        raise TypeError(f"spec text must be a str, got {type(text).__name__} (check_file reads a path)")
    return check_source(reader.source_from_text(path, text), limits, rules=rules)
