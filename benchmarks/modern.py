"""Section 6 of benchmarks/run.py: ONNX Runtime latency of our modern CNNs against torchvision's.

For each model (MobileNetV3-Large, EfficientNet-B0, ConvNeXt-Tiny and ResNet-50 in the full run),
torchvision's own model is built with trained-like statistics and layer scales
(`benchmarks/torchvision_models.py`) and exported by `torch.onnx.export` (the default dynamo
exporter, and the legacy one in the full run), its state_dict saved unchanged; our spec is compiled
with those arrays (`cnndsl compile specs/NAME.cnn --weights state_dict.npz`, loaded by torchvision's
module paths). The models are then timed as the inference section times ResNet-50
(`benchmarks/ort_worker.py`): one process per rotation of the session creation order, the same
SessionOptions, interleaved rounds, paired ratios ours / theirs with a 95% interval. The outputs of
every pair are compared on the warm-up input: a model that does not load torchvision's weights, or
computes something else, fails the section instead of being timed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODERN_TARGET = 1.00  # our latency / the torch-exported latency
AGREEMENT = 1e-4  # largest output difference between the models, relative to the output's magnitude


@dataclass(frozen=True)
class ModernConfig:
    models: tuple[str, ...]
    exporters: tuple[str, ...]
    batches: tuple[int, ...]
    repeat: int  # rounds per batch size, over all the creation-order processes together


MODELS = ("mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "resnet50")
MODERN_CONFIGS = {
    "full": ModernConfig(MODELS, ("dynamo", "legacy"), (1, 8), 24),
    "quick": ModernConfig(MODELS, ("dynamo",), (1, 8), 12),
    # The smoke test's: the cheapest torchvision model whose spec loads its state_dict.
    "tiny": ModernConfig(("squeezenet1_1",), ("legacy",), (1, 2), 1),
}


def merge_rounds(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The ort_worker reports of the creation orders pooled: every round, medians over the pool,
    and the largest output difference seen between any two models."""
    merged: dict[str, Any] = {"latency_s": {}, "rounds_s": {}, "max_rel_diff": {}}
    for batch in reports[0]["rounds_s"]:
        rounds = {
            name: [t for report in reports for t in report["rounds_s"][batch][name]]
            for name in reports[0]["rounds_s"][batch]
        }
        merged["rounds_s"][batch] = rounds
        merged["latency_s"][batch] = {name: statistics.median(times) for name, times in rounds.items()}
        merged["max_rel_diff"][batch] = max(max(report["max_rel_diff"][batch].values()) for report in reports)
    return merged


def modern(mode: str, results: Any, torch: bool, work: Path, threads: int) -> None:
    """Times the models of `mode`'s ModernConfig; rows go to `results` (benchmarks.run.Results)."""
    from . import run as bench

    print("6. modern CNNs: ONNX Runtime, our spec with torchvision's weights vs torchvision exported", flush=True)
    if not torch:
        results.add("modern", "modern CNNs", "", "torch: not installed")
        return
    cfg = MODERN_CONFIGS[mode]
    out = work / "modern"
    out.mkdir()
    for name in cfg.models:
        directory = out / name
        directory.mkdir()
        weights = directory / "state_dict.npz"
        models = {"cnndsl": directory / "cnndsl.onnx"}
        for index, exporter in enumerate(cfg.exporters):
            models[exporter] = directory / exporter / "model.onnx"
            models[exporter].parent.mkdir()
            saving = ["--trained-like", str(weights)] if index == 0 else []
            bench.run_process(
                [
                    *bench._module("torch_worker"),
                    "export",
                    name,
                    exporter,
                    str(models[exporter]),
                    "--dynamic-batch",
                    "--torchvision",
                    *saving,
                ]
            )
        spec = str(bench.spec_path(name))
        bench.run_process([*bench._cnndsl(), "compile", spec, "-o", str(models["cnndsl"]), "--weights", str(weights)])
        # The yardstick matmul belongs to the inference section; here it is left out (size 0).
        report = merge_rounds(bench.ort_worker_rounds(models, threads, cfg.batches, cfg.repeat, 0))
        results.raw.setdefault("modern", {})[name] = report
        worst = max(report["max_rel_diff"].values())
        if worst > AGREEMENT:
            raise bench.ChildFailed(
                f"{name}: our model's output and torch's differ by {worst:.2e} of its magnitude "
                f"(more than {AGREEMENT:g}): not the same network or not the same weights"
            )
        targeted = name in MODELS
        for batch in cfg.batches:
            latency = report["latency_s"][str(batch)]
            rounds = report["rounds_s"][str(batch)]
            results.add(
                "modern",
                f"{name} batch {batch}",
                bench._s(latency["cnndsl"]),
                f"outputs agree within {worst:.0e}",
            )
            for exporter in cfg.exporters:
                ratio, low, high = bench.paired_ratio(rounds["cnndsl"], rounds[exporter])
                interval = f" (95% CI {low:.3f}-{high:.3f})" if low is not None else ""
                results.add(
                    "modern",
                    f"  vs torchvision, torch {exporter} export, batch {batch}",
                    "",
                    bench._s(latency[exporter]),
                    ratio,
                    f"{ratio:.3f}x its latency{interval}",
                    f"<= {MODERN_TARGET:.2f}" if targeted else "",
                    (ratio <= MODERN_TARGET) if targeted else None,
                )
