"""`cnndsl run --compare`: a converted model against its fp32 original (or any reference model) on
the same input: how far its outputs are (max abs difference, top-1 agreement) and how much faster.

Both sessions are timed in turn, run by run (after a warm-up each), so that the load of the
machine, which changes while they run, weighs on both alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..diagnostics import first_line
from ..runtime.failure import fail
from ..runtime.inputs import as_fed, only_input
from ..runtime.session import open_session


@dataclass(frozen=True)
class OutputAgreement:
    """One output of both models: the largest absolute difference, and for a classifier's output
    (batch x classes) the share of samples whose most likely class is the same."""

    name: str
    max_abs_difference: float
    top1_agreement: float | None
    samples: int


@dataclass(frozen=True)
class Comparison:
    reference: str  # what the model was compared with
    outputs: list[OutputAgreement]
    latencies: list[float]  # seconds, the model's timed runs
    reference_latencies: list[float]

    @property
    def speed_ratio(self) -> float:
        """How many times faster the model runs than the reference (median latencies)."""
        return statistics.median(self.reference_latencies) / statistics.median(self.latencies)

    def render(self, precision: str) -> list[str]:
        lines = [f"compare: with {self.reference}, on the same input"]
        for output in self.outputs:
            agreement = ""
            if output.top1_agreement is not None:
                same = round(output.top1_agreement * output.samples)
                agreement = f", top-1 agreement {output.top1_agreement:.1%} ({same} of {output.samples} samples)"
            lines.append(f"  {output.name}: max abs difference {output.max_abs_difference:.4g}{agreement}")
        median, reference = statistics.median(self.latencies), statistics.median(self.reference_latencies)
        lines.append(
            f"  speed: {precision} median {median * 1e3:.3f} ms, reference {reference * 1e3:.3f} ms: "
            f"{self.speed_ratio:.2f}x the reference's speed ({len(self.latencies)} interleaved runs each)"
        )
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "outputs": [
                {
                    "name": output.name,
                    "max_abs_difference": output.max_abs_difference,
                    "top1_agreement": output.top1_agreement,
                    "samples": output.samples,
                }
                for output in self.outputs
            ],
            "median_ms": statistics.median(self.latencies) * 1e3,
            "reference_median_ms": statistics.median(self.reference_latencies) * 1e3,
            "speed_ratio": self.speed_ratio,
            "runs": len(self.latencies),
        }


def compare_models(
    model: bytes | str,
    reference: bytes | str,
    x: NDArray[np.float32],
    *,
    reference_name: str,
    device: str = "cpu",
    repeat: int = 10,
) -> Comparison:
    """Run `model` and `reference` (serialized bytes or .onnx paths) on `x`, interleaved `repeat`
    times after a warm-up each, and compare their outputs output by output."""
    sessions = [open_session(source, device, None) for source in (model, reference)]
    feeds = []
    for session in sessions:
        spec = only_input(session)
        feeds.append({spec.name: as_fed(spec, x)})
    names = [[output.name for output in session.get_outputs()] for session in sessions]
    if len(names[0]) != len(names[1]):
        raise fail(
            "E506",
            f"the model has {len(names[0])} outputs and {reference_name} {len(names[1])}: they are not comparable",
        )
    timings: list[list[float]] = [[], []]
    results: list[list[Any]] = [[], []]
    try:
        for which, session in enumerate(sessions):
            results[which] = session.run(names[which], feeds[which])  # warm-up
        for _ in range(repeat):
            for which, session in enumerate(sessions):
                start = time.perf_counter()
                results[which] = session.run(names[which], feeds[which])
                timings[which].append(time.perf_counter() - start)
    except Exception as problem:
        raise fail("E506", f"ONNX Runtime failed to run the models compared: {first_line(problem)}") from None
    outputs = [
        _agreement(name, np.asarray(ours), np.asarray(theirs))
        for name, ours, theirs in zip(names[0], results[0], results[1], strict=True)
    ]
    return Comparison(reference_name, outputs, timings[0], timings[1])


def _agreement(name: str, ours: NDArray[Any], theirs: NDArray[Any]) -> OutputAgreement:
    if ours.shape != theirs.shape:
        raise fail(
            "E506", f"output '{name}' is {ours.shape} in the model and {theirs.shape} in the reference: not comparable"
        )
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    difference = float(np.abs(a - b).max()) if a.size else 0.0
    samples = a.shape[0] if a.ndim else 1
    top1 = float((a.argmax(axis=1) == b.argmax(axis=1)).mean()) if a.ndim == 2 and a.shape[1] > 1 else None
    return OutputAgreement(name, difference, top1, samples)
