"""`cnndsl profile FILE`: the layers by time, their GFLOP/s against the device's matmul rate, and the
source lines by time; text for people, JSON with --format json (cnndsl.runtime.profile measures)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..layers.base import shape_text

if TYPE_CHECKING:
    from ..runtime.profile import LayerTime, Profile

SHOWN_ROWS = 20  # text output; JSON has every row


def render(profile: Profile) -> str:
    model, matmul = profile.model, profile.matmul_flops_per_second
    measured = profile.node_seconds or 1.0
    out = [
        f"{model.name} on {profile.device} ({profile.provider}), batch {profile.batch}, input "
        f"{shape_text(model.input_shape)}: {profile.run_seconds * 1e3:,.2f} ms per run "
        f"(median of {profile.runs}; kernels {measured * 1e3:,.2f} ms)",
        f"matmul reference: {matmul / 1e9:,.1f} GFLOP/s (ONNX Runtime Gemm 1024x1024x1024 on {profile.device})",
        "",
    ]
    header = ("Layer", "Kind", "ms", "Share", "GFLOP/s", "of matmul", "Line", "Fused into it")
    cells = [header] + [_cells(row, measured, matmul) for row in profile.layers[:SHOWN_ROWS]]
    widths = [max(len(cell[i]) for cell in cells) for i in range(len(header))]
    right = {2, 3, 4, 5}
    for cell in cells:
        out.append(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cell, widths, strict=True))
            ).rstrip()
        )
    hidden = len(profile.layers) - SHOWN_ROWS
    if hidden > 0:
        out.append(f"... {hidden} more layers (--format json lists all)")
    if profile.runtime_nodes:
        inserted = sum(profile.runtime_nodes.values())
        out.append(
            f"ONNX Runtime's own nodes ({', '.join(sorted(profile.runtime_nodes))}): "
            f"{inserted * 1e3:,.3f} ms, {100 * inserted / measured:.1f}%"
        )
    out += ["", "Source lines by time:"]
    for line in profile.lines[:10]:
        out.append(
            f"  {os.path.basename(line.path)}:{line.line}  {line.seconds * 1e3:,.2f} ms  "
            f"{100 * line.seconds / measured:5.1f}%  {line.text}"
        )
    return "\n".join(out)


def _cells(row: LayerTime, measured: float, matmul: float) -> tuple[str, ...]:
    rate = row.flops / row.seconds if row.seconds > 0 else 0.0
    return (
        row.node.name,
        row.node.kind,
        f"{row.seconds * 1e3:,.3f}",
        f"{100 * row.seconds / measured:.1f}%",
        f"{rate / 1e9:,.1f}" if row.flops else "-",
        f"{rate / matmul:.2f}" if row.flops else "-",
        f"{os.path.basename(row.node.source.path)}:{row.node.source.line_col(row.node.span.start)[0]}",
        ", ".join(n.name for n in row.fused),
    )


def profile_json(profile: Profile) -> dict[str, Any]:
    measured = profile.node_seconds or 1.0
    return {
        "model": profile.model.name,
        "device": profile.device,
        "provider": profile.provider,
        "batch": profile.batch,
        "runs": profile.runs,
        "run_ms": profile.run_seconds * 1e3,
        "kernel_ms": profile.node_seconds * 1e3,
        "matmul_gflops": profile.matmul_flops_per_second / 1e9,
        "layers": [
            {
                "name": row.node.name,
                "kind": row.node.kind,
                "fused": [n.name for n in row.fused],
                "ms": row.seconds * 1e3,
                "share": row.seconds / measured,
                "flops": row.flops,
                "gflops": row.flops / row.seconds / 1e9 if row.seconds > 0 else None,
                "of_matmul": row.flops / row.seconds / profile.matmul_flops_per_second if row.seconds > 0 else None,
                "path": row.node.source.path,
                "line": row.node.source.line_col(row.node.span.start)[0],
            }
            for row in profile.layers
        ],
        "runtime_nodes": [{"name": name, "ms": spent * 1e3} for name, spent in profile.runtime_nodes.items()],
        "lines": [
            {
                "path": line.path,
                "line": line.line,
                "text": line.text,
                "ms": line.seconds * 1e3,
                "share": line.seconds / measured,
            }
            for line in profile.lines
        ],
    }
