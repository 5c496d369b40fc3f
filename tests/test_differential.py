"""Our shapes against ONNX Runtime's, on random architectures (see tests/differential.py).

A few hundred cases run here; `python -m tests.differential --cases 10000` (or `pytest -m slow`)
is the long run recorded in docs/reliability.md.
"""

import random

import pytest

from tests.differential import main, random_spec, run_case

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("seed", range(6))
def test_random_architectures_agree_with_onnx_runtime(seed):
    rng = random.Random(seed)
    for case in range(50):
        text = random_spec(rng)
        outcome = run_case(text, seed=case)
        assert outcome.accepted, text
        assert not outcome.mismatches, f"{text}\n" + "\n".join(outcome.mismatches)


# Regressions the generator found; each once failed.
@pytest.mark.parametrize(
    "text",
    [
        # ONNX Runtime's LRN takes 4-D tensors only: 1-D and 3-D inputs are reshaped around it.
        "input 4x13\nconv 3 5 -> lrn 3 k 2\n",
        "input 2x3x4x5\nlrn 5\n",
        # two concats (and two residuals with shortcuts) in one scope used to share tensor names
        "input 2x8x8\nconcat {\n conv 1 2\n conv 1 3\n} -> concat {\n conv 1 2\n conv 1 3\n}\n",
        "input 4x8x8\nresidual { conv 3 4 pad 1 } shortcut { conv 1 4 }"
        " -> residual { conv 3 4 pad 1 } shortcut { conv 1 4 }\n",
        # a word may precede the window: `pool avg 2/2`
        "input 1x5x5\npool avg 2/2 pad 1 ceil exclude_pad\n",
        # the last ceil-mode window would start in the end padding: ONNX Runtime drops it (3x3, not 4x4)
        "input 1x5x5\npool 2/2 pad 1 ceil\n",
    ],
)
def test_regressions(text):
    outcome = run_case(text)
    assert outcome.accepted and not outcome.mismatches, outcome.mismatches


@pytest.mark.slow
def test_long_run():
    assert main(["--cases", "10000", "--seed", "1"]) == 0
