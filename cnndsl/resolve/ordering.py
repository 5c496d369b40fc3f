"""Statement ordering: within a body, tensor names may be used before the statement that makes
them, so statements are ordered by what they use (Kahn's algorithm), and a cycle is reported."""

from __future__ import annotations

import heapq
from collections.abc import Container, Sequence

from ..diagnostics import DiagnosticSink, Label, error
from ..layers import REGISTRY
from ..syntax import ast
from .frames import COMBINATORS, BlockInfo, Frame, Stop, is_merge


def reference(element: ast.Element, frame: Frame, local_targets: Container[str]) -> str | None:
    """The tensor a bare name refers to: one of this body's targets or a visible tensor."""
    if element.label is None and not element.items and element.body is None:
        name = element.kind.id
        if name in local_targets or frame.lookup(name) is not None:
            return name
    return None


def continues(chain: ast.Chain, frame: Frame) -> bool:
    """Whether a chain takes the previous statement's result (rather than naming its start)."""
    return frame.reference(chain.elements[0]) is None


def statement_order(
    chains: Sequence[ast.Chain], frame: Frame, blocks: dict[str, BlockInfo], sink: DiagnosticSink
) -> list[int]:
    """Order statements so every named tensor is made before it is used; report cycles."""
    targets: dict[str, int] = {}
    for index, chain in enumerate(chains):
        if chain.target is None:
            continue
        name = chain.target.id
        if name in targets:
            earlier = chains[targets[name]].target
            assert earlier is not None  # it is in `targets`
            sink.add(
                error(
                    "E210",
                    f"tensor '{name}' is defined twice",
                    Label(frame.source, chain.target.span),
                    secondary=[Label(frame.source, earlier.span, "first defined here")],
                )
            )
            raise Stop
        if name in REGISTRY or name in blocks or name in COMBINATORS or name == "in":
            sink.add(
                error(
                    "E210",
                    f"'{name}' cannot name a tensor: it is a layer kind, block or keyword",
                    Label(frame.source, chain.target.span),
                    help="choose another name",
                )
            )
            raise Stop
        targets[name] = index
        # One namespace for layers and tensors: automatic names skip a tensor's name, and a
        # label that takes it is E210, so an output can never share an ONNX name with a layer.
        frame.taken.setdefault(name, chain.target.span)
    if not targets:
        return list(range(len(chains)))  # nothing named: plain textual order
    local = set(targets)
    needs: list[set[int]] = []
    for index, chain in enumerate(chains):
        deps = {targets[n] for n in names_used(chain, frame, local) if n in targets}
        if reference(chain.elements[0], frame, local) is None and index > 0:
            deps.add(index - 1)
        if chain.target is None:
            deps.discard(index)
        needs.append(deps)
    # Kahn's algorithm, taking the earliest ready statement first (textual order when free).
    users: list[list[int]] = [[] for _ in chains]
    waiting = [len(deps) for deps in needs]
    for index, deps in enumerate(needs):
        for dep in deps:
            users[dep].append(index)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    done: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        done.append(index)
        for user in users[index]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(done) < len(chains):
        _report_cycle(chains, needs, set(range(len(chains))) - set(done), frame, sink)
        raise Stop
    return done


def _report_cycle(
    chains: Sequence[ast.Chain], needs: list[set[int]], blocked: set[int], frame: Frame, sink: DiagnosticSink
) -> None:
    """Report one cycle among the statements that could not be ordered (only its members:
    statements that merely wait for the cycle are left out)."""
    # Every blocked statement waits for another blocked one; walk until a statement repeats.
    path: list[int] = []
    position: dict[int, int] = {}
    current = min(blocked)
    while current not in position:
        position[current] = len(path)
        path.append(current)
        current = min(dep for dep in needs[current] if dep in blocked)
    cycle = path[position[current] :]

    def link(index: int) -> str:
        dep = min(d for d in needs[index] if d in blocked and d in cycle)
        target = chains[dep].target
        return (
            f"uses '{target.id}'"
            if target is not None and target.id in names_used(chains[index], frame, {target.id})
            else "continues the previous statement"
        )

    first = chains[cycle[0]]
    if len(cycle) == 1:
        name = first.target.id if first.target is not None else "this statement"
        message = f"'{name}' depends on itself"
    else:
        message = "these statements depend on each other in a cycle"
    sink.add(
        error(
            "E213",
            message,
            Label(frame.source, first.span, link(cycle[0])),
            secondary=[Label(frame.source, chains[i].span, f"part of the cycle: {link(i)}") for i in cycle[1:]],
            help="a network is a directed acyclic graph: a tensor cannot depend on itself",
        )
    )


def names_used(chain: ast.Chain, frame: Frame, local: Container[str]) -> set[str]:
    """The tensor names a statement uses, in nested bodies too (iteratively: any depth)."""
    names: set[str] = set()
    pending = [chain]
    while pending:
        current = pending.pop()
        first = reference(current.elements[0], frame, local)
        if first:
            names.add(first)
        for element in current.elements:
            if is_merge(element.kind.id):
                names |= {item.id for item in element.items if isinstance(item, ast.Name)}
            for body in [element.body, *(f.body for f in element.followups)]:
                if body is not None:
                    pending.extend(body.chains)
    return names
