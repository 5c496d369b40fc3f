"""`cnndsl profile`: ONNX Runtime's per-node profile mapped back to the spec's layers and lines."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("onnxruntime")

from cnndsl.cli import main
from cnndsl.runtime.profile import profile_file

SPEC = (
    "input 3x32x32\n"
    "conv 3x3 16 pad 1 nobias -> bn -> relu\n"
    "x = conv 3x3 16 pad 1 -> relu\n"
    "pool avg global -> flatten -> fc 10\n"
)


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "small.cnn"
    path.write_text(SPEC)
    return path


def test_every_layer_doing_arithmetic_is_in_one_row(spec_file):
    profile = profile_file(spec_file, device="cpu", repeat=2)
    model = profile.model
    covered = [n for row in profile.layers for n in (row.node, *row.fused)]
    assert len(covered) == len(set(covered))  # no layer in two rows
    assert {n for n in model.layers if model.stats[n].macs} <= set(covered)
    # a row's FLOPs are twice the MACs of its layers: the arithmetic done in its time
    assert sum(row.flops for row in profile.layers) == 2 * model.total_macs
    assert profile.matmul_flops_per_second > 0
    assert all(row.seconds >= 0 for row in profile.layers)


def test_source_lines_are_the_specs(spec_file):
    profile = profile_file(spec_file, device="cpu", repeat=1, batch=2)
    assert profile.batch == 2
    assert {line.line for line in profile.lines} <= {2, 3, 4}
    assert all(line.text == SPEC.splitlines()[line.line - 1] for line in profile.lines)


def test_json_output(spec_file, capsys):
    assert main(["profile", str(spec_file), "--device", "cpu", "--repeat", "1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["device"] == "cpu" and data["runs"] == 1
    assert {"name", "kind", "fused", "ms", "share", "gflops", "of_matmul", "path", "line"} <= set(data["layers"][0])
    assert (
        abs(
            sum(r["share"] for r in data["layers"])
            + sum(n["ms"] for n in data["runtime_nodes"]) / data["kernel_ms"]
            - 1
        )
        < 1e-6
    )


def test_text_output_names_layers_and_lines(spec_file, capsys):
    assert main(["profile", str(spec_file), "--device", "cpu", "--repeat", "1"]) == 0
    shown = capsys.readouterr().out
    assert "matmul reference:" in shown and "Source lines by time:" in shown
    assert "small.cnn:2" in shown


def test_cuda_absent_is_e505(spec_file, capsys):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here")
    assert main(["profile", str(spec_file), "--device", "cuda"]) == 1
    assert "error[E505]" in capsys.readouterr().err


def test_without_onnxruntime_is_e602(spec_file, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    assert main(["profile", str(spec_file), "--device", "cpu"]) == 1
    assert "error[E602]: ONNX Runtime is not installed" in capsys.readouterr().err
