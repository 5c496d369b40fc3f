"""The parse pass: a clean AST, line-continuation rules, positions, size and depth, the wording of
syntax errors, and the shape of the syntax package."""

from __future__ import annotations

import ast as python_ast
import graphlib
import pathlib

import pytest
from lark import Token, Tree

import cnndsl
from cnndsl import CnnError
from cnndsl.source import Source, Span
from cnndsl.syntax import ast, lalr
from cnndsl.syntax.parser import MAX_NESTING, parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").rglob("*.cnn"))

# A rich spec: blocks with defaults, combinators with followups, repeat with a counter,
# conditionals and comparisons in parentheses, labels, named chains.
RESNET18 = """\
input 3x224x224
block basic(c, stride=1, project=0) {
    residual {
        conv 3x3/stride c pad 1 nobias -> bn -> relu
        -> conv 3x3 c pad 1 nobias -> bn
    } shortcut {
        if project { conv 1x1/stride c nobias -> bn }
    }
    -> relu
}
block stage(c, n, stride=1, project=1) {
    repeat n as i { basic c stride (i == 0 ? stride : 1) project (i == 0 ? project : 0) }
}
conv1: conv 7x7/2 64 pad 3 nobias -> bn1: bn -> relu -> maxpool: pool 3/2 pad 1
layer1: repeat 2 { basic 64 }
-> layer2: stage 128 2 stride 2
-> layer3: stage 256 2 stride 2
-> layer4: stage 512 2 stride 2
-> avgpool: pool avg global -> flatten -> fc: fc 1000
"""

# Every construct of the grammar at least once.
EVERYTHING = """\
use "lib/none.cnn"
input 3x32x32
output y, z
block b(c, k=3, s=-1 * 2) { conv k c pad (k - 1) / 2 -> relu }
x = conv 3x3/2x1 16 pad 0,1 dilation 2 groups 1 nobias leakyrelu 0.1
y = x -> concat { relu
    conv 1 8 weights [[1 0 -1] [2, 0, -2] [-1.5 .5 1e-3]] / 3 }
z = x -> if (1 <= 2 ? 1 : 0) { relu } else { tanh } ; b 4 k 5
"""


def walk(node, path="module"):
    """Yield (path, value) for every value reachable from an AST node."""
    pending = [(path, node)]
    while pending:
        path, value = pending.pop()
        yield path, value
        if isinstance(value, AST_TYPES):
            for field in value._fields:
                pending.append((f"{path}.{field}", getattr(value, field)))
        elif isinstance(value, (tuple, list)) and not isinstance(value, Span):
            pending.extend((f"{path}[{i}]", item) for i, item in enumerate(value))


ALLOWED_LEAVES = (int, float, str, type(None))
AST_TYPES = tuple(
    obj
    for obj in vars(ast).values()
    if isinstance(obj, type) and issubclass(obj, tuple) and obj.__module__ == ast.__name__
)


def assert_clean(module: ast.Module) -> int:
    count = 0
    for path, value in walk(module):
        count += 1
        assert not isinstance(value, (Token, Tree, lalr.Token, lalr.Subtree)), (
            f"a parser object survived at {path}: {value!r}"
        )
        if isinstance(value, (tuple, list, Source, Span, *AST_TYPES)):
            continue
        assert type(value) in ALLOWED_LEAVES and type(value) is not bool, f"{path}: {type(value).__name__}"
    return count


@pytest.mark.parametrize("text", [RESNET18, EVERYTHING], ids=["resnet18", "everything"])
def test_no_lark_object_survives(text):
    assert assert_clean(parse(Source("spec.cnn", text))) > 100


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_no_lark_object_survives_in_shipped_specs(path):
    assert_clean(parse(Source(str(path), path.read_text(encoding="utf-8"))))


def test_alexnet_is_among_the_specs():
    assert ROOT / "specs" / "alexnet.cnn" in SPECS


def test_everything_parses_into_expected_nodes():
    module = parse(Source("spec.cnn", EVERYTHING))
    kinds = [type(s).__name__ for s in module.statements]
    assert kinds == ["Use", "InputDecl", "Output", "BlockDef", "Chain", "Chain", "Chain", "Chain"]
    use, decl, output, block, x, y, z, call = module.statements
    assert use.path == "lib/none.cnn" and decl.dims == (3, 32, 32)
    assert [n.id for n in output.names] == ["y", "z"]
    assert [p.name.id for p in block.params] == ["b", "c", "k", "s"][1:]
    assert isinstance(block.params[2].default, ast.Binary)
    conv = x.chains[0] if hasattr(x, "chains") else x.elements[0]
    assert conv.kind.id == "conv" and isinstance(conv.items[0], ast.Window)
    assert isinstance(conv.items[0].stride, ast.Dims) and conv.items[0].stride.values == (2, 1)
    assert isinstance(conv.items[3], ast.Pair)
    concat = y.elements[1]
    assert concat.kind.id == "concat" and len(concat.body.chains) == 2
    weights = concat.body.chains[1].elements[0].items[-1]
    assert isinstance(weights, ast.Window) and isinstance(weights.extent, ast.Array)
    rows = weights.extent.elements
    assert [[e.value for e in row.elements] for row in rows] == [[1, 0, -1], [2, 0, -2], [-1.5, 0.5, 1e-3]]
    conditional = z.elements[1]
    assert conditional.kind.id == "if" and [f.keyword.id for f in conditional.followups] == ["else"]
    assert isinstance(conditional.items[0], ast.Conditional)
    assert call.elements[0].kind.id == "b"


# --- line continuation ------------------------------------------------------------------------


def chains(text: str) -> list[list[str]]:
    module = parse(Source("spec.cnn", text))
    return [[e.kind.id for e in s.elements] for s in module.statements if isinstance(s, ast.Chain)]


@pytest.mark.parametrize(
    "text",
    [
        "input 1x8\nrelu -> tanh -> sigmoid\n",
        "input 1x8\nrelu ->\ntanh ->\nsigmoid\n",
        "input 1x8\nrelu\n-> tanh\n-> sigmoid\n",
        "input 1x8\nrelu\n  -> tanh ->\n  sigmoid\n",
        "input 1x8\nrelu ->   # comment after the arrow\n\n  # a comment line\n\ntanh\n# between\n-> sigmoid\n",
        "input 1x8\nrelu\n\n\n-> tanh\n\n-> sigmoid\n",
        "input 1x8\r\nrelu ->\r\ntanh\r\n-> sigmoid\r\n",
        "input 1x8\nrelu\t->\ttanh\f->  sigmoid",
    ],
)
def test_arrow_at_line_end_or_start_joins_lines(text):
    assert chains(text) == [["relu", "tanh", "sigmoid"]]


@pytest.mark.parametrize(
    "text",
    [
        "input 1x8\nrelu\ntanh\nsigmoid\n",
        "input 1x8; relu; tanh; sigmoid",
        "input 1x8\nrelu ; tanh\n\n# comment\nsigmoid\n",
        "input 1x8\r\nrelu\r\n\r\ntanh\r\nsigmoid\r\n",
    ],
)
def test_line_breaks_and_semicolons_separate_statements(text):
    assert chains(text) == [["relu"], ["tanh"], ["sigmoid"]]


def test_an_explicit_semicolon_is_not_joined_to_a_following_arrow():
    with pytest.raises(CnnError) as failure:
        parse(Source("spec.cnn", "input 1x8\nrelu;\n-> tanh\n"))
    assert failure.value.diagnostics[0].code == "E101"
    with pytest.raises(CnnError) as failure:
        parse(Source("spec.cnn", "input 1x8\nrelu ->; tanh\n"))
    assert "expected a layer after '->'" in failure.value.diagnostics[0].message


def test_line_breaks_inside_brackets_and_after_commas_are_ignored():
    text = "input 1x8\nconv (1\n + 2\n) 8 weights [1\n 2\n 3] -> pool 2 pad 0,\n 1\noutput a,\n b\n"
    module = parse(Source("spec.cnn", text))
    conv = module.statements[1].elements[0]
    assert isinstance(conv.items[0], ast.Binary) and len(conv.items[3].elements) == 3
    assert [n.id for n in module.statements[2].names] == ["a", "b"]


def test_braces_span_lines():
    text = "input 1x8\nresidual {\n\n  relu\n  # comment\n  -> tanh\n\n  sigmoid\n} shortcut {\n relu\n}\n"
    (chain,) = [s for s in parse(Source("spec.cnn", text)).statements if isinstance(s, ast.Chain)]
    (element,) = chain.elements
    assert [[e.kind.id for e in c.elements] for c in element.body.chains] == [["relu", "tanh"], ["sigmoid"]]


def test_trailing_text_without_newline_and_empty_input():
    assert chains("input 1x8\nrelu") == [["relu"]]
    assert parse(Source("spec.cnn", "")).statements == ()
    assert parse(Source("spec.cnn", "\n\n# only comments\n;\n")).statements == ()


# --- positions --------------------------------------------------------------------------------


def test_spans_point_at_what_was_written():
    text = "input 3x32x32\n\nconv1: conv 11x11/4 64 pad (1 + 1)  # c\n  -> relu\n"
    source = Source("spec.cnn", text)
    module = parse(source)
    decl, chain = module.statements

    def at(node):
        return source.line_col(node.span.start), text[node.span.start : node.span.end]

    assert at(decl) == ((1, 1), "input 3x32x32")
    conv, relu = chain.elements
    assert at(conv) == ((3, 1), "conv1: conv 11x11/4 64 pad (1 + 1)")
    assert at(conv.label) == ((3, 1), "conv1")
    assert at(conv.kind) == ((3, 8), "conv")
    window, channels, _pad, value = conv.items
    assert at(window) == ((3, 13), "11x11/4")
    assert at(window.stride) == ((3, 19), "4")
    assert at(channels) == ((3, 21), "64")
    assert at(value) == ((3, 28), "(1 + 1)")
    assert at(relu) == ((4, 6), "relu")
    assert at(chain)[0] == (3, 1)


def test_positions_with_crlf_tabs_and_bom():
    text = "\ufeffinput 1x8\r\n\trelu ->\r\n\t\ttanh\r\n"
    source = cnndsl.reader.source_from_text("spec.cnn", text)
    chain = parse(source).statements[1]
    assert [source.line_col(e.span.start) for e in chain.elements] == [(2, 2), (3, 3)]


def test_negative_numbers_and_floats_keep_their_values():
    module = parse(Source("spec.cnn", "input 1x8\nleakyrelu -0.25 -> dropout .5 -> elu 1e-2 -> lrn 5 k 2.\n"))
    values = [e.items[0] for e in module.statements[1].elements]
    assert isinstance(values[0], ast.Negate) and values[0].operand.value == 0.25
    assert [v.value for v in values[1:]] == [0.5, 0.01, 5]


# --- size and depth ---------------------------------------------------------------------------


def test_a_10000_line_chain_parses():
    text = "input 3x32x32\nconv 3x3 8 pad 1\n" + "".join(f"-> l{i}: relu  # layer {i}\n" for i in range(10_000))
    module = parse(Source("long.cnn", text))
    (chain,) = [s for s in module.statements if isinstance(s, ast.Chain)]
    assert len(chain.elements) == 10_001
    last = chain.elements[-1]
    assert module.source.line_col(last.span.start) == (10_002, 4)


def test_10000_statements_parse():
    text = "input 1x8\n" + "relu\n" * 10_000
    assert len(parse(Source("many.cnn", text)).statements) == 10_001


@pytest.mark.parametrize(
    "opener, closer, middle",
    [("(", ")", "8"), ("[", "]", "1"), ("-", "", "8")],
    ids=["parentheses", "brackets", "negations"],
)
def test_nesting_10000_deep_does_not_recurse(opener, closer, middle):
    depth = MAX_NESTING
    text = f"input 3x32x32\nconv 3x3 {opener * depth}{middle}{closer * depth}\n"
    module = parse(Source("deep.cnn", text))
    assert_clean(module)


def test_nested_parentheses_10000_deep_check_end_to_end():
    depth = MAX_NESTING
    model = cnndsl.check_text(f"input 3x32x32\nconv 3x3 {'(' * depth}8{')' * depth}\n")
    assert model.total_params == 224


def test_nested_braces_10000_deep_check_end_to_end():
    depth = MAX_NESTING
    text = "input 3x8x8\n" + "residual {\n" * depth + "relu" + "}" * depth + "\n"
    model = cnndsl.check_text(text)
    assert len(model.layers) == depth + 1


def test_nested_brackets_10000_deep_are_a_diagnostic_not_a_crash():
    depth = MAX_NESTING
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(f"input 3x32x32\nconv 3x3 8 weights {'[' * depth}1{']' * depth}\n")
    assert failure.value.diagnostics[0].code in ("E301", "E403")


def test_nesting_beyond_the_limit_is_reported():
    depth = MAX_NESTING + 1
    with pytest.raises(CnnError) as failure:
        cnndsl.check_text(f"input 3x32x32\nconv 3x3 {'(' * depth}8{')' * depth}\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E216" and diagnostic.location()[1:] == (2, 10 + MAX_NESTING)


def test_unclosed_deep_nesting_is_a_syntax_error():
    with pytest.raises(CnnError) as failure:
        parse(Source("deep.cnn", "input 1x8\nconv 3x3 " + "(" * 5000 + "\n"))
    assert failure.value.diagnostics[0].code == "E103"


# --- the wording of syntax errors -------------------------------------------------------------


@pytest.mark.parametrize(
    "text, code, message, help_line",
    [
        # The tables read terminals, not text: '==' is not the '=' that names a tensor.
        ("input 3x8x8\nconv 3x3 (1 == )\n", "E101", "unexpected ')': expected a value", None),
        # A parameter's default is a value; only a tensor's '=' is followed by a layer.
        ("input 3x8x8\nblock b(k=) { relu }\n", "E101", "unexpected ')': expected a value", None),
        (
            "input 3x8x8\nx = )\n",
            "E101",
            "unexpected ')': expected a layer after '='",
            "this ')' has no matching opening bracket",
        ),
        # The statement, not the line, decides: a ';' before 'output', a statement before 'input'.
        (";output\n", "E103", "unexpected end of file: expected a tensor name after 'output'", None),
        (
            "input 3x8x8\nrelu; input 3x8x8 -> x\n",
            "E101",
            "unexpected '->': expected the end of the line",
            "the input declaration stands alone; start the chain on the next line, without '->'",
        ),
        (
            "input 3x8x8\nconv 3x3 8 ; -> relu",
            "E101",
            "unexpected '->': expected a statement: a layer, 'input', 'block', 'use' or 'output'",
            "a chain starts with a layer; '->' joins two layers",
        ),
        (
            "input 3x8x8\nconv 3x3 8 8 8 +\n",
            "E101",
            "unexpected '+': expected an argument, '->' or the end of the line",
            None,
        ),
        ("input 3x8x8\nrelu: \n", "E103", "unexpected end of file: expected a layer after the label", None),
        (
            "use 'a.cnn'\n",
            "E102",
            'unexpected character "\'"',
            "file names in 'use' take double quotes: use \"blocks.cnn\"",
        ),
        # FOREIGN DIGIT: the digit explains the error best, even after where the parser stopped.
        (
            "input 3x8x8\nconv 3x3 8 -> -> relu \u0663\n",
            "E102",
            "'\u0663' (arabic-indic digit three, U+0663) is not an ASCII digit",
            "numbers use the digits 0-9 only: write 3",
        ),
    ],
)
def test_syntax_error_wording(text, code, message, help_line):
    with pytest.raises(CnnError) as failure:
        parse(Source("spec.cnn", text))
    (diagnostic,) = failure.value.diagnostics
    assert (diagnostic.code, diagnostic.message, diagnostic.help) == (code, message, help_line)


def test_an_unclosed_bracket_is_named_at_the_end_of_the_file():
    text = "input 3x8x8\nresidual { conv 3x3 (8\n"
    with pytest.raises(CnnError) as failure:
        parse(Source("spec.cnn", text))
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.message == "unexpected end of file: expected an operator or ')'"
    assert diagnostic.primary.span == Span(len(text) - 1, len(text))  # just after the '8'
    (label,) = diagnostic.secondary
    assert (text[label.span.start : label.span.end], label.text) == ("(", "this '(' is never closed")


# --- the syntax package -----------------------------------------------------------------------


def syntax_imports() -> dict[str, set[str]]:
    """Each module of cnndsl.syntax -> the modules of cnndsl.syntax it imports, anywhere in it
    (inside functions and under TYPE_CHECKING too)."""
    folder = ROOT / "cnndsl" / "syntax"
    graph = {}
    for path in folder.glob("*.py"):
        imported = set()
        for node in python_ast.walk(python_ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, python_ast.ImportFrom) and node.level == 1:
                imported |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
            elif isinstance(node, (python_ast.Import, python_ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, python_ast.ImportFrom) else [a.name for a in node.names]
                imported |= {n.split(".")[2] for n in names if n.startswith("cnndsl.syntax.")}
        graph[path.stem] = imported
    return graph


def test_the_syntax_modules_import_each_other_without_a_cycle():
    graph = syntax_imports()
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert "parser" not in graph["export"]
    assert "export" not in graph["parser"], "parser reaches export (and Lark) only through automaton"
    assert {name for name, imported in graph.items() if "export" in imported} == {"automaton"}


def test_no_syntax_module_but_the_generated_tables_is_over_400_lines():
    long = {
        path.name: lines
        for path in (ROOT / "cnndsl" / "syntax").glob("*.py")
        if path.name != "tables.py" and (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long
