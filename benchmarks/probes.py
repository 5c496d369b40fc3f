"""Adversarial specs for the expansion and resolution limits, timed as whole `cnndsl check` runs.

    python -m benchmarks.probes                  # every probe, a table of time, peak memory, outcome
    python -m benchmarks.probes --only repeats   # probes whose name contains 'repeats'
    python -m benchmarks.probes --markdown out.md
    python -m benchmarks.probes --emission [--only gelu] [--rounds N]   # the emission probes instead

The emission probes (benchmarks/emission.py) time on ONNX Runtime the ways a layer kind can be
written in ONNX (layer norm over channels, hard-swish, GELU); their figures are in
docs/performance.md. The probes below are about checking, not inference.

Each probe is a spec that once took minutes or gigabytes to check (issue "Robustness, second
pass"): empty nested expansions, the same diagnostic 10^8 times, tens of thousands of statements
that each add a diagnostic, deep naming, a 10 MB one-line chain. The target is every probe under
2 s, ending in success or a located diagnostic; and checking time linear in the size of the spec
(100,000 layers within 11x the time of 10,000). Figures are in docs/reliability.md. Timings are
never asserted in tests; tests/test_limits.py checks the outcomes at smaller sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .specgen import chain

ROOT = Path(__file__).resolve().parent.parent


class Probe(NamedTuple):
    name: str
    make: Callable[[], str]
    options: tuple[str, ...] = ()


def _lines(header: str, line: str, count: int) -> str:
    return header + "\n" + "\n".join(line.format(i=i) for i in range(count)) + "\n"


def _doubling_blocks(levels: int) -> str:
    lines = ["input 3x8x8", "block b0() { in }"]
    lines += [f"block b{k}() {{ b{k - 1} -> b{k - 1} }}" for k in range(1, levels + 1)]
    return "\n".join([*lines, f"b{levels}", ""])


def _nested(opening: str, closing: str, depth: int, inner: str = "relu") -> str:
    return "input 3x8x8\n" + opening * depth + inner + closing * depth + "\n"


PROBES = [
    Probe("nested empty repeats 10^4 x 10^4", lambda: "input 3x8x8\nrepeat 10000 { repeat 10000 { in } }\n"),
    Probe("same error 10^8 times", lambda: "input 3x8x8\nrepeat 10000 { repeat 10000 { conv 3x3 0 } }\n"),
    Probe("40 levels of blocks calling the previous twice", lambda: _doubling_blocks(40)),
    Probe(
        "10^4 x 10^4 repetitions that read their counters",
        lambda: "input 3x8x8\nrepeat 10000 as i { repeat 10000 as j { if (i == j) { relu } } }\n",
    ),
    Probe("50,000 unused named tensors", lambda: _lines("input 3x8x8", "t{i} = in -> relu", 50_000)),
    Probe("200,000 unknown layer kinds", lambda: _lines("input 3x8x8", "in -> kind{i}", 200_000)),
    Probe("90,000 'in -> relu' statements", lambda: _lines("input 3x8x8", "in -> relu", 90_000)),
    Probe("50,000 repeated labels", lambda: _lines("input 3x8x8\nrelu", "  -> a: relu", 50_000)),
    Probe(
        "30,000 residuals with shortcuts",
        lambda: _lines("input 3x8x8\nrelu", "  -> residual {{ relu }} shortcut {{ relu }}", 30_000),
    ),
    Probe("9,999 nested concat", lambda: _nested("concat {\n", "\nrelu\n}", 9_999)),
    Probe("3,000 nested labelled repeats", lambda: _nested("repeat 1 {\n", "\n}", 3_000, "conv 1x1 3")),
    Probe(
        "10 MB one-line chain",
        lambda: "input 3x8x8\nrelu" + " -> relu" * 1_250_000 + "\n",
        ("--max-file-bytes", "20000000"),
    ),
    Probe(
        "50,000 nested if, --max-depth 100000", lambda: _nested("if (1) {\n", "\n}", 50_000), ("--max-depth", "100000")
    ),
    Probe("10,000-layer chain", lambda: chain(10_000)),
    Probe("100,000-layer chain", lambda: chain(100_000), ("--max-file-bytes", "20000000")),
]


class Outcome(NamedTuple):
    probe: str
    seconds: float
    peak_mb: float
    status: int | None  # None: timed out
    summary: str


# Runs one command and reports its peak resident memory: a parent of its own, so that
# RUSAGE_CHILDREN covers exactly that one process.
_MEASURE = (
    "import resource, subprocess, sys; status = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(status)"
)


def run_probe(probe: Probe, directory: str, timeout: float) -> Outcome:
    path = os.path.join(directory, "probe.cnn")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(probe.make())
    command = [
        sys.executable,
        "-c",
        _MEASURE,
        sys.executable,
        "-m",
        "cnndsl.cli",
        "check",
        "--format",
        "json",
        *probe.options,
        path,
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        return Outcome(probe.name, timeout, float("nan"), None, f"still running after {timeout:.0f} s")
    seconds = time.perf_counter() - start
    lines = stderr.decode(errors="replace").strip().splitlines()
    peak_mb = int(lines.pop()) / 1024 if lines and lines[-1].isdigit() else float("nan")
    return Outcome(probe.name, seconds, peak_mb, process.returncode, _summarise(stdout, lines))


def _summarise(stdout: bytes, stderr_lines: list[str]) -> str:
    try:
        (result,) = json.loads(stdout)
    except ValueError:
        return (stderr_lines or ["no output"])[-1][:100]
    if result.get("ok"):
        return f"ok, {len(result['diagnostics'])} warnings"
    diagnostics = result["diagnostics"]
    codes = sorted({d["code"] for d in diagnostics})
    return f"{len(diagnostics)} diagnostics ({', '.join(codes)})"


def main(argv: list[str] | None = None) -> int:
    rest = sys.argv[1:] if argv is None else argv
    if "--emission" in rest:
        from . import emission

        return emission.main([a for a in rest if a != "--emission"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the probes whose name contains this text")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per probe (default 120)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    args = parser.parse_args(argv)
    rows = ["| probe | time | peak memory | outcome |", "| --- | ---: | ---: | --- |"]
    with tempfile.TemporaryDirectory() as directory:
        for probe in PROBES:
            if args.only and args.only not in probe.name:
                continue
            outcome = run_probe(probe, directory, args.timeout)
            row = (
                f"| {outcome.probe} | {outcome.seconds:.2f} s | {outcome.peak_mb:,.0f} MB | "
                f"exit {outcome.status}: {outcome.summary} |"
            )
            print(row, flush=True)
            rows.append(row)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
