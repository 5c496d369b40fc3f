"""Structured fixes on diagnostics (`Diagnostic.fix`, what `cnndsl lsp` offers as quick fixes):
present where the help suggests a change, correct when applied, and absent from the text and JSON
renderings."""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl.diagnostics import Diagnostic, render_text, to_json


def _diagnostics(text: str) -> list[Diagnostic]:
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(text)
    return failure.value.diagnostics


def _fixed(text: str, diagnostic: Diagnostic) -> str:
    assert diagnostic.fix is not None
    for edit in sorted(diagnostic.fix.edits, key=lambda e: e.span.start, reverse=True):
        text = text[: edit.span.start] + edit.text + text[edit.span.end :]
    return text


@pytest.mark.parametrize(
    ("text", "code", "expected"),
    [
        ("input 3x8x8\nconv 3x3 4 -> rleu\n", "E201", "input 3x8x8\nconv 3x3 4 -> relu\n"),  # a kind
        ("input 3x8x8\nconv 3x3 4 pda 1\n", "E202", "input 3x8x8\nconv 3x3 4 pad 1\n"),  # an attribute
        ("input 3x8x8\nconv 3x3 4 stride 2\n", "E202", "input 3x8x8\nconv 3x3/2 4\n"),  # the stride in the window
        ("input 3x8x8\nconv 3x3 4 stride\n", "E202", "input 3x8x8\nconv 3x3/2 4\n"),
        ("input 3x8x8\nx = conv 3x3 4\nx -> add xx\n", "E208", "input 3x8x8\nx = conv 3x3 4\nx -> add x\n"),  # a tensor
        ("input 3x8x8\nx = conv 3x3 4\noutput xy\n", "E208", "input 3x8x8\nx = conv 3x3 4\noutput x\n"),
        (  # a projection shortcut where a residual's body changes the shape
            "input 3x8x8\nresidual {\n  conv 3x3/2 4 pad 1  # halves }\n} -> relu\n",
            "E406",
            "input 3x8x8\nresidual {\n  conv 3x3/2 4 pad 1  # halves }\n} shortcut { conv 1x1/2 4 } -> relu\n",
        ),
        (
            "block pair(c) { conv 3x3 c -> relu }\ninput 3x8x8\npiar 4\n",  # a block
            "E201",
            "block pair(c) { conv 3x3 c -> relu }\ninput 3x8x8\npair 4\n",
        ),
    ],
)
def test_a_fix_makes_the_change_its_help_suggests(text, code, expected):
    diagnostic = next(d for d in _diagnostics(text) if d.code == code)
    fixed = _fixed(text, diagnostic)
    assert fixed == expected
    cnndsl.check_text(fixed)


def test_no_projection_where_the_residual_has_a_shortcut_or_no_convolution_fits():
    with_shortcut = "input 3x8x8\nresidual { conv 3x3 4 pad 1 } shortcut { relu }\n"
    [diagnostic] = _diagnostics(with_shortcut)
    assert diagnostic.code == "E406" and diagnostic.fix is None
    grown = "input 3x8x8\nresidual { upsample 2 }\n"  # no 1x1 convolution makes 8 into 16
    assert next(d for d in _diagnostics(grown) if d.code == "E406").fix is None


def test_no_fix_without_a_close_name():
    [diagnostic] = _diagnostics("input 3x8x8\nconv 3x3 4 -> qqqqqqq\n")
    assert diagnostic.fix is None and diagnostic.help is None


def test_the_renderings_do_not_show_the_fix():
    [diagnostic] = _diagnostics("input 3x8x8\nconv 3x3 4 -> rleu\n")
    assert diagnostic.fix is not None
    assert to_json(diagnostic) == to_json(diagnostic._replace(fix=None))
    assert render_text(diagnostic) == render_text(diagnostic._replace(fix=None))
