"""Smoke tests of benchmarks/: the suite runs end to end in its tiny mode, so it cannot rot.

No test asserts a timing. The cnndsl-only parts run everywhere; the PyTorch side (the optional
`bench` extra: torch, torchinfo, onnxscript) is skipped cleanly where it is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnndsl
from benchmarks import PARAMS, specgen
from benchmarks import run as bench

ROOT = Path(__file__).resolve().parent.parent
HAS_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "torchinfo", "onnxscript"))
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
HAS_EMITTER = importlib.util.find_spec("cnndsl.onnx.emit") is not None


@pytest.mark.parametrize("kind", sorted(specgen.GENERATORS))
@pytest.mark.parametrize("layers", [10, 100])
def test_generated_specs_check_with_about_the_asked_layer_count(kind, layers):
    model = cnndsl.check_text(specgen.GENERATORS[kind](layers))
    assert layers - 7 <= len(model.layers) <= layers


def test_residual_spec_is_a_dag():
    layers = cnndsl.check_text(specgen.residual(50)).to_dict()["layers"]
    adds = [layer for layer in layers if layer["kind"] == "add"]
    assert len(adds) == 7 and all(len(layer["inputs"]) == 2 for layer in adds)


def test_specgen_cli_writes_a_spec():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.specgen", "chain", "12"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(cnndsl.check_text(result.stdout).layers) == 12


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_benchmark_specs_match_the_reference_parameter_counts(name):
    assert cnndsl.check_file(str(bench.spec_path(name))).trainable_params == PARAMS[name]


def test_floor_worker_writes_four_bytes_per_parameter(tmp_path):
    out = tmp_path / "w.bin"
    sample = bench.run_process([*bench._module("floor_worker"), "1000", str(out)], tmp_path)
    assert sample.bytes_written == 4000 and sample.maxrss_bytes > 0 and not out.exists()


def test_table_renders_text_and_markdown():
    rows = [
        bench.Row("lint", "check x", "1 ms", "torchinfo 2 s", 2000.0, "2000x faster", ">= 25x", True),
        bench.Row("memory", "a|b", "1 MB", "", None),
    ]
    assert "met" in bench.table(rows)
    markdown = bench.table(rows, markdown=True)
    assert markdown.startswith("| section") and "a\\|b" in markdown


def test_paired_ratio_takes_the_median_of_per_round_ratios_with_a_binomial_interval():
    ours = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    theirs = [1.0] * 6
    # n = 6: P(Binomial(6, 1/2) = 0) = 1/64 <= 2.5%, so the interval is the extreme order statistics.
    assert bench.paired_ratio(ours, theirs) == (3.5, 1.0, 6.0)
    assert bench.paired_ratio([2.0] * 5, [1.0] * 5) == (2.0, None, None)  # too few rounds for 95%
    # A shift shared by both models within a round cancels out.
    drift = [1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0]
    ratio, low, high = bench.paired_ratio([0.99 * d for d in drift], drift)
    assert ratio == pytest.approx(0.99) and low == pytest.approx(0.99) and high == pytest.approx(0.99)


def test_merge_reports_pools_the_rounds_of_both_session_orders():
    def report(cnndsl_times, torch_times, rate):
        return {
            "threads": 2,
            "rounds_s": {"1": {"cnndsl": cnndsl_times, "dynamo": torch_times}},
            "matmul_gflops": {"samples": [rate], "kernel": "k"},
        }

    merged = bench.merge_reports([report([1.0, 2.0], [3.0, 4.0], 10.0), report([5.0], [6.0], 30.0)])
    assert merged["rounds_s"]["1"] == {"cnndsl": [1.0, 2.0, 5.0], "dynamo": [3.0, 4.0, 6.0]}
    assert merged["latency_s"]["1"] == {"cnndsl": 2.0, "dynamo": 4.0}
    assert merged["matmul_gflops"] == {"median": 20.0, "max": 30.0, "samples": [10.0, 30.0], "kernel": "k"}


def test_merge_rounds_pools_the_creation_orders_and_keeps_the_largest_output_difference():
    from benchmarks import modern

    def report(first, second, diff):
        return {"rounds_s": {"1": {"cnndsl": first, "legacy": second}}, "max_rel_diff": {"1": diff}}

    merged = modern.merge_rounds(
        [report([1.0, 2.0], [3.0, 4.0], {"cnndsl": 0.0, "legacy": 1e-7}), report([5.0], [6.0], {"legacy": 0.0})]
    )
    assert merged["rounds_s"]["1"] == {"cnndsl": [1.0, 2.0, 5.0], "legacy": [3.0, 4.0, 6.0]}
    assert merged["latency_s"]["1"] == {"cnndsl": 2.0, "legacy": 4.0}
    assert merged["max_rel_diff"]["1"] == 1e-7


def test_markdown_keeps_the_hand_written_part_after_the_marker(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# old figures\n\n{bench.KEPT}\n\n## Analysis\n\nkept text\n")
    results = bench.Results()
    results.raw.update(date="d", mode="tiny", elapsed_s=1.0, load_start="0.5 0.5 0.5", load_end="0.5 0.5 0.5")
    info = dict.fromkeys(("nproc", "cpu", "python", "platform"), "x") | dict.fromkeys(
        ("cnndsl", "numpy", "onnx", "onnxruntime", "torch", "torchinfo", "onnxscript"), "v"
    )
    bench.write_markdown(page, results, info, "python -m benchmarks.run --tiny")
    text = page.read_text()
    assert "# old figures" not in text and text.count(bench.KEPT) == 1 and text.endswith("kept text\n")


@pytest.mark.skipif(not HAS_ORT, reason="needs onnxruntime")
@pytest.mark.parametrize("kind", ["layernorm", "hardswish", "gelu"])
def test_emission_probe_variants_compute_the_same_function(kind):
    pytest.importorskip("onnx")
    import numpy as np

    from benchmarks import emission

    x = np.random.default_rng(0).standard_normal((2, 8, 3, 3), dtype=np.float32)
    result = emission.measure(emission.PROBES[kind](8), x, emission.reference(kind, x), rounds=1, threads=1)
    assert len(result) == 2 and all(r["max_abs_error"] < 1e-5 for r in result.values())


def _run_tiny(tmp_path, *extra):
    report = tmp_path / "performance.md"
    raw = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--tiny", "--markdown", str(report), "--json", str(raw), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout, report.read_text(), json.loads(raw.read_text())


@pytest.mark.skipif(not (HAS_EMITTER and HAS_ORT), reason="needs cnndsl.onnx.emit and onnxruntime")
def test_tiny_run_without_torch(tmp_path):
    stdout, report, raw = _run_tiny(tmp_path, "--no-torch")
    assert "targets met" in stdout
    assert raw["torch"] is False
    assert {"lint", "compile", "scaling", "inference", "memory"} <= set(raw)
    assert "| section | measure |" in report and "Load average" in report
    assert set(raw["inference"]["latency_s"]["1"]) == {"cnndsl"}
    assert "modern" not in raw and "torch: not installed" in report


@pytest.mark.skipif(not HAS_TORCH, reason="the bench extra (torch, torchinfo, onnxscript) is not installed")
def test_torch_reference_models_match_torchvision_parameter_counts():
    from benchmarks import torch_models

    for name in PARAMS:
        torch_models.build(name)  # asserts the count


@pytest.mark.skipif(
    not (HAS_TORCH and HAS_EMITTER and HAS_ORT),
    reason="the bench extra (torch, torchinfo, onnxscript) is not installed",
)
def test_tiny_run_with_torch(tmp_path):
    _, report, raw = _run_tiny(tmp_path)
    assert raw["torch"] is True
    assert set(raw["compile"]["tiny"]) == {"cnndsl", "dynamo", "legacy"}
    assert "torchinfo" in raw["lint"]["tiny"]
    assert set(raw["inference"]["latency_s"]["2"]) == {"cnndsl", "legacy"}
    # The modern section's path: torchvision's model exported, our spec with its state_dict.
    squeezenet = raw["modern"]["squeezenet1_1"]
    assert set(squeezenet["latency_s"]["2"]) == {"cnndsl", "legacy"}
    assert max(squeezenet["max_rel_diff"].values()) < 1e-4
    assert "torch.onnx.export" in report
