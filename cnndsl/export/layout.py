"""Python source laid out as `ruff format` lays it out, for the simple statements generated here.

A statement that does not fit in the line is split at its last bracket, as ruff and black do: its
contents on one indented line if they fit there, otherwise one item a line with a trailing comma,
each item split the same way. Generated code therefore passes `ruff format --check` as it is.
"""

from __future__ import annotations

LINE_LENGTH = 120  # the project's (pyproject.toml), which generated files are checked against
INDENT = "    "
_CLOSING = {")": "(", "]": "[", "}": "{"}


def wrapped(indent: str, text: str) -> list[str]:
    """`text` at `indent`, split over lines where it is too long."""
    if len(indent) + len(text) <= LINE_LENGTH:
        return [indent + text]
    trailer = "," if text.endswith(",") else ""
    body_text = text[: -len(trailer)] if trailer else text
    if not body_text or body_text[-1] not in _CLOSING:
        return [indent + text]  # nothing to split at
    opening = _matching_opening(body_text)
    head, contents, closing = body_text[: opening + 1], body_text[opening + 1 : -1], body_text[-1]
    inner = indent + INDENT
    if len(inner) + len(contents) <= LINE_LENGTH:
        return [indent + head, inner + contents, indent + closing + trailer]
    lines = [indent + head]
    for item in _top_level_items(contents):
        lines += wrapped(inner, item + ",")
    return [*lines, indent + closing + trailer]


def _matching_opening(text: str) -> int:
    """The index of the bracket that the last character of `text` closes."""
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        character = text[index]
        if character in _CLOSING:
            depth += 1
        elif character in "([{":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced brackets in generated code: {text}")


def _top_level_items(contents: str) -> list[str]:
    """`contents` split at the commas outside brackets and strings."""
    items: list[str] = []
    depth, start, quote = 0, 0, ""
    for index, character in enumerate(contents):
        if quote:
            quote = "" if character == quote else quote
        elif character in "\"'":
            quote = character
        elif character in "([{":
            depth += 1
        elif character in _CLOSING:
            depth -= 1
        elif character == "," and depth == 0:
            items.append(contents[start:index].strip())
            start = index + 1
    last = contents[start:].strip()
    return [*items, last] if last else items


def top_level_items(contents: str) -> list[str]:
    """The items of a bracket's contents (`a, f(b, c)` -> `a`, `f(b, c)`), for the export's writers."""
    return _top_level_items(contents)
