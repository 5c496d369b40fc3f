"""shuffle is ShuffleNet's channel shuffle: checked against PyTorch's nn.ChannelShuffle on 1D, 2D and
3D maps, against torchvision's view-transpose-flatten on flat vectors (which nn.ChannelShuffle
refuses), and its error."""

from __future__ import annotations

import numpy as np
import pytest

import cnndsl

ort = pytest.importorskip("onnxruntime")


def run(text: str, x: np.ndarray) -> np.ndarray:
    proto = cnndsl.compile_model(cnndsl.check_text(text))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def random_input(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(len(shape)).standard_normal((2, *shape)).astype(np.float32)


@pytest.mark.parametrize("groups", [2, 3, 6])
@pytest.mark.parametrize("shape", [(12, 5), (12, 4, 3), (12, 3, 2, 4)])
def test_shuffle_is_torch_channel_shuffle(shape, groups):
    torch = pytest.importorskip("torch")
    x = random_input(shape)
    expected = torch.nn.ChannelShuffle(groups)(torch.from_numpy(x)).numpy()
    got = run(f"input {'x'.join(map(str, shape))}\nshuffle {groups}\n", x)
    np.testing.assert_array_equal(got, expected)


def test_shuffle_on_a_flat_vector_is_torchvisions_rule():
    x = random_input((12,))
    expected = x.reshape(2, 3, 4).transpose(0, 2, 1).reshape(2, 12)
    np.testing.assert_array_equal(run("input 12\nshuffle 3\n", x), expected)


def test_shuffling_by_the_group_size_undoes_a_shuffle():
    """Channel g*(C/G) + i moves to i*G + g: shuffling 12 channels by 3, then by 4, restores them."""
    x = random_input((12, 4, 4))
    np.testing.assert_array_equal(run("input 12x4x4\nshuffle 3 -> shuffle 4\n", x), x)


def test_groups_that_do_not_divide_the_channels_are_E404():
    with pytest.raises(cnndsl.CnnError) as failure:
        cnndsl.check_text("input 6x8x8\nshuffle 4\n")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "E404"
    assert "shuffle groups must divide the channels: 6 channels cannot be split into 4 groups" in diagnostic.message
