"""The commands, check | summary | compile | run | profile | diff: each takes the parsed arguments, prints its
result (text for people, or JSON with --format json) and returns the exit status.

Only `check` is needed often and fast, so the modules of the others (the summary table, the ONNX
emitter, ONNX Runtime, JSON) are imported when a command needs them: `check` never imports onnx.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..analysis.budgets import check_budgets
from ..diagnostics import CnnError, Diagnostic, render_json, render_text, to_json
from ..model import CheckedModel, check_file
from . import options, precision
from .draw import run_draw
from .export import run_export, run_weights
from .fmt import run_fmt
from .import_command import run_import
from .lsp_command import run_lsp
from .serve_command import check_repository_options, run_serve, write_triton_repository
from .status import EXIT_ERRORS, EXIT_OK

if TYPE_CHECKING:  # results of compile and run; their modules (and numpy, onnx) are imported only there
    from ..onnx import Written
    from ..runtime import RunReport


def report(diagnostics: list[Diagnostic], args: argparse.Namespace, path: str | None = None) -> None:
    """Print diagnostics: as a JSON array, a SARIF log or GitHub workflow commands on standard
    output, or as text on standard error. `path`, the file checked, places those without a location."""
    format = getattr(args, "format", "text")
    if format == "json":
        print(render_json(diagnostics))
        return
    if format == "sarif":
        from .sarif import render_sarif

        print(render_sarif([(path, diagnostics)]))
        return
    if format == "github":
        from .github import workflow_command

        for diagnostic in diagnostics:
            print(workflow_command(diagnostic, path))
        return
    for diagnostic in diagnostics:
        print(render_text(diagnostic) + "\n", file=sys.stderr)


def checked(path: str, args: argparse.Namespace) -> CheckedModel:
    """Check one spec with its rules; print its warnings as text (JSON output carries them in the
    command's result instead)."""
    model = check_file(path, options.limits(args), rules=options.rules(args, path))
    check_budgets(model, getattr(args, "budget", []))
    if args.format == "text":
        report(_shown_warnings(model.warnings, args), args)
    return model


def _shown_warnings(warnings: list[Diagnostic], args: argparse.Namespace) -> list[Diagnostic]:
    """The warnings a command shows: those the rules selected, none with -q."""
    return [] if args.quiet else warnings


def _print_json(value: object) -> None:
    import json  # text output, the common case, does without it

    print(json.dumps(value, indent=2))


def _check(args: argparse.Namespace) -> int:
    """Checks every file. Text and GitHub annotations are printed file by file, with a result line
    for each file that passes; JSON and SARIF once, for all files, at the end."""
    status = EXIT_OK
    results: list[dict[str, Any]] = []
    reported: list[tuple[str | None, list[Diagnostic]]] = []  # for SARIF
    streamed = args.format in ("text", "github")
    for path in args.files:
        try:
            model = check_file(path, options.limits(args), rules=options.rules(args, path))
            check_budgets(model, args.budget)
        except CnnError as failure:
            status = EXIT_ERRORS
            results.append({"path": path, "ok": False, "diagnostics": [to_json(d) for d in failure.diagnostics]})
            reported.append((path, failure.diagnostics))
            if streamed:
                report(failure.diagnostics, args, path)
            continue
        shown = _shown_warnings(model.warnings, args)
        reported.append((path, shown))
        results.append(
            {
                "path": path,
                "ok": True,
                "total_params": model.total_params,
                "total_macs": model.total_macs,
                "diagnostics": [to_json(d) for d in shown],
            }
        )
        if streamed:
            report(shown, args, path)
            count = len(model.warnings)
            fixed = f" (+{model.non_trainable_params:,} non-trainable)" if model.non_trainable_params else ""
            print(
                f"{path}: ok, {model.trainable_params:,} parameters{fixed}, {model.total_macs:,} MACs"
                + (f", {count} warning{'s' if count != 1 else ''}" if count else "")
            )
    if args.format == "json":
        _print_json(results)
    elif args.format == "sarif":
        from .sarif import render_sarif

        print(render_sarif(reported))
    return status


def _summary(args: argparse.Namespace) -> int:
    from ..summary import render, summary_dict

    model = checked(args.file, args)
    if args.format == "json":  # --json too: parsing turned it into --format json
        _print_json(
            summary_dict(
                model, args.depth, _shown_warnings(model.warnings, args), batch=args.batch, optimizer=args.optimizer
            )
            | precision.size_json(model, args.precision)
        )
    else:
        print(render(model, args.depth, args.columns, batch=args.batch, optimizer=args.optimizer))
        if args.precision != "fp32":
            print(precision.size_line(model, args.precision))
    return EXIT_OK


def print_result_json(model: CheckedModel, written: Written, args: argparse.Namespace) -> None:
    """`compile --format json`: what was written, and the warnings, as the only output."""
    result: dict[str, object] = {
        "path": written.path,
        "bytes": written.bytes,
        "opset": written.opset,
        "total_params": model.total_params,
        **precision.precision_json(args),
    }
    if written.external_data:
        result.update(
            external_data=written.external_data, model_bytes=written.model_bytes, data_bytes=written.data_bytes
        )
    result["diagnostics"] = [to_json(d) for d in _shown_warnings(model.warnings, args)]
    _print_json(result)


def _compile(args: argparse.Namespace) -> int:
    import os

    from ..diagnostics import shorten
    from ..onnx import compile_file, default_output
    from ..progress import ProgressLine

    misused = check_repository_options(args)
    if misused is not None:
        return misused
    model = checked(args.file, args)
    if args.triton_repo is not None:
        return write_triton_repository(args, model)
    label = "writing " + shorten(os.path.basename(args.output or default_output(model)), 40)
    # A big model takes seconds to write: show progress on a terminal, unless asked to be quiet.
    progress = None if args.quiet or args.format == "json" else ProgressLine.for_terminal(sys.stderr, label)
    try:
        if args.precision != "fp32":
            written = precision.compile_in_precision(model, args)
        else:
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
        print_result_json(model, written, args)
        return EXIT_OK
    details = f"{precision.described(args)}{model.total_params:,} parameters, opset {written.opset}"
    if written.external_data:  # the model is two files: name both
        print(
            f"wrote {shorten(written.path)} ({written.model_bytes / 1e6:,.1f} MB) and "
            f"{shorten(written.external_data)} ({written.data_bytes / 1e6:,.1f} MB), {details}"
        )
    else:
        print(f"wrote {shorten(written.path)} ({written.bytes / 1e6:,.1f} MB, {details})")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from ..runtime import run_file

    rules = options.rules(args, args.file) if options.spec_paths(args) else None
    converter = precision.converter(args)
    result = run_file(
        args.file,
        device=args.device,
        batch=args.batch,
        input_path=args.input,
        repeat=args.repeat,
        seed=args.seed,
        limits=options.limits(args),
        rules=rules,
        convert=converter,
        **_run_options(args),
    )
    comparison = precision.compare(args, result, converter) if args.compare else None
    warnings = _shown_warnings(result.warnings, args)
    if args.format == "json":
        compared = {"compare": comparison.to_json()} if comparison else {}
        _print_json(_run_json(result, [to_json(d) for d in warnings]) | compared)
    else:
        report(warnings, args)
        print(result.render(context=not args.quiet))  # -q: the outputs and the latency only
        if comparison:
            print("\n".join(comparison.render(result.precision)))
    return EXIT_OK


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given that run_file takes as keywords; one left out keeps run_file's default."""
    given = {"opset": args.opset, "weights": args.weights, "max_memory": args.max_memory, "top_k": args.top_k}
    return {name: value for name, value in given.items() if value is not None}


def _run_json(result: RunReport, diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = result.latencies
    return {
        "model": result.model,
        "precision": result.precision,
        "model_bytes": result.model_bytes,
        "device": result.device,
        "providers": list(result.providers),
        "input": {"name": result.input_name, "shape": list(result.input_shape), "source": result.input_source},
        "outputs": [
            {
                "name": output.name,
                "shape": list(output.array.shape),
                "dtype": str(output.array.dtype),
                "top": [[{"index": int(i), "probability": float(p)} for i, p in sample] for sample in output.top],
            }
            for output in result.outputs
        ],
        "latency_ms": {
            "median": result.median * 1e3,
            "min": min(latencies) * 1e3,
            "max": max(latencies) * 1e3,
            "runs": len(latencies),
        },
        "diagnostics": diagnostics,
    }


def _profile(args: argparse.Namespace) -> int:
    from ..runtime.profile import profile_file
    from .profile import profile_json, render

    profile = profile_file(
        args.file,
        device=args.device,
        batch=args.batch,
        repeat=args.repeat,
        limits=options.limits(args),
        rules=options.rules(args, args.file),
    )
    if args.format == "json":
        _print_json(
            profile_json(profile) | {"diagnostics": [to_json(d) for d in _shown_warnings(profile.model.warnings, args)]}
        )
    else:
        report(_shown_warnings(profile.model.warnings, args), args)
        print(render(profile))
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from .diff import compare, comparison_json, render

    model_a, model_b = (checked(path, args) for path in args.files)  # either failing: its diagnostics, exit 1
    comparison = compare(model_a, model_b, args.depth, args.columns, batch=args.batch, optimizer=args.optimizer)
    if args.format == "json":
        warnings = [to_json(d) for model in (model_a, model_b) for d in _shown_warnings(model.warnings, args)]
        _print_json(comparison_json(comparison) | {"diagnostics": warnings})
    else:
        print(render(comparison))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": _check,
    "summary": _summary,
    "compile": _compile,
    "run": _run,
    "profile": _profile,
    "diff": _diff,
    "fmt": run_fmt,
    "draw": run_draw,
    "export": run_export,
    "weights": run_weights,
    "lsp": run_lsp,
    "import": run_import,
    "serve": run_serve,
}
