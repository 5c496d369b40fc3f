"""Spec words for ONNX attribute values: extents (`3x3`), windows (`3x3/2`), padding (`pad 1`,
`pad 0x1,1x2`) and numbers (`1e-05`), written as the language reads them (docs/language.md)."""

from __future__ import annotations

from collections.abc import Sequence


def extents(values: Sequence[int]) -> str:
    """`3x3` for a 2D kernel, `3` for a 1D one: one extent per spatial axis."""
    return "x".join(str(int(v)) for v in values)


def window(kernel: Sequence[int], strides: Sequence[int]) -> str:
    """`3x3/2`: the stride only where it is not 1, as one number when it is the same on every axis."""
    if all(s == 1 for s in strides):
        return extents(kernel)
    stride = str(strides[0]) if len(set(strides)) == 1 else extents(strides)
    return f"{extents(kernel)}/{stride}"


def padding(pads: Sequence[int]) -> str:
    """The `pad` attribute for ONNX pads (the begin of every axis, then the end of every axis); ''
    for none."""
    rank = len(pads) // 2
    begin, end = list(pads[:rank]), list(pads[rank:])
    if not any(pads):
        return ""
    if begin == end:
        return f" pad {begin[0]}" if len(set(begin)) == 1 else f" pad {extents(begin)}"
    if len(set(begin)) == 1 and len(set(end)) == 1:
        return f" pad {begin[0]},{end[0]}"
    return f" pad {extents(begin)},{extents(end)}"


def number(value: float) -> str:
    """A float attribute (stored as float32) at the precision it was given: 1e-05, 0.1, 2."""
    text = f"{value:.7g}"
    return text[:-2] if text.endswith(".0") else text


def keyword(name: str, value: float, default: float) -> str:
    """` name value` (` value` for a positional number), or '' where it is the layer kind's default."""
    if abs(value - default) <= 1e-7 * max(1.0, abs(default)):
        return ""
    return f" {name} {number(value)}" if name else f" {number(value)}"
