"""The structured spec's text: repeated units become blocks called in `repeat`.

A unit is a `residual` or `concat` construct of the top-level chain with the activations that follow
it (a ResNet unit's closing relu). Units are compared with their numbers abstracted (layer kinds,
attribute words and nesting must be equal); units of one form become one block, whose numbers that
differ between the units become its parameters (a number that is a whole multiple of another's in
every unit is written as that multiple: a bottleneck's `(4 * c)`). Consecutive calls with the same
arguments become `repeat N { call }`. Numbers are tracked as slots: `_Template` lists an item's
numbers in a fixed order and `_render` consumes one expression per slot in that same order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .graph import Layer
from .structure import Concat, Gate, Item, Residual, paths
from .writing import RESERVED, Names, module_path

_LINE = 100
_INDENT = "    "
_PIECES = re.compile(r"([x/,])")  # numbers in arrays (`split [24 24]`) stay part of the form: no slots there
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")
_CONV_KINDS = ("conv", "convtranspose")
_NOT_ACTIVATIONS = frozenset({"flatten", "dropout", "droppath"})


def _words(layer: Layer) -> list[str]:
    """The layer's words, a convolution's window with its stride always written (`3x3/1`), so that
    a stride that differs between units is one slot."""
    words = layer.words.split()
    if words[0] in _CONV_KINDS and len(words) > 1 and "/" not in words[1]:
        words[1] += "/1"
    return words


def _slots(words: list[str]) -> Iterator[tuple[int, int, str]]:
    """(word index, piece index, role) of every number in the words, the role naming a parameter
    made of it: the keyword before it (`pad`, `groups`), `stride`, `k` (a kernel extent) or `c`."""
    for index, word in enumerate(words):
        pieces = _PIECES.split(word)
        for at, piece in enumerate(pieces):
            if at % 2 or not _NUMBER.fullmatch(piece) or index == 0:
                continue
            before = words[index - 1]
            if index >= 2 and before.isidentifier() and before not in RESERVED:
                role = before
            elif at and pieces[at - 1] == "/":
                role = "stride"
            else:
                role = "k" if words[0] in _CONV_KINDS and index == 1 else "c"
            yield index, at, role


def _template(item: Item, values: list[tuple[str, str]]) -> tuple[object, ...]:
    """The item's form with numbers abstracted; its numbers (value, role) appended to `values`."""
    if isinstance(item, Residual):
        return (
            "residual",
            tuple(_template(i, values) for i in item.body),
            tuple(_template(i, values) for i in item.shortcut),
        )
    if isinstance(item, Concat):
        return ("concat", tuple(tuple(_template(i, values) for i in branch) for branch in item.branches))
    if isinstance(item, Gate):
        return ("gate", tuple(_template(i, values) for i in item.path))
    words = _words(item)
    slots = list(_slots(words))
    for index, at, role in slots:
        values.append((_PIECES.split(words[index])[at], role))
    shape = [_PIECES.split(word) for word in words]
    for index, at, _ in slots:
        shape[index][at] = "#"
    return ("layer", tuple("".join(pieces) for pieces in shape))


def _render_layer(layer: Layer, arguments: Iterator[str]) -> str:
    words = _words(layer)
    shape = [_PIECES.split(word) for word in words]
    for index, at, _ in list(_slots(words)):
        value = next(arguments)
        beside = shape[index][max(at - 1, 0) : at] + shape[index][at + 1 : at + 2]
        compound = "x" in beside and value.isidentifier()
        shape[index][at] = f"({value})" if compound else value
    written = ["".join(pieces) for pieces in shape]
    if written[0] in _CONV_KINDS and written[1].endswith("/1"):
        written[1] = written[1][:-2]
    return " ".join(written)


def _render(
    items: list[Item], arguments: Iterator[str], indent: str, labels: dict[int, str], gates: _Gates
) -> list[str]:
    """The chain of `items` as lines at `indent`, long chains broken before `->`; a gate is a call
    of its block in `gates`."""
    parts: list[list[str]] = []
    for item in items:
        if isinstance(item, Residual):
            inner = indent + _INDENT
            construct = ["residual {", *_render(item.body, arguments, inner, labels, gates)]
            if item.shortcut:
                construct += [indent + "} shortcut {", *_render(item.shortcut, arguments, inner, labels, gates)]
            parts.append([*construct, indent + "}"])
        elif isinstance(item, Concat):
            inner = indent + _INDENT
            # one branch a line, as the language reads a concat's branches
            branches = [
                " ".join(line.strip() for line in _render(b, arguments, "", labels, gates)) for b in item.branches
            ]
            parts.append(["concat {", *(inner + branch for branch in branches), indent + "}"])
        elif isinstance(item, Gate):
            block = gates[_template(item, [])]
            given = [next(arguments) for _ in _values(item)]
            parts.append([" ".join([block.name, *(given[block.slots.index(name)] for name in block.parameters)])])
        else:
            label = labels.get(id(item))
            parts.append([f"{label}: " * bool(label) + _render_layer(item, arguments)])
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + 4 + len(part[0]) <= _LINE:
            lines[-1] += " -> " + part[0]
        else:
            lines.append((indent + "  -> " if lines else indent) + part[0])
        lines += part[1:]
    return lines


@dataclass
class _Block:
    name: str
    items: list[Item]
    slots: list[str] = field(default_factory=list)  # per slot: a literal, a parameter or its multiple
    parameters: list[str] = field(default_factory=list)
    columns: list[list[str]] = field(default_factory=list)  # per parameter: its value in each unit


# The block of each form of gate (by its template).
_Gates = dict[tuple[object, ...], _Block]


def _units(items: list[Item]) -> list[list[Item]]:
    """The top-level chain in pieces: each construct with the activations after it, each other layer alone."""
    units: list[list[Item]] = []
    for item in items:
        after_construct = units and isinstance(units[-1][0], (Residual, Concat))
        if isinstance(item, Layer) and after_construct and _is_activation(item):
            units[-1].append(item)
        else:
            units.append([item])
    return units


def _is_activation(layer: Layer) -> bool:
    words = layer.words.split()
    return len(words) == 1 and not layer.weights and words[0] not in _NOT_ACTIVATIONS


def _make_block(name: str, units: list[list[Item]], values: list[list[tuple[str, str]]]) -> _Block:
    block = _Block(name, units[0])
    taken: set[str] = set()
    for slot, (_, role) in enumerate(values[0]):
        column = [unit_values[slot][0] for unit_values in values]
        if len(set(column)) == 1:
            block.slots.append(column[0])
            continue
        block.slots.append(_expressed(column, block) or _new_parameter(block, role, column, taken))
    return block


def _expressed(column: list[str], block: _Block) -> str | None:
    """An existing parameter, or a whole multiple of one, that has this value in every unit."""
    for name, known in zip(block.parameters, block.columns, strict=True):
        if known == column:
            return name
        if all(v.isdigit() and k.isdigit() and int(k) for v, k in zip(column, known, strict=True)):
            ratios = {int(v) / int(k) for v, k in zip(column, known, strict=True)}
            if len(ratios) == 1 and (ratio := ratios.pop()).is_integer() and ratio > 1:
                return f"({int(ratio)} * {name})"
    return None


def _new_parameter(block: _Block, role: str, column: list[str], taken: set[str]) -> str:
    name, suffix = role, 2
    while name in taken:
        name, suffix = f"{role}{suffix}", suffix + 1
    taken.add(name)
    block.parameters.append(name)
    block.columns.append(column)
    return name


def write_structured(items: list[Item], input_shape: tuple[int, ...], header: str) -> str:
    """The spec of a structured chain: a block for each form of gate, and blocks for the unit forms
    that occur more than once."""
    names = Names()
    gates = _gate_blocks(items, names)
    units = _units(items)
    values = [[v for item in unit for v in _values(item)] for unit in units]
    forms = [tuple(_template(item, []) for item in unit) for unit in units]
    by_form: dict[tuple[object, ...], list[int]] = {}
    for index, (unit, form) in enumerate(zip(units, forms, strict=True)):
        if isinstance(unit[0], (Residual, Concat)):
            by_form.setdefault(form, []).append(index)
    blocks: dict[tuple[object, ...], _Block] = {}
    for repeated, members in by_form.items():
        if len(members) > 1:
            stem = _stem(units[members[0]][0])
            blocks[repeated] = _make_block(names.take(stem), [units[i] for i in members], [values[i] for i in members])
    labels = {
        id(unit[0]): names.take(unit[0].parameter_stem or module_path(unit[0].node_name))
        for unit in units
        if isinstance(unit[0], Layer) and unit[0].weights
    }
    lines = [header, f"input {'x'.join(map(str, input_shape))}", ""]
    for block in gates.values():
        lines.append(f"block {block.name}({', '.join(block.parameters)}) {{")
        lines += [*_gate_body(block, gates), "}", ""]
    for block in blocks.values():
        lines.append(f"block {block.name}({', '.join(block.parameters)}) {{")
        lines += _render(block.items, iter(block.slots), _INDENT, {}, gates)
        lines += ["}", ""]
    parts: list[str] = []
    for unit, form, unit_values in zip(units, forms, values, strict=True):
        called = blocks.get(form)
        if called is None:
            parts.append("\n".join(_render(unit, iter(v for v, _ in unit_values), "", labels, gates)))
            continue
        arguments = [unit_values[called.slots.index(name)][0] for name in called.parameters]
        parts.append(" ".join([called.name, *arguments]))
    lines += _chain(parts)
    return "\n".join(lines) + "\n"


def _gate_blocks(items: list[Item], names: Names) -> _Gates:
    """One block per form of gate, wherever gates are: squeeze-and-excitation, `se`."""
    members: dict[tuple[object, ...], list[Gate]] = {}
    for gate in _gates(items):
        members.setdefault(_template(gate, []), []).append(gate)
    return {
        form: _make_block(names.take("se"), [[gate] for gate in gates], [_values(gate) for gate in gates])
        for form, gates in members.items()
    }


def _gates(items: list[Item]) -> Iterator[Gate]:
    for item in items:
        if isinstance(item, Gate):
            yield item
        if not isinstance(item, Layer):
            for path in paths(item):
                yield from _gates(path)


def _gate_body(block: _Block, gates: _Gates) -> list[str]:
    """The gate computed from the block's input as a named tensor, then the product."""
    (gate,) = block.items
    assert isinstance(gate, Gate)
    lines = _render(gate.path, iter(block.slots), _INDENT, {}, gates)
    lines[0] = f"{_INDENT}gate = {lines[0].strip()}"
    return [*lines, f"{_INDENT}mul in gate"]


def _values(item: Item) -> list[tuple[str, str]]:
    values: list[tuple[str, str]] = []
    _template(item, values)
    return values


def _chain(parts: list[str]) -> list[str]:
    """The top-level chain, runs of one call as `repeat N { call }`, one part a line."""
    runs: list[tuple[str, int]] = []
    for part in parts:
        if runs and runs[-1][0] == part and "\n" not in part:
            runs[-1] = (part, runs[-1][1] + 1)
        else:
            runs.append((part, 1))
    written = [part if count == 1 else f"repeat {count} {{ {part} }}" for part, count in runs]
    lines: list[str] = []
    for part in written:
        first, *rest = part.split("\n")
        if lines and len(lines[-1]) + 4 + len(first) <= _LINE and not lines[-1].startswith("  ->"):
            lines[-1] += " -> " + first
        else:
            lines.append(("  -> " if lines else "") + first)
        lines += rest
    return lines


def _stem(construct: Item) -> str:
    """A block's name: what its construct is (a residual unit with a projection, without, a concat)."""
    if isinstance(construct, Residual):
        return "projected" if construct.shortcut else "unit"
    return "mixed"
