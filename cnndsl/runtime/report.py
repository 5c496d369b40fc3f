"""`cnndsl run`'s report: the model, device and input, each output described, and the latency.

An output is described by statistics over its finite values (NaN and infinities are counted, not
averaged), or by a few of its values when it holds no numbers (ONNX Runtime returns string tensors
as object arrays). A classifier's output also gets its top classes per sample: an output made by a
softmax layer (a spec), one that already holds probabilities (an .onnx model), or any 2-D output
when `--top-k` asks, softmaxing logits first.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..diagnostics import Diagnostic, byte_size, shorten
from ..model import CheckedModel

_NUMERIC_KINDS = "biuf"  # bool, integers, floating point: what statistics are computed for
_SHOWN_VALUES = 4
_SHOWN_SAMPLES = 4
_DEFAULT_TOP_K = 5


@dataclass
class OutputStat:
    name: str
    array: NDArray[Any]
    top: list[list[tuple[int, float]]] = field(default_factory=list)  # per sample: (index, probability)
    softmaxed: bool = False

    def render(self) -> list[str]:
        a = self.array
        lines = [f"output:  {self.name} {'x'.join(map(str, a.shape))} {_type_text(a)}"]
        if self.top:
            source = "softmax of the outputs" if self.softmaxed else "outputs are probabilities"
            for index, top in enumerate(self.top[:_SHOWN_SAMPLES]):
                cells = ", ".join(f"{i} ({p:.4f})" for i, p in top)
                lines.append(f"  top-{len(top)} sample {index}: {cells}")
            if len(self.top) > _SHOWN_SAMPLES:
                lines.append(f"  ... {len(self.top) - _SHOWN_SAMPLES} more samples")
            lines.append(f"  ({source})")
        if a.dtype.kind not in _NUMERIC_KINDS:
            lines.append(_values_text(a))
        elif a.size:
            lines.extend(_statistics(a))
        return lines


@dataclass
class RunReport:
    model: str
    device: str
    providers: list[str]
    input_name: str
    input_shape: tuple[int, ...]
    input_source: str
    outputs: list[OutputStat]
    latencies: list[float]  # seconds, one per timed run
    warnings: list[Diagnostic] = field(default_factory=list)  # the spec's lint, for a .cnn
    precision: str = "fp32"  # read from the model run (cnndsl.runtime.precision)
    model_bytes: int = 0  # its size: serialized, or on disk with its external data
    input_type: str = "float32"  # what was fed: float16 for an fp16 model with float16 inputs

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)

    def render(self, context: bool = True) -> str:
        """The report; without `context` (`run -q`) only the outputs and the latency."""
        shape = "x".join(map(str, self.input_shape))
        lines = (
            [
                f"model:   {self.model}",
                f"  precision {self.precision}, {byte_size(self.model_bytes)}",
                f"device:  {self.device} ({self.providers[0]})",
                f"input:   {self.input_name} {shape} {self.input_type}, {self.input_source}",
            ]
            if context
            else []
        )
        for output in self.outputs:
            lines.extend(output.render())
        runs = len(self.latencies)
        lines.append(
            f"latency: median {self.median * 1e3:.3f} ms over {runs} run{'s' if runs != 1 else ''} "
            f"(min {min(self.latencies) * 1e3:.3f} ms, max {max(self.latencies) * 1e3:.3f} ms; "
            f"after 1 warm-up run), batch {self.input_shape[0]}"
        )
        return "\n".join(lines)


def softmax_outputs(model: CheckedModel) -> set[str]:
    """The outputs a softmax produces (dropout after it changes nothing at inference)."""
    names = set()
    for name, node in model.graph.outputs:
        while node.layer is not None and node.layer.training_only and node.inputs:
            node = node.inputs[0]
        if node.layer is not None and node.layer.output_function() == "softmax":
            names.add(name)
    return names


def describe_output(name: str, array: NDArray[Any], softmax_names: set[str] | None, top_k: int | None) -> OutputStat:
    """Statistics, and the top classes when the output is a classifier's: made by a softmax layer
    (a spec: `softmax_names` lists them), already probabilities (an .onnx model: None), or when
    `top_k` asks for them."""
    stat = OutputStat(name, array)
    if array.ndim != 2 or array.shape[1] < 2 or array.dtype.kind != "f" or not np.isfinite(array).all():
        return stat
    values = array.astype(np.float64)
    probabilities = _are_probabilities(values)
    automatic = name in softmax_names if softmax_names is not None else probabilities
    if top_k is None and not automatic:
        return stat
    if not (probabilities or (softmax_names is not None and name in softmax_names)):
        values = np.exp(values - values.max(axis=1, keepdims=True))
        values /= values.sum(axis=1, keepdims=True)
        stat.softmaxed = True
    k = min(top_k or _DEFAULT_TOP_K, values.shape[1])
    for row in values:
        order = np.argsort(-row, kind="stable")[:k]
        stat.top.append([(int(i), float(row[i])) for i in order])
    return stat


def _are_probabilities(values: NDArray[np.float64]) -> bool:
    return bool((values >= 0).all() and (values <= 1).all() and np.allclose(values.sum(axis=1), 1.0, atol=1e-3))


def _type_text(array: NDArray[Any]) -> str:
    """The element type as ONNX would say it: ONNX Runtime returns string tensors as object arrays."""
    if array.dtype.kind in "US" or (array.dtype.kind == "O" and all(isinstance(v, str) for v in array.flat)):
        return "string"
    return str(array.dtype)


def _values_text(array: NDArray[Any]) -> str:
    """A few values of a non-numeric output, instead of statistics."""
    shown = [shorten(repr(str(v) if isinstance(v, str) else v), 40) for v in array.flat[:_SHOWN_VALUES]]
    more = ", ..." if array.size > _SHOWN_VALUES else ""
    return f"  values: {', '.join(shown)}{more} (not numbers: no statistics)"


def _statistics(array: NDArray[Any]) -> list[str]:
    values = array.astype(np.float64) if array.dtype.kind in "biu" else array
    finite = values[np.isfinite(values)]
    lines = []
    if finite.size:
        lines.append(
            f"  min {finite.min():.6g}, max {finite.max():.6g}, mean {finite.mean():.6g}, std {finite.std():.6g}"
        )
    if finite.size != values.size:
        lines.append(f"  {values.size - finite.size:,} values are NaN or infinite")
    return lines
