"""The expression language: logical operators, functions and real arithmetic, computed shapes,
tensor shapes read by attribute, and argument lists across lines (docs/language.md, "Integer
arithmetic and conditionals")."""

from __future__ import annotations

import pathlib
import sys

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.resolve.evaluation import EvalError, Evaluator
from cnndsl.resolve.functions import divisible, round_half_away
from cnndsl.source import Source
from cnndsl.syntax import ast
from cnndsl.syntax.automaton import runtime
from cnndsl.syntax.parser import parse

ROOT = pathlib.Path(__file__).resolve().parent.parent


def argument(expression: str) -> ast.Item:
    """The syntax tree of one argument, as written after a layer kind."""
    module = parse(Source("t.cnn", f"input 3x8x8\nconv 1x1 {expression}\n"))
    chain = module.statements[1]
    assert isinstance(chain, ast.Chain)
    return chain.elements[0].items[1]


def evaluate(expression: str, **env: int | float) -> int | float:
    return Evaluator(dict(env), words_allowed=False).value(argument(expression))


def errors(text: str) -> list[tuple[str, int, int, str]]:
    """(code, line, column, help) of each error the spec reports (warnings left out)."""
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text, "t.cnn")
    found = []
    for diagnostic in (d for d in failure.value.diagnostics if d.is_error):
        assert diagnostic.primary is not None
        line, column = diagnostic.primary.source.line_col(diagnostic.primary.span.start)
        found.append((diagnostic.code, line, column, diagnostic.help or ""))
    return found


def shapes(text: str) -> list[tuple[int, ...]]:
    """The output shape of every layer, in order."""
    model = cnndsl.check_text(text, "t.cnn")
    return [model.shapes[node] for node in model.layers]


# --- logical operators ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(!0)", 1),
        ("(!7)", 0),
        ("(!!7)", 1),
        ("(3 && 4)", 1),  # 0 or 1, never an operand's value
        ("(3 || 0)", 1),
        ("(0 || 0.0)", 0),
        ("(1 || 0 && 0)", 1),  # && binds tighter than ||
        ("((1 || 0) && 0)", 0),
        ("(!0 + 1)", 2),  # ! binds tighter than +, as unary minus does
        ("(!(0 + 1))", 0),
        ("(-2 * 3 + 7 > 0 && 2 * 2 == 4)", 1),  # arithmetic, then comparison, then &&
        ("(0 && 1 ? 5 : 6)", 6),  # ? : is the loosest
        ("(1 ? 0 : 1 ? 2 : 3)", 0),
        ("(0 ? 1 : 0 ? 2 : 3)", 3),  # right-associative, as in C
    ],
)
def test_logical_operators_follow_c_precedence_and_give_0_or_1(expression, expected):
    result = evaluate(expression)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("expression", ["(n != 0 && 64 / n > 2)", "(n == 0 || 64 / n > 2)", "(n == 0 ? 1 : 64 / n)"])
def test_the_operand_not_needed_is_not_evaluated(expression):
    assert evaluate(expression, n=0) in (0, 1)
    with pytest.raises(EvalError) as failure:
        evaluate(expression.replace("n == 0", "n == 1").replace("n != 0", "n != 1"), n=0)
    assert failure.value.code == "E302"  # the division by zero is reached once it is needed


@pytest.mark.parametrize(("operator", "spelling"), [("&", "&&"), ("|", "||")])
def test_a_lone_bitwise_operator_suggests_the_logical_one(operator, spelling):
    ((code, line, column, help_line),) = errors(f"input 3x8x8\nconv 3x3 (1 {operator} 1)\n")
    assert (code, line, column) == ("E102", 2, 13)
    assert f"'{spelling}'" in help_line


@pytest.mark.parametrize(
    ("argument", "help_line"),
    [
        ("4 pad 1 && 2", "operators other than '*' work inside parentheses: (a && b)"),
        ("!1", "operators other than '*' work inside parentheses: (a && b)"),
        ("(-!1)", "a minus takes '!' in parentheses: -(!x)"),
    ],
)
def test_logical_operators_out_of_place_are_explained(argument, help_line):
    ((code, _, _, found),) = errors(f"input 3x8x8\nconv 3x3 {argument}\n")
    assert (code, found) == ("E101", help_line)


# --- functions and real arithmetic ------------------------------------------------------------


def test_division_keeps_its_meaning():
    assert evaluate("(8 / 2)") == 4 and type(evaluate("(8 / 2)")) is int
    assert evaluate("(7 / 2)") == 3.5


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(ceil(3 * 1.1))", 4),  # 3.3000000000000003, as torchvision's math.ceil sees it
        ("(ceil(2))", 2),
        ("(floor(-0.5))", -1),
        ("(round(2.5))", 3),  # halves away from zero, not Python's banker's rounding (2)
        ("(round(-2.5))", -3),
        ("(round(0.49999999999999994))", 0),  # floor(x + 0.5) would give 1
        ("(round(1.4))", 1),
        ("(min(3, 2.5))", 2.5),
        ("(max(3, 2.5))", 3),
        ("(divisible(32 * 1.4, 8))", 48),
        ("(divisible(16 * 0.5, 8))", 8),  # never below the divisor
        ("(max(8, min(4 * 4, 12)) + floor(1.9))", 13),
    ],
)
def test_functions(expression, expected):
    result = evaluate(expression)
    assert result == expected and type(result) is type(expected)


@pytest.fixture(scope="module")
def torchvision():
    """torchvision beside torch's CPU build: its wheel's compiled operators fail to register their
    fake kernels there ("operator torchvision::nms does not exist"), and the model definitions
    never use them, so registration is skipped while it is imported."""
    torch = pytest.importorskip("torch")
    register_fake = torch.library.register_fake
    torch.library.register_fake = lambda *_, **__: lambda kernel: kernel
    try:
        import torchvision
    except ImportError:
        pytest.skip("torchvision is not installed")
    finally:
        torch.library.register_fake = register_fake
    return torchvision


def test_divisible_is_torchvisions_make_divisible(torchvision):
    from torchvision.models._utils import _make_divisible as make_divisible

    for value in [
        *range(1, 400, 7),
        *(c * w for c in (16, 24, 32, 40, 80, 112, 192, 320) for w in (0.5, 1.1, 1.4, 2)),
        10.5,
    ]:
        for divisor in (1, 4, 8, 16):
            assert divisible(value, divisor) == make_divisible(value, divisor), (value, divisor)


def test_round_half_away_from_zero():
    assert [round_half_away(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 2.4999)] == [1, 2, 3, -1, -2, 2]


def test_an_integer_valued_real_is_an_integer():
    (conv,) = cnndsl.check_text("input 3x8x8\nconv 3x3 (64 * 0.5) pad (2 / 2)\n").layers
    assert conv.layer.channels == 32 and type(conv.layer.channels) is int


def test_a_fraction_where_an_integer_is_needed_suggests_rounding():
    ((code, line, column, help_line),) = errors("input 3x8x8\nconv 3x3 (50 * 0.75)\n")
    assert (code, line, column) == ("E301", 2, 10)
    assert help_line == (
        "round it: (ceil(50 * 0.75)), (floor(50 * 0.75)), (round(50 * 0.75)) or (divisible(50 * 0.75, 8))"
    )
    for text in ("input 3x8x8\nrepeat (5 / 2) { relu }\n", "input 3x8x8\nconv (5 / 2)x1 4\n"):
        ((code, _, _, help_line),) = errors(text)
        assert code == "E301" and "ceil" in help_line and "floor" in help_line


@pytest.mark.parametrize(
    ("call", "column", "help_line"),
    [
        ("(maxx(1, 2))", 11, "did you mean 'max'?"),
        ("(sqrt(4))", 11, "the functions are divisible, ceil, floor, round, min, max"),
        ("(max(1))", 10, "call it as max(a, b)"),
        ("(ceil(1, 2))", 10, "call it as ceil(x)"),
    ],
)
def test_unknown_functions_and_wrong_argument_counts(call, column, help_line):
    assert errors(f"input 3x8x8\nconv 3x3 {call}\n") == [("E219", 2, column, help_line)]


def test_a_call_needs_parentheses_around_it():
    # Outside parentheses `max (1)` is two arguments: the word, then a value.
    ((code, _, column, _),) = errors("input 3x8x8\nconv 3x3 4 max (1)\n")
    assert (code, column) == ("E202", 12)


def test_a_divisor_must_be_a_positive_integer():
    ((code, line, column, _),) = errors("input 3x8x8\nconv 3x3 (divisible(10, 0.5))\n")
    assert (code, line, column) == ("E302", 2, 25)


# --- computed shapes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "kernel", "stride"),
    [
        ("(k)x1", (5, 1), None),
        ("1x(k)", (1, 5), None),
        ("(k)x(k)/(s)", (5, 5), (2,)),
        ("(2*k+1)x3", (11, 3), None),
        ("3x(k)/(s)x1", (3, 5), (2, 1)),
        ("(k)x1/2", (5, 1), (2,)),
    ],
)
def test_a_shape_may_compute_its_extents(window, kernel, stride):
    (_, conv) = cnndsl.check_text(f"input 3x32x32\nblock b(k, s) {{ conv {window} 4 }}\nb 5 2\n").graph.nodes
    assert conv.layer.window.extent == kernel and conv.layer.window.stride == stride


def test_the_lexer_reads_x_as_a_cross_only_between_extents():
    def kinds(text: str) -> list[str]:
        return [token.type for token in runtime().tokens(text)]

    assert kinds("3x3") == ["DIMS"]
    assert kinds("(k)x1") == ["LPAR", "NAME", "RPAR", "CROSS", "INT"]
    assert kinds("1x(k)") == ["INT", "CROSS", "LPAR", "NAME", "RPAR"]
    assert kinds("3x3x(k)") == ["DIMS", "CROSS", "LPAR", "NAME", "RPAR"]
    assert kinds("(k) x1") == ["LPAR", "NAME", "RPAR", "NAME"]  # spaced apart, 'x1' is a name
    assert kinds("x = conv1x1") == ["NAME", "EQUALS", "NAME"]


# --- tensor shapes ----------------------------------------------------------------------------


def test_a_block_reads_its_input_channels():
    # DenseNet's transition: half the channels, without a hand-threaded count.
    text = (
        "input 64x32x32\n"
        "block transition() { bn -> relu -> conv 1x1 (in.c / 2) nobias -> pool avg 2/2 }\n"
        "transition -> conv 3x3 (in.c) pad 1 -> transition\n"
    )
    assert shapes(text)[3] == (32, 16, 16) and shapes(text)[-1] == (32, 8, 8)


def test_every_attribute_on_every_rank():
    two_d = "input 3x20x30\nx = conv 1x1 4\nx -> conv 1x1 (x.c + x.h + x.w + in.rank + (in.shape[2]))\n"
    assert shapes(two_d)[-1][0] == 4 + 20 + 30 + 2 + 30
    three_d = "input 2x5x6x7\nconv 1 (in.d * 100 + in.h * 10 + in.w)\n"
    assert shapes(three_d)[-1][0] == 567
    one_d = "input 2x40\nconv 1 (in.l + in.rank + (in.shape[0]))\n"
    assert shapes(one_d)[-1][0] == 43


def test_tensor_shapes_steer_repeat_counts_if_conditions_and_defaults():
    text = (
        "input 16x8x8\n"
        "block widen(c = in.c * 2) { conv 1x1 c }\n"
        "repeat (in.c / 8) { conv 3x3 16 pad 1 }\n"
        "  -> if (in.h >= 8 && in.w >= 8) { pool 2 } else { relu }\n"
        "  -> widen\n"
    )
    assert shapes(text) == [(16, 8, 8), (16, 8, 8), (16, 4, 4), (32, 4, 4)]


def test_a_default_reads_the_parameters_before_it():
    text = "input 3x8x8\nblock m(a, stem = divisible(32 * a, 8), b = stem + 1) { conv 1 stem -> conv 1 b }\nm 0.5\n"
    assert shapes(text) == [(16, 8, 8), (17, 8, 8)]


def test_an_error_in_a_default_points_into_the_file_that_defines_the_block(tmp_path):
    (tmp_path / "lib.cnn").write_text("# a library\nblock m(c = later * 2, later = 1) { conv 1 c }\n")
    spec = tmp_path / "net.cnn"
    spec.write_text('use "lib.cnn"\ninput 3x8x8\nm\n')
    with pytest.raises(CnnError) as failure:
        cnndsl.check_file(spec)
    (diagnostic,) = failure.value.diagnostics
    label = diagnostic.primary
    assert label is not None
    assert diagnostic.code == "E209" and label.source.path.endswith("lib.cnn")
    assert label.source.text[label.span.start : label.span.end] == "later"


@pytest.mark.parametrize(
    ("read", "code", "column"),
    [
        ("(in.q)", "E304", 14),
        ("(in.l)", "E304", 14),  # a 2D tensor has no length
        ("(in.shape[3])", "E304", 20),
        ("(in.shape[1.5])", "E304", 20),
        ("in.shape", "E304", 10),
        ("(in.c[0])", "E304", 10),
        ("(y.c)", "E208", 11),
    ],
)
def test_attributes_a_tensor_lacks(read, code, column):
    ((found, line, at, _),) = errors(f"input 3x8x8\nconv 3x3 {read}\n")
    assert (found, line, at) == (code, 2, column)


def test_an_undefined_tensor_names_the_ones_in_scope():
    ((_, _, _, help_line),) = errors("input 3x8x8\nskip = relu\nconv 3x3 (y.c)\n")
    assert help_line == "the tensors here are in, skip"
    ((_, _, _, help_line),) = errors("input 3x8x8\nskip = relu\nconv 3x3 (skp.c)\n")
    assert help_line == "did you mean 'skip'?"


def test_each_read_of_an_unknown_shape_is_one_diagnostic_showing_the_failing_layer():
    text = "input 3x8x8\nx = conv 11x11 4\nx -> conv 1x1 (x.c) -> conv 1x1 (x.c * 2)\n"
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(text, "t.cnn")
    first, second = failure.value.diagnostics
    assert first.code == second.code == "E413"
    (failing,) = first.secondary
    assert failing.span.start == text.index("conv 11x11") and "E401" in failing.text


def test_shapes_are_read_along_long_chains_without_recursion():
    chain = " -> ".join(["relu"] * sys.getrecursionlimit() * 2)
    text = f"input 3x8x8\nx = {chain} -> conv 1x1 (in.c * 2)\nx -> conv 1x1 (x.c + 1)\n"
    assert shapes(text)[-1] == (7, 8, 8)


# --- line breaks inside parentheses -----------------------------------------------------------


def test_an_argument_list_continues_inside_parentheses():
    one_line = "input 3x32x32\nblock b(k, s) { conv (k)x(k)/(s) (divisible(in.c * 5, 8)) pad ((k - 1) / 2) }\nb 3 2\n"
    broken = (
        "input 3x32x32\n"
        "block b(k, s) {\n"
        "    conv (k)x(k)/(s) (divisible(\n"
        "        in.c * 5,\n"
        "        8)) pad ((k - 1)\n"
        "        / 2)\n"
        "}\n"
        "b 3 2\n"
    )
    assert shapes(broken) == shapes(one_line) == [(16, 16, 16)]


# --- EfficientNet's compound scaling ----------------------------------------------------------

# torchvision's EfficientNet-B0 stages (models/efficientnet.py): output channels and layers. A
# scaled model's stage has divisible(c * width, 8) channels and ceil(n * depth) layers.
B0_STAGES = [(16, 1), (24, 2), (40, 2), (80, 3), (112, 3), (192, 4), (320, 1)]


def test_efficientnet_b1_widths_and_depths_are_torchvisions(torchvision):
    width, depth = 1.0, 1.1
    spec = "input 3x8x8\n" + " -> ".join(
        f"stage{i}: repeat (ceil({n} * {depth})) {{ conv 1x1 (divisible({c} * {width}, 8)) }}"
        for i, (c, n) in enumerate(B0_STAGES, start=1)
    )
    model = cnndsl.check_text(spec, "b1.cnn")
    reference = torchvision.models.efficientnet_b1()
    for i in range(1, len(B0_STAGES) + 1):
        stage = [node for node in model.layers if node.name.startswith(f"stage{i}.")]
        torch_stage = reference.features[i]
        assert len(stage) == len(torch_stage), f"stage {i} depth"
        assert model.shapes[stage[-1]][0] == torch_stage[-1].block[-1][0].out_channels, f"stage {i} width"
