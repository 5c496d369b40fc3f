"""The resolve pass from end to end: link the blocks, check the input declaration, expand the
network's statements on the work stack, then its outputs."""

from __future__ import annotations

from collections.abc import Callable

from ..diagnostics import CnnError, Diagnostic, DiagnosticSink, Label, error, suggestion
from ..ir import Graph, Node
from ..layers.base import MAX_EXTENT
from ..source import Span
from ..syntax import ast
from .expansion import Expander
from .frames import Binding, Frame, Stop
from .limits import MAX_INPUT_RANK, Limits
from .linking import Linker
from .work import drive

_DEFAULT_LIMITS = Limits()


class Resolver:
    def __init__(self, module: ast.Module, read_module: Callable[[str], ast.Module], limits: Limits):
        self.module = module
        self.read_module = read_module
        self.limits = limits
        self.sink = DiagnosticSink()

    def run(self) -> tuple[Graph, list[Diagnostic]]:
        try:
            blocks = Linker(self.module, self.read_module, self.limits, self.sink).link()
        except Stop:
            raise CnnError(self.sink.items) from None
        input_decl = self._input_decl()
        source = self.module.source
        graph = Graph(source, input_decl.dims)
        graph.asserts = [s for s in self.module.statements if isinstance(s, ast.Assert)]
        frame = Frame(source, {}, "", None)
        input_node = Node("input", None, (), source, input_decl.span)
        graph.nodes.append(input_node)
        frame.tensors["in"] = Binding(input_node, input_decl.span, used=True)
        chains = [s for s in self.module.statements if isinstance(s, ast.Chain)]
        outputs = [s for s in self.module.statements if isinstance(s, ast.Output)]
        expander = Expander(blocks, self.limits, self.sink, graph)
        try:
            last = drive(expander.body(chains, frame, input_node, result_used=not outputs))
            self._outputs(graph, outputs, frame, last)
            expander.warn_unused(frame)
        except Stop:
            pass
        self.sink.raise_if_errors()
        if len(graph.nodes) == 1:
            self.sink.add(
                error(
                    "E218",
                    "the network has no layers",
                    Label(source, input_decl.span),
                    help="add layers after the input, such as 'conv 3x3 16 -> relu'",
                )
            )
            self.sink.raise_if_errors()
        return graph, self.sink.items

    def _input_decl(self) -> ast.InputDecl:
        """The spec's one input declaration, checked; CnnError when it has none or a wrong one."""
        source = self.module.source
        inputs = [s for s in self.module.statements if isinstance(s, ast.InputDecl)]
        if not inputs:
            self.sink.add(
                error(
                    "E206",
                    "the spec has no input declaration",
                    Label(source, Span(0, min(1, len(source.text)))),
                    help="start the spec with the input shape, such as 'input 3x224x224' "
                    "(channels first, no batch axis)",
                )
            )
            raise CnnError(self.sink.items)
        for extra in inputs[1:]:
            self.sink.add(
                error(
                    "E207",
                    "a second input declaration",
                    Label(source, extra.span),
                    secondary=[Label(source, inputs[0].span, "first declared here")],
                )
            )
        declared = inputs[0]
        if len(declared.dims) > MAX_INPUT_RANK:
            # ONNX Runtime's convolutions and poolings stop at three spatial axes.
            self.sink.add(
                error(
                    "E302",
                    f"the input has {len(declared.dims) - 1:,} spatial axes; at most "
                    f"{MAX_INPUT_RANK - 1} are supported",
                    Label(source, declared.span),
                    help="write the input as C, CxL, CxHxW or CxDxHxW (channels first)",
                )
            )
            raise CnnError(self.sink.items)
        for extent in declared.dims:
            if extent < 1 or extent > MAX_EXTENT:
                self.sink.add(
                    error(
                        "E303" if extent else "E302",
                        f"input extent {extent} is out of range (1 to {MAX_EXTENT:,})",
                        Label(source, declared.span),
                    )
                )
        self.sink.raise_if_errors()
        return declared

    def _outputs(self, graph: Graph, outputs: list[ast.Output], frame: Frame, last: Node) -> None:
        if not outputs:
            graph.outputs.append((last.name, last))
            return
        seen: set[str] = set()
        for statement in outputs:
            for name in statement.names:
                binding = frame.tensors.get(name.id)
                if binding is None:
                    hint, fix = suggestion(name.id, frame.tensors, name.span)
                    label = Label(frame.source, name.span)
                    self.sink.add(error("E208", f"undefined tensor '{name.id}'", label, help=hint, fix=fix))
                elif name.id in seen:
                    self.sink.add(
                        error("E210", f"'{name.id}' is listed as an output twice", Label(frame.source, name.span))
                    )
                else:
                    seen.add(name.id)
                    binding.used = True
                    graph.outputs.append((name.id, binding.node))


def resolve(
    module: ast.Module, read_module: Callable[[str], ast.Module], limits: Limits = _DEFAULT_LIMITS
) -> tuple[Graph, list[Diagnostic]]:
    """Build the IR graph of a parsed module; raise CnnError when any error was found."""
    return Resolver(module, read_module, limits).run()
