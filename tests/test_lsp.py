"""`cnndsl lsp` driven as an editor drives it: a real LSP client (pygls's) over stdio, with
lsprotocol's types, talking to `python -m cnndsl lsp` in a subprocess (benchmarks/lsp_latency.py's
Editor). Nothing here calls a handler directly."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("pygls", reason="the language server needs the lsp extra: pip install 'cnndsl[lsp]'")

from lsprotocol import types

import cnndsl
from benchmarks.lsp_latency import Editor, measure

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
RESNET18 = SPECS / "resnet18.cnn"
RESNET_LIB = SPECS / "lib" / "resnet.cnn"


@pytest.fixture(scope="module")
def editor():
    started = Editor()
    yield started
    started.close()


def _line_of(path: pathlib.Path, start: str) -> int:
    """The LSP line (from 0) of the first line of `path` that starts with `start`."""
    return next(n for n, line in enumerate(path.read_text().splitlines()) if line.lstrip().startswith(start))


def _request(editor: Editor, send, params):
    return editor.run(send(params))


def _document(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def _code_actions(editor: Editor, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    context = types.CodeActionContext(diagnostics=[diagnostic])
    params = types.CodeActionParams(text_document=_document(uri), range=diagnostic.range, context=context)
    return _request(editor, editor.client.text_document_code_action_async, params)


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII text) from the last to the first."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        begin = starts[edit.range.start.line] + edit.range.start.character
        end = starts[edit.range.end.line] + edit.range.end.character
        text = text[:begin] + edit.new_text + text[end:]
    return text


def test_initialize_advertises_every_feature(editor):
    capabilities = editor.initialize_result.capabilities
    assert capabilities.hover_provider and capabilities.definition_provider and capabilities.references_provider
    assert capabilities.document_symbol_provider and capabilities.code_action_provider
    assert capabilities.document_formatting_provider and capabilities.inlay_hint_provider
    assert capabilities.completion_provider is not None


def test_a_spec_that_checks_gets_no_diagnostics(editor):
    assert editor.diagnostics(editor.open(RESNET18)) == []


def test_a_shape_mismatch_has_its_code_range_and_the_other_sides(editor, tmp_path):
    spec = tmp_path / "mismatch.cnn"
    text = "input 3x32x32\nresidual {\n  conv 3x3 8 pad 1\n}\n"
    uri = editor.open(spec, text)
    [diagnostic] = editor.diagnostics(uri)
    assert diagnostic.code == "E406" and diagnostic.source == "cnndsl"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert "cannot add 8x32x32 and 3x32x32" in diagnostic.message and "projection shortcut" in diagnostic.message
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (1, 0)
    related = {(r.location.range.start.line, r.message) for r in diagnostic.related_information}
    assert related == {(2, "'conv1' gives 8x32x32"), (0, "'input' gives 3x32x32")}
    assert all(r.location.uri == uri for r in diagnostic.related_information)
    [action] = _code_actions(editor, uri, diagnostic)
    assert action.title == "add a projection shortcut: conv 1x1 8"
    assert _apply(text, action.edit.changes[uri]) == text.replace("}\n", "} shortcut { conv 1x1 8 }\n")


def test_a_misspelt_kind_has_a_quick_fix_that_fixes_it(editor, tmp_path):
    text = "input 3x32x32\nconv 3x3 8 -> rleu\n"
    uri = editor.open(tmp_path / "typo.cnn", text)
    [diagnostic] = editor.diagnostics(uri)
    assert diagnostic.code == "E201" and "did you mean 'relu'?" in diagnostic.message
    [action] = _code_actions(editor, uri, diagnostic)
    assert action.kind == types.CodeActionKind.QuickFix and action.title == "change to 'relu'"
    fixed = _apply(text, action.edit.changes[uri])
    assert fixed == "input 3x32x32\nconv 3x3 8 -> relu\n"
    editor.replace(uri, fixed)
    assert editor.diagnostics(uri) == []


def test_a_stride_attribute_has_a_quick_fix_that_writes_it_in_the_window(editor, tmp_path):
    text = "input 3x32x32\nconv 3x3 8 stride 2 pad 1\n"
    uri = editor.open(tmp_path / "stride.cnn", text)
    [diagnostic] = editor.diagnostics(uri)
    [action] = _code_actions(editor, uri, diagnostic)
    assert _apply(text, action.edit.changes[uri]) == "input 3x32x32\nconv 3x3/2 8 pad 1\n"


def test_hover_on_a_layer_shows_its_shapes_counts_field_and_memory(editor):
    uri = editor.open(RESNET18)
    shown = editor.hover(uri, _line_of(RESNET18, "conv1:"), 8)
    assert shown is not None
    assert "**conv** `conv1`" in shown
    assert "input 3x224x224 → output 64x112x112" in shown
    assert f"params {3 * 64 * 7 * 7:,} · MACs {3 * 64 * 7 * 7 * 112 * 112:,}" in shown
    assert "receptive field 7x7" in shown
    assert "memory at batch 1: output 3.1 MiB, weights 36.8 KiB" in shown


def test_hover_on_a_block_call_shows_the_instance_totals(editor):
    uri = editor.open(RESNET18)
    line = _line_of(RESNET18, "-> layer3:")
    column = RESNET18.read_text().splitlines()[line].index("stage") + 1
    shown = editor.hover(uri, line, column)
    model = cnndsl.check_file(RESNET18)
    inside = [node for node in model.layers if node.name.startswith("layer3.")]
    assert shown is not None and "**stage** (block) `layer3`" in shown
    assert f"params {sum(model.stats[n].params for n in inside):,}" in shown
    assert f"MACs {sum(model.stats[n].macs for n in inside):,} · {len(inside)} layers" in shown
    assert "input 128x28x28 → output 256x14x14" in shown


def test_hover_on_one_of_several_unlabelled_calls_shows_that_instance(editor, tmp_path):
    text = "input 3x8x8\nblock pair(c) { conv 3x3 c pad 1 -> relu }\npair 4\npair 8\n"
    uri = editor.open(tmp_path / "calls.cnn", text)
    editor.diagnostics(uri)
    shown = editor.hover(uri, 3, 1)  # the second call, `pair 8`
    assert shown is not None and "**pair** (block) `pair2`" in shown and "instances" not in shown
    assert "input 4x8x8 → output 8x8x8" in shown and f"params {4 * 9 * 8 + 8:,}" in shown


def test_definition_of_a_block_call_is_its_block_line_in_the_library(editor):
    uri = editor.open(RESNET18)
    line = _line_of(RESNET18, "-> layer1:")
    column = RESNET18.read_text().splitlines()[line].index("stage") + 2
    [found] = _request(
        editor,
        editor.client.text_document_definition_async,
        types.DefinitionParams(text_document=_document(uri), position=types.Position(line, column)),
    )
    assert found.uri.endswith("specs/lib/resnet.cnn")
    assert found.range.start.line == _line_of(RESNET_LIB, "block stage(")
    assert found.range.start.character == len("block ")


def test_definition_of_a_use_line_is_the_included_file(editor):
    uri = editor.open(RESNET18)
    [found] = _request(
        editor,
        editor.client.text_document_definition_async,
        types.DefinitionParams(text_document=_document(uri), position=types.Position(_line_of(RESNET18, "use "), 6)),
    )
    assert found.uri.endswith("specs/lib/resnet.cnn") and found.range.start.line == 0


def test_definition_and_references_of_a_named_tensor(editor, tmp_path):
    text = (
        "input 1x28x28\nfeatures = conv 5x5 8 relu -> flatten\n"
        "probs = features -> fc 3\nbox = features -> fc 4\noutput probs, box\n"
    )
    uri = editor.open(tmp_path / "heads.cnn", text)
    [found] = _request(
        editor,
        editor.client.text_document_definition_async,
        types.DefinitionParams(text_document=_document(uri), position=types.Position(2, 10)),
    )
    assert (found.range.start.line, found.range.start.character, found.range.end.character) == (1, 0, 8)
    references = _request(
        editor,
        editor.client.text_document_references_async,
        types.ReferenceParams(
            text_document=_document(uri),
            position=types.Position(1, 3),
            context=types.ReferenceContext(include_declaration=True),
        ),
    )
    assert sorted((r.range.start.line, r.range.start.character) for r in references) == [(1, 0), (2, 8), (3, 6)]


def test_references_of_a_block_cover_the_spec_and_its_library(editor):
    uri = editor.open(RESNET18)
    line = _line_of(RESNET18, "-> layer1:")
    column = RESNET18.read_text().splitlines()[line].index("stage")
    references = _request(
        editor,
        editor.client.text_document_references_async,
        types.ReferenceParams(
            text_document=_document(uri),
            position=types.Position(line, column),
            context=types.ReferenceContext(include_declaration=False),
        ),
    )
    in_spec = [r for r in references if r.uri == uri]
    assert len(in_spec) == 4  # layer1 to layer4
    assert all(r.uri == uri for r in references)  # the library only defines it


def test_document_symbols_outline_blocks_and_labelled_layers(editor):
    uri = editor.open(RESNET_LIB)
    assert editor.diagnostics(uri) == []  # a library of blocks is not a spec without an input
    symbols = _request(
        editor,
        editor.client.text_document_document_symbol_async,
        types.DocumentSymbolParams(text_document=_document(uri)),
    )
    assert [s.name for s in symbols] == ["unit", "stage"]
    assert symbols[0].kind == types.SymbolKind.Function
    assert [child.name for child in symbols[0].children] == ["downsample"]
    assert symbols[0].range.start.line == _line_of(RESNET_LIB, "block unit(")


def _completion_labels(editor: Editor, uri: str, line: int, character: int) -> set[str]:
    result = _request(
        editor,
        editor.client.text_document_completion_async,
        types.CompletionParams(text_document=_document(uri), position=types.Position(line, character)),
    )
    items = result.items if isinstance(result, types.CompletionList) else result
    return {item.label for item in items}


def test_completion_of_kinds_attributes_blocks_and_parameters(editor, tmp_path):
    text = 'use "lib/resnet.cnn"\ninput 3x32x32\nstem = conv 3x3 8 -> \nconv 3x3 8 \nstage 64 2 \n# a conv -> \n'
    uri = editor.open(SPECS / "completion_scratch.cnn", text)  # in specs/, so that the `use` resolves
    after_arrow = _completion_labels(editor, uri, 2, len("stem = conv 3x3 8 -> "))
    assert {"conv", "relu", "pool", "residual", "repeat", "stage", "unit", "in"} <= after_arrow
    assert "pad" not in after_arrow
    attributes = _completion_labels(editor, uri, 3, len("conv 3x3 8 "))
    assert {"pad", "groups", "dilation", "nobias", "relu"} <= attributes and "conv" not in attributes
    parameters = _completion_labels(editor, uri, 4, len("stage 64 2 "))
    assert {"expansion", "stride", "project", "dilation"} <= parameters
    assert _completion_labels(editor, uri, 0, 0) >= {"input", "use", "block", "conv"}
    assert _completion_labels(editor, uri, 5, len("# a conv -> ")) == set()  # a comment


def test_formatting_returns_the_formatted_document(editor, tmp_path):
    format_module = pytest.importorskip("cnndsl.syntax.format", reason="the formatter (cnndsl fmt) is not in yet")
    text = "input 3x32x32\nconv   3x3   8 ->   relu\n"
    uri = editor.open(tmp_path / "messy.cnn", text)
    edits = _request(
        editor,
        editor.client.text_document_formatting_async,
        types.DocumentFormattingParams(
            text_document=_document(uri), options=types.FormattingOptions(tab_size=4, insert_spaces=True)
        ),
    )
    expected = format_module.format_text(text, str(tmp_path / "messy.cnn"))
    assert expected != text and _apply(text, edits) == expected


def _inlay_hints(editor: Editor, uri: str) -> list[types.InlayHint] | None:
    """The hints of the document's first 100 lines."""
    return _request(
        editor,
        editor.client.text_document_inlay_hint_async,
        types.InlayHintParams(
            text_document=_document(uri), range=types.Range(types.Position(0, 0), types.Position(99, 0))
        ),
    )


def test_inlay_hints_are_off_by_default(editor):
    assert not _inlay_hints(editor, editor.open(RESNET18))


def test_inlay_hints_show_each_layers_output_shape_when_asked_for():
    with_hints = Editor({"inlayHints": True})
    try:
        hints = _inlay_hints(with_hints, with_hints.open(RESNET18)) or []
    finally:
        with_hints.close()
    first_line = _line_of(RESNET18, "conv1:")
    labels = [hint.label for hint in hints if hint.position.line == first_line]
    assert labels == [" → 64x112x112", " → 64x112x112", " → 64x112x112", " → 64x56x56"]
    assert " → 512x7x7" in [hint.label for hint in hints]  # layer4: the block call's output


@pytest.mark.parametrize(("encodings", "end"), [(None, 16), (["utf-8"], 18), (["utf-32"], 15)])
def test_columns_count_the_code_units_agreed_at_initialize(encodings, end):
    """𝄞 (U+1D11E) is 2 UTF-16 code units, 4 UTF-8 bytes, 1 UTF-32 unit."""
    counting = Editor(position_encodings=encodings)
    try:
        uri = counting.open("stray.cnn", "input 3x8x8\nconv 3x3 4 -> \U0001d11e\n")
        [diagnostic] = counting.diagnostics(uri)
    finally:
        counting.close()
    assert diagnostic.code == "E102"
    assert (diagnostic.range.start.character, diagnostic.range.end.character) == (14, end)


def test_the_limit_options_apply_to_every_check():
    limited = Editor(options=("--stdio", "--max-layers", "5"))
    try:
        [diagnostic] = limited.diagnostics(limited.open(RESNET18))
    finally:
        limited.close()
    assert diagnostic.code == "E214"


def test_editing_an_included_file_rechecks_the_specs_that_use_it(editor, tmp_path):
    library = tmp_path / "blocks.cnn"
    library.write_text("block pair(c) { conv 3x3 c pad 1 -> relu }\n")
    spec_uri = editor.open(tmp_path / "net.cnn", 'use "blocks.cnn"\ninput 3x8x8\npair 4\n')
    assert editor.diagnostics(spec_uri) == []
    library_uri = editor.open(library)
    broken = "block pair(c) { conv 3x3 c pad 1 -> rleu }\n"  # typed, not saved: the disk keeps the good text
    before = len(editor.published.get(spec_uri, []))
    editor.replace(library_uri, broken)
    # opening the library re-checks the spec too (clean): wait for the re-check that sees the typo
    with editor.arrived:
        assert editor.arrived.wait_for(
            lambda: any(sent.diagnostics for sent in editor.published[spec_uri][before:]), editor.timeout
        )
    [diagnostic] = editor.published[spec_uri][-1].diagnostics
    assert diagnostic.code == "E201" and diagnostic.range.start.line == 0  # on the `use` line
    assert diagnostic.related_information[0].location.uri == library_uri


def test_a_burst_of_changes_ends_with_the_diagnostics_of_the_last_text(editor, tmp_path):
    uri = editor.open(tmp_path / "burst.cnn", "input 3x8x8\n")
    for word in ("c", "co", "con", "conv", "conv 3x3 4 -> rel", "conv 3x3 4 -> relu"):
        last = editor.replace(uri, "input 3x8x8\n" + word + "\n")  # sent without waiting, as typed
    assert editor.diagnostics(uri, last) == []
    hover = editor.hover(uri, 1, 16)  # a request reads the check of the current text
    assert hover is not None and "**relu**" in hover


def test_a_failing_request_leaves_the_server_serving(editor, tmp_path):
    missing = (tmp_path / "never-written.cnn").as_uri()  # a request for a file that is neither open nor on disk
    with pytest.raises(Exception, match="never-written"):
        editor.hover(missing, 0, 0)
    uri = editor.open(RESNET18)
    assert "conv1" in (editor.hover(uri, _line_of(RESNET18, "conv1:"), 8) or "")


def _typed_states(text: str, stride: int) -> list[str]:
    return [text[:end] for end in range(0, len(text) + 1, stride)] + [text]


def test_every_spec_typed_at_a_stride_gets_diagnostics_and_the_server_survives(editor):
    """Half-typed specs: a sample of every spec's keystroke states (its prefixes at a stride), and
    every state of the smallest spec. Each state's diagnostics arrive (none means a handler failed)."""
    specs = sorted([*SPECS.glob("*.cnn"), *SPECS.glob("lib/*.cnn")])
    logged = len(editor.stderr)  # the server's log so far (a request of another test may have failed)
    smallest = min(specs, key=lambda path: path.stat().st_size)
    for spec in specs:
        text = spec.read_text()
        uri = editor.open(spec, "")
        states = _typed_states(text, 1 if spec == smallest else max(1, len(text) // 4))
        for state in states:
            editor.diagnostics(uri, editor.replace(uri, state))
        assert not [d for d in editor.diagnostics(uri) if d.severity == types.DiagnosticSeverity.Error]
    assert b"Traceback" not in editor.stderr[logged:]


@pytest.mark.slow
def test_every_keystroke_state_of_every_spec_gets_diagnostics():
    typing = Editor()
    try:
        for spec in sorted([*SPECS.glob("*.cnn"), *SPECS.glob("lib/*.cnn")]):
            uri = typing.open(spec, "")
            for state in _typed_states(spec.read_text(), 1):
                typing.diagnostics(uri, typing.replace(uri, state))
        assert b"Traceback" not in typing.stderr
    finally:
        typing.close()


def test_the_latency_benchmark_runs():
    figures = measure(edits=2, hovers=2)
    assert figures["did_change_to_diagnostics_ms"]["count"] == 2 and figures["hover_ms"]["p95"] > 0


def test_without_pygls_the_command_says_how_to_install_it():
    hide_pygls = "import sys; sys.modules['pygls'] = None; from cnndsl.cli import main; sys.exit(main(['lsp']))"
    result = subprocess.run([sys.executable, "-c", hide_pygls], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "pip install 'cnndsl[lsp]'" in result.stderr and "Traceback" not in result.stderr


def test_check_imports_neither_pygls_nor_the_server():
    probe = (
        "import sys; from cnndsl.cli import main; main(['check', '-q', 'specs/alexnet.cnn']); "
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('pygls', 'lsprotocol') or m.startswith('cnndsl.lsp')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"
