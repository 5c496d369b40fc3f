"""`cnndsl import` timings on torchvision's ResNet-152 exported by torch.onnx's TorchScript exporter
(docs/import.md records them): `python -m benchmarks.import_onnx`.

- the whole process, `cnndsl import resnet152.onnx -o ... --weights-out ...` (Python's start, the
  onnx package's import, reading, structure and block discovery, writing the spec and the .npz);
- `cnndsl.importer.import_model` alone, in this process (reading, shape inference, mapping, structure,
  block discovery and checking the structured spec to key the weights; nothing written).
Each figure is the best of three runs. The whole process is also timed in CPU seconds (user and
system, from the operating system's accounting of the child), which other work sharing the machine
disturbs less than the wall clock.
"""

from __future__ import annotations

import pathlib
import resource
import subprocess
import sys
import tempfile

from benchmarks.timing import best

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = 3


def export(path: pathlib.Path) -> None:
    import torch

    sys.path.insert(0, str(ROOT))
    from benchmarks.torchvision_models import build

    model = build("resnet152").eval()
    torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=False, input_names=["x"])


def _cpu_seconds(command: list[str]) -> float:
    """The user and system CPU time of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:  # 241 MB of model and 230 MB of weights, removed after
        measure(pathlib.Path(directory))


def measure(out: pathlib.Path) -> None:
    model = out / "resnet152.onnx"
    export(model)
    command = [sys.executable, "-m", "cnndsl", "import", str(model), "-o", str(out / "r.cnn")]
    command += ["--weights-out", str(out / "r.npz"), "-q"]
    whole = best(lambda: subprocess.run(command, check=True), RUNS)
    cpu = min(_cpu_seconds(command) for _ in range(RUNS))
    from cnndsl.importer import import_model

    alone = best(lambda: import_model(str(model)), RUNS)
    lines = [line for line in (out / "r.cnn").read_text().splitlines() if line.strip() and not line.startswith("#")]
    print(f"ResNet-152 (TorchScript export, {model.stat().st_size / 1e6:.0f} MB): {len(lines)} spec lines")
    print(f"whole process: {whole:.2f} s ({cpu:.2f} s of CPU); import_model alone: {alone:.2f} s")


if __name__ == "__main__":
    main()
