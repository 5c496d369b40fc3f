"""A LeNet-style spec trained on scikit-learn's 8x8 digits, as a user trains one: `cnndsl export`
to PyTorch, train the module, save its state_dict as .npz. tests/test_export_cli.py compiles the
trained weights back; tests/test_precision.py compiles them in fp16 and int8 and measures the
held-out accuracy each keeps.

Needs torch and scikit-learn: callers skip without them (pytest.importorskip)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from cnndsl.cli import main

DIGITS_SPEC = """\
input 1x8x8
conv1: conv 3x3 16 pad 1 relu -> pool1: pool 2/2
-> conv2: conv 3x3 32 pad 1 relu -> pool2: pool 2/2
-> flatten -> fc1: fc 64 relu -> fc2: fc 10
"""


class TrainedDigits(NamedTuple):
    spec: Path  # digits.cnn
    weights: Path  # the trained state_dict, as .npz
    images: NDArray[np.float32]  # 1797 x 1 x 8 x 8 in [0, 1]
    labels: NDArray[np.int64]
    train: NDArray[np.int64]  # indices: 1400 for training (and int8 calibration), the rest held out
    held_out: NDArray[np.int64]
    logits: NDArray[np.float32]  # PyTorch's, on the held-out images
    network: Any  # the exported module's class

    def accuracy(self, logits: NDArray[Any]) -> float:
        """The share of held-out images whose most likely class in `logits` is their label."""
        return float((logits.argmax(1) == self.labels[self.held_out]).mean())


@functools.cache
def train_digits() -> TrainedDigits:
    """Write digits.cnn, export it to PyTorch, train it for 8 epochs (seeded, one thread) and save
    its state_dict as w.npz, all in a temporary directory removed at exit. Trained once per test
    process: the tests only read these files."""
    import torch
    from sklearn import datasets

    from tests.test_export_pytorch import load_module, root_class

    directory = Path(tempfile.mkdtemp(prefix="cnndsl-digits-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    spec = directory / "digits.cnn"
    spec.write_text(DIGITS_SPEC)
    assert main(["export", str(spec), "-o", str(directory / "digits.py"), "-q"]) == 0
    network = root_class(load_module((directory / "digits.py").read_text(), "digits"))

    digits = datasets.load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    order = np.random.default_rng(0).permutation(len(images))
    train, held_out = order[:1400], order[1400:]
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same result on any machine, and no contention on a shared one
    model = network()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs, labels = torch.from_numpy(images[train]), torch.from_numpy(digits.target[train])
    model.train()
    for _ in range(8):
        for batch in torch.randperm(len(train)).split(64):
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
            loss.backward()
            optimiser.step()
    torch.set_num_threads(threads)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(images[held_out])).numpy()
    weights = directory / "w.npz"
    np.savez(weights, **{k: v.numpy() for k, v in model.state_dict().items()})
    return TrainedDigits(spec, weights, images, digits.target, train, held_out, logits, network)
