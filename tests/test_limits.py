"""Expansion, naming and include limits: every probe of the robustness review, at sizes that run
in a second or two (the full sizes are `slow` tests; their timings are in benchmarks/probes.py).

Each test states the shape of an input that once crashed, hung or took minutes, and what cnndsl
does with it now: a result, or a located diagnostic.
"""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.cli import main
from cnndsl.diagnostics import MAX_ERRORS, DiagnosticSink, error, warning
from cnndsl.onnx import compile_bytes
from cnndsl.resolve import Limits

ROOT = pathlib.Path(__file__).resolve().parent.parent


def diagnostics(text: str, limits: Limits = Limits(), path: str = "<text>") -> list[cnndsl.Diagnostic]:
    try:
        return cnndsl.check_text(text, path=path, limits=limits).warnings
    except CnnError as failure:
        return failure.diagnostics


def codes(text: str, limits: Limits = Limits()) -> list[str]:
    return [d.code for d in diagnostics(text, limits)]


# --- one namespace for layers, tensors and outputs ------------------------------------------------


def test_an_output_named_like_an_automatic_layer_name_compiles():
    # `compile` crashed here ("tensor name 'conv1' is used twice") although `check` accepted it.
    model = cnndsl.check_text("input 3x8x8\nconv1 = conv 3 8 -> relu\noutput conv1\n")
    assert [node.name for node in model.layers] == ["conv2", "relu1"]  # automatic names skip 'conv1'
    assert model.outputs == [("conv1", (8, 6, 6))]
    import onnx

    proto = onnx.load_from_string(compile_bytes(model))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.name for o in proto.graph.output] == ["conv1"]


def test_a_label_that_takes_a_tensors_name_is_e210():
    (d,) = [d for d in diagnostics("input 3x8x8\nx = conv 3 8\nx: conv 1 8\noutput x\n") if d.code == "E210"]
    assert d.location()[1:] == (3, 1)
    assert d.secondary[0].text == "first used here"


@pytest.mark.parametrize("outputs", ["", "output a, relu1\n"])
def test_every_spec_that_checks_compiles(outputs):
    import onnx

    text = "input 3x8x8\na = conv 3 4 -> relu\nb = a -> conv9: conv 1 4\nrelu1 = b -> relu\nadd a relu1\n" + outputs
    model = cnndsl.check_text(text)
    proto = onnx.load_from_string(compile_bytes(model))
    onnx.checker.check_model(proto, full_check=True)
    produced = [name for node in proto.graph.node for name in node.output]
    assert len(produced) == len(set(produced))
    assert [o.name for o in proto.graph.output] == [name for name, _ in model.outputs]


def test_a_network_without_layers_is_e218():
    (d,) = diagnostics("input 3x32x32\n")
    assert (d.code, d.location()[1:]) == ("E218", (1, 1))
    assert codes("input 3x32x32\nrepeat 0 { relu }\n") == ["E218"]


# --- expansion work is bounded, not only the layers it makes -------------------------------------


def test_nested_empty_repetitions_stop_at_the_step_limit():
    (d,) = diagnostics("input 3x8x8\nrepeat 10000 { repeat 10000 { in } }\n")
    assert d.code == "E214" and "steps" in d.message
    assert d.location()[1:] == (2, 8)
    assert d.primary.text == "10,000 iterations of 20,003 steps"


def test_the_same_error_a_hundred_million_times_is_reported_once_with_a_count():
    found = diagnostics("input 3x8x8\nrepeat 10000 { repeat 10000 { conv 3x3 0 } }\n")
    assert [d.code for d in found] == ["E302", "E214"]
    assert any("came up 10,000 times" in note for note in found[0].notes)


def test_blocks_that_double_at_every_level_stop_at_the_step_limit():
    blocks = "\n".join(f"block b{k}() {{ b{k - 1} -> b{k - 1} }}" for k in range(1, 41))
    found = diagnostics(f"input 3x8x8\nblock b0() {{ in }}\n{blocks}\nb40\n")
    assert [d.code for d in found] == ["E214"]
    # with layers inside, the layer limit (or the names' budget, whichever comes first) stops it
    blocks = "\n".join(f"block c{k}() {{ c{k - 1} -> c{k - 1} }}" for k in range(1, 41))
    found = diagnostics(f"input 3x8x8\nblock c0() {{ relu }}\n{blocks}\nc40\n")
    assert [d.code for d in found] in (["E214"], ["E217"])
    found = diagnostics(f"input 3x8x8\nblock c0() {{ relu }}\n{blocks}\nc40\n", Limits(max_layers=1_000))
    assert [d.code for d in found] == ["E214"] and "1,000 layers" in found[0].message


def test_a_limit_that_fits_the_work_lets_it_through():
    text = "input 3x8x8\nrepeat 100 { repeat 100 { in } }\nrelu\n"
    assert codes(text) == []
    assert codes(text, Limits(max_steps=1_000)) == ["E214"]


def test_the_parser_stops_a_runaway_file_at_the_layer_limit():
    text = "input 3x8x8\nrelu" + " -> relu" * 300 + "\n"
    (d,) = diagnostics(text, Limits(max_layers=100))
    assert d.code == "E214" and "writes more than 200 layers, block calls and tensor references" in d.message
    assert d.location()[1:] == (2, 1 + len("relu -> ") * 200)
    # a reference and a layer per statement is within the limit
    assert set(codes(many("in -> relu", 100), Limits(max_layers=100))) == {"W106"}


# --- names grow with nesting: a budget, checked before they are built -----------------------------


def test_deeply_nested_names_are_e217():
    text = "input 1x8\n" + "concat {\n" * 400 + "relu\n" + "relu\n}\n" * 400
    found = diagnostics(text, Limits(max_name_chars=100_000))
    assert [d.code for d in found] == ["E217"]
    assert len(found[0].notes[0]) < 200  # the name in the note is shortened
    assert codes(text, Limits(max_name_chars=10**8)) == []


# --- quadratic shapes: linear now (full sizes are slow tests) -------------------------------------


def many(line: str, count: int, header: str = "input 3x8x8") -> str:
    return header + "\n" + "\n".join(line.format(i=i) for i in range(count)) + "\n"


def test_unused_tensors_warn_each_once():
    found = diagnostics(many("t{i} = in -> relu", 2_000))
    assert [d.code for d in found] == ["W106"] * 1_999  # the last one is the network's output


def test_repeated_labels_stop_after_the_error_limit():
    found = diagnostics(many("  -> a: relu", 2_000, "input 3x8x8\nrelu"))
    assert [d.code for d in found] == ["E210"] * MAX_ERRORS
    assert "stops after" in found[-1].notes[-1]


def test_shortcuts_in_one_scope_are_numbered():
    # A shortcut's layers are named beside the body's, so 300 of them in one scope count on.
    model = cnndsl.check_text(many("  -> residual {{ relu }} shortcut {{ relu }}", 300, "input 3x8x8\nrelu"))
    names = [node.name for node in model.layers]
    assert {"relu2", "relu3", "relu601"} <= set(names)
    assert len(names) == len(set(names))


@pytest.mark.slow
@pytest.mark.parametrize(
    "line, count, header, expected",
    [
        ("t{i} = in -> relu", 50_000, "input 3x8x8", {"W106"}),
        ("in -> kind{i}", 200_000, "input 3x8x8", {"E214"}),
        ("in -> relu", 90_000, "input 3x8x8", {"W106"}),
        ("  -> a: relu", 50_000, "input 3x8x8\nrelu", {"E210"}),
        ("  -> residual {{ relu }} shortcut {{ relu }}", 30_000, "input 3x8x8\nrelu", set()),
    ],
)
def test_the_probes_quadratic_shapes_at_full_size(line, count, header, expected):
    assert set(codes(many(line, count, header), Limits(max_layers=200_000))) <= expected | {"E201"}


@pytest.mark.slow
def test_fifty_thousand_nested_ifs_with_a_raised_depth_limit():
    text = "input 1x8\n" + "if (1) {\n" * 50_000 + "relu\n" + "}\n" * 50_000
    model = cnndsl.check_text(text, limits=Limits(max_depth=100_000))
    assert [node.name for node in model.layers] == ["relu1"]


# --- the diagnostic sink ----------------------------------------------------------------------------


def test_the_sink_counts_repeats_and_keeps_order():
    sink = DiagnosticSink()
    first, second = warning("W106", "a", None), error("E201", "b", None)
    for diagnostic in (first, second, first, first):
        sink.add(diagnostic)
    assert [d.message for d in sink.items] == ["a", "b"]
    assert sink.items[0].notes == (
        "the same diagnostic came up 3 times (the spec expands this line repeatedly); shown once",
    )
    assert sink.has_errors and sink.errors == 1 and sink.added == 4


def test_a_huge_name_makes_a_short_message():
    name = "x" * 1_000_000
    found = diagnostics(f"input 3x8x8\n{name}\n")
    assert [d.code for d in found] == ["E201"]
    assert len(found[0].message) < 200 and "1,000,000 characters" in found[0].message


# --- includes ---------------------------------------------------------------------------------------


def test_include_depth_is_limited(tmp_path):
    for k in range(30):
        (tmp_path / f"f{k}.cnn").write_text(f'use "f{k + 1}.cnn"\n')
    (tmp_path / "f30.cnn").write_text("block b() { relu }\n")
    spec = tmp_path / "main.cnn"
    spec.write_text('use "f0.cnn"\ninput 1x8\nb\n')
    assert len(cnndsl.check_file(spec).layers) == 1
    with pytest.raises(CnnError) as failure:
        cnndsl.check_file(spec, Limits(max_depth=10))
    assert [d.code for d in failure.value.diagnostics] == ["E216"]


def test_include_root_refuses_files_outside_without_reading_them(tmp_path):
    root = tmp_path / "specs"
    root.mkdir()
    secret = tmp_path / "secret.cnn"
    secret.write_text("this line must never be quoted\n")
    (root / "link.cnn").symlink_to(secret)
    for target in (str(secret), "../secret.cnn", "link.cnn"):
        spec = root / "main.cnn"
        spec.write_text(f'use "{target}"\ninput 1x8\nrelu\n')
        with pytest.raises(CnnError) as failure:
            cnndsl.check_file(spec, Limits(include_root=str(root)))
        (d,) = failure.value.diagnostics
        assert d.code == "E212" and "outside the include root" in d.message
        assert "never be quoted" not in cnndsl.diagnostics.render_text(d)
    (root / "lib.cnn").write_text("block b() { relu }\n")
    spec.write_text('use "lib.cnn"\ninput 1x8\nb\n')
    assert len(cnndsl.check_file(spec, Limits(include_root=str(root))).layers) == 1


def test_include_root_on_the_command_line(tmp_path, capsys):
    spec = tmp_path / "main.cnn"
    spec.write_text('use "/etc/hostname"\ninput 1x8\nrelu\n')
    assert main(["check", "--include-root", str(tmp_path), str(spec)]) == 1
    assert "outside the include root" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_use_of_a_fifo_says_what_it_is(tmp_path):
    os.mkfifo(tmp_path / "pipe.cnn")
    spec = tmp_path / "main.cnn"
    spec.write_text('use "pipe.cnn"\ninput 1x8\nrelu\n')
    with pytest.raises(CnnError) as failure:
        cnndsl.check_file(spec)
    assert [d.message for d in failure.value.diagnostics] == ["cannot include 'pipe.cnn': it is a FIFO"]


# --- W106 and the messages a new user meets ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "input 3x8x8\nblock b() { z = in -> conv 1x1 4 }\nb -> relu\n",  # a block's result
        "input 3x8x8\nconv 1x1 4\nz = relu\n",  # the network's output
        "input 3x8x8\nresidual { y = conv 1x1 3 }\n",  # a residual body's result
    ],
)
def test_a_bodys_last_named_tensor_is_its_result_not_unused(text):
    assert codes(text) == []


def test_the_last_tensor_is_unused_when_output_names_others():
    assert codes("input 3x8x8\na = conv 1x1 4\nb = a -> relu\noutput a\n") == ["W106"]


@pytest.mark.parametrize(
    "text, code, help",
    [
        ("conv 3x3 64 stride 2", "E202", "write the stride in the window: '3x3/2'"),
        ("pool 3 stride 2", "E202", "write the stride in the window: '3/2'"),
        ("block b(c) { conv 1x1 c/2 }\nb 8", "E301", "to divide, parenthesise the expression: '(c/2)'"),
        ("block b(c) { conv 3x3 c - 2 }\nb 8", "E204", "to subtract, parenthesise the expression: '(c - 2)'"),
    ],
)
def test_new_users_mistakes_get_the_fix(text, code, help):
    (d,) = diagnostics(f"input 3x32x32\n{text}\n")
    assert (d.code, d.help) == (code, help)


@pytest.mark.parametrize(
    "text",
    [
        "if (1) { relu } else { tanh } else { sigmoid }",
        "residual { relu } shortcut { tanh } shortcut { relu }",
    ],
)
def test_a_second_else_or_shortcut_is_e215_not_ignored(text):
    (d,) = diagnostics(f"input 3x8x8\n{text}\n")
    assert d.code == "E215" and "not two" in d.message
    assert d.secondary[0].text == "the first"


def test_an_input_of_more_than_three_spatial_axes_is_e302():
    # 20,000 axes once took seconds in the shape pass; 4 passed the check and failed in ONNX Runtime.
    for dims in ("3x8x8x8x8", "x".join(["1"] * 20_001)):
        (d,) = diagnostics(f"input {dims}\npool 2\n")
        assert d.code == "E302" and "spatial axes" in d.message
    assert codes("input 3x4x4x4\npool 2\n") == []


# --- found by an independent probe after the fixes above ------------------------------------------


def test_in_cannot_label_a_layer():
    # `in: relu` + `output in` passed check and made compile exit 3.
    (d,) = diagnostics("input 3x8x8\nin: relu\noutput in\n")
    assert d.code == "E210" and "'in' cannot label a layer" in d.message


def test_run_counts_the_lrn_buffer_onnx_runtime_allocates(tmp_path, capsys):
    # ONNX Runtime pads the channel axis by the window: `lrn 16777217` on 3x8x8 took 4.5 GB.
    spec = tmp_path / "lrn.cnn"
    spec.write_text("input 3x8x8\nlrn 16777217\n")
    assert main(["run", str(spec), "--max-memory", "100000000"]) == 1
    err = capsys.readouterr().err
    assert "error[E508]" in err and "4.0 GiB" in err and "after 'lrn1'" in err


def test_literal_weights_that_overflow_after_the_division_are_e303():
    (d,) = diagnostics("input 1x8x8\nconv 3x3 1 weights [[1 2 3][4 5 6][7 8 9]] / 1e-320\n")
    assert d.code == "E303"
    (d,) = diagnostics("input 1x8x8\nconv 3x3 1 weights [[1 2 3][4 5 6][7 8 9]] / 0\n")
    assert d.code == "E301" and d.help is None  # not "parenthesise the expression"


def test_a_long_chain_of_included_files_costs_linear_memory(tmp_path):
    count = 2_000
    for k in range(count):
        follow = f'use "f{k + 1}.cnn"\n' if k + 1 < count else ""
        (tmp_path / f"f{k}.cnn").write_text(follow + f"block k{k}(c) {{ relu }}\n")
    spec = tmp_path / "main.cnn"
    spec.write_text('use "f0.cnn"\ninput 4x8x8\nk0 1\n')
    assert len(cnndsl.check_file(spec).layers) == 1


def test_checking_works_where_a_big_stack_cannot_be_had():
    # Under `ulimit -v` the 1 GiB stack thread could not start: every check exited 3. Checking now
    # runs on the caller's thread and stack (expansion keeps a work stack of its own), so even the
    # deepest nesting --max-depth allows checks within 900 MiB of address space.
    import subprocess
    import sys

    deep = "input 1x8\n" + "if (1) {\n" * 10_000 + "relu\n" + "}\n" * 10_000
    script = (
        "import resource, sys, threading, cnndsl\n"
        "resource.setrlimit(resource.RLIMIT_AS, (900 * 2**20, 900 * 2**20))\n"
        f"print(len(cnndsl.check_file({str(ROOT / 'specs' / 'alexnet.cnn')!r}).layers))\n"
        "print(len(cnndsl.check_text(sys.stdin.read()).layers))\n"
        "print(sys.getrecursionlimit(), threading.active_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], input=deep, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["15", "1", "1000", "1"]  # AlexNet's 15 layers, then the deep spec's one


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: cnndsl.check(None), TypeError),
        (lambda: cnndsl.check_text(b"input 1x8\nrelu\n"), TypeError),
        (lambda: cnndsl.check_text("input 1x8\nrelu\n", limits=Limits(max_layers=-1)), ValueError),
        (lambda: cnndsl.check_text("input 1x8\nrelu\n", limits=Limits(include_root="/no/such/dir")), ValueError),
    ],
)
def test_the_python_api_names_a_programs_mistake(call, error):
    with pytest.raises(error):
        call()


def test_a_malformed_npy_header_is_a_diagnostic(tmp_path, capsys):
    (tmp_path / "s.cnn").write_text("input 3x8x8\nconv 3 4\n")
    (tmp_path / "b.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4',}")
    assert main(["run", str(tmp_path / "s.cnn"), "--input", str(tmp_path / "b.npy")]) == 1
    assert "error[E507]" in capsys.readouterr().err


def test_an_unclosed_ignore_comment_silences_nothing():
    assert codes("input 3x32x32\nconv 3x3/2 8  # cnndsl: ignore[\n") == ["W101"]


# --- found by a second independent probe -------------------------------------------------------------


def test_an_output_under_dev_is_refused_even_through_a_link_to_a_regular_file(tmp_path, capsys):
    # /dev/stdout links to /proc/self/fd/1: with stdout redirected to a file, renaming over the link
    # replaced the system's /dev/stdout.
    spec = tmp_path / "s.cnn"
    spec.write_text("input 3x8x8\nconv 3 4\n")
    for output in ("/dev/stdout", "/proc/self/fd/1"):
        assert main(["compile", str(spec), "-o", output]) == 1
        assert "error[E503]" in capsys.readouterr().err
    assert os.path.islink("/dev/stdout")


@pytest.mark.parametrize(
    "table, message",
    [
        ("[tool.cnndsl]\nx = " + "[" * 800 + "]" * 800 + "\n", "nested too deeply"),
    ],
)
@pytest.mark.parametrize("recursion_limit", [1_000, 3_000])  # 3,000: what importing keras sets
def test_a_pyproject_that_cannot_be_read_is_a_usage_error(tmp_path, capsys, table, message, recursion_limit):
    (tmp_path / "pyproject.toml").write_text(table)
    spec = tmp_path / "s.cnn"
    spec.write_text("input 1x8\nrelu\n")
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(recursion_limit)
    try:
        assert main(["check", str(spec)]) == 2
    finally:
        sys.setrecursionlimit(previous)
    assert message in capsys.readouterr().err


def test_a_huge_pyproject_is_not_read(tmp_path, capsys):
    with open(tmp_path / "pyproject.toml", "wb") as big:
        big.truncate(20_000_000)  # sparse: no disk used
    spec = tmp_path / "s.cnn"
    spec.write_text("input 1x8\nrelu\n")
    assert main(["check", str(spec)]) == 2
    assert "over 10,000,000 bytes" in capsys.readouterr().err


@pytest.mark.parametrize("setting", ["alpha 0", "alpha -1e-4", "beta 0", "beta -1", "k -1", "k 0"])
def test_lrn_settings_onnx_runtime_refuses_are_e302(setting):
    (d,) = diagnostics(f"input 3x8x8\nlrn 3 {setting}\n")
    assert d.code == "E302"


@pytest.mark.skipif(
    not os.path.exists("/proc/kmsg") or not os.access("/proc/kmsg", os.R_OK),
    reason="needs a readable /proc/kmsg (a regular file with no data now)",
)
def test_a_regular_file_with_no_data_now_is_e105():
    with pytest.raises(CnnError) as failure:
        cnndsl.check_file("/proc/kmsg")
    codes = [d.code for d in failure.value.diagnostics]
    if codes[:1] == ["E101"]:
        # The kernel had messages pending (reading them consumed them): a spec with a syntax error.
        pytest.skip("/proc/kmsg held kernel messages at this moment")
    assert codes == ["E105"]


@pytest.mark.parametrize("params", ["c=1, c=2", "c, c"])
def test_a_block_parameter_declared_twice_is_e210_at_the_definition(params):
    (d,) = diagnostics(f"input 3x8x8\nblock f({params}) {{ relu }}\nf 1\n")
    assert d.code == "E210" and "two parameters named 'c'" in d.message
    assert d.location()[1] == 2


def test_output_paths_that_name_directories_say_so(tmp_path, capsys):
    spec = tmp_path / "s.cnn"
    spec.write_text("input 3x8x8\nconv 3 4\n")
    (tmp_path / "f.onnx").write_text("")
    for output, says in ((tmp_path / "nodir/", "ends in '/'"), (tmp_path / "f.onnx" / "x.onnx", "is not a directory")):
        assert main(["compile", str(spec), "-o", str(output) + ("/" if str(output).endswith("nodir") else "")]) == 1
        assert says in capsys.readouterr().err


def test_control_characters_in_a_spec_path_are_escaped_in_diagnostics(tmp_path, capsys):
    spec = tmp_path / "a\x1b[31mb.cnn"
    spec.write_text("input 3x8x8\nconv 3x3/2 4\n")
    main(["check", str(spec)])
    err = capsys.readouterr().err
    assert "\x1b" not in err.splitlines()[0] and "a\\x1b[31mb.cnn:2:1" in err


def test_an_inline_tool_table_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text('tool = {cnndsl = {ignore = ["W101"]}}\n')
    spec = tmp_path / "s.cnn"
    spec.write_text("input 3x32x32\nconv 3x3/2 8\n")
    assert main(["check", str(spec)]) == 0
    from cnndsl.rules import configured_rules

    assert "W101" not in configured_rules(str(spec)).enabled


def test_renames_of_a_model_and_its_data_hold_the_directory_lock(tmp_path):
    # Two compiles to one output with external data could pair one's model with the other's data.
    import subprocess
    import sys

    from cnndsl.files import _directory_locked

    probe = (
        "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    print('held')\n"
    )
    with _directory_locked(str(tmp_path)):
        held = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    free = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert (held.stdout.strip(), free.stdout.strip()) == ("held", "")
