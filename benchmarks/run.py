"""cnndsl against torchinfo and torch.onnx.export, side by side, in one run.

    pip install -e '.[bench]'                  # torch, torchinfo, onnxscript (optional)
    python -m benchmarks.run                   # full run, about 10-15 minutes on 2 cores
    python -m benchmarks.run --quick           # about 5 minutes: one model per section, fewer runs
    python -m benchmarks.run --quick --sections inference,modern   # ONNX Runtime latency only
    python -m benchmarks.run --tiny            # seconds: a tiny network, for the smoke test
    python -m benchmarks.run --markdown docs/performance.md --json results.json

Every timing is a whole process as a user runs it (interpreter start, imports, building the model,
writing the file), started with subprocess; the variants run interleaved (A B C A B C ...) and the
median of the runs is reported. Peak memory is the child's own ru_maxrss (os.wait4). Without torch
installed (or with --no-torch) only the cnndsl parts run and the ratios to PyTorch are left out.

Sections: 1 lint, 2 compile, 3 scaling, 4 inference, 5 memory, 6 modern (ONNX Runtime latency of
MobileNetV3-Large, EfficientNet-B0, ConvNeXt-Tiny and ResNet-50 with torchvision's weights against
torchvision's models exported: benchmarks/modern.py). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import PARAMS
from .specgen import GENERATORS

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
FALLBACK_SPECS = Path(__file__).resolve().parent / "specs"


# --- configuration ----------------------------------------------------------------------------


@dataclass
class Config:
    mode: str
    lint_models: list[str]
    lint_reps: tuple[int, int]  # (cnndsl, torchinfo)
    compile_models: list[str]
    compile_reps: int
    exporters: list[str]
    scaling_sizes: list[int]
    scaling_reps: int
    inference_model: str
    inference_exporters: list[str]
    batches: list[int]
    inference_repeat: int
    matmul_size: int
    memory_model: str
    memory_reps: int
    floor_model: str | None  # the VGG-sized model compared with the RNG + disk floor


CONFIGS = {
    "full": Config(
        "full",
        ["alexnet", "vgg16", "resnet152"],
        (5, 5),
        ["alexnet", "vgg16", "resnet50", "resnet152"],
        3,
        ["dynamo", "legacy"],
        [100, 1_000, 10_000],
        5,
        "resnet50",
        ["dynamo", "legacy"],
        [1, 8],
        40,
        2048,
        "vgg19",
        3,
        "vgg16",
    ),
    "quick": Config(
        "quick",
        ["resnet152"],
        (3, 2),
        ["resnet50"],
        2,
        ["dynamo", "legacy"],
        [100, 1_000, 10_000],
        3,
        "resnet50",
        ["dynamo"],
        [1, 8],
        10,
        2048,
        "vgg19",
        1,
        None,
    ),
    "tiny": Config(
        "tiny",
        ["tiny"],
        (1, 1),
        ["tiny"],
        1,
        ["dynamo", "legacy"],
        [20, 200],
        1,
        "tiny",
        ["legacy"],
        [1, 2],
        1,
        256,
        "tiny",
        1,
        "tiny",
    ),
}

# The targets (ratios, on a 2-core machine).
LINT_TARGET = 25.0  # torchinfo summary / cnndsl check, ResNet-152
DYNAMO_TARGET = 20.0  # torch.onnx.export default / cnndsl compile, ResNet-50
LEGACY_TARGET = 6.0  # torch.onnx.export(dynamo=False) / cnndsl compile, ResNet-50
FLOOR_TARGET = 1.5  # cnndsl compile / (RNG + write) floor, VGG16: our reading of "bounded by"
SCALING_RATIO_TARGET = 11.0  # check time 10,000 layers / 1,000 layers
SCALING_TIME_TARGET = 2.0  # seconds, 10,000 layers
INFERENCE_TARGET = 1.00  # our latency / torch-exported latency, ResNet-50
MATMUL_TARGET = 0.75  # achieved GFLOP/s at batch 8 / numpy fp32 matmul GFLOP/s
MEMORY_TARGET = 1.5  # peak RSS compiling VGG19 / its weight bytes


# --- processes --------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    maxrss_bytes: int
    bytes_written: int = 0


class ChildFailed(RuntimeError):
    pass


def _cnndsl() -> list[str]:
    """The console script that pip installed beside this interpreter, as a user runs it.

    Not the first `cnndsl` on PATH: that can be a version manager's shim (pyenv's is a shell
    script that starts `pyenv exec`), which would time the shim, not cnndsl.
    """
    beside = Path(sys.executable).with_name("cnndsl")
    if beside.is_file():
        return [str(beside)]
    exe = shutil.which("cnndsl")
    return [exe] if exe else [sys.executable, "-m", "cnndsl"]


def compile_bytecode() -> None:
    """Compile cnndsl's and the benchmark's modules to bytecode, as pip does when it installs a
    package. An editable install under PYTHONDONTWRITEBYTECODE=1 (as on this workplace's machines)
    would otherwise compile every module from source in every timed process."""
    import cnndsl

    for directory in (Path(cnndsl.__file__).parent, Path(__file__).parent):
        compileall.compile_dir(str(directory), quiet=1)


def _module(name: str) -> list[str]:
    return [sys.executable, "-m", f"benchmarks.{name}"]


def run_process(argv: list[str], out_dir: Path | None = None, exit_code: int = 0) -> Sample:
    """Run one child to completion: its wall time, its own peak RSS and the bytes it left in out_dir.
    It must exit with `exit_code`."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != exit_code:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-3000:]
            raise ChildFailed(f"{' '.join(argv)} exited with {child.returncode}:\n{tail}")
    written = 0
    if out_dir is not None:
        for path in out_dir.iterdir():
            written += path.stat().st_size
            path.unlink()
    return Sample(seconds, usage.ru_maxrss * 1024, written)


def interleaved(variants: dict[str, Callable[[], Sample]], reps: int | dict[str, int]) -> dict[str, list[Sample]]:
    """A B C A B C ...; a variant with fewer reps drops out of the later rounds."""
    counts = reps if isinstance(reps, dict) else dict.fromkeys(variants, reps)
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    for round_ in range(max(counts.values())):
        for name, call in variants.items():
            if round_ < counts[name]:
                samples[name].append(call())
    return samples


def median(samples: list[Sample], attr: str = "seconds") -> float:
    return statistics.median(getattr(s, attr) for s in samples)


# --- results ----------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    what: str
    ours: str
    reference: str
    ratio: float | None = None
    ratio_text: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> None:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        print(
            f"  {row.what}: {row.ours}  |  {row.reference}  |  {row.ratio_text} {row.target}"
            + ("" if row.met is None else ("  MET" if row.met else "  MISSED")),
            flush=True,
        )


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


# --- sections ---------------------------------------------------------------------------------


def spec_path(name: str) -> Path:
    """specs/NAME.cnn when it exists, else the benchmark's own copy in benchmarks/specs/."""
    path = SPECS / f"{name}.cnn"
    return path if path.exists() else FALLBACK_SPECS / f"{name}.cnn"


def check_specs(names: set[str]) -> dict[str, Any]:
    """Check each spec in-process; its trainable parameters must equal torchvision's."""
    import cnndsl

    models = {}
    for name in sorted(names):
        model = cnndsl.check_file(str(spec_path(name)))
        if model.trainable_params != PARAMS[name]:
            raise SystemExit(
                f"{spec_path(name)}: {model.trainable_params:,} trainable parameters, "
                f"the PyTorch reference has {PARAMS[name]:,}: not the same architecture"
            )
        models[name] = model
    return models


def lint(cfg: Config, results: Results, torch: bool) -> None:
    print("1. lint: cnndsl check vs torchinfo.summary()", flush=True)
    for name in cfg.lint_models:
        spec = str(spec_path(name))
        variants = {"cnndsl": lambda spec=spec: run_process([*_cnndsl(), "check", "-q", spec])}
        reps = {"cnndsl": cfg.lint_reps[0]}
        if torch:
            variants["torchinfo"] = lambda name=name: run_process([*_module("torch_worker"), "summary", name])
            reps["torchinfo"] = cfg.lint_reps[1]
        samples = interleaved(variants, reps)
        ours = median(samples["cnndsl"])
        results.raw.setdefault("lint", {})[name] = {k: [s.seconds for s in v] for k, v in samples.items()}
        if not torch:
            results.add("lint", f"check {name}", _s(ours), "torchinfo: not installed")
            continue
        theirs = median(samples["torchinfo"])
        ratio = theirs / ours
        targeted = name == "resnet152"
        results.add(
            "lint",
            f"check {name}",
            _s(ours),
            f"torchinfo {_s(theirs)}",
            ratio,
            f"{ratio:.1f}x faster",
            f">= {LINT_TARGET:.0f}x" if targeted else "",
            (ratio >= LINT_TARGET) if targeted else None,
        )
    # What an editor's linter meets while the user types: a syntax error, reported with exit code 1.
    broken = str(ROOT / "tests" / "bad" / "E101_double_arrow.cnn")
    samples = [run_process([*_cnndsl(), "check", broken], exit_code=1) for _ in range(cfg.lint_reps[0])]
    results.raw["lint"]["syntax error"] = [s.seconds for s in samples]
    results.add("lint", "check a spec with a syntax error (E101)", _s(median(samples)), "")


def compile_(cfg: Config, results: Results, torch: bool, work: Path) -> None:
    print("2. compile: cnndsl compile vs torch.onnx.export (default dynamo, legacy)", flush=True)
    out = work / "compile"
    out.mkdir()
    for name in cfg.compile_models:
        spec = str(spec_path(name))
        variants = {
            "cnndsl": lambda spec=spec: run_process([*_cnndsl(), "compile", spec, "-o", str(out / "m.onnx")], out)
        }
        if torch:
            for mode in cfg.exporters:
                variants[mode] = lambda name=name, mode=mode: run_process(
                    [*_module("torch_worker"), "export", name, mode, str(out / "m.onnx")], out
                )
        samples = interleaved(variants, cfg.compile_reps)
        results.raw.setdefault("compile", {})[name] = {
            k: {
                "seconds": [s.seconds for s in v],
                "bytes": v[0].bytes_written,
                "maxrss_bytes": [s.maxrss_bytes for s in v],
            }
            for k, v in samples.items()
        }
        ours = median(samples["cnndsl"])
        size = samples["cnndsl"][0].bytes_written
        results.add(
            "compile",
            f"compile {name} ({PARAMS[name] / 1e6:.1f}M params)",
            f"{_s(ours)}, {_mb(size)}, {size / ours / 1e6:.0f} MB/s",
            "" if torch else "torch: not installed",
        )
        for mode in cfg.exporters if torch else []:
            theirs = median(samples[mode])
            their_size = samples[mode][0].bytes_written
            ratio = theirs / ours
            target = {"dynamo": DYNAMO_TARGET, "legacy": LEGACY_TARGET}[mode]
            targeted = name == "resnet50"
            label = "torch.onnx.export" + (" (dynamo, default)" if mode == "dynamo" else " (dynamo=False)")
            results.add(
                "compile",
                f"  vs {mode} {name}",
                "",
                f"{label} {_s(theirs)}, {_mb(their_size)}, {their_size / theirs / 1e6:.0f} MB/s",
                ratio,
                f"{ratio:.1f}x faster",
                f">= {target:.0f}x" if targeted else "",
                (ratio >= target) if targeted else None,
            )
    if cfg.floor_model:
        name = cfg.floor_model
        spec = str(spec_path(name))
        samples = interleaved(
            {
                "cnndsl": lambda: run_process([*_cnndsl(), "compile", spec, "-o", str(out / "m.onnx")], out),
                "floor": lambda: run_process([*_module("floor_worker"), str(PARAMS[name]), str(out / "w.bin")], out),
            },
            cfg.compile_reps,
        )
        ours, floor = median(samples["cnndsl"]), median(samples["floor"])
        ratio = ours / floor
        targeted = name.startswith("vgg")
        results.raw.setdefault("floor", {})[name] = {k: [s.seconds for s in v] for k, v in samples.items()}
        results.add(
            "compile",
            f"compile {name} vs RNG + write floor",
            _s(ours),
            f"numpy RNG + write {_mb(4 * PARAMS[name])}: {_s(floor)}",
            ratio,
            f"{ratio:.2f}x the floor",
            f"<= {FLOOR_TARGET}x" if targeted else "",
            (ratio <= FLOOR_TARGET) if targeted else None,
        )


def scaling(cfg: Config, results: Results, work: Path) -> None:
    import cnndsl

    print("3. scaling: cnndsl check of generated specs", flush=True)
    out = work / "scaling"
    out.mkdir()
    for kind, generate in GENERATORS.items():
        paths = {}
        for n in cfg.scaling_sizes:
            path = out / f"{kind}{n}.cnn"
            path.write_text(generate(n))
            paths[n] = path
        layers = {n: len(cnndsl.check_file(str(p)).layers) for n, p in paths.items()}
        samples = interleaved(
            {n: (lambda p=p: run_process([*_cnndsl(), "check", "-q", str(p)])) for n, p in paths.items()},
            cfg.scaling_reps,
        )
        times = {n: median(s) for n, s in samples.items()}
        results.raw.setdefault("scaling", {})[kind] = {
            n: {"layers": layers[n], "seconds": [s.seconds for s in v]} for n, v in samples.items()
        }
        sizes = sorted(times)
        for n in sizes:
            results.add("scaling", f"check {kind} of {layers[n]:,} layers", _s(times[n]), "")
        big, small = sizes[-1], sizes[-2]
        ratio = times[big] / times[small]
        targeted = big == 10_000
        results.add(
            "scaling",
            f"{kind}: {big:,} vs {small:,} layers",
            _s(times[big]),
            _s(times[small]),
            ratio,
            f"{ratio:.2f}x the time",
            f"<= {SCALING_RATIO_TARGET:.0f}x" if targeted else "",
            (ratio <= SCALING_RATIO_TARGET) if targeted else None,
        )
        if targeted:
            results.add(
                "scaling",
                f"{kind}: {big:,} layers in under {SCALING_TIME_TARGET:.0f} s",
                _s(times[big]),
                "",
                None,
                "",
                f"< {SCALING_TIME_TARGET:.0f} s",
                times[big] < SCALING_TIME_TARGET,
            )
    compiled = results.raw.get("compile", {})
    for name, data in compiled.items():
        seconds = statistics.median(data["cnndsl"]["seconds"])
        results.add(
            "scaling",
            f"compile time / parameters, {name}",
            _s(seconds),
            f"{PARAMS[name] / 1e6:.1f}M params",
            None,
            f"{seconds / PARAMS[name] * 1e8:.2f} s per 100M",
        )


def ort_worker_rounds(
    models: dict[str, Path], threads: int, batches: Sequence[int], repeat: int, matmul_size: int
) -> list[dict[str, Any]]:
    """The ort_worker's reports, one process per rotation of the models' creation order, `repeat`
    rounds in all.

    Where a session was created in the process shifts its latency by up to 1% (the first-made
    was slower at batch 1 in a probe): the rounds are split over one process per rotation of
    the creation order, so that every model is made first, second, ... equally often."""
    order = list(models)
    rotations = [order[i:] + order[:i] for i in range(len(order))]
    argv = [
        *_module("ort_worker"),
        "--threads",
        str(threads),
        "--batches",
        ",".join(map(str, batches)),
        "--repeat",
        str(math.ceil(repeat / len(rotations))),
        "--matmul-size",
        str(matmul_size),
    ]
    # This workplace pins OpenBLAS to an older kernel (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) for
    # safety; it slows numpy's matmul, the yardstick, so the worker runs without both.
    # ONNX Runtime has its own kernels (MLAS) and does not read them.
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return [
        json.loads(
            subprocess.run(
                argv + [f"{k}={models[k]}" for k in names],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
        )
        for names in rotations
    ]


def inference(cfg: Config, results: Results, torch: bool, work: Path, threads: int, macs: int) -> None:
    """`macs`: our MAC count of the inference model, for the achieved GFLOP/s."""
    print("4. inference: ONNX Runtime, our model vs the torch-exported one", flush=True)
    name = cfg.inference_model
    out = work / "inference"
    out.mkdir()
    spec = spec_path(name)
    models = {"cnndsl": out / "cnndsl.onnx"}
    # Both sides get the same weights, with batch norm statistics like a trained network's: with
    # the untrained identity, the default exporter folds batch norm away and drops the all-zero
    # conv biases, a graph no trained model gives (see docs/performance.md).
    weights = out / "weights.npz"
    for mode in cfg.inference_exporters if torch else []:
        models[mode] = out / mode / "model.onnx"
        models[mode].parent.mkdir()
        export = [*_module("torch_worker"), "export", name, mode, str(models[mode])]
        run_process([*export, "--dynamic-batch", "--trained-like", str(weights)])
    same_weights = ["--weights", str(weights)] if weights.exists() else []
    run_process([*_cnndsl(), "compile", str(spec), "-o", str(models["cnndsl"]), *same_weights])
    report = merge_reports(ort_worker_rounds(models, threads, cfg.batches, cfg.inference_repeat, cfg.matmul_size))
    results.raw["inference"] = report
    matmul = report["matmul_gflops"]["median"]
    results.add(
        "inference",
        f"numpy fp32 matmul {cfg.matmul_size}^2, {threads} threads",
        f"{matmul:.1f} GFLOP/s",
        f"median of {len(report['matmul_gflops']['samples'])}, "
        f"best {report['matmul_gflops']['max']:.1f}, kernel {report['matmul_gflops']['kernel']}",
    )
    for batch in cfg.batches:
        latency = report["latency_s"][str(batch)]
        ours = latency["cnndsl"]
        gflops = 2 * macs * batch / ours / 1e9
        results.add("inference", f"{name} batch {batch}", f"{_s(ours)}, {gflops:.1f} GFLOP/s", "")
        rounds = report["rounds_s"][str(batch)]
        for mode in cfg.inference_exporters if torch else []:
            ratio, low, high = paired_ratio(rounds["cnndsl"], rounds[mode])
            targeted = name == "resnet50" and mode == "dynamo"
            interval = f" (95% CI {low:.3f}-{high:.3f})" if low is not None else ""
            results.add(
                "inference",
                f"  vs torch {mode} export, batch {batch}",
                "",
                f"{_s(latency[mode])}",
                ratio,
                f"{ratio:.3f}x its latency{interval}",
                f"<= {INFERENCE_TARGET:.2f}" if targeted else "",
                (ratio <= INFERENCE_TARGET) if targeted else None,
            )
        if batch == max(cfg.batches):
            ratio = gflops / matmul
            targeted = name == "resnet50"
            results.add(
                "inference",
                f"{name} batch {batch}: share of the matmul rate",
                f"{gflops:.1f} GFLOP/s",
                f"{matmul:.1f} GFLOP/s",
                ratio,
                f"{ratio:.0%}",
                f">= {MATMUL_TARGET:.0%}" if targeted else "",
                (ratio >= MATMUL_TARGET) if targeted else None,
            )


def merge_reports(reports: list[dict]) -> dict:
    """One ort_worker report from several: every round pooled, medians over the pool."""
    merged: dict = {"threads": reports[0]["threads"], "latency_s": {}, "rounds_s": {}}
    for batch in reports[0]["rounds_s"]:
        rounds = {
            name: [t for report in reports for t in report["rounds_s"][batch][name]]
            for name in reports[0]["rounds_s"][batch]
        }
        merged["rounds_s"][batch] = rounds
        merged["latency_s"][batch] = {name: statistics.median(times) for name, times in rounds.items()}
    rates = [rate for report in reports for rate in report["matmul_gflops"]["samples"]]
    merged["matmul_gflops"] = {
        "median": statistics.median(rates),
        "max": max(rates),
        "samples": rates,
        "kernel": reports[0]["matmul_gflops"]["kernel"],
    }
    return merged


def paired_ratio(ours: list[float], theirs: list[float]) -> tuple[float, float | None, float | None]:
    """Median over rounds of our time / theirs in the same round, with a distribution-free 95%
    confidence interval for that median (order statistics of the binomial), or None for too few
    rounds. Pairing within a round cancels slow drifts of the machine (load, clock) that a ratio
    of two overall medians would keep."""
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=True))
    n = len(ratios)
    # The largest k with P(Binomial(n, 1/2) < k) <= 2.5%: [ratios[k-1], ratios[n-k]] covers the median.
    k, below = 0, 0.0
    while below + math.comb(n, k) / 2**n <= 0.025:
        below += math.comb(n, k) / 2**n
        k += 1
    interval = (ratios[k - 1], ratios[n - k]) if k >= 1 else (None, None)
    return statistics.median(ratios), *interval


def memory(cfg: Config, results: Results, work: Path) -> None:
    print("5. memory: peak RSS of cnndsl compile", flush=True)
    name = cfg.memory_model
    out = work / "memory"
    out.mkdir()
    spec = str(spec_path(name))
    samples = [
        run_process([*_cnndsl(), "compile", spec, "-o", str(out / "m.onnx")], out) for _ in range(cfg.memory_reps)
    ]
    peak = median(samples, "maxrss_bytes")
    weights = 4 * PARAMS[name]
    ratio = peak / weights
    results.raw["memory"] = {name: {"maxrss_bytes": [s.maxrss_bytes for s in samples], "weight_bytes": weights}}
    targeted = name == "vgg19"
    results.add(
        "memory",
        f"compile {name}: peak RSS",
        _mb(peak),
        f"weights {_mb(weights)}",
        ratio,
        f"{ratio:.2f}x the weights",
        f"< {MEMORY_TARGET}x" if targeted else "",
        (ratio < MEMORY_TARGET) if targeted else None,
    )


def baseline(cfg: Config, results: Results, torch: bool) -> None:
    print("0. context: interpreter start and imports", flush=True)
    reps = 3 if cfg.mode != "tiny" else 1
    variants = {
        "python": lambda: run_process([sys.executable, "-c", "pass"]),
        "import cnndsl": lambda: run_process([sys.executable, "-c", "import cnndsl"]),
    }
    if torch:
        variants["import torch"] = lambda: run_process([sys.executable, "-c", "import torch"])
    samples = interleaved(variants, reps)
    for key, value in samples.items():
        results.add("context", key, _s(median(value)), "")


# --- machine and report -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for package in ("cnndsl", "numpy", "onnx", "onnxruntime", "torch", "torchinfo", "onnxscript"):
        try:
            from importlib.metadata import version

            info[package] = version(package)
        except Exception:
            info[package] = "not installed"
    return info


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def table(rows: list[Row], markdown: bool = False) -> str:
    header = ["section", "measure", "cnndsl", "reference", "ratio", "target", "status"]
    cells = [
        [
            r.section,
            r.what,
            r.ours,
            r.reference,
            r.ratio_text,
            r.target,
            "" if r.met is None else ("met" if r.met else "MISSED"),
        ]
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.strip().replace("|", "\\|") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in cells]
    )


def _load_caveat(load_start: str) -> str:
    one_minute = float(load_start.split()[0])
    if one_minute < 1.0:
        return (
            f"The 1-minute load average was {one_minute:.2f} when the run started: the machine was "
            "otherwise idle. Ratios are still more robust than absolute times, since the variants run "
            "interleaved."
        )
    return (
        f"The 1-minute load average was {one_minute:.2f} when the run started: other processes shared "
        "the machine. On a 2-core machine a load above ~1 inflates every wall time, the PyTorch side's "
        "multi-threaded work and ONNX Runtime's latencies most; ratios are more robust than absolute "
        "times, since the variants run interleaved, but treat single figures as indicative."
    )


def write_markdown(path: Path, results: Results, info: dict[str, Any], command: str) -> None:
    met = [r for r in results.rows if r.met is True]
    missed = [r for r in results.rows if r.met is False]
    text = f"""# Performance

cnndsl against torchinfo and `torch.onnx.export`, measured side by side in one run by
`benchmarks/run.py` (issue 6). Regenerate this page with the command below; do not edit the table
by hand.

- Date: {results.raw["date"]}
- Command: `{command}` ({results.raw["mode"]} mode, {results.raw["elapsed_s"]:.0f} s)
- Machine: {info["nproc"]} CPUs, {info["cpu"]}; Python {info["python"]}, {info["platform"]}
- Versions: cnndsl {info["cnndsl"]}, torch {info["torch"]}, torchinfo {info["torchinfo"]},
  onnxscript {info["onnxscript"]}, onnx {info["onnx"]}, onnxruntime {info["onnxruntime"]}, numpy {info["numpy"]}
- Load average (1, 5, 15 min) at the start: {results.raw["load_start"]}; at the end: {results.raw["load_end"]}
- Targets: {len(met)} met, {len(missed)} missed{": " + "; ".join(r.what.strip() for r in missed) if missed else ""}

**Load.** {_load_caveat(results.raw["load_start"])}

## How it is measured

- Every time is a whole process as a user runs it — `cnndsl check -q FILE`, `cnndsl compile FILE -o OUT`,
  and `python -m benchmarks.torch_worker summary|export ...` (import torch, build the model, call
  `torchinfo.summary(model, input_size=(1, 3, 224, 224))` or `torch.onnx.export`) — started with
  `subprocess`, the variants interleaved (A B C A B C), the median reported. `cnndsl` is the console
  script pip installed beside the interpreter (not a version manager's shim found first on PATH),
  and cnndsl's and the benchmark's modules are compiled to bytecode first, as `pip install` does.
- The PyTorch models (`benchmarks/torch_models.py`) follow torchvision's definitions and assert
  torchvision's parameter counts; the cnndsl specs (`specs/`, else `benchmarks/specs/`) are checked to
  have the same trainable parameter count before anything is timed.
- Compile sizes are everything the exporter wrote (the default exporter writes `OUT.onnx` plus
  `OUT.onnx.data`); MB/s is that size over the whole process's time.
- The compile floor (`benchmarks/floor_worker.py`) is a process that imports numpy, draws the same
  number of float32 uniforms and writes them: what any compiler that initialises weights must pay.
  "Bounded by random-number generation and disk bandwidth" is read as at most {FLOOR_TARGET}x that floor.
- Scaling specs are generated by `benchmarks/specgen.py`: a chain of conv/relu layers and a DAG of
  residual blocks (conv-bn-relu-conv-bn + identity, add, relu), every layer written out.
- Inference (`benchmarks/ort_worker.py`): one process loads our model (`cnndsl compile`, symbolic
  batch) and the torch-exported ones (symbolic batch), with the same SessionOptions (intra-op threads
  = nproc, all graph optimisations, idle pool threads not spinning, so that one session does not
  steal the cores from the one being timed), and times them interleaved, rotating which goes first.
  - The rounds are split over one process per rotation of the order in which the sessions are
    created (A B C, B C A, C A B), so that each model is created first, second and last equally
    often: in a probe the session created first ran about 1% slower at batch 1, whichever model
    it held.
  - Both models carry the same weights, with batch norm statistics like a trained network's
    (`--trained-like`, loaded into ours with `--weights`; their outputs agreed within 2e-7 in a probe). With untrained
    batch norm (the identity) the default exporter folds it away and drops the then all-zero
    convolution biases, a graph no trained model gives; its latency was within the noise of ours
    (1.002x at batch 1, 95% CI 0.993-1.008, in a probe with both creation orders).
  - The ratio is the median over rounds of our time over theirs in the same round, with a
    distribution-free 95% confidence interval for that median (binomial order statistics): after
    ONNX Runtime's fusions the two graphs run the same kernels, and differ by less than the noise.
    The interval covers the noise between rounds, not the shifts of up to 1% that memory placement
    gives a whole process, which the rotations average out but three processes cannot measure.
  - Achieved GFLOP/s = 2 x our MAC count x batch / latency, next to numpy's fp32 matmul rate
    measured in the same process in blocks between the model rounds, with the OpenBLAS kernel that
    numpy picks by itself (this workplace's OPENBLAS_CORETYPE pin is lifted for that child alone).
- Memory: `ru_maxrss` of the `cnndsl compile` child (os.wait4), against 4 bytes per parameter.
- Modern CNNs (`benchmarks/modern.py`): torchvision's own MobileNetV3-Large, EfficientNet-B0,
  ConvNeXt-Tiny and ResNet-50 (`benchmarks/torchvision_models.py`: batch norm statistics, norm
  scales and shifts and ConvNeXt's layer scales drawn like a trained network's) exported by
  `torch.onnx.export` with a symbolic batch, and our spec compiled with that model's state_dict
  saved unchanged (`cnndsl compile specs/NAME.cnn --weights state_dict.npz`); timed as in the
  inference section (same SessionOptions, one process per creation order, interleaved rounds,
  paired ratios with a 95% interval), without the matmul yardstick. The section fails unless every
  pair of models agrees within 1e-4 of the output's magnitude on the warm-up input; the agreement
  seen is in the table.

## Results

{table(results.rows, markdown=True)}
"""
    if results.notes:
        text += "\n## Notes\n\n" + "\n".join(f"- {n}" for n in results.notes) + "\n"
    # What follows KEPT in the page (analyses and probe figures written by hand) survives regeneration.
    if path.exists():
        old = path.read_text()
        if KEPT in old:
            text += "\n" + old[old.index(KEPT) :]
    path.write_text(text)


KEPT = "<!-- Kept when the page is regenerated: everything below is not written by benchmarks/run.py. -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="one model per section, fewer runs (about a minute)")
    size.add_argument("--tiny", action="store_true", help="a tiny network, one run each (the smoke test)")
    parser.add_argument("--no-torch", action="store_true", help="only the cnndsl parts, even if torch is installed")
    parser.add_argument(
        "--sections",
        default="lint,compile,scaling,inference,memory,modern",
        help="comma-separated subset of lint,compile,scaling,inference,memory,modern",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--json", metavar="FILE", help="write the raw samples as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="write the report (e.g. docs/performance.md)")
    parser.add_argument("--workdir", metavar="DIR", help="where to write models (default: a temporary directory)")
    args = parser.parse_args(argv)

    cfg = CONFIGS["quick" if args.quick else "tiny" if args.tiny else "full"]
    sections = set(args.sections.split(","))
    torch = not args.no_torch and all(importlib.util.find_spec(m) for m in ("torch", "torchinfo", "onnxscript"))
    info = machine()
    results = Results()
    results.raw.update(
        mode=cfg.mode,
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        machine=info,
        load_start=loadavg(),
        torch=torch,
    )
    print(
        f"cnndsl benchmark, {cfg.mode} mode, {info['nproc']} CPUs ({info['cpu']}), load {results.raw['load_start']}"
        + ("" if torch else "; torch/torchinfo/onnxscript not installed: cnndsl parts only"),
        flush=True,
    )
    checked = check_specs(
        {*cfg.lint_models, *cfg.compile_models, cfg.inference_model, cfg.memory_model}
        | ({cfg.floor_model} if cfg.floor_model else set())
    )
    if not torch:
        results.notes.append(
            "torch, torchinfo or onnxscript not installed: the PyTorch columns are empty (pip install -e '.[bench]')."
        )

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="cnndsl-bench-", dir=args.workdir))
    try:
        compile_bytecode()
        # Warm the page cache once (untimed), as a user's second run would find it.
        run_process([*_cnndsl(), "check", "-q", str(spec_path(cfg.lint_models[0]))])
        if torch:
            run_process([sys.executable, "-c", "import torch, torchinfo, onnxscript, torch.onnx"])
        baseline(cfg, results, torch)
        if "lint" in sections:
            lint(cfg, results, torch)
        if "compile" in sections:
            compile_(cfg, results, torch, work)
        if "scaling" in sections:
            scaling(cfg, results, work)
        if "inference" in sections:
            inference(cfg, results, torch, work, args.threads, checked[cfg.inference_model].total_macs)
        if "memory" in sections:
            memory(cfg, results, work)
        if "modern" in sections:
            from .modern import modern

            modern(cfg.mode, results, torch, work, args.threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.raw["elapsed_s"] = time.perf_counter() - started
    results.raw["load_end"] = loadavg()
    results.raw["rows"] = [r.__dict__ for r in results.rows]

    print(f"\n{table(results.rows)}\n")
    met = sum(r.met is True for r in results.rows)
    missed = sum(r.met is False for r in results.rows)
    print(
        f"{met} targets met, {missed} missed; {results.raw['elapsed_s']:.0f} s; "
        f"load {results.raw['load_start']} at the start, {results.raw['load_end']} at the end"
    )
    command = "python -m benchmarks.run" + {"quick": " --quick", "tiny": " --tiny"}.get(cfg.mode, "")
    if args.sections != parser.get_default("sections"):
        command += f" --sections {args.sections}"
    if args.json:
        Path(args.json).write_text(json.dumps(results.raw, indent=2, default=str))
    if args.markdown:
        write_markdown(Path(args.markdown), results, info, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
