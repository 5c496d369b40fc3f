"""The work stack that expansion runs on, instead of Python's own call stack.

Expanding a body, a chain or an element returns a `Step`: the resulting node when it could be
done at once (a statement of plain layers, the common case), or an `Expansion` when it nests (a
combinator, a block call). An Expansion is a generator: where it needs a nested expansion done,
it yields that Step and is sent back its resulting node. `drive` keeps the generators on a list
and resumes whichever is on top, so nesting as deep as `--max-depth` allows (and deeper) needs
no more than a few Python frames, whatever the recursion limit or the thread's stack.

The one rule that keeps it so: a function that returns a Step may expand a body's statements
and their plain elements, but what nests inside an element (a combinator's body, a block's) is
expanded only inside an Expansion, which yields it. (So `if` is a generator, though it has
nothing to do after its body.)
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeAlias

from ..ir import Node

Expansion: TypeAlias = Generator["Step", Node, Node]
Step: TypeAlias = Node | Expansion


def drive(step: Step) -> Node:
    """Do an expansion to its end; its result. An exception (Stop, CnnError) propagates out of
    the expansion that raised it, abandoning those waiting for it, as a call stack would."""
    if isinstance(step, Node):
        return step
    stack: list[Expansion] = [step]
    sent: Node | None = None  # the result for the expansion on top; None when it is to start
    while True:
        top = stack[-1]
        try:
            wanted = next(top) if sent is None else top.send(sent)
        except StopIteration as finished:
            stack.pop()
            result: Node = finished.value
            if not stack:
                return result
            sent = result
            continue
        if isinstance(wanted, Node):  # done at once after all: straight back
            sent = wanted
        else:
            stack.append(wanted)
            sent = None
