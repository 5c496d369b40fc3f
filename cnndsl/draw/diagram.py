"""The diagram of a checked model at a depth: boxes, the edges between them, and the enclosing blocks.

The boxes are the rows of `cnndsl summary --depth N` (cnndsl.summary.rows folds them), plus one box
for the graph input: a layer, or a block instance folded into one box. The blocks a box sits in,
above the depth, are its `clusters` (drawn as frames). An edge joins two boxes when a layer of one
reads the output of a layer of the other, and carries that tensor's shape. With `fold_repeats`, a
chain of identical block instances (same kind, parameters, MACs and output shape, each the only
reader of the one before) becomes one box with a count: ResNet-152's 35 bottlenecks of layer3
after its first.

Every output format (Graphviz, Mermaid, the HTML report) draws this one model, so that they agree
on what is a box, its colour and its legend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import takewhile
from typing import NamedTuple

from ..ir import Node, Scope
from ..layers.base import shape_text
from ..model import CheckedModel
from ..summary import Row, rows

# Colour groups by the module that defines a layer kind (cnndsl/layers/MODULE.py), so that a new
# kind in an existing module gets its family's colour; a kind from another module is "other".
FAMILY_OF_MODULE = {
    "conv": "convolution",
    "convtranspose": "convolution",
    "norm": "normalisation",
    "groupnorm": "normalisation",
    "layernorm": "normalisation",
    "instancenorm": "normalisation",
    "activation": "activation",
    "prelu": "activation",
    "pool": "pooling",
    "upsample": "pooling",
    "dense": "fully connected",
    "merge": "merge",
}
# Fill colours, in the legend's order (ColorBrewer Pastel1, readable under black text).
COLOURS = {
    "input": "#ffffff",
    "block": "#decbe4",
    "convolution": "#b3cde3",
    "normalisation": "#ffffcc",
    "activation": "#ccebc5",
    "pooling": "#fed9a6",
    "fully connected": "#fddaec",
    "merge": "#e5d8bd",
    "other": "#f2f2f2",
}
MERGE_SYMBOLS = {"add": "+", "mul": "\N{MULTIPLICATION SIGN}", "concat": "concat"}


@dataclass
class Box:
    key: str  # an identifier safe in every format: 'b12'
    name: str  # the layer's or block instance's name; a folded run: 'layer3.1-35'
    kind: str  # the layer kind, or the block's name ('unit', 'repeat', 'branch', ...)
    family: str  # the colour group (COLOURS)
    shape: str  # the output shape, batch axis not shown
    params: int
    macs: int
    rf: str  # the receptive field of the output, per axis
    path: str  # where the layer (a block: its first layer) is written
    line: int
    clusters: tuple[Scope, ...]  # the enclosing blocks drawn as frames, outermost first
    layers: list[Node] = field(default_factory=list)  # the layers it stands for
    count: int = 1  # block instances folded into it (fold_repeats)

    @property
    def is_block(self) -> bool:
        return self.family == "block"

    @property
    def is_merge(self) -> bool:
        return self.family == "merge"

    @property
    def kind_label(self) -> str:
        """'conv', 'unit', or 'unit x35' (with a multiplication sign) for a folded run."""
        return f"{self.kind} \N{MULTIPLICATION SIGN}{self.count}" if self.count > 1 else self.kind


@dataclass(frozen=True)
class Edge:
    tail: str  # Box.key
    head: str
    shape: str  # the tensor's shape


@dataclass
class Diagram:
    title: str
    depth: int | None
    boxes: list[Box]
    edges: list[Edge]

    def families(self) -> list[str]:
        """The colour groups the boxes use, in COLOURS's order: the legend's entries."""
        used = {box.family for box in self.boxes}
        return [family for family in COLOURS if family in used]


class FrameStep(NamedTuple):
    """One step of drawing boxes in their frames: a frame opened (`scope`), a box drawn (`box`), or
    the innermost open frame closed (neither); `depth`: the frames open around it."""

    depth: int
    scope: Scope | None = None
    box: Box | None = None


def frame_steps(boxes: list[Box]) -> Iterator[FrameStep]:
    """The boxes in order, each inside the nested frames of its blocks: frames open as the boxes
    enter blocks and close as they leave them; a block met again later gets a second frame."""
    open_frames: list[Scope] = []
    for box in boxes:
        shared = 0
        while shared < min(len(open_frames), len(box.clusters)) and open_frames[shared] == box.clusters[shared]:
            shared += 1
        while len(open_frames) > shared:
            open_frames.pop()
            yield FrameStep(len(open_frames))
        for scope in box.clusters[shared:]:
            yield FrameStep(len(open_frames), scope=scope)
            open_frames.append(scope)
        yield FrameStep(len(open_frames), box=box)
    while open_frames:
        open_frames.pop()
        yield FrameStep(len(open_frames))


def family(node: Node) -> str:
    if node.layer is None:
        return "input"
    module = type(node.layer).__module__.rpartition(".")[2]
    return FAMILY_OF_MODULE.get(module, "other")


def diagram(model: CheckedModel, depth: int | None = None, fold_repeats: bool = False) -> Diagram:
    """The boxes at `depth` (as `summary --depth`: None every layer, 0 and 1 top-level rows)."""
    first = Row("input", "input", shape_text(model.input_shape), 0, 0, "", [model.graph.input])
    boxes = [_box(model, f"b{index}", row) for index, row in enumerate([first, *rows(model, depth)])]
    owner = {node: box for box in boxes for node in box.layers}
    edges: dict[tuple[str, str], Edge] = {}
    for box in boxes:
        for node in box.layers:
            for producer in node.inputs:
                tail = owner[producer]
                if tail is not box and (tail.key, box.key) not in edges:
                    edges[tail.key, box.key] = Edge(tail.key, box.key, shape_text(model.shapes[producer]))
    result = Diagram(model.name, depth, boxes, list(edges.values()))
    return _folded_repeats(result) if fold_repeats else result


def _box(model: CheckedModel, key: str, row: Row) -> Box:
    node, first = row.node, row.nodes[0]
    folded = row.name != node.name or len(row.nodes) > 1
    # A folded row is named after its scope: the frames are the scopes outside that one.
    clusters = tuple(takewhile(lambda scope: scope.path != row.name, first.scopes)) if folded else node.scopes
    return Box(
        key=key,
        name=row.name,
        kind=row.kind,
        family="block" if folded else family(node),
        shape=row.shape,
        params=row.params,
        macs=row.macs,
        rf=model.receptive_field(node).text(),
        path=first.source.path,
        line=first.source.line_col(first.span.start)[0],
        clusters=clusters,
        layers=list(row.nodes),
    )


def _folded_repeats(diagram: Diagram) -> Diagram:
    """Each run of identical block instances, chained one after the other, as one box."""
    into: dict[str, list[Edge]] = {box.key: [] for box in diagram.boxes}
    out_of: dict[str, list[Edge]] = {box.key: [] for box in diagram.boxes}
    for edge in diagram.edges:
        into[edge.head].append(edge)
        out_of[edge.tail].append(edge)
    boxes: list[Box] = []
    run_of: dict[str, Box] = {}  # the key of each box folded away -> the box of its run
    first_name: dict[str, str] = {}  # a run's key -> its first instance's name
    last_key: dict[str, str] = {}  # a run's key -> its last instance's key
    for box in diagram.boxes:
        run = boxes[-1] if boxes else None
        if run is not None and _continues(run, box, into[box.key], out_of[last_key[run.key]]):
            run_of[box.key] = run
            run.count += 1
            run.params += box.params
            run.macs += box.macs
            run.rf, run.shape = box.rf, box.shape
            run.layers += box.layers
            run.name = _run_name(first_name[run.key], box.name)
            last_key[run.key] = box.key
            continue
        box = replace(box, layers=list(box.layers))  # the unfolded diagram stays as it was
        first_name[box.key], last_key[box.key] = box.name, box.key
        boxes.append(box)
    edges: dict[tuple[str, str], Edge] = {}
    for edge in diagram.edges:
        if edge.head in run_of:
            continue  # inside a run: from one instance to the next
        tail = run_of[edge.tail].key if edge.tail in run_of else edge.tail
        edges.setdefault((tail, edge.head), Edge(tail, edge.head, edge.shape))
    return Diagram(diagram.title, diagram.depth, boxes, list(edges.values()))


def _continues(run: Box, box: Box, into: list[Edge], out_of_last: list[Edge]) -> bool:
    """Whether `box` repeats the run's instance and reads only from its last, which feeds only it."""
    last = out_of_last[0].tail if out_of_last else None
    return (
        run.is_block
        and box.is_block
        and (box.kind, box.clusters, box.shape) == (run.kind, run.clusters, run.shape)
        and (box.params * run.count, box.macs * run.count) == (run.params, run.macs)
        and [edge.tail for edge in into] == [last]
        and [edge.head for edge in out_of_last] == [box.key]
    )


def _run_name(first: str, last: str) -> str:
    """'layer3.1-35' when the names differ in their last part only; 'a … b' otherwise."""
    first_stem, _, _ = first.rpartition(".")
    last_stem, _, last_part = last.rpartition(".")
    return f"{first}-{last_part}" if first_stem == last_stem and first_stem else f"{first} … {last}"
