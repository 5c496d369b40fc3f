"""The command line's grammar: the argparse parser of every command, and what parsing settles.

Numeric options take whole numbers, written 1000000, 1_000_000 or 1e6, each within a range: a value
past it is a usage error here rather than an overflow deep in numpy, protobuf or the file reader.
The rule options and [tool.cnndsl] of the nearest pyproject.toml are resolved while parsing too, so
that a mistake in either is a usage error (exit 2) shown with the usage of its subcommand.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence

from ..analysis.memory import OPTIMIZER_STATES
from ..resolve import Limits
from ..rules import ConfigCache, RuleError, RuleSet, Selection, configured_rules, selectors
from ..version import __version__
from .budget_option import add_budget_option
from .diff_options import add_diff_command
from .draw_options import add_draw_command
from .export_options import add_export_command
from .fmt import add_fmt_command
from .import_options import add_import_command
from .lsp_command import add_lsp_command
from .precision_options import PrecisionUsageError, add_precision_options, check_precision_options
from .runtime_options import INT32_MAX, UINT64_MAX, add_runtime_commands
from .serve_options import add_serve_command, add_triton_options

NUMBERS_NOTE = (
    "Numbers are whole and may be written 1000000, 1_000_000 or 1e6; each option accepts "
    "the range its error message names."
)
_PLAIN_NUMBER = re.compile(r"([+-]?)([0-9]+(?:_[0-9]+)*)\Z")  # ASCII digits only, as in specs
_SCIENTIFIC_NUMBER = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?[eE]\+?([0-9]+)\Z")
_TOO_MANY_DIGITS = 40  # past every range below; spares int() thousands of digits
_TOO_LARGE: int = 10**_TOO_MANY_DIGITS  # what a number past every range comes back as


def _parse_whole(text: str) -> int | None:
    """The value of '12', '1_000' or '1.5e3'; None when the text is not a whole number. A number too
    large for any option comes back as _TOO_LARGE, which every range rejects."""
    text = text.strip()
    plain = _PLAIN_NUMBER.match(text)
    if plain:
        sign, digits = plain.group(1), plain.group(2).replace("_", "").lstrip("0") or "0"
        magnitude = int(digits) if len(digits) <= _TOO_MANY_DIGITS else _TOO_LARGE
        return -magnitude if sign == "-" else magnitude
    scientific = _SCIENTIFIC_NUMBER.match(text)
    if not scientific:
        return None
    sign, whole, fraction, exponent = scientific.groups()
    digits, shift = (whole + (fraction or "")).lstrip("0") or "0", int(exponent[-6:]) - len(fraction or "")
    if digits == "0":
        return 0
    if shift < 0:  # 1.5e0 is not whole; 1.50e1 is
        if not digits.endswith("0" * -shift):
            return None
        digits, shift = digits[:shift], 0
    if len(exponent.lstrip("0")) > 6 or len(digits) + shift > _TOO_MANY_DIGITS:
        magnitude = _TOO_LARGE
    else:
        magnitude = int(digits) * 10**shift
    return -magnitude if sign == "-" else magnitude


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def number(text: str) -> int:
        value = _parse_whole(text)
        if value is None:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {_shown(text)}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a number from {low:,} to {high:,}, got {_shown(text)}")
        return value

    return number


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _rule_selectors(option: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: comma-separated rule selectors (codes, prefixes, ALL), checked."""

    def codes(text: str) -> tuple[str, ...]:
        try:
            return selectors(text, option)
        except RuleError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None

    return codes


def _column_names(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated summary columns, checked against the registry."""
    from ..summary import columns  # only when --columns is given: `check` does not import the summary

    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("no column named")
    try:
        columns(names)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return names


def _directory(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return text


class CommandLine(argparse.ArgumentParser):
    """The top-level parser. It knows the parser of each subcommand, to report a mistake with the
    usage of the subcommand it concerns, and resolves the rule selection (which reads
    pyproject.toml) while a mistake there is still a usage error."""

    def __init__(self, *, prog: str, description: str, epilog: str) -> None:
        super().__init__(prog=prog, description=description, epilog=epilog)
        self.commands: dict[str, argparse.ArgumentParser] = {}  # filled by build_parser()

    def parse_command_line(self, args: Sequence[str] | None = None) -> argparse.Namespace:
        """parse_args, then _settle(); exits as argparse does (2 for a usage error)."""
        parsed, extras = self.parse_known_args(args)
        command = self.commands.get(getattr(parsed, "command", None) or "")
        if extras:  # argparse would blame the top-level parser and show its usage
            (command or self).error(f"unrecognized arguments: {' '.join(extras)}")
        if command is not None:
            try:
                _settle(parsed)
                check_precision_options(parsed)
            except (RuleError, PrecisionUsageError) as problem:
                command.error(str(problem))
        return parsed


def build_parser() -> CommandLine:
    parser = CommandLine(
        prog="cnndsl", description="Check, summarise, compile and run .cnn specs.", epilog=NUMBERS_NOTE
    )
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=argparse.ArgumentParser
    )
    limit_options = _limit_options()
    # Only `check` reports nothing but diagnostics, which is all SARIF and GitHub's annotations carry.
    text_or_json, check_formats = _output_options(TEXT_FORMATS), _output_options(CHECK_FORMATS)

    def command(name: str, help: str, output: argparse.ArgumentParser = text_or_json) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            parents=[limit_options, output],
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=NUMBERS_NOTE,
        )
        parser.commands[name] = sub
        return sub

    check = command("check", "parse and check specs: shapes, parameters, lint", check_formats)
    add_budget_option(check)
    check.add_argument("files", nargs="+", metavar="FILE", help="the .cnn specs to check")

    summary = command("summary", "print a layer table")
    summary.add_argument("file", metavar="FILE", help="the .cnn spec")
    summary.add_argument("--json", action="store_true", help="the same as --format json")
    summary.add_argument(
        "--optimizer",
        choices=tuple(OPTIMIZER_STATES),
        default="adam",
        help="the optimizer whose state the training memory counts (out_bytes column; default adam)",
    )
    add_budget_option(summary)
    add_precision_options(summary, conversion=False)
    summary.add_argument(
        "--depth",
        type=whole_number(0, 1_000_000),
        metavar="N",
        help="show N levels of nesting: a block instance deeper than N folds into one row "
        "(0 and 1: top-level rows only); applies to --format json too",
    )
    summary.add_argument(
        "--columns",
        type=_column_names,
        metavar="NAMES",
        help="comma-separated columns of the table, in order: name, kind, shape, params, macs, "
        "attributes (the default ones), rf, jump, start (receptive fields) and every other registered "
        "column; 'all' for every column, 'default' for the default ones",
    )
    summary.add_argument(
        "--batch",
        type=whole_number(1, INT32_MAX),
        default=1,
        metavar="N",
        help="batch size of the figures that depend on it (default 1)",
    )

    compile_ = command("compile", "write an ONNX model")
    compile_.add_argument("file", metavar="FILE", help="the .cnn spec")
    compile_.add_argument("-o", "--output", metavar="OUT.onnx", help="default: the spec's name with .onnx")
    _add_compile_options(compile_)
    add_precision_options(compile_)
    add_budget_option(compile_)
    compile_.add_argument(
        "--batch", type=whole_number(1, INT32_MAX), metavar="N", help="fixed batch size (default: symbolic 'N')"
    )
    compile_.add_argument(
        "--seed",
        type=whole_number(0, UINT64_MAX),
        default=0,
        metavar="S",
        help="seed of the weight initialisation, 0 to 2**64-1 (default 0)",
    )
    add_triton_options(compile_, whole_number)

    add_runtime_commands(command, whole_number, _add_compile_options)
    add_precision_options(parser.commands["run"], compare=True)
    add_serve_command(command, whole_number, _add_compile_options)
    add_diff_command(command, whole_number(0, 1_000_000), whole_number(1, INT32_MAX), _column_names)
    add_lsp_command(command, limits)
    add_fmt_command(command, whole_number(1, 100_000))
    add_draw_command(command, whole_number(0, 1_000_000))
    add_export_command(command)
    add_import_command(command)
    return parser


def _limit_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("limits")
    defaults = Limits()

    def limit(option: str, high: int, default: int, help: str) -> None:
        group.add_argument(
            option,
            type=whole_number(1, high),
            default=default,
            metavar="N",
            help=f"{help} (default {default:,}, at most {high:,})",
        )

    limit("--max-layers", 100_000_000, defaults.max_layers, "expanded layer limit")
    limit("--max-repeat", 100_000_000, defaults.max_repeat, "largest repeat count")
    limit("--max-params", 10**15, defaults.max_params, "parameter budget")
    limit("--max-file-bytes", 10**9, defaults.max_file_bytes, "largest spec file")
    limit("--max-depth", 1_000_000, defaults.max_depth, "deepest nesting of brackets, block calls and use")
    limit("--max-steps", 10**10, defaults.max_steps, "expansion work: statements, layers, iterations and block calls")
    limit("--max-name-chars", 10**10, defaults.max_name_chars, "characters of all layer names together")
    group.add_argument(
        "--include-root",
        metavar="DIR",
        type=_directory,
        help="refuse 'use' of any file outside DIR (after symlinks), without reading it; "
        "set it for specs from untrusted users",
    )
    return parser


TEXT_FORMATS = ("text", "json")
CHECK_FORMATS = (*TEXT_FORMATS, "sarif", "github")
_FORMAT_HELP = {
    "text": "text for people",
    "json": "json for editors and CI: results and diagnostics as JSON on standard output, nothing else",
    "sarif": "sarif: one SARIF 2.1.0 log of every file's diagnostics on standard output, for GitHub code scanning",
    "github": "github: diagnostics as GitHub Actions annotations (workflow commands) on standard output",
}


def _output_options(formats: tuple[str, ...]) -> argparse.ArgumentParser:
    """What every command shares: how to print (`formats`), which warnings, how much."""
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--format",
        choices=formats,
        default="text",
        help="; ".join(_FORMAT_HELP[name] for name in formats),
    )
    output.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print errors and results only: no warnings, no progress or context lines",
    )
    group = output.add_argument_group(
        "warnings",
        "CODES: comma-separated codes or prefixes (W101,W2) or "
        "ALL. By default every warning but W103 is reported. "
        "[tool.cnndsl] of the nearest pyproject.toml may set "
        "select, ignore and extend-select; these options override it.",
    )
    group.add_argument(
        "--select",
        type=_rule_selectors("select"),
        action="extend",
        metavar="CODES",
        help="report these warnings only, instead of the default set",
    )
    group.add_argument(
        "--extend-select",
        type=_rule_selectors("extend-select"),
        action="extend",
        metavar="CODES",
        help="report these warnings too (W103 is off unless selected)",
    )
    group.add_argument(
        "--ignore",
        type=_rule_selectors("ignore"),
        action="extend",
        metavar="CODES",
        help="do not report these warnings (errors cannot be ignored)",
    )
    return output


def _add_compile_options(command: argparse.ArgumentParser, scope: str = "") -> None:
    command.add_argument(
        "--opset",
        type=whole_number(1, INT32_MAX),
        metavar="N",
        help=f"ONNX opset (default: the newest onnxruntime runs){scope}",
    )
    command.add_argument("--weights", metavar="W.npz", help=f"trained weights keyed by parameter name{scope}")


def _settle(args: argparse.Namespace) -> None:
    """After parsing: `summary --json` is `--format json`; the rules of every spec, from the options
    and the nearest pyproject.toml (raises RuleError for a bad [tool.cnndsl] table)."""
    if getattr(args, "json", False):
        args.format = "json"
    command_line = _selection(args)
    cache: ConfigCache = {}  # one read of each directory's pyproject.toml, however many specs share it
    args.rules = {path: configured_rules(path, command_line, cache=cache) for path in spec_paths(args)}


def _selection(args: argparse.Namespace) -> Selection:
    select = getattr(args, "select", None)
    return Selection(
        None if select is None else tuple(select),
        tuple(getattr(args, "ignore", None) or ()),
        tuple(getattr(args, "extend_select", None) or ()),
    )


def spec_paths(args: argparse.Namespace) -> list[str]:
    """The command's files that are specs: every one but an .onnx model given to `run`."""
    paths: list[str] = args.files if hasattr(args, "files") else [args.file]
    return [path for path in paths if not path.lower().endswith(".onnx")]


def rules(args: argparse.Namespace, path: str) -> RuleSet:
    """The rules of one spec of the command, settled while parsing (_settle)."""
    settled: dict[str, RuleSet] = args.rules
    return settled[path]


def limits(args: argparse.Namespace) -> Limits:
    """The limits the options set (each defaults to Limits()'s)."""
    return Limits(
        max_layers=args.max_layers,
        max_repeat=args.max_repeat,
        max_params=args.max_params,
        max_file_bytes=args.max_file_bytes,
        max_depth=args.max_depth,
        max_steps=args.max_steps,
        max_name_chars=args.max_name_chars,
        include_root=args.include_root,
    )
