"""A Pygments lexer for .cnn specs: `pygmentize -l cnndsl spec.cnn`, and ```cnn blocks in docs.

Registered as the entry point cnndsl = "cnndsl.highlight:CnnLexer" (pyproject.toml), so Pygments
finds it once cnndsl is installed. The word lists are written out rather than read from the
layer registry and the grammar: Pygments imports this module to list every lexer, and importing the
registry would load every layer kind. tests/test_highlight.py checks that the lists equal the
registry's kinds, the grammar's keywords, the combinators and the functions, and that the TextMate
grammar (editors/vscode/syntaxes/cnn.tmLanguage.json) lists the same words.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import RegexLexer, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

# The grammar's keyword terminals (INPUT: "input", ...).
KEYWORDS = ("assert", "block", "input", "output", "use")
# cnndsl.resolve.frames.COMBINATORS and the follow-up words of their bodies (residual { } shortcut { }).
COMBINATORS = ("concat", "else", "if", "repeat", "residual", "seq", "shortcut")
# cnndsl.layers.REGISTRY.
LAYER_KINDS = (
    "add",
    "avgpool",
    "batchnorm",
    "bn",
    "concat",
    "conv",
    "convtranspose",
    "crop",
    "dense",
    "dropout",
    "droppath",
    "elu",
    "fc",
    "flatten",
    "gelu",
    "groupnorm",
    "hardsigmoid",
    "hardswish",
    "identity",
    "instancenorm",
    "layernorm",
    "layerscale",
    "leakyrelu",
    "linear",
    "lrn",
    "maxpool",
    "mish",
    "mul",
    "pool",
    "prelu",
    "relu",
    "relu6",
    "resize_linear",
    "resize_nearest",
    "scale",
    "shuffle",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "split",
    "tanh",
    "upconv",
    "upsample",
)
# cnndsl.resolve.functions.FUNCTIONS.
FUNCTIONS = ("ceil", "divisible", "floor", "max", "min", "round")

# The grammar's terminals, as regular expressions both this lexer and the TextMate grammar use.
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
DIMS = r"[0-9]+(?:x[0-9]+)+"
CROSS = r"(?<=[0-9)])x(?=[0-9(])"  # the x of (k)x1: between a digit or ')' and a digit or '('
FLOAT = r"[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+"
INT = r"[0-9]+"
# A label before a layer ('conv1: conv', '0: conv'); not '::' (there is none in the language).
LABEL = rf"(?:{NAME}|[0-9]+)(?=[ \t]*:)"
OPERATORS = r"->|&&|\|\||==|!=|<=|>=|[<>=!?+\-*/.]"


class CnnLexer(RegexLexer):
    """Lexer for cnndsl's .cnn specs of convolutional neural networks."""

    name = "cnndsl"
    aliases = ("cnndsl", "cnn")  # cnn: the word of the docs' fences (```cnn)
    filenames = ("*.cnn",)
    mimetypes = ("text/x-cnndsl",)

    tokens: ClassVar[dict[str, list[Any]]] = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"[^"\n]*"', String.Double),
            (LABEL, Name.Label),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword.Declaration),
            (words(COMBINATORS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(LAYER_KINDS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (words(FUNCTIONS, prefix=r"\b", suffix=r"\b(?=[ \t]*\()"), Name.Function),
            (DIMS, Number),
            (CROSS, Operator),
            (FLOAT, Number.Float),
            (INT, Number.Integer),
            (NAME, Name),
            (OPERATORS, Operator),
            (r"[()\[\]{},:;]", Punctuation),
        ]
    }
