"""split picks one part of the channels, as torch.chunk and torch.split on dim 1 do (ShuffleNetV2's
channel split): checked against torch on flat vectors and 1D, 2D and 3D maps, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")

SHAPES = [(6,), (6, 5), (6, 4, 3), (6, 3, 2, 4)]


def run_parts(shape: tuple[int, ...], parts: str, count: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The input and every part of `split PARTS part I`, each part named as a tensor."""
    lines = [f"input {'x'.join(map(str, shape))}"]
    lines += [f"part{i} = in -> split {parts} part {i}" for i in range(count)]
    lines.append(f"output {', '.join(f'part{i}' for i in range(count))}")
    proto = cnndsl.compile_model(cnndsl.check_text("\n".join(lines) + "\n"))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(len(shape)).standard_normal((2, *shape)).astype(np.float32)
    return x, session.run(None, {session.get_inputs()[0].name: x})


@pytest.mark.parametrize("shape", SHAPES)
def test_equal_parts_are_torch_chunk(shape):
    torch = pytest.importorskip("torch")
    x, parts = run_parts(shape, "3", 3)
    expected = torch.chunk(torch.from_numpy(x), 3, dim=1)
    assert len(parts) == len(expected) == 3
    for got, want in zip(parts, expected, strict=True):
        np.testing.assert_array_equal(got, want.numpy())


@pytest.mark.parametrize("shape", SHAPES)
def test_given_sizes_are_torch_split(shape):
    torch = pytest.importorskip("torch")
    x, parts = run_parts(shape, "[1 4 1]", 3)
    expected = torch.split(torch.from_numpy(x), [1, 4, 1], dim=1)
    for got, want in zip(parts, expected, strict=True):
        np.testing.assert_array_equal(got, want.numpy())


def test_shufflenet_v2_halves_join_back_to_the_input():
    """ShuffleNetV2's stride-1 unit: one half passes, the other is transformed, and they are joined."""
    text = (
        "input 116x28x28\nleft = in -> split 2 part 0\nright = in -> split 2 part 1 -> conv 1 58\nconcat left right\n"
    )
    model = cnndsl.check_text(text)
    shapes = {node.name: model.shapes[node] for node in model.layers}
    assert shapes == {"split1": (58, 28, 28), "split2": (58, 28, 28), "conv1": (58, 28, 28), "concat1": (116, 28, 28)}
    assert [node.layer.describe() for node in model.layers[:2]] == ["part 0 of 2", "part 1 of 2"]


@pytest.mark.parametrize(
    ("layer", "code", "message"),
    [
        ("split 4 part 0", "E404", "cannot split 6 channels into 4 equal parts"),
        ("split 8 part 0", "E404", "cannot split 6 channels into 8 equal parts"),
        ("split [2 3] part 0", "E411", "the split sizes 2 + 3 add up to 5, but the input has 6 channels"),
        ("split 2 part 2", "E302", "part must be below the number of parts, 2; got 2"),
        ("split [2 4] part 5", "E302", "part must be below the number of parts, 2; got 5"),
        ("split [2 0 4] part 0", "E302", "parts must be at least 1, got 0"),
        ("split [] part 0", "E302", "a split needs at least one part size"),
        ("split [[2 4]] part 0", "E301", "parts must be an integer"),
        ("split 2", "E203", "'split' needs its part"),
    ],
)
def test_bad_splits(layer, code, message):
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text(f"input 6x8x8\n{layer}\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == code and message in diagnostic.message, diagnostic.message


def test_an_uneven_split_suggests_sizes():
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text("input 7x8x8\nsplit 2 part 0\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.help is not None and "[4 3]" in diagnostic.help
