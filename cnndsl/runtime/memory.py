"""How much memory `cnndsl run` needs, checked before anything is allocated (E508).

For a spec the estimate is exact enough to trust, from the checker's shapes: the input, the
weights twice (the model compiled in memory and ONNX Runtime's copy) and the most activations
alive at once, walking the layers in order (the memory analysis's inference peak). For an .onnx
file only the input and outputs are known without running it. The limit is `--max-memory`, by
default half the physical memory.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, NamedTuple

from ..analysis import memory as memory_analysis
from ..diagnostics import byte_size
from ..ir import Node
from ..model import CheckedModel
from .failure import fail
from .inputs import InputSpec, PlannedInput

if TYPE_CHECKING:
    import onnxruntime

_FALLBACK_MEMORY_LIMIT = 8 * 2**30
_NUMPY_LIMIT = 2**63 - 1  # numpy sizes are int64: no array can hold more bytes

_ELEMENT_BYTES = {
    "tensor(float)": 4,
    "tensor(double)": 8,
    "tensor(float16)": 2,
    "tensor(bfloat16)": 2,
    "tensor(int8)": 1,
    "tensor(uint8)": 1,
    "tensor(int16)": 2,
    "tensor(uint16)": 2,
    "tensor(int32)": 4,
    "tensor(uint32)": 4,
    "tensor(int64)": 8,
    "tensor(uint64)": 8,
    "tensor(bool)": 1,
}


class Need(NamedTuple):
    """What a run needs: its parts, shown in the message, and notes on how they were counted."""

    parts: list[tuple[str, int]]  # (what, bytes)
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(size for _, size in self.parts)


def default_memory_limit() -> int:
    """What `run` may use by default: half the machine's physical memory, or 8 GiB where the
    operating system does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
        return _FALLBACK_MEMORY_LIMIT
    return pages * page_size // 2 if pages > 0 and page_size > 0 else _FALLBACK_MEMORY_LIMIT


def check_memory(need: Need, limit: int) -> None:
    """E508 when the run needs more than `limit` bytes, or more than any numpy array can hold."""
    total = need.total
    if total <= min(limit, _NUMPY_LIMIT):
        return
    parts = ", ".join(f"{what} {byte_size(size)}" for what, size in need.parts)
    if total > _NUMPY_LIMIT:  # no limit can allow it: numpy's sizes are 64-bit
        over, help = f"more than 64-bit sizes can address ({byte_size(_NUMPY_LIMIT)})", "use a smaller --batch or input"
    else:
        over, help = (
            f"over the limit of {byte_size(limit)}",
            "use a smaller --batch or input, or raise the limit with --max-memory BYTES (the default is half "
            "the physical memory)",
        )
    raise fail("E508", f"running the model needs {byte_size(total)} ({parts}), {over}", notes=need.notes, help=help)


def spec_needs(model: CheckedModel, planned: PlannedInput) -> Need:
    """Input, weights and the activations alive at once, from the checker's exact shapes."""
    batch = planned.shape[0]
    peak, at = peak_activation_values(model)
    weights = 2 * model.param_bytes  # the model compiled in memory and ONNX Runtime's copy of it
    notes = [f"input {'x'.join(map(str, planned.shape))} as float32"]
    if at is not None:
        notes.append(f"the most activations alive at once are those after '{at.name}', for a batch of {batch}")
    parts = [_input_part(planned), ("largest live activations", 4 * batch * peak)]
    if weights:
        parts.append(("weights", weights))
        notes.append(
            f"weights {byte_size(model.param_bytes)}, counted twice: the model compiled in memory "
            f"and ONNX Runtime's copy"
        )
    return Need(parts, tuple(notes))


def onnx_needs(session: onnxruntime.InferenceSession, spec: InputSpec, planned: PlannedInput) -> Need:
    """Input and outputs only: an .onnx file's weights are loaded already, and its inner tensors'
    shapes are not known without running it."""
    batch_name = spec.shape[0] if spec.shape else None
    outputs, unknown = 0, []
    for output in session.get_outputs():
        dims = [planned.shape[0] if d == batch_name and not isinstance(d, int) else d for d in output.shape or []]
        element = _ELEMENT_BYTES.get(output.type)
        if element is None or not all(isinstance(d, int) and d >= 0 for d in dims):
            unknown.append(output.name)
            continue
        outputs += element * math.prod(dims)
    notes = ["for an .onnx model the estimate covers the input and outputs only"]
    if unknown:
        notes.append(f"outputs of unknown size are not counted: {', '.join(unknown)}")
    return Need([_input_part(planned), ("outputs", outputs)], tuple(notes))


def peak_activation_values(model: CheckedModel) -> tuple[int, Node | None]:
    """The most activation values (per sample) alive at once and the layer where that peak is
    reached: the inference peak of the memory analysis (cnndsl.analysis.memory, one definition),
    without the input, which `run` holds throughout and counts on its own."""
    return memory_analysis.peak_activation_values(model.graph, model.shapes, count_input=False)


def _input_part(planned: PlannedInput) -> tuple[str, int]:
    return "input", planned.nbytes + planned.extra_bytes
