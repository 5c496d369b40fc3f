"""`__init__` of a block's class from its calls' statements (export/pytorch_blocks.py).

The statements are merged by their targets; one that only some calls have is built under the
first of the spec's conditions (or parameters, or their negation) that holds exactly for those
calls, and one that the calls build in different ways is an `if`/`else` over such a condition.
An `nn.Sequential`'s items are merged the same way into a list with appended optional items,
or, where they are one module repeated a number of times that differs between calls, a loop
over the spec's repeat count whose numbers may read the loop's counter (`stride if i == 0 else 1`,
`in_channels + i * growth`); modules named `STEM1`, `STEM2`... are added by name in such a loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .layout import INDENT, top_level_items, wrapped
from .pytorch_calls import Calls, NoBlockClass, expression_for, generalized, literal, matching, merged, skeleton

_ATTRIBUTE = re.compile(r"self\.(\w+)\Z")
_SEQUENTIAL = "nn.Sequential("


def _target(statement: str) -> str:
    return statement.split(" = ", 1)[0]


def init_lines(calls: Calls, inits: list[list[str]], indent: str) -> tuple[list[str], dict[str, str]]:
    """`__init__`'s statements after `super().__init__()`, and the modules built only under a
    condition (attribute -> condition)."""
    positions = merged(inits, _target)
    lines: list[str] = []
    conditional: dict[str, str] = {}
    for index in range(len(positions[0])):
        present = [k for k, row in enumerate(positions) if row[index] is not None]
        statements = [inits[k][positions[k][index] or 0] for k in present]
        target = _target(statements[0])
        constructions = [statement.split(" = ", 1)[1] for statement in statements]
        if len(present) == len(inits):
            lines += _assignment(calls, target, constructions, indent)
            continue
        condition = calls.condition([row[index] is not None for row in positions])
        attribute = _ATTRIBUTE.match(target)
        if attribute is None:
            raise NoBlockClass("a part only some calls have is not a module")
        conditional[attribute.group(1)] = condition
        lines += [f"{indent}{target}: nn.Module | None = None", f"{indent}if {condition}:"]
        lines += _assignment(calls.subset(present), target, constructions, indent + INDENT)
    return lines, conditional


def _assignment(calls: Calls, target: str, constructions: list[str], indent: str) -> list[str]:
    """`target = construction` for every call. `self` (a sequential class) is `super().__init__(...)`;
    `self:STEM:FIRST` (one whose modules are named `STEM1`, `STEM2`...) adds each module by name."""
    before: list[str] = []
    if target.startswith("self:"):
        return _named_modules(calls, target, constructions, indent)
    if len({skeleton(construction) for construction in constructions}) == 1:
        text = generalized(constructions, calls.values, lambda written: expression_for(calls, written), calls.constant)
    elif all(construction.startswith(_SEQUENTIAL) for construction in constructions):
        items = [_items(construction) for construction in constructions]
        variable = "layers" if target == "self" else f"{target.removeprefix('self.')}_layers"
        before, expression = _sequence(calls, items, variable, indent)
        text = f"{_SEQUENTIAL}{expression})"
    else:
        return _chosen(calls, target, constructions, indent)
    if target == "self":
        return before + wrapped(indent, f"super().__init__({text[len(_SEQUENTIAL) :]}")
    return before + wrapped(indent, f"{target} = {text}")


def _chosen(calls: Calls, target: str, constructions: list[str], indent: str) -> list[str]:
    """`if CONDITION: target = A` / `elif` / `else: target = B` for calls that build `target`
    in different ways, as the branches of the spec's `if` do, each way chosen by a condition."""
    groups: dict[str, list[int]] = {}
    for k, construction in enumerate(constructions):
        groups.setdefault(skeleton(construction), []).append(k)
    remaining = list(range(len(constructions)))
    lines: list[str] = []
    for number, group in enumerate(groups.values()):
        if number == len(groups) - 1:
            lines.append(f"{indent}else:")
        else:
            condition = calls.subset(remaining).condition([k in group for k in remaining])
            lines.append(f"{indent}{'if' if number == 0 else 'elif'} {condition}:")
        lines += _assignment(calls.subset(group), target, [constructions[k] for k in group], indent + INDENT)
        remaining = [k for k in remaining if k not in group]
    return lines


def _items(construction: str) -> list[str]:
    return top_level_items(construction[len(_SEQUENTIAL) : -1])


def _named_modules(calls: Calls, target: str, constructions: list[str], indent: str) -> list[str]:
    """`super().__init__()`, then each module added under its name, in a loop where that is one."""
    _, stem, first = target.split(":")
    item_lists = [_items(construction) for construction in constructions]
    lines = [f"{indent}super().__init__()"]
    if len({skeleton(item) for items in item_lists for item in items}) == 1:
        try:
            count, _, item = _loop(calls, item_lists)
        except NoBlockClass:
            pass  # alike but not one loop's: each added as below
        else:
            number = f"{calls.counter} + {first}" if first != "0" else calls.counter
            loop = [f"{indent}for {calls.counter} in range({count}):"]
            return lines + loop + wrapped(indent + INDENT, f'self.add_module(f"{stem}{{{number}}}", {item})')
    if len({len(items) for items in item_lists}) != 1:
        raise NoBlockClass("its calls have different numbers of modules that are not one loop")
    for at in range(len(item_lists[0])):
        text = generalized(
            [items[at] for items in item_lists], calls.values, lambda w: expression_for(calls, w), calls.constant
        )
        lines += wrapped(indent, f'self.add_module("{stem}{int(first) + at}", {text})')
    return lines


def _sequence(calls: Calls, item_lists: list[list[str]], variable: str, indent: str) -> tuple[list[str], str]:
    """The lines that build an `nn.Sequential`'s items and what it is then called with."""
    if len({skeleton(item) for items in item_lists for item in items}) == 1:
        try:
            count, counter, item = _loop(calls, item_lists)
        except NoBlockClass:
            pass  # the items are alike but not one loop's: merged as below
        else:
            loop = [f"{indent}{variable}: list[nn.Module] = []", f"{indent}for {counter} in range({count}):"]
            return [*loop, *wrapped(indent + INDENT, f"{variable}.append({item})")], f"*{variable}"
    positions = merged(item_lists, skeleton)
    lines: list[str] = []
    index = 0
    while index < len(positions[0]):
        presence = [row[index] is not None for row in positions]
        end = index
        while end < len(positions[0]) and [row[end] is not None for row in positions] == presence:
            end += 1
        present = [k for k, here in enumerate(presence) if here]
        subset = calls.subset(present)
        texts = [
            generalized(
                [item_lists[k][positions[k][at] or 0] for k in present],
                subset.values,
                _expressions_of(subset),
                subset.constant,
            )
            for at in range(index, end)
        ]
        items = f"[{', '.join(texts)}]"
        if not lines and all(presence):
            lines += wrapped(indent, f"{variable}: list[nn.Module] = {items}")
        else:
            if not lines:
                lines.append(f"{indent}{variable}: list[nn.Module] = []")
            inner = indent
            if not all(presence):
                lines.append(f"{indent}if {calls.condition(presence)}:")
                inner += INDENT
            addition = f"{variable}.append({texts[0]})" if len(texts) == 1 else f"{variable} += {items}"
            lines += wrapped(inner, addition)
        index = end
    return lines, f"*{variable}"


def _expressions_of(calls: Calls) -> Callable[[list[object]], str]:
    return lambda written: expression_for(calls, written)


def _loop(calls: Calls, item_lists: list[list[str]]) -> tuple[str, str, str]:
    """(count, counter or `_`, item) of a loop that builds the items, one module repeated the
    spec's count of times; NoBlockClass where the count or a number has no expression."""
    if len({len(items) for items in item_lists}) == 1 and len(item_lists[0]) < 2:
        raise NoBlockClass("one item is not a loop")
    counter = calls.counter
    values = [{**calls.values[k], counter: i} for k, items in enumerate(item_lists) for i in range(len(items))]
    statements = [item for items in item_lists for item in items]
    count = expression_for(calls, [len(items) for items in item_lists])
    looped = Calls(values, [*calls.numbers, counter], calls.conditions, counter, calls.written)
    item = generalized(statements, values, lambda written: _loop_expression(calls, values, written), looped.constant)
    return count, counter if re.search(rf"(?<![\w.]){counter}\b", item) else "_", item


def _loop_expression(calls: Calls, values: list[dict[str, object]], written: list[object]) -> str:
    """A number of a loop's items: a candidate, or the first item's and the others' apart
    (`A if i == 0 else B`), or a step per iteration (`A + i * B`)."""
    counter = calls.counter
    candidates = [*calls.candidates, counter]
    found = matching(iter(candidates), values, written)
    if found is not None:
        return found
    first = [k for k, v in enumerate(values) if v[counter] == 0]
    rest = [k for k, v in enumerate(values) if v[counter] != 0]

    def choices(indices: list[int]) -> Iterator[str]:
        if len({repr(written[k]) for k in indices}) == 1:
            yield literal(written[indices[0]])
        yield from candidates

    start = matching(choices(first), [values[k] for k in first], [written[k] for k in first])
    if start is not None:
        rest_values, rest_written = [values[k] for k in rest], [written[k] for k in rest]
        after = matching(choices(rest), rest_values, rest_written) if rest else start
        if after is not None:
            return f"{start} if {counter} == 0 else {after}"
        step = matching(iter(f"{start} + {counter} * {c}" for c in calls.candidates), values, written)
        if step is not None:
            return step
    raise NoBlockClass(f"no expression over its parameters and counter gives the numbers {written[:4]}...")
