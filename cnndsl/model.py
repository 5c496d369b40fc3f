"""The checking pipeline and the checked model it produces (the Python API's main object).

    read -> parse -> resolve -> infer shapes -> count -> lint -> rules -> budgets

`_check` runs these passes in this order; none recurses over the spec's nesting, so checking
runs on the caller's thread with Python's default recursion limit. FLOPs (analysis/flops.py),
memory (analysis/memory.py) and receptive fields (analysis/receptive.py) are computed when asked
for, not while checking. ONNX emission
(cnndsl.onnx.emit) and execution (cnndsl.runtime) start from a CheckedModel; nothing here
imports onnx or onnxruntime.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import analysis, reader, resolve
from .analysis import LayerStats
from .analysis.budgets import check_spec_budgets
from .diagnostics import CnnError, Diagnostic, error
from .ir import Graph, Node
from .layers.base import MIN_OPSET, Shape
from .resolve import Limits
from .rules import DEFAULT_RULES, RuleSet, reported
from .source import Source

if TYPE_CHECKING:  # computed on first use: `check` does not import it
    from .analysis.memory import Memory
    from .analysis.receptive import Fields, ReceptiveField
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

    @functools.cached_property
    def layer_flops(self) -> dict[Node, int]:
        """FLOPs per sample of every layer (docs/analysis.md, "FLOPs"), computed on first use."""
        from .analysis.flops import count_flops

        return count_flops(self.graph, self.shapes)

    @property
    def total_flops(self) -> int:
        return sum(self.layer_flops.values())

    def memory(self, batch: int = 1, training: bool = False, optimizer: str = "adam") -> Memory:
        """Bytes the model needs at `batch` (docs/analysis.md, "Memory"): at inference the weights
        and the most tensors alive at once; while training (`training=True`) the weights, their
        gradients, the optimizer's state ("sgd", "momentum" or "adam") and the tensors kept for
        the backward pass. Per layer: output, weight and kept bytes."""
        from .analysis import memory as memory_analysis

        batch, training, optimizer = memory_analysis.validated(batch, training, optimizer)
        return memory_analysis.memory(self.graph, self.shapes, batch, training, optimizer)

    @property
    def param_bytes(self) -> int:
        return 4 * self.total_params  # float32

    @property
    def input_shape(self) -> Shape:
        return self.graph.input_shape

    @property
    def lowest_opset(self) -> int:
        """The oldest ONNX opset every layer can be emitted at."""
        return max(
            [MIN_OPSET]
            + [layer.opset_needed([self.shapes[p] for p in node.inputs])[0] for node, layer in self.graph.layer_nodes()]
        )

    @property
    def outputs(self) -> list[tuple[str, Shape]]:
        return [(name, self.shapes[node]) for name, node in self.graph.outputs]

    @functools.cached_property
    def _receptive_fields(self) -> Fields:
        from .analysis.receptive import receptive_fields

        return receptive_fields(self.graph, self.shapes)

    def receptive_field(
        self, node_or_name: Node | str | None = None, *, at: tuple[int, ...] | None = None
    ) -> ReceptiveField:
        """The receptive field of a tensor (docs/analysis.md, "Receptive fields"): a layer's
        output, by Node or name (a layer's, an output's, or 'input'); None: the model's output
        (its first, where there are several). Computed on first use, not while checking.

        at: a position of that tensor (one index per spatial axis, as in its shape without the
        channels): the result's `region` is then the first and last input position, per axis,
        that this one value depends on, clipped to the input."""
        node = self._node(node_or_name)
        field = self._receptive_fields.field(node)
        if at is None:
            return field
        from .analysis.region import region

        extents = self.shapes[node][1:]
        if (
            not isinstance(at, tuple)
            or len(at) != len(extents)
            or not all(type(i) is int and 0 <= i < n for i, n in zip(at, extents, strict=True))
        ):
            raise ValueError(
                f"at must be a position of {node.name}, one index per spatial axis within {extents}; got {at!r}"
            )
        unclipped = self._receptive_fields.unclipped(node, at)
        return field._replace(at=at, region=region(self.graph, self.shapes, node, at), unclipped=unclipped)

    def last_feature_map(self, output: str | None = None) -> Node | None:
        """The last tensor on the way to an output (by name; None: the first) with a spatial
        extent above 1: the map a classifier pools or flattens; the output itself for a dense
        prediction; None for a model without spatial axes."""
        node = self._node(output)
        ancestors = {node}
        for current in reversed(self.graph.nodes):
            if current in ancestors:
                ancestors.update(current.inputs)
                if any(n > 1 for n in self.shapes[current][1:]):
                    return current
        return None

    def _node(self, node_or_name: Node | str | None) -> Node:
        if node_or_name is None:
            return self.graph.outputs[0][1]
        if isinstance(node_or_name, Node):
            if node_or_name not in self.shapes:
                raise ValueError(f"{node_or_name!r} is not a node of this model")
            return node_or_name
        if not isinstance(node_or_name, str):
            raise TypeError(f"expected a Node, a layer or output name, or None; got {type(node_or_name).__name__}")
        for name, node in self.graph.outputs:
            if name == node_or_name:
                return node
        for node in self.graph.nodes:
            if node.name == node_or_name:
                return node
        raise KeyError(f"no layer or output named {node_or_name!r} in {self.name}")

    def draw(
        self,
        path: str | os.PathLike[str],
        *,
        depth: int | None = None,
        format: str | None = None,
        rankdir: str = "TB",
        fold_repeats: bool = False,
    ) -> str:
        """Write the architecture diagram to `path` (docs/draw.md): .svg, .png (need Graphviz's dot),
        .dot, .mmd or .html, by its extension or `format`; `depth` as summary's. Returns the format."""
        from .draw import DrawOptions, draw

        return draw(self, os.fspath(path), format, DrawOptions(depth, rankdir, fold_repeats))

    def _repr_svg_(self) -> str | None:
        """Jupyter shows a checked model as its diagram at depth 2, repeats folded; None (the plain
        repr) where Graphviz's dot is not installed."""
        from .draw import DrawOptions, drawing
        from .draw.graphviz import DotMissing

        try:
            return drawing(self, "svg", DrawOptions(depth=2, fold_repeats=True)).decode("utf-8")
        except DotMissing:
            return None

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
            "total_flops": self.total_flops,
            "param_bytes": self.param_bytes,
            "layers": [
                {
                    "name": node.name,
                    "kind": node.kind,
                    "line": node.source.line_col(node.span.start)[0],
                    "path": node.source.path,
                    "inputs": [p.name for p in node.inputs],
                    "attributes": node.layer.describe() if node.layer is not None else "",
                    "output_shape": list(self.shapes[node]),
                    "params": self.stats[node].params,
                    "trainable_params": self.stats[node].trainable,
                    "macs": self.stats[node].macs,
                    "flops": self.layer_flops[node],
                }
                for node in self.layers
            ],
        }


def check_file(
    path: str | os.PathLike[str], limits: Limits = Limits(), *, rules: RuleSet | None = None
) -> CheckedModel:
    """Check a spec file; `rules` as for check_source (a pyproject.toml is not read: see
    cnndsl.rules.configured_rules for the command line's selection)."""
    limits = _validated(limits)  # before reading: the file size limit is one of them
    return _check(reader.read_source(os.fsdecode(path), limits.max_file_bytes), limits, rules)


def check_source(
    source: Source,
    limits: Limits = Limits(),
    *,
    rules: RuleSet | None = None,
    unsaved: Mapping[str, str] | None = None,
    module: Module | None = None,
) -> CheckedModel:
    """Run every checking pass; raise CnnError with located diagnostics on failure.

    rules: the warnings to report (default DEFAULT_RULES: every W code but the opt-in W103; see
    cnndsl.rules). Errors are always reported. `# cnndsl: ignore[...]` comments are honoured either way.
    unsaved: texts to read instead of the files on disk, by normalised absolute path (an editor's
    open buffers): a library edited but not saved is checked as it reads in the editor.
    module: the source's syntax tree, where the caller parsed it already with `parse_spec` and the
    same limits (the language server, which reads the text's names from it): not parsed twice.
    """
    return _check(source, _validated(limits), rules, unsaved or {}, module)


def check_text(
    text: str, path: str = "<text>", limits: Limits = Limits(), *, rules: RuleSet | None = None
) -> CheckedModel:
    if not isinstance(text, str):
        raise TypeError(f"spec text must be a str, got {type(text).__name__} (check_file reads a path)")
    return check_source(reader.source_from_text(path, text), limits, rules=rules)


def check(spec: str | os.PathLike[str], limits: Limits = Limits()) -> CheckedModel:
    """Check a spec given as a path (str or PathLike naming an existing file) or as spec text.

    A one-line string ending in '.cnn' is always a path: when no such file exists, CnnError E105.
    """
    if isinstance(spec, bytes):
        raise TypeError("check() takes spec text (str) or a path (str or os.PathLike), not bytes")
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and os.path.isfile(spec)):
        return check_file(spec, limits)
    if _looks_like_a_spec_path(spec):
        # Checked as text it would be E102 on its '.': report the path instead.
        if os.path.exists(spec):
            return check_file(spec, limits)  # a directory or a device: the reader says which
        raise CnnError(
            [
                error(
                    "E105",
                    f"cannot read '{spec}': no such file",
                    None,
                    help="check() takes spec text or the path of an existing spec file; "
                    "relative paths start from the current directory",
                )
            ]
        )
    return check_text(spec, limits=limits)


def _looks_like_a_spec_path(spec: str | os.PathLike[str]) -> bool:
    """One line ending in '.cnn' is a path (no statement ends so), never spec text."""
    return isinstance(spec, str) and "\n" not in spec and spec.strip().endswith(".cnn")


def _check(
    source: Source,
    limits: Limits,
    rules: RuleSet | None,
    unsaved: Mapping[str, str] = {},
    module: Module | None = None,
) -> CheckedModel:
    """The passes, in order; each raises CnnError with located diagnostics when it fails."""
    module = parse_spec(source, limits) if module is None else module
    graph, resolve_warnings = resolve.resolve(module, lambda path: _read_module(path, limits, unsaved), limits)
    shapes = analysis.infer_shapes(graph)
    stats = analysis.count(graph, shapes, limits.max_params)
    lint_warnings = analysis.lint(graph, shapes, stats)
    warnings = reported(DEFAULT_RULES if rules is None else rules, resolve_warnings + lint_warnings)
    model = CheckedModel(graph, shapes, stats, warnings)
    check_spec_budgets(model)  # last: a budget may read any analysis (E220, E303, E305, E414)
    return model


def _validated(limits: Limits | None) -> Limits:
    if limits is None:
        return Limits()
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a cnndsl.Limits, got {type(limits).__name__}")
    return limits.validated()


def _max_elements(limits: Limits) -> int:
    """What one file may write: a layer and a tensor reference per layer at the most (`x -> relu`),
    so a file past this cannot be a network within the layer limit, and is not read to its end."""
    return 2 * limits.max_layers


def _read_module(path: str, limits: Limits, unsaved: Mapping[str, str]) -> Module:
    """An included file, parsed (the resolver reads the files that `use` names through this), from
    its unsaved text where there is one."""
    text = unsaved.get(path)
    source = reader.read_source(path, limits.max_file_bytes) if text is None else reader.source_from_text(path, text)
    return parse_spec(source, limits)


def parse_spec(source: Source, limits: Limits = Limits()) -> Module:
    """A spec's syntax tree, parsed under the limits checking applies (E101-E104, E214, E216, E303)."""
    return parser.parse(source, limits.max_depth, _max_elements(limits))
