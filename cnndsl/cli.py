"""The `cnndsl` command: check | summary | compile | run.

Exit codes: 0 success (warnings allowed), 1 diagnostics with errors, 2 usage errors,
3 internal error (a bug in cnndsl), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__
from .diagnostics import CnnError, Diagnostic, render_json, render_text, to_json
from .model import CheckedModel, check_file
from .resolve import Limits

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnndsl", description="Check, summarise, compile and run .cnn specs.")
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    limits = argparse.ArgumentParser(add_help=False)
    group = limits.add_argument_group("limits")
    defaults = Limits()
    group.add_argument("--max-layers", type=_positive, default=defaults.max_layers,
                       help=f"expanded layer limit (default {defaults.max_layers:,})")
    group.add_argument("--max-repeat", type=_positive, default=defaults.max_repeat,
                       help=f"largest repeat count (default {defaults.max_repeat:,})")
    group.add_argument("--max-params", type=_positive, default=defaults.max_params,
                       help=f"parameter budget (default {defaults.max_params:,})")
    group.add_argument("--max-file-bytes", type=_positive, default=defaults.max_file_bytes,
                       help=f"largest spec file (default {defaults.max_file_bytes:,})")
    group.add_argument("--max-depth", type=_positive, default=defaults.max_depth,
                       help=f"deepest nesting of brackets and block calls (default {defaults.max_depth:,})")
    diagnostics = argparse.ArgumentParser(add_help=False)
    diagnostics.add_argument("--format", choices=("text", "json"), default="text",
                             help="how to print diagnostics (json: for editors and CI)")

    check = commands.add_parser("check", parents=[limits, diagnostics],
                                help="parse and check specs: shapes, parameters, lint")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("-q", "--quiet", action="store_true", help="print errors only, no warnings")

    summary = commands.add_parser("summary", parents=[limits, diagnostics], help="print a layer table")
    summary.add_argument("file", metavar="FILE")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.add_argument("--depth", type=_positive, help="fold layers nested deeper than N blocks")

    compile_ = commands.add_parser("compile", parents=[limits, diagnostics], help="write an ONNX model")
    compile_.add_argument("file", metavar="FILE")
    compile_.add_argument("-o", "--output", metavar="OUT.onnx", help="default: the spec's name with .onnx")
    compile_.add_argument("--opset", type=_positive, help="ONNX opset (default: the newest onnxruntime runs)")
    compile_.add_argument("--batch", type=_positive, help="fixed batch size (default: symbolic 'N')")
    compile_.add_argument("--seed", type=int, default=0, help="seed for weight initialisation (default 0)")
    compile_.add_argument("--weights", metavar="W.npz", help="trained weights keyed by parameter name")

    run = commands.add_parser("run", parents=[limits, diagnostics], help="run a spec or .onnx in ONNX Runtime")
    run.add_argument("file", metavar="FILE.cnn|FILE.onnx")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--batch", type=_positive, help="batch size (default: 1, or the model's fixed batch)")
    run.add_argument("--input", metavar="x.npy", help="input array (default: random normal, seeded)")
    run.add_argument("--repeat", type=_positive, default=10, help="timed runs for the median latency")
    run.add_argument("--seed", type=int, default=0)
    return parser


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(max_layers=args.max_layers, max_repeat=args.max_repeat, max_params=args.max_params,
                  max_file_bytes=args.max_file_bytes, max_depth=args.max_depth)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # argparse: usage errors exit 2, --help and --version 0
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CnnError as failure:
        _report(failure.diagnostics, args)
        return EXIT_ERRORS
    except BrokenPipeError:  # `cnndsl summary spec.cnn | head`: the reader left; not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as bug:  # a crash is a bug in cnndsl, never the user's fault
        detail = str(bug) if len(str(bug)) <= 300 else str(bug)[:300] + "..."
        print(f"cnndsl: internal error: {type(bug).__name__}: {detail}\n"
              f"This is a bug in cnndsl {__version__}; please report it with the spec that caused it.",
              file=sys.stderr)
        return EXIT_INTERNAL


def _report(diagnostics: list[Diagnostic], args: argparse.Namespace) -> None:
    if getattr(args, "format", "text") == "json":
        print(render_json(diagnostics))
        return
    for diagnostic in diagnostics:
        print(render_text(diagnostic) + "\n", file=sys.stderr)


def _checked(path: str, args: argparse.Namespace) -> CheckedModel:
    model = check_file(path, _limits(args))
    if args.format == "text":
        _report(model.warnings, args)
    return model


def _check(args: argparse.Namespace) -> int:
    status = EXIT_OK
    results = []
    for path in args.files:
        try:
            model = check_file(path, _limits(args))
        except CnnError as failure:
            status = EXIT_ERRORS
            results.append({"path": path, "ok": False, "diagnostics": [to_json(d) for d in failure.diagnostics]})
            if args.format == "text":
                _report(failure.diagnostics, args)
            continue
        shown = [] if args.quiet else model.warnings
        results.append({"path": path, "ok": True, "total_params": model.total_params,
                        "total_macs": model.total_macs, "diagnostics": [to_json(d) for d in shown]})
        if args.format == "text":
            _report(shown, args)
            count = len(model.warnings)
            fixed = f" (+{model.non_trainable_params:,} non-trainable)" if model.non_trainable_params else ""
            print(f"{path}: ok, {model.trainable_params:,} parameters{fixed}, {model.total_macs:,} MACs"
                  + (f", {count} warning{'s' if count != 1 else ''}" if count else ""))
    if args.format == "json":
        _print_json(results)
    return status


def _print_json(value: object) -> None:
    import json  # text output, the common case, does without it

    print(json.dumps(value, indent=2))


def _summary(args: argparse.Namespace) -> int:
    from .summary import render

    model = _checked(args.file, args)
    if args.json:
        _print_json(model.to_dict())
    else:
        print(render(model, args.depth))
    return EXIT_OK


def _compile(args: argparse.Namespace) -> int:
    from .onnx_emit import compile_file

    model = _checked(args.file, args)
    written = compile_file(model, args.output, opset=args.opset, batch=args.batch, seed=args.seed,
                           weights=args.weights)
    print(f"wrote {written.path} ({written.bytes / 1e6:,.1f} MB, {model.total_params:,} parameters, "
          f"opset {written.opset})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from .runtime import run_file

    report = run_file(args.file, device=args.device, batch=args.batch, input_path=args.input,
                      repeat=args.repeat, seed=args.seed, limits=_limits(args))
    if args.format == "text":
        _report(report.warnings, args)
    print(report.render())
    return EXIT_OK


_COMMANDS = {"check": _check, "summary": _summary, "compile": _compile, "run": _run}


if __name__ == "__main__":
    sys.exit(main())
