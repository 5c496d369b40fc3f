"""The ONNX versions a model is stamped with: its IR version and operator set (opset).

The default opset is the newest one onnxruntime runs, so that a compiled model always loads. A
newer opset may be asked for, up to the newest the installed onnx knows; an older one down to
MIN_OPSET, the oldest every layer kind can be emitted at (a layer needing a newer opset says so
itself, through the tape: see cnndsl.onnx.tape). The onnx and onnxruntime packages are imported
only for an opset above the default, or for a message: compiling at the default imports neither.
"""

from __future__ import annotations

from ..diagnostics import CnnError, error
from ..layers.base import MIN_OPSET

# onnx 1.23 stamps IR 14 and opset 28 by default; onnxruntime 1.31 loads IR <= 13 and opset <= 26.
IR_VERSION = 10
NEWEST_RUNTIME_OPSET = 26


def default_opset() -> int:
    """The newest opset onnxruntime runs (every onnx cnndsl supports, >= 1.23, knows it)."""
    return NEWEST_RUNTIME_OPSET


def newest_onnx_opset() -> int:
    """The newest opset the installed onnx knows (imports onnx: only for an opset above the default)."""
    import onnx.defs

    return onnx.defs.onnx_opset_version()


def newest_runtime_opset() -> int:
    """The newest opset the installed onnxruntime runs: the newest version among the ONNX-domain
    operator schemas it was built with (onnxruntime 1.32 runs 28); NEWEST_RUNTIME_OPSET without
    onnxruntime (or one without the schema list). Imports onnxruntime: for messages only."""
    try:
        from onnxruntime.capi import _pybind_state

        schemas = _pybind_state.get_all_operator_schema()
    except Exception:  # not installed, or a build without the list: any failure means "unknown"
        return NEWEST_RUNTIME_OPSET
    versions: list[int] = [schema.since_version for schema in schemas if schema.domain in ("", "ai.onnx")]
    return max(versions, default=NEWEST_RUNTIME_OPSET)


def requested_opset(opset: int | None) -> int:
    """The opset to emit: the default for None; E504 for an opset cnndsl cannot emit."""
    if opset is None:
        return default_opset()
    if isinstance(opset, bool) or not isinstance(opset, int):  # a program's mistake, not the spec's
        raise TypeError(f"opset must be an int or None, got {type(opset).__name__}")
    # ask onnx only about opsets newer than the default
    valid = opset >= MIN_OPSET and (opset <= NEWEST_RUNTIME_OPSET or opset <= newest_onnx_opset())
    if not valid:
        newest = newest_onnx_opset()
        raise CnnError(
            [
                error(
                    "E504",
                    f"opset {opset} is not supported: cnndsl emits opsets {MIN_OPSET} to {newest}",
                    None,
                    notes=[f"onnxruntime runs opsets up to {newest_runtime_opset()}"],
                    help=f"leave --opset out for the default ({default_opset()})",
                )
            ]
        )
    return opset
