"""Regression tests for lint rules and the wording of diagnostics: one test per reported problem.

Each test states the spec a user wrote and what cnndsl must say about it (or must not say).
"""

from __future__ import annotations

import pytest

import cnndsl
from cnndsl import CnnError, Limits
from cnndsl.diagnostics import byte_size, render_text


def diagnostics(text: str, limits: Limits = Limits()):
    """The diagnostics of a spec given as text: its errors, or the warnings of a spec that passed."""
    try:
        return cnndsl.check_text(text, limits=limits).warnings
    except CnnError as failure:
        return failure.diagnostics


def only(text: str, code: str, limits: Limits = Limits()):
    found = diagnostics(text, limits)
    assert [d.code for d in found] == [code], [render_text(d) for d in found]
    return found[0]


# --- 1. lrn with an even size --------------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 4])
def test_lrn_even_size_is_refused_with_the_reason(size):
    # ONNX Runtime refuses an even size, and ONNX and PyTorch centre an even window differently.
    diagnostic = only(f"input 3x8x8\nlrn {size}\n", "E302")
    assert diagnostic.message == f"lrn size must be odd, got {size}"
    assert diagnostic.primary.source.text[diagnostic.primary.span.start : diagnostic.primary.span.end] == str(size)
    assert "ONNX Runtime refuses an even size" in diagnostic.help
    assert f"use {size - 1} or {size + 1}" in diagnostic.help


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn_odd_sizes_pass(size):
    assert cnndsl.check_text(f"input 3x8x8\nlrn {size}\n").layers[0].layer.size == size


# --- 2. W102 and dropout on a 1x1 map --------------------------------------------------------------

MOBILENET_HEAD = "input 3x32x32\nconv 3x3/2 32 pad 1 -> pool global avg -> dropout 0.001 -> conv 1x1 1000 -> flatten\n"


def test_no_w102_for_dropout_on_a_1x1_map_before_a_1x1_classifier():
    # Keras's MobileNet head: after global pooling the 1x1 map is a feature vector.
    assert diagnostics(MOBILENET_HEAD) == []


def test_w102_still_fires_on_a_feature_map():
    diagnostic = only("input 3x32x32\nconv 3x3 8 -> dropout 0.5 -> conv 3x3 8 -> flatten -> fc 10\n", "W102")
    assert diagnostic.primary.text == "input is the feature map 8x30x30"


def test_w102_fires_when_any_spatial_axis_is_larger_than_1():
    only("input 3x32x1\nconv 3x1 8 -> dropout 0.5 -> conv 1x1 8\n", "W102")


# --- 3. E408 in a sensible unit --------------------------------------------------------------------


def test_e408_gives_the_weight_size_in_mib_for_a_small_overrun():
    diagnostic = only("input 1x2000\nflatten -> fc 1100\n", "E408", Limits(max_params=2_000_000))
    assert diagnostic.notes == ("at 4 bytes each that is 8.4 MiB of weights",)  # 2,201,100 x 4 bytes


@pytest.mark.parametrize(
    "count, shown",
    [
        (0, "0 bytes"),
        (1023, "1,023 bytes"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (2**20 - 1, "1.0 MiB"),  # rounded as shown, never '1,024.0 KiB'
        (8_804_400, "8.4 MiB"),
        (80_000_800_000, "74.5 GiB"),
        (3 * 2**40, "3.0 TiB"),
    ],
)
def test_byte_size_picks_the_unit_by_magnitude(count, shown):
    assert byte_size(count) == shown


# --- 4. an explicit ';' always ends the statement ----------------------------------------------------


def test_semicolon_after_input_then_arrow_line_says_a_chain_starts_with_a_layer():
    diagnostic = only("input 3x8x8;\n-> relu\n", "E101")
    assert diagnostic.message == ("unexpected '->': expected a statement: a layer, 'input', 'block', 'use' or 'output'")
    assert diagnostic.help == "a chain starts with a layer; '->' joins two layers"
    assert diagnostic.location() == ("<text>", 2, 1)


def test_without_the_semicolon_the_arrow_line_continues_the_input_declaration():
    diagnostic = only("input 3x8x8\n-> relu\n", "E101")
    assert diagnostic.help == "the input declaration stands alone; start the chain on the next line, without '->'"


def test_semicolon_before_an_arrow_line_ends_a_chain_too():
    diagnostic = only("input 3x8x8\nrelu;\n\n-> relu\n", "E101")
    assert diagnostic.help == "a chain starts with a layer; '->' joins two layers"


@pytest.mark.parametrize(
    "text, column",
    [
        ("input 1x8\nconv 3 (8;)\n", 10),  # inside brackets
        ("input 1x8\nconv 3 8 pad 1,;1\n", 16),  # after ','
        ("input 1x8\nrelu ->; tanh\n", 8),  # after '->'
    ],
)
def test_semicolon_where_a_statement_cannot_end_is_reported_where_it_stands(text, column):
    diagnostic = only(text, "E101")
    assert diagnostic.message.startswith("unexpected ';'")
    assert diagnostic.location() == ("<text>", 2, column)


@pytest.mark.parametrize(
    "text",
    [
        ";input 1x8; relu;; tanh;\n",  # leading, doubled and trailing separators
        "input 1x8\nresidual { ; relu; }\n",  # after '{' and before '}'
    ],
)
def test_semicolon_where_no_statement_is_left_open_is_harmless(text):
    cnndsl.check_text(text)


# --- 5. channels-last inputs -----------------------------------------------------------------------

LAYOUT_NOTE = (
    "inputs are channels-first (CxHxW): 'input 32x32x3' reads as 32 channels of 32x3; did you mean 'input 3x32x32'?"
)


def test_channels_last_input_gets_a_note_on_the_shape_error():
    diagnostic = only("input 32x32x3\nconv 3x3 16 -> pool 2 -> conv 3x3 32\n", "E401")
    assert diagnostic.notes[-1] == LAYOUT_NOTE


def test_channels_last_note_on_a_channel_mismatch():
    diagnostic = only("input 32x32x3\nconv 3x3 6 groups 3\n", "E404")  # depthwise on RGB
    assert diagnostic.notes == (LAYOUT_NOTE,)


@pytest.mark.parametrize(
    "shape, note",
    [
        (
            "224x224x4",
            "inputs are channels-first (CxHxW): 'input 224x224x4' reads as 224 channels of 224x4; "
            "did you mean 'input 4x224x224'?",
        ),
        (
            "16000x1",
            "inputs are channels-first (CxW): 'input 16000x1' reads as 16000 channels of 1; "
            "did you mean 'input 1x16000'?",
        ),
    ],
)
def test_channels_last_note_uses_the_real_numbers(shape, note):
    diagnostic = only(f"input {shape}\nconv 5 8 -> conv 5 8\n", "E401")
    assert diagnostic.notes[-1] == note


@pytest.mark.parametrize(
    "shape",
    [
        "3x32x32",  # channels first already
        "6x32x3",  # first extent under 8: a small input rather than a slip
        "64x8x5",  # last extent not a usual channel count
    ],
)
def test_no_channels_last_note_otherwise(shape):
    diagnostic = only(f"input {shape}\n" + " -> ".join(["conv 9x9 8"] * 4) + "\n", "E401")
    assert not any("channels-first" in note for note in diagnostic.notes)


def test_shape_notes_do_not_repeat_the_input_shape_of_the_label():
    diagnostic = only("input 3x4x4\nconv 5x5 8\n", "E401")
    assert diagnostic.primary.text == "input is 3x4x4, from 'input'"
    assert diagnostic.notes == ("height: floor((4 + 0 + 0 - (5-1) - 1) / 1) + 1 = 0",)


# --- 6. check() of a path that does not exist ---------------------------------------------------------


def test_check_of_a_missing_cnn_path_is_e105_without_location(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CnnError) as failure:
        cnndsl.check("nonexistent.cnn")
    (diagnostic,) = failure.value.diagnostics
    assert (diagnostic.code, diagnostic.primary) == ("E105", None)
    assert diagnostic.message == "cannot read 'nonexistent.cnn': no such file"
    assert diagnostic.help


def test_check_of_a_directory_named_cnn_says_it_is_a_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.cnn").mkdir()
    with pytest.raises(CnnError) as failure:
        cnndsl.check("dir.cnn")
    assert [d.code for d in failure.value.diagnostics] == ["E105"]
    assert "directory" in failure.value.diagnostics[0].message


def test_check_still_takes_one_line_of_spec_text():
    assert cnndsl.check("input 3x8x8; relu").total_params == 0


def test_check_still_reads_an_existing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.cnn").write_text("input 3x8x8\nconv 3x3 4\n", encoding="utf-8")
    assert cnndsl.check("net.cnn").total_params == 112
