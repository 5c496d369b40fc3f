"""One PyTorch class per block definition, with the block's parameters as constructor arguments.

Each call of a block is first written as its own body, with the numbers the call bound
(`nn.Conv2d(256, 64, kernel_size=1, bias=False)`) and, for the calls of other blocks inside it,
the arguments as the spec writes them there (`Stage(2 * c, n2)`) and the widths they pass on
(`Transition(init + b1 * growth)`, from the block's output width, `BlockClass.out_channels`).
The class replaces each number that differs between calls by an expression over the block's
parameters: one of the spec's own expressions in the block (`expansion * c`, `in.c / 2` as
`in_channels // 2`), a parameter, or `in_channels` (the input's width, passed by the caller);
a width every call has is the block's one expression that gives it, where exactly one does.
Where the calls differ in structure, the spec's own conditions decide (export/pytorch_init.py,
export/pytorch_forward.py): a module only some calls have is built under `if CONDITION:`, an
`nn.Sequential`'s optional item is appended under one, a repetition of one module is a loop over
the spec's repeat count, and a `forward` that differs is an `if`/`else` over the parameters it
reads, which `__init__` keeps. Every choice is checked against every call (the expression,
evaluated on the call's arguments, gives each call's number), so each instance is exactly the
body it had; where no such class exists, the block is written as one class per distinct body,
as a comment in the file says. A branch of the spec's `if` that no call takes is not in the class.
"""

from __future__ import annotations

import ast as python_ast
import itertools
import re
from dataclasses import dataclass

from ..ir import Scope
from ..source import Span
from ..syntax import ast
from .layout import INDENT, LINE_LENGTH
from .pytorch_calls import DEFAULT_MARK, Calls, NoBlockClass, literal, marked, written_expressions
from .pytorch_expressions import IN_CHANNELS, Guard, body_expressions, evaluate, is_condition, python_expression
from .pytorch_forward import branched_body, forward_lines
from .pytorch_init import init_lines
from .structure import Container

SEQUENTIAL_TARGET = "self"  # an `nn.Sequential` block's instance: its items are the class's own


@dataclass
class Instance:
    container: Container
    scope: Scope
    in_channels: int
    out_channels: int
    init: list[str]  # `self.NAME = CONSTRUCTION` (`self = nn.Sequential(...)` for a seq), this call's numbers
    forward: list[str]  # forward's statements, after its signature; none for a seq

    @property
    def arguments(self) -> dict[str, object]:
        return dict(self.scope.arguments)


@dataclass
class BlockClass:
    name: str
    parameters: list[tuple[str, str | None]]  # (name, Python default)
    defaults: dict[str, object]
    computed: dict[str, str]  # parameter -> its default computed from those before it
    uses_in_channels: bool
    source: str
    out_channels: str | None  # the output's width over the parameters and `in_channels`, where one gives it

    def call(self, instance: Instance, fill_defaults: bool = False, written: dict[str, str] | None = None) -> str:
        """`Unit(256, 64, expansion=4)`; an argument in `written` (`in_channels` among them) is that
        expression (the enclosing block's, `2 * c`) instead of its number. `fill_defaults` also
        writes the arguments equal to their defaults (marked), to compare calls of an enclosing block."""
        arguments, written = instance.arguments, written or {}
        shown = {
            name: marked(text, {**arguments, IN_CHANNELS: instance.in_channels}[name]) for name, text in written.items()
        }
        words = [shown.get(IN_CHANNELS) or str(instance.in_channels)] if self.uses_in_channels else []
        for name, default in self.parameters:
            value = shown.get(name) or literal(arguments[name])
            if name in self.computed:
                default_value = evaluate(self.computed[name], {**arguments, IN_CHANNELS: instance.in_channels})
            if default is None:
                words.append(value)
            elif (default_value if name in self.computed else self.defaults[name]) != arguments[
                name
            ] or name in written:
                words.append(f"{name}={value}")
            elif fill_defaults:
                words.append(f"{name}={DEFAULT_MARK}{value}")
        return f"{self.name}({', '.join(words)})"


def block_class(name: str, definition: ast.BlockDef, instances: list[Instance]) -> BlockClass:
    """The class for all the calls of one block; NoBlockClass where there is none."""
    parameters = [parameter.name.id for parameter in definition.params]
    if IN_CHANNELS in parameters:
        raise NoBlockClass(f"a parameter is named '{IN_CHANNELS}', the name of the input's width")
    defaults: dict[str, object] = {}
    computed: dict[str, str] = {}  # parameter -> its default, an expression over those before it
    signature: list[tuple[str, str | None]] = []
    for parameter in definition.params:
        if parameter.default is None:
            if defaults:
                raise NoBlockClass("a parameter without a default follows one with a default")
            signature.append((parameter.name.id, None))
            continue
        earlier = {name for name, _ in signature} | {IN_CHANNELS}
        default = python_expression(parameter.default, earlier)
        if default is None:
            raise NoBlockClass(f"the default of '{parameter.name.id}' is neither a number nor an expression")
        if isinstance(parameter.default, ast.Number | ast.Negate):
            signature.append((parameter.name.id, default[0]))
            defaults[parameter.name.id] = evaluate(default[0], {})
        else:  # computed from the parameters before it: None in Python's signature, computed first
            signature.append((parameter.name.id, "None"))
            computed[parameter.name.id] = default[0]
    values = [instance.arguments for instance in instances]
    for arguments, instance in zip(values, instances, strict=True):
        if any(not isinstance(value, int | float | tuple) for value in arguments.values()):
            raise NoBlockClass("an argument is neither a number nor one per axis")
        arguments[IN_CHANNELS] = instance.in_channels
    calls = _calls(definition, parameters, values)
    # What the calls inside write for their arguments (`expansion * c`, an earlier call's width)
    # may give another number too (the next unit's input width).
    calls.written = list(dict.fromkeys(shown for instance in instances for shown in written_expressions(instance.init)))
    sequential = instances[0].init[:1] != [] and instances[0].init[0].startswith((f"{SEQUENTIAL_TARGET} ", "self:"))
    inits, steps = [instance.init for instance in instances], [instance.forward for instance in instances]
    forward: list[str] = []
    try:
        lines, conditional = init_lines(calls, inits, INDENT * 2)
        if not sequential:
            forward, stored = forward_lines(calls, steps, INDENT * 2, conditional)
    except NoBlockClass as reason:
        if sequential:
            raise
        lines, forward, stored = branched_body(calls, inits, steps, INDENT * 2, reason)
    lines = [
        *(
            f"{INDENT * 2}if {name} is None:\n{INDENT * 3}{name} = {expression}"
            for name, expression in computed.items()
        ),
        *lines,
    ]
    if not sequential:
        lines = [f"{INDENT * 2}super().__init__()", *lines, *stored]
    uses_channels = any(re.search(rf"\b{IN_CHANNELS}\b", line) for line in lines + forward)
    head = [(IN_CHANNELS, None)] if uses_channels else []
    words = [
        f"{n}: {_annotation(n, values)}{' | None' if n in computed else ''}" + (f" = {d}" if d is not None else "")
        for n, d in [*head, *signature]
    ]
    base = "nn.Sequential" if sequential else "nn.Module"
    source = [f"class {name}({base}):", *_signature(["self", *words]), *lines]
    if forward:
        source += ["", f"{INDENT}def forward(self, x: torch.Tensor) -> torch.Tensor:", *forward]
    out_channels = _out_channels(calls, parameters, [instance.out_channels for instance in instances])
    return BlockClass(name, signature, defaults, computed, uses_channels, "\n".join(source) + "\n", out_channels)


def _out_channels(calls: Calls, parameters: list[str], widths: list[int]) -> str | None:
    """The expression that gives every call's output width: a candidate, or the input's width
    grown by a product of parameters (a dense block's `in_channels + n * growth`)."""
    grown = [f"{IN_CHANNELS} + {a}" for a in parameters]
    grown += [f"{IN_CHANNELS} + {a} * {b}" for a in parameters for b in parameters if a != b]
    for candidate in [*calls.candidates, *grown]:
        if all(evaluate(candidate, v) == width for v, width in zip(calls.values, widths, strict=True)):
            return candidate
    return None


def substituted(expression: str, arguments: dict[str, str]) -> str:
    """`expression` over a class's parameters with each replaced by the call's argument text,
    parenthesised only where Python's precedence needs it (`(init + b1 * growth) // 2`)."""

    class Arguments(python_ast.NodeTransformer):
        def visit_Name(self, node: python_ast.Name) -> python_ast.expr:
            text = arguments.get(node.id)
            return node if text is None else python_ast.parse(text, mode="eval").body

    tree = Arguments().visit(python_ast.parse(expression, mode="eval"))
    return python_ast.unparse(tree)


def written_arguments(
    parent: ast.BlockDef,
    parent_values: dict[str, object],
    call: Span,
    child: ast.BlockDef,
    child_values: dict[str, object],
) -> dict[str, str]:
    """The arguments of a call of `child` in `parent`'s body as the spec writes them there, in
    Python over `parent`'s parameters (`stage (2 * c) n2`: c -> `2 * c`, n -> `n2`), each
    checked against the number the call bound; a number, a counter or what is not translated
    is left out (the call's number stands, or the enclosing class's generalisation finds it)."""
    element = _element_at(parent.body, call)
    if element is None:
        return {}
    names = {parameter.name.id for parameter in parent.params} | {IN_CHANNELS}
    written = {}
    for name, expression in _bound(child, element.items, names | set(_repeat_counters(parent.body))).items():
        translated = python_expression(expression, names) if isinstance(expression, ast.EXPRESSIONS) else None
        if translated is None or isinstance(expression, ast.Number):
            continue
        if evaluate(translated[0], parent_values) == child_values.get(name):
            written[name] = translated[0]
    return written


def spec_expression_for(definition: ast.BlockDef, values: dict[str, object], number: int) -> str | None:
    """The one expression of the block (or parameter) that gives `number` for this call, for a
    width the calls inside read (Calls.constant's rule); None where none or several do."""
    parameters = [parameter.name.id for parameter in definition.params]
    return _calls(definition, parameters, [values]).constant(number)


def _element_at(body: ast.Body, span: Span) -> ast.Element | None:
    for chain in body.chains:
        for element in chain.elements:
            if element.span == span or element.head_span == span:
                return element
            for inner in [element.body, *(followup.body for followup in element.followups)]:
                found = _element_at(inner, span) if inner is not None else None
                if found is not None:
                    return found
    return None


def _bound(child: ast.BlockDef, items: tuple[ast.Item, ...], variables: set[str]) -> dict[str, ast.Item]:
    """Which item gives each parameter of a call of `child`, bound as the checker binds a block
    call: positionals first, then `name value` pairs; a variable named like a positional
    parameter is a value while positionals are open."""
    parameters = {parameter.name.id: parameter for parameter in child.params}
    positionals = [parameter.name.id for parameter in child.params if parameter.default is None]
    bound: dict[str, ast.Item] = {}
    index = next_positional = 0
    keyword_seen = False
    while index < len(items):
        item = items[index]
        name = item.id if isinstance(item, ast.Name) else None
        positional_open = next_positional < len(positionals) and not keyword_seen
        if name in parameters and not (name in variables and positional_open and name in positionals):
            if index + 1 >= len(items):
                return {}
            bound[name], index, keyword_seen = items[index + 1], index + 2, True
        elif positional_open:
            bound[positionals[next_positional]] = item
            next_positional, index = next_positional + 1, index + 1
        else:
            return {}
    return bound


def _calls(definition: ast.BlockDef, parameters: list[str], values: list[dict[str, object]]) -> Calls:
    """What the generalisation chooses from: the spec's expressions and conditions in Python."""
    counters = _repeat_counters(definition.body)
    names = {*parameters, IN_CHANNELS, *counters}
    numbers: list[str] = []
    conditions: list[str] = []
    for element, expression, guards in body_expressions(definition.body):
        translated = python_expression(expression, names)
        if translated is None or isinstance(expression, ast.Number) or not _reached(guards, names, values):
            continue
        (conditions if is_condition(element, expression) else numbers).append(translated[0])
    free = [name for name in ("i", "index", "position") if name not in parameters]
    counter = next((name for name in counters if name not in parameters), free[0])
    return Calls(
        values,
        list(dict.fromkeys([*numbers, *parameters, IN_CHANNELS])),
        list(dict.fromkeys([*conditions, *parameters])),
        counter,
    )


def _reached(guards: tuple[Guard, ...], names: set[str], values: list[dict[str, object]]) -> bool:
    """Whether some call expands the part of the body under `guards` (an `if` branch no call
    takes gives no candidate: ResNet-50's units are all bottlenecks, never the basic branch's
    `c`); a condition that cannot be evaluated here (it reads a counter) counts as taken."""
    tests = [(python_expression(test, names), then) for test, then in guards]

    def taken(test: tuple[str, int] | None, then: bool, arguments: dict[str, object]) -> bool:
        value = None if test is None else evaluate(test[0], arguments)
        return value is None or bool(value) == then

    return any(all(taken(test, then, arguments) for test, then in tests) for arguments in values)


def _repeat_counters(body: ast.Body) -> list[str]:
    """The names the body's repeats bind (`repeat n as i`)."""
    found: list[str] = []
    for chain in body.chains:
        for element in chain.elements:
            if element.kind.id == "repeat":
                words = [item.id for item in element.items if isinstance(item, ast.Name)]
                found += [after for before, after in itertools.pairwise(words) if before == "as"]
            for inner in [element.body, *(followup.body for followup in element.followups)]:
                if inner is not None:
                    found += _repeat_counters(inner)
    return found


def _annotation(name: str, values: list[dict[str, object]]) -> str:
    kinds = {type(arguments[name]) for arguments in values}
    if tuple in kinds:
        return "int | tuple[int, ...]"
    return "float" if float in kinds else "int"


def _signature(words: list[str]) -> list[str]:
    """`def __init__(...) -> None:` laid out as ruff formats it."""
    line = f"{INDENT}def __init__({', '.join(words)}) -> None:"
    if len(line) <= LINE_LENGTH:
        return [line]
    inner = INDENT * 2 + ", ".join(words)
    contents = [inner] if len(inner) <= LINE_LENGTH else [f"{INDENT * 2}{word}," for word in words]
    return [f"{INDENT}def __init__(", *contents, f"{INDENT}) -> None:"]
