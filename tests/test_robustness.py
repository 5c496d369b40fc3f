"""Any input ends in success or in cnndsl's own located diagnostics: never a crash.

Property tests over specs generated from the grammar, over the library's specs mutated line by
line and byte by byte, and over raw bytes; plus the nesting-depth guarantees.
"""

from __future__ import annotations

import pathlib
import random
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

import cnndsl
from cnndsl.diagnostics import CnnError
from cnndsl.layers import REGISTRY
from cnndsl.reader import source_from_bytes
from cnndsl.syntax.grammar import grammar_text

SPECS = sorted((pathlib.Path(__file__).resolve().parent.parent / "specs").glob("*.cnn"))
# Small limits keep generated monsters cheap; the property is the same.
LIMITS = cnndsl.Limits(max_layers=2_000, max_repeat=50, max_params=50_000_000)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(data: bytes, path: str = "fuzz.cnn") -> cnndsl.CheckedModel | None:
    """Check `data`; only success or CnnError with located diagnostics may come out."""
    try:
        return cnndsl.check_source(source_from_bytes(path, data), LIMITS)
    except CnnError as failure:
        assert failure.diagnostics, "a CnnError must carry diagnostics"
        for diagnostic in failure.diagnostics:
            assert diagnostic.code[0] in "EW" and diagnostic.message
            if diagnostic.code != "E105":
                assert diagnostic.location() is not None, f"{diagnostic.code} has no line and column"
        assert any(d.is_error for d in failure.diagnostics)
        return None


WORDS = sorted(
    {
        *REGISTRY,
        "repeat",
        "residual",
        "shortcut",
        "concat",
        "if",
        "else",
        "as",
        "in",
        "pad",
        "same",
        "valid",
        "groups",
        "dilation",
        "nobias",
        "ceil",
        "avg",
        "max",
        "global",
        "adaptive",
        "mode",
        "reflect",
        "weights",
        "eps",
        "alpha",
        "beta",
        "k",
        "x",
        "y",
        "c",
    }
)


def _spaced(strategy):
    # from_lark concatenates tokens; a leading space keeps names and numbers from running together.
    return strategy.map(lambda token: " " + token)


GRAMMAR_STRATEGIES = {
    "NAME": _spaced(st.sampled_from(WORDS) | st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)),
    "INT": _spaced(st.integers(0, 300).map(str)),
    "FLOAT": _spaced(st.sampled_from(["0.5", "1e-5", "0.001", "2.0", ".25"])),
    "DIMS": _spaced(st.lists(st.integers(0, 40), min_size=2, max_size=3).map(lambda v: "x".join(map(str, v)))),
    "STRING": st.sampled_from(['"lib.cnn"', '"missing.cnn"', '""']),
    "_NL": st.just("\n"),
    "COMMENT": st.just(" "),
    "WHITESPACE": st.just(" "),
    **{keyword: st.just(keyword.lower() + " ") for keyword in ("INPUT", "USE", "OUTPUT", "BLOCK")},
}


@pytest.fixture(scope="module")
def grammar() -> Lark:
    return Lark(grammar_text(), parser="lalr", lexer="basic")


@FAST
@given(data=st.data())
def test_specs_generated_from_the_grammar(grammar, data):
    text = data.draw(
        from_lark(grammar, explicit=GRAMMAR_STRATEGIES, alphabet=st.characters(min_codepoint=32, max_codepoint=126))
    )
    outcome(text.encode())


def _mutate(lines: list[str], rng: random.Random) -> list[str]:
    lines = list(lines)
    operation = rng.choice(["delete", "duplicate", "swap", "truncate", "token"])
    if not lines:
        return lines
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if operation == "delete":
        del lines[i]
    elif operation == "duplicate":
        lines.insert(i, lines[j])
    elif operation == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif operation == "truncate":
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        cut = rng.randrange(len(lines[i]) + 1)
        token = rng.choice(
            [
                "->",
                "{",
                "}",
                "(",
                ")",
                "[",
                "]",
                ",",
                "/",
                "x",
                "0",
                "-1",
                "relu",
                "pad",
                "conv 3x3 8",
                "=",
                ":",
                "?",
                "1e400",
                "99999999999999999999",
                "#",
            ]
        )
        lines[i] = lines[i][:cut] + " " + token + " " + lines[i][cut:]
    return lines


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_mutated_library_specs(spec):
    rng = random.Random(spec.stem)
    original = spec.read_text().splitlines()
    for _ in range(40):
        lines = original
        for _ in range(rng.randint(1, 3)):
            lines = _mutate(lines, rng)
        outcome("\n".join(lines).encode(), str(spec))


@FAST
@given(
    spec=st.sampled_from(SPECS) if SPECS else st.nothing(),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_flipped_bytes(spec, flips):
    data = bytearray(spec.read_bytes())
    for position, value in flips:
        data[position % len(data)] = value
    outcome(bytes(data), str(spec))


@FAST
@given(st.binary(max_size=400))
def test_raw_bytes(data):
    outcome(data)


@FAST
@given(st.text(alphabet=st.sampled_from(list("input 3x2\n->conv pool{}()[],/*+-=:?#.0123456789relu")), max_size=200))
def test_token_soup(text):
    outcome(text.encode())


# --- nesting depth ------------------------------------------------------------------------------

DEPTH = 10_000


# Every level of a repetition or a block call adds to the names of everything inside it
# ('repeat1.0.repeat1.0....'), so names grow with the square of the depth: at DEPTH levels they
# alone would take a gigabyte, and the name budget (E217) stops them first. Nesting that adds no
# level to names (if, residual bodies, brackets) works at DEPTH; naming levels work to ~1,000.
NAMED_DEPTH = 1_000


def test_nested_repeats_deep_in_names():
    text = "input 1x8\n" + "repeat 1 { " * NAMED_DEPTH + "relu" + " }" * NAMED_DEPTH + "\n"
    model = cnndsl.check_text(text)
    assert [node.kind for node in model.layers] == ["relu"]
    assert len(model.layers[0].scopes) == 2 * NAMED_DEPTH  # a repetition and an iteration per level


def test_deep_names_are_refused_before_they_fill_memory():
    text = "input 1x8\n" + "repeat 1 { " * DEPTH + "relu" + " }" * DEPTH + "\n"
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E217"
    assert "names grow with every level of nesting" in diagnostic.notes[0]


@pytest.mark.parametrize("opening, closing", [("if (1) { ", " }"), ("residual { ", " } -> relu")])
def test_nesting_that_adds_no_names_works_at_the_depth_limit(opening, closing):
    text = "input 1x8\n" + opening * DEPTH + "relu" + closing * DEPTH + "\n"
    model = cnndsl.check_text(text)
    assert model.layers[0].name == "relu1"


def test_nesting_past_the_limit_is_a_diagnostic():
    text = "input 1x8\n" + "repeat 1 { " * (DEPTH + 1) + "relu" + " }" * (DEPTH + 1) + "\n"
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text)
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E216"
    assert diagnostic.location()[1:] == (2, 1 + len("repeat 1 { ") * DEPTH + len("repeat 1 "))
    # and the limit can be raised
    # and the limit can be raised (then the names' budget is what stops it)
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text, limits=cnndsl.Limits(max_depth=DEPTH + 1))
    assert [d.code for d in failure.value.diagnostics] == ["E217"]


def test_block_calls_nested_deep_in_names():
    blocks = "\n".join(f"block b{i}() {{ b{i + 1} }}" for i in range(NAMED_DEPTH - 1))
    text = f"input 1x8\n{blocks}\nblock b{NAMED_DEPTH - 1}() {{ relu }}\nb0\n"
    model = cnndsl.check_text(text)
    assert model.layers[0].name.count(".") == NAMED_DEPTH


def test_block_calls_past_the_limit_are_a_diagnostic():
    blocks = "\n".join(f"block b{i}() {{ b{i + 1} }}" for i in range(50))
    text = f"input 1x8\n{blocks}\nblock b50() {{ relu }}\nb0\n"
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text, limits=cnndsl.Limits(max_depth=20))
    assert [d.code for d in failure.value.diagnostics] == ["E216"]


@pytest.mark.parametrize("opener, closer, inside", [("(", ")", "3"), ("[", "]", "1")])
def test_deep_brackets(opener, closer, inside):
    where = "conv 3 1 weights " if opener == "[" else "conv "
    tail = "" if opener == "[" else " 4"
    text = f"input 1x8\n{where}{opener * DEPTH}{inside}{closer * DEPTH}{tail}\n"
    try:
        cnndsl.check_text(text)
    except CnnError as failure:  # a 10,000-axis kernel is refused, cleanly
        assert [d.code for d in failure.diagnostics] == ["E403"]


# Expansion keeps its own work stack (cnndsl.resolve.work): deep nesting needs no deep Python
# stack, no thread and no change of the interpreter's recursion limit.
NESTED_DEPTH = 9_000


def _nested_blocks(levels_per_block: int = 14) -> str:
    """Blocks that call each other, NESTED_DEPTH levels deep in all: each nests five ifs, a
    residual, a repeat (or an if-else), five ifs, a concat (or an if) and the next block's call."""
    count = NESTED_DEPTH // levels_per_block
    lines = ["input 1x8"]
    for i in range(count):
        inner = f"b{i + 1}" if i + 1 < count else "relu"
        repeat = "repeat 1 {" if i % 5 == 0 else "if (0) { relu } else {"
        concat = f"concat {{ {inner} ; relu }} -> conv 1 1" if i % 10 == 0 else f"if (1) {{ {inner} }}"
        ifs, ends = "if (1) { " * 5, " }" * 5
        lines.append(f"block b{i}() {{ {ifs}residual {{ {repeat} {ifs}{concat}{ends} }} }} -> relu{ends} }}")
    return "\n".join([*lines, "b0"]) + "\n"


def _scopes_of_nested_blocks(levels_per_block: int = 14) -> int:
    """A block instance's scope per block, a repeat's and its iteration's, a concat's branch."""
    return sum(1 + 2 * (i % 5 == 0) + (i % 10 == 0) for i in range(NESTED_DEPTH // levels_per_block))


@pytest.fixture
def default_recursion_limit():
    """Python's default recursion limit during the test (whatever pytest runs with)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000)
    yield
    sys.setrecursionlimit(previous)


@pytest.mark.parametrize(
    "text, layers",
    [
        ("input 1x8\n" + "if (1) {\n" * NESTED_DEPTH + "relu\n" + "}\n" * NESTED_DEPTH, 1),
        (
            "input 1x8\n" + "residual { " * NESTED_DEPTH + "relu" + " } -> relu" * NESTED_DEPTH + "\n",
            2 * NESTED_DEPTH + 1,
        ),
        (
            "input 1x8\n" + "residual { if (1) { " * (NESTED_DEPTH // 2) + "relu" + " } }" * (NESTED_DEPTH // 2) + "\n",
            NESTED_DEPTH // 2 + 1,
        ),
        (_nested_blocks(), None),
        ("input 1x10000\nconv " + "(1 + " * NESTED_DEPTH + "1" + ")" * NESTED_DEPTH + " 4\n", 1),
        ("input 1x8\nconv " + "(" * NESTED_DEPTH + "3" + ")" * NESTED_DEPTH + " 4\n", 1),
        (
            "input 1x8\nblock b(k = "
            + "(1 + " * NESTED_DEPTH
            + "1"
            + ")" * NESTED_DEPTH
            + ") { conv 1 (k - 9000) }\nb -> b\n",
            2,
        ),
        ("input 1x8\nconv 1 1 weights " + "[" * NESTED_DEPTH + "1" + "]" * NESTED_DEPTH + "\n", None),
    ],
    ids=[
        "ifs",
        "residuals",
        "residuals-and-ifs",
        "blocks-repeats-concats",
        "arithmetic",
        "parentheses",
        "block-default",
        "arrays",
    ],
)
def test_deep_nesting_needs_no_deep_stack(text, layers, default_recursion_limit):
    assert threading.current_thread() is threading.main_thread()
    threads = threading.active_count()
    try:
        model = cnndsl.check_text(text)
    except CnnError as failure:  # a kernel of 9,000 axes is refused, cleanly
        assert layers is None and [d.code for d in failure.diagnostics] == ["E403"]
    else:
        assert layers is None or len(model.layers) == layers
    assert sys.getrecursionlimit() == 1_000
    assert threading.active_count() == threads


def test_deeply_nested_blocks_are_named_level_by_level(default_recursion_limit):
    model = cnndsl.check_text(_nested_blocks())
    deepest = max(model.layers, key=lambda node: len(node.scopes))
    assert deepest.name.startswith("b01.repeat1.0.concat1.branch1.b11.b21.b31.b41.b51.repeat1.0.b61.")
    assert len(deepest.scopes) == _scopes_of_nested_blocks()


def test_long_chain_is_linear_enough():
    text = "input 4x8x8\n" + "\n".join("-> relu" if i else "relu" for i in range(10_000)) + "\n"
    assert len(cnndsl.check_text(text).layers) == 10_000


# --- a failing compile writes nothing -------------------------------------------------------------

SMALL_SPECS = [p for p in SPECS if p.stem in ("mnist_cnn", "mnist_mlp", "lenet5", "audio1d")]


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=lambda p: p.stem)
def test_compile_of_mutated_specs_writes_only_on_success(spec, tmp_path, capsys):
    pytest.importorskip("onnx")
    from cnndsl.cli import main

    rng = random.Random(f"compile-{spec.stem}")
    original = spec.read_text().splitlines()
    for case in range(25):
        lines = _mutate(original, rng)
        source = tmp_path / f"case{case}.cnn"
        source.write_text("\n".join(lines) + "\n")
        output = tmp_path / f"case{case}.onnx"
        status = main(["compile", str(source), "-o", str(output), "--max-params", "10000000"])
        capsys.readouterr()
        assert status in (0, 1)
        assert output.exists() == (status == 0)
        # nothing else appears beside the spec: no temporary files, no partial outputs
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"case{case}.")) == sorted(
            [source.name] + ([output.name] if status == 0 else [])
        )
