"""Resolve pass: AST -> IR graph.

Evaluates arguments, binds them to layer signatures, expands blocks, repetitions and the
combinators (residual, concat, if), resolves tensor names (order-free within a body, so a cycle
is possible and reported), and names every node hierarchically (`layer3.2.conv1`).

The modules, by job: limits (Limits), linking (the block table, `use`), evaluation (argument
expressions), binding (arguments to signatures), ordering (statements, cycles), expansion
(bodies, chains, elements, block calls) with combinators, naming and budget (the limits'
charging), all on the work stack of `work` (no recursion over nesting); resolver runs them.
"""

from .frames import COMBINATORS
from .limits import MAX_INPUT_RANK, Limits
from .resolver import Resolver, resolve

__all__ = ["COMBINATORS", "MAX_INPUT_RANK", "Limits", "Resolver", "resolve"]
