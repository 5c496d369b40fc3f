"""The `cnndsl` command: check | summary | compile | run.

Exit codes: 0 success (warnings allowed), 1 diagnostics with errors, 2 usage errors,
3 internal error (a bug in cnndsl), 130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__
from .diagnostics import CnnError, Diagnostic, render_json, render_text, to_json
from .model import CheckedModel, check_file
from .resolve import Limits
from .rules import RuleError, RuleSet, Selection, configured_rules, selectors

if TYPE_CHECKING:  # compile's result; onnx_emit (and numpy) are imported only when compiling
    from .onnx.emit import Written

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3  # interrupted: 128 + the signal (signals.exit_status)


# Numeric options take whole numbers, written 1000000, 1_000_000 or 1e6, each within a range: a value
# past it is a usage error here rather than an overflow deep in numpy, protobuf or the file reader.
NUMBERS_NOTE = (
    "Numbers are whole and may be written 1000000, 1_000_000 or 1e6; each option accepts "
    "the range its error message names."
)
_PLAIN_NUMBER = re.compile(r"([+-]?)([0-9]+(?:_[0-9]+)*)\Z")  # ASCII digits only, as in specs
_SCIENTIFIC_NUMBER = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?[eE]\+?([0-9]+)\Z")
_TOO_MANY_DIGITS = 40  # past every range below; spares int() thousands of digits


def _parse_whole(text: str) -> int | None:
    """The value of '12', '1_000' or '1.5e3'; None when the text is not a whole number. A number too
    large for any option comes back as 10**_TOO_MANY_DIGITS, which every range rejects."""
    text = text.strip()
    plain = _PLAIN_NUMBER.match(text)
    if plain:
        sign, digits = plain.group(1), plain.group(2).replace("_", "").lstrip("0") or "0"
        magnitude = int(digits) if len(digits) <= _TOO_MANY_DIGITS else 10**_TOO_MANY_DIGITS
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
        magnitude = 10**_TOO_MANY_DIGITS
    else:
        magnitude = int(digits) * 10**shift
    return -magnitude if sign == "-" else magnitude


def _whole_number(low: int, high: int):
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


_INT32_MAX, _INT64_MAX, _UINT64_MAX = 2**31 - 1, 2**63 - 1, 2**64 - 1


def _rule_selectors(option: str):
    """An argparse type: comma-separated rule selectors (codes, prefixes, ALL), checked."""

    def codes(text: str) -> tuple[str, ...]:
        try:
            return selectors(text, option)
        except RuleError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None

    return codes


class _ArgumentParser(argparse.ArgumentParser):
    """Reports a mistake with the usage of the subcommand it concerns, and resolves the rule
    selection (which reads pyproject.toml) while a mistake there is still a usage error."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}  # filled by _parser()

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        command = self.commands.get(getattr(parsed, "command", None) or "")
        if extras:  # argparse would blame the top-level parser and show its usage
            (command or self).error(f"unrecognized arguments: {' '.join(extras)}")
        if command is not None:
            try:
                _settle(parsed)
            except RuleError as problem:
                command.error(str(problem))
        return parsed


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="cnndsl", description="Check, summarise, compile and run .cnn specs.", epilog=NUMBERS_NOTE
    )
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_limit_options(), _output_options()]

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=common, help=help, description=help[0].upper() + help[1:] + ".", epilog=NUMBERS_NOTE
        )
        parser.commands[name] = sub
        return sub

    check = command("check", "parse and check specs: shapes, parameters, lint")
    check.add_argument("files", nargs="+", metavar="FILE", help="the .cnn specs to check")

    summary = command("summary", "print a layer table")
    summary.add_argument("file", metavar="FILE", help="the .cnn spec")
    summary.add_argument("--json", action="store_true", help="the same as --format json")
    summary.add_argument(
        "--depth",
        type=_whole_number(0, 1_000_000),
        metavar="N",
        help="show N levels of nesting: a block instance deeper than N folds into one row "
        "(0 and 1: top-level rows only); applies to --format json too",
    )

    compile_ = command("compile", "write an ONNX model")
    compile_.add_argument("file", metavar="FILE", help="the .cnn spec")
    compile_.add_argument("-o", "--output", metavar="OUT.onnx", help="default: the spec's name with .onnx")
    _add_compile_options(compile_)
    compile_.add_argument(
        "--batch", type=_whole_number(1, _INT32_MAX), metavar="N", help="fixed batch size (default: symbolic 'N')"
    )
    compile_.add_argument(
        "--seed",
        type=_whole_number(0, _UINT64_MAX),
        default=0,
        metavar="S",
        help="seed of the weight initialisation, 0 to 2**64-1 (default 0)",
    )

    run = command("run", "run a spec or .onnx in ONNX Runtime")
    run.add_argument("file", metavar="FILE.cnn|FILE.onnx", help="a spec (compiled in memory) or an ONNX model")
    run.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run (default auto: CUDA when ONNX Runtime has it, else CPU)",
    )
    run.add_argument(
        "--batch",
        type=_whole_number(1, _INT32_MAX),
        metavar="N",
        help="batch size (default: 1, or the model's fixed batch)",
    )
    run.add_argument("--input", metavar="x.npy", help="input array (default: random normal, seeded)")
    run.add_argument(
        "--repeat",
        type=_whole_number(1, 1_000_000),
        default=10,
        metavar="K",
        help="timed runs for the median latency (default 10)",
    )
    run.add_argument(
        "--seed",
        type=_whole_number(0, _UINT64_MAX),
        default=0,
        metavar="S",
        help="seed of the random input, 0 to 2**64-1 (default 0)",
    )
    _add_compile_options(run, " (a .cnn only)")
    run.add_argument(
        "--max-memory",
        type=_whole_number(1, _INT64_MAX),
        metavar="BYTES",
        help="the most memory the run may need (input, weights, activations), like 4e9; "
        "checked before anything is allocated (E508)",
    )
    run.add_argument(
        "--top-k",
        type=_whole_number(1, 1_000_000),
        metavar="K",
        help="show the K most likely classes of every 2-D output (default: the top 5 of softmax outputs only)",
    )
    return parser


def _limit_options() -> argparse.ArgumentParser:
    limits = argparse.ArgumentParser(add_help=False)
    group = limits.add_argument_group("limits")
    defaults = Limits()

    def limit(option: str, high: int, default: int, help: str) -> None:
        group.add_argument(
            option,
            type=_whole_number(1, high),
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
    return limits


def _output_options() -> argparse.ArgumentParser:
    """What every command shares: how to print, which warnings, how much."""
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people; json for editors and CI: results and diagnostics as JSON "
        "on standard output, nothing else",
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
        type=_whole_number(1, _INT32_MAX),
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
    cache: dict = {}  # one read of each directory's pyproject.toml, however many specs share it
    args.rules = {path: configured_rules(path, command_line, cache=cache) for path in _spec_paths(args)}


def _selection(args: argparse.Namespace) -> Selection:
    select = getattr(args, "select", None)
    return Selection(
        None if select is None else tuple(select),
        tuple(getattr(args, "ignore", None) or ()),
        tuple(getattr(args, "extend_select", None) or ()),
    )


def _spec_paths(args: argparse.Namespace) -> list[str]:
    paths = getattr(args, "files", None) or [args.file]
    return [path for path in paths if not path.lower().endswith(".onnx")]


def _rules(args: argparse.Namespace, path: str) -> RuleSet:
    return args.rules[path]  # settled for every spec path while parsing (_settle)


def _directory(text: str) -> str:
    import os

    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return text


def _limits(args: argparse.Namespace) -> Limits:
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


def main(argv: Sequence[str] | None = None) -> int:
    from .signals import exit_status, interruption, signals_as_interrupts

    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # argparse: usage errors exit 2, --help and --version 0
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        # SIGTERM and SIGHUP unwind like Ctrl-C, so that a cancelled compile removes its temporary
        # files; only while a command runs, and the previous handlers come back after it.
        with signals_as_interrupts() as received:
            status = _COMMANDS[args.command](args)
        if received:  # some code swallowed the exception; the signal still asked us to stop
            raise interruption(received[0])
        return status
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or cnndsl.signals.Interrupted
        name = getattr(interrupt, "name", None)
        try:
            print("cnndsl: interrupted" + (f" ({name})" if name else ""), file=sys.stderr)
        except OSError:  # after SIGHUP the terminal may be gone; the exit status still tells
            pass
        return exit_status(interrupt)
    except CnnError as failure:
        _report(failure.diagnostics, args)
        return EXIT_ERRORS
    except BrokenPipeError:  # `cnndsl summary spec.cnn | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as bug:  # a crash is a bug in cnndsl, never the user's fault
        detail = str(bug) if len(str(bug)) <= 300 else str(bug)[:300] + "..."
        print(
            f"cnndsl: internal error: {type(bug).__name__}: {detail}\n"
            f"This is a bug in cnndsl {__version__}; please report it with the spec that caused it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _report(diagnostics: list[Diagnostic], args: argparse.Namespace) -> None:
    if getattr(args, "format", "text") == "json":
        print(render_json(diagnostics))
        return
    for diagnostic in diagnostics:
        print(render_text(diagnostic) + "\n", file=sys.stderr)


def _checked(path: str, args: argparse.Namespace) -> CheckedModel:
    """Check one spec with its rules; print its warnings as text (JSON output carries them in the
    command's result instead)."""
    model = check_file(path, _limits(args), rules=_rules(args, path))
    if args.format == "text":
        _report(_shown_warnings(model.warnings, args), args)
    return model


def _shown_warnings(warnings: list[Diagnostic], args: argparse.Namespace) -> list[Diagnostic]:
    """The warnings a command shows: those the rules selected, none with -q."""
    return [] if args.quiet else warnings


def _check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    results = []
    for path in args.files:
        try:
            model = check_file(path, _limits(args), rules=_rules(args, path))
        except CnnError as failure:
            status = EXIT_ERRORS
            results.append({"path": path, "ok": False, "diagnostics": [to_json(d) for d in failure.diagnostics]})
            if args.format == "text":
                _report(failure.diagnostics, args)
            continue
        shown = _shown_warnings(model.warnings, args)
        results.append(
            {
                "path": path,
                "ok": True,
                "total_params": model.total_params,
                "total_macs": model.total_macs,
                "diagnostics": [to_json(d) for d in shown],
            }
        )
        if args.format == "text":
            _report(shown, args)
            count = len(model.warnings)
            fixed = f" (+{model.non_trainable_params:,} non-trainable)" if model.non_trainable_params else ""
            print(
                f"{path}: ok, {model.trainable_params:,} parameters{fixed}, {model.total_macs:,} MACs"
                + (f", {count} warning{'s' if count != 1 else ''}" if count else "")
            )
    if args.format == "json":
        _print_json(results)
    return status


def _print_json(value: object) -> None:
    import json  # text output, the common case, does without it

    print(json.dumps(value, indent=2))


def _summary(args: argparse.Namespace) -> int:
    from .summary import render, summary_dict

    model = _checked(args.file, args)
    if args.format == "json":  # --json too: _settle turned it into --format json
        _print_json(summary_dict(model, args.depth, _shown_warnings(model.warnings, args)))
    else:
        print(render(model, args.depth))
    return EXIT_OK


def _print_result_json(model: CheckedModel, written: Written, args: argparse.Namespace) -> None:
    """`compile --format json`: what was written, and the warnings, as the only output."""
    result: dict[str, object] = {
        "path": written.path,
        "bytes": written.bytes,
        "opset": written.opset,
        "total_params": model.total_params,
    }
    if written.external_data:
        result.update(
            external_data=written.external_data, model_bytes=written.model_bytes, data_bytes=written.data_bytes
        )
    result["diagnostics"] = [to_json(d) for d in _shown_warnings(model.warnings, args)]
    _print_json(result)


def _compile(args: argparse.Namespace) -> int:
    import os

    from .diagnostics import shorten
    from .onnx.emit import compile_file, default_output
    from .progress import ProgressLine

    model = _checked(args.file, args)
    label = "writing " + shorten(os.path.basename(args.output or default_output(model)), 40)
    # A big model takes seconds to write: show progress on a terminal, unless asked to be quiet.
    progress = None if args.quiet or args.format == "json" else ProgressLine.for_terminal(sys.stderr, label)
    try:
        written = compile_file(
            model,
            args.output,
            opset=args.opset,
            batch=args.batch,
            seed=args.seed,
            weights=args.weights,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.clear()
    if args.format == "json":
        _print_result_json(model, written, args)
        return EXIT_OK
    details = f"{model.total_params:,} parameters, opset {written.opset}"
    if written.external_data:  # the model is two files: name both
        print(
            f"wrote {shorten(written.path)} ({written.model_bytes / 1e6:,.1f} MB) and "
            f"{shorten(written.external_data)} ({written.data_bytes / 1e6:,.1f} MB), {details}"
        )
    else:
        print(f"wrote {shorten(written.path)} ({written.bytes / 1e6:,.1f} MB, {details})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from .runtime import run_file

    rules = _rules(args, args.file) if _spec_paths(args) else None
    report = run_file(
        args.file,
        device=args.device,
        batch=args.batch,
        input_path=args.input,
        repeat=args.repeat,
        seed=args.seed,
        limits=_limits(args),
        rules=rules,
        **_run_options(args),
    )
    warnings = _shown_warnings(report.warnings, args)
    if args.format == "json":
        _print_json(_run_json(report, [to_json(d) for d in warnings]))
    else:
        _report(warnings, args)
        print(report.render(context=not args.quiet))  # -q: the outputs and the latency only
    return EXIT_OK


def _run_options(args: argparse.Namespace) -> dict:
    """The options given that run_file takes as keywords; one left out keeps run_file's default."""
    options = {"opset": args.opset, "weights": args.weights, "max_memory": args.max_memory, "top_k": args.top_k}
    return {name: value for name, value in options.items() if value is not None}


def _run_json(report, diagnostics: list[dict]) -> dict:
    latencies = report.latencies
    return {
        "model": report.model,
        "device": report.device,
        "providers": list(report.providers),
        "input": {"name": report.input_name, "shape": list(report.input_shape), "source": report.input_source},
        "outputs": [
            {
                "name": output.name,
                "shape": list(output.array.shape),
                "dtype": str(output.array.dtype),
                "top": [[{"index": int(i), "probability": float(p)} for i, p in sample] for sample in output.top],
            }
            for output in report.outputs
        ],
        "latency_ms": {
            "median": report.median * 1e3,
            "min": min(latencies) * 1e3,
            "max": max(latencies) * 1e3,
            "runs": len(latencies),
        },
        "diagnostics": diagnostics,
    }


_COMMANDS = {"check": _check, "summary": _summary, "compile": _compile, "run": _run}


def console() -> int:
    """The `cnndsl` program. A check allocates millions of small objects and frees few of them, so
    CPython's default collection thresholds traverse the same objects again and again: half the
    time of a 50,000-statement check. The program owns its process and collects less often, as
    mypy does; `main`, which a host process may call, leaves the collector alone."""
    import gc

    gc.set_threshold(200_000, 30, 30)
    return main()


if __name__ == "__main__":
    sys.exit(console())
