"""Differential testing of cnndsl's shapes against ONNX Runtime.

A generator of random valid architectures (chains and DAGs; 1D/2D/3D convolutions with random
kernel, stride, padding including asymmetric and 'same', dilation, groups and padding modes;
max/average pooling with floor and ceil rounding, with and without counted padding; batch norm,
LRN, activations, concat, residual add, named tensors, flatten and fc; any registered kind
through its declared examples; sizes where a window barely fits). For each: check, compile, run
in ONNX Runtime with every intermediate tensor exposed as an output, and compare every tensor's
shape with the checker's, and the initializer total with the parameter count.

    python -m tests.differential --cases 10000 --seed 1     # the long run (docs/reliability.md)

tests/test_differential.py runs a few hundred cases in CI.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

# What the long run reports coverage of: feature -> a regular expression over the spec text.
FEATURES = {
    "1D": r"^input \d+x\d+$",
    "2D": r"^input \d+x\d+x\d+$",
    "3D": r"^input \d+x\d+x\d+x\d+$",
    "stride": r"conv \S+/",
    "same": r"pad same",
    "asymmetric pad": r"pad \S*,",
    "dilation": r"dilation",
    "groups": r"groups",
    "pad mode": r"mode ",
    "max pool": r"pool (?!avg)\d",
    "avg pool": r"pool avg \d",
    "ceil": r"ceil",
    "exclude_pad": r"exclude_pad",
    "global pool": r"global",
    "bn": r"\bbn\b",
    "lrn": r"lrn",
    "concat": r"concat",
    "residual": r"residual",
    "shortcut": r"shortcut",
    "named add": r"add t",
    "fc": r"\bfc\b",
    "upsample": r"upsample",
    "layernorm": r"layernorm",
    "convtranspose": r"convtranspose|upconv",
}

ACTIVATIONS = ["relu", "relu6", "leakyrelu 0.1", "elu", "sigmoid", "tanh", "gelu", "identity"]


@dataclass
class _State:
    channels: int
    spatial: list[int]
    lines: list[str] = field(default_factory=list)
    names: int = 0


def _fits(n: int, k: int, d: int, pb: int, pe: int) -> bool:
    return n + pb + pe - d * (k - 1) - 1 >= 0


def _window(rng: random.Random, n: int, *, conv: bool) -> tuple[int, int, int, int, int]:
    """Kernel, stride, dilation, pad begin, pad end for one axis, biased towards edge cases."""
    for _ in range(20):
        dilation = rng.choice([1, 1, 1, 2, 3]) if conv else 1
        kernel = rng.randint(1, min(7, n + 2))
        stride = rng.choice([1, 1, 2, 2, 3])
        if conv:
            begin, end = rng.randint(0, 3), rng.randint(0, 3)
        else:
            begin = end = rng.randint(0, kernel // 2)
        if rng.random() < 0.15:  # the window barely fits: n + pads == span
            span = n + begin + end
            if conv and (span - 1) % dilation == 0 and (span - 1) // dilation + 1 >= 1:
                kernel = (span - 1) // dilation + 1
            elif not conv:
                kernel = max(1, n)
                begin = end = 0
        if _fits(n, kernel, dilation, begin, end) and (conv or max(begin, end) <= kernel // 2):
            return kernel, stride, dilation, begin, end
    return 1, 1, 1, 0, 0


def _conv(rng: random.Random, state: _State) -> str:
    axes = [_window(rng, n, conv=True) for n in state.spatial]
    kernel = "x".join(str(a[0]) for a in axes)
    stride = "x".join(str(a[1]) for a in axes)
    parts = [f"conv {kernel}/{stride}" if any(a[1] != 1 for a in axes) else f"conv {kernel}"]
    groups = rng.choice([g for g in (1, 1, 1, 2, 3, 4, state.channels) if state.channels % g == 0])
    out = groups * rng.randint(1, max(1, 12 // groups))
    parts.append(str(out))
    style = rng.random()
    if style < 0.2:
        parts.append("pad same")
        pads = None
    elif style < 0.5:
        parts.append("pad " + "x".join(str(a[3]) for a in axes) + "," + "x".join(str(a[4]) for a in axes))
        pads = [(a[3], a[4]) for a in axes]
    elif style < 0.8:
        parts.append("pad " + "x".join(str(a[3]) for a in axes))
        pads = [(a[3], a[3]) for a in axes]
    else:
        pads = [(0, 0)] * len(axes)
    if any(a[2] != 1 for a in axes):
        parts.append("dilation " + "x".join(str(a[2]) for a in axes))
    if groups != 1:
        parts.append(f"groups {groups}")
    if pads is not None and any(p != (0, 0) for p in pads) and rng.random() < 0.25:
        sizes_ok = all(max(p) < n for p, n in zip(pads, state.spatial, strict=True))
        if sizes_ok:
            parts.append(rng.choice(["mode reflect", "mode replicate", "mode circular"]))
    if rng.random() < 0.3:
        parts.append("nobias")
    if rng.random() < 0.4:
        parts.append(rng.choice(ACTIVATIONS))
    return " ".join(parts)


def _pool(rng: random.Random, state: _State) -> str:
    if rng.random() < 0.1:
        return rng.choice(["pool global", "pool avg global"])
    axes = [_window(rng, n, conv=False) for n in state.spatial]
    kernel = "x".join(str(a[0]) for a in axes)
    stride = "x".join(str(a[1]) for a in axes)
    op = rng.choice(["", "avg "])
    parts = [f"pool {op}{kernel}/{stride}"]
    if any(a[3] for a in axes):
        parts.append("pad " + "x".join(str(a[3]) for a in axes))
        if op and rng.random() < 0.5:
            parts.append("exclude_pad")
    if rng.random() < 0.4:
        parts.append("ceil")
    return " ".join(parts)


def _simple(rng: random.Random, state: _State) -> str:
    return rng.choice(["bn", "bn eps 0.001", f"lrn {rng.choice([1, 3, 5])} k 2", *ACTIVATIONS, "dropout 0.3"])


def _registered(rng: random.Random, state: _State) -> str:
    """Any registered single-input kind that takes this rank, written as one of its examples: a
    kind added to cnndsl/layers is drawn here without this generator knowing it."""
    from cnndsl.layers import REGISTRY

    kinds = sorted(
        {kind for kind in REGISTRY.values() if kind.arity == 1 and len(state.spatial) in kind.ranks},
        key=lambda kind: kind.kind,
    )
    return rng.choice(rng.choice(kinds).examples)


def random_spec(rng: random.Random) -> str:
    """One random architecture; the checker vets each step so that most cases are valid."""
    from cnndsl import CnnError, check_text

    rank = rng.choice([1, 2, 2, 2, 3])
    limit = {1: 48, 2: 20, 3: 9}[rank]
    spatial = [rng.randint(1, limit) for _ in range(rank)]
    channels = rng.randint(1, 8)
    header = [f"input {channels}x" + "x".join(map(str, spatial))]
    statements: list[str] = []
    current: list[str] = []
    same = "x".join(["3"] * rank)
    for _ in range(rng.randint(1, 8)):
        state = _State(channels, spatial)
        kind = rng.random()
        extra: list[str] = []
        chain = current[:]
        if kind < 0.4:
            chain.append(_conv(rng, state))
        elif kind < 0.6:
            chain.append(_pool(rng, state))
        elif kind < 0.68:
            chain.append(_simple(rng, state))
        elif kind < 0.75:
            chain.append(_registered(rng, state))
        elif kind < 0.85:
            shortcut = f" shortcut {{ conv 1 {channels} nobias -> bn }}" if rng.random() < 0.3 else ""
            chain.append(f"residual {{ conv {same} {channels} pad 1 -> relu }}{shortcut}")
        elif kind < 0.93:
            a, b = rng.randint(1, 6), rng.randint(1, 6)
            chain.append(f"concat {{\n  conv 1 {a}\n  pool 3/1 pad 1 -> conv 1 {b} relu\n}}")
        else:  # a named tensor reused further down: a DAG beyond the combinators
            name = f"t{len(statements)}"
            extra = [f"{name} = " + (" -> ".join(current) if current else "identity")]
            chain = [name, f"conv {same} {channels} pad 1 relu", f"add {name}"]
        text = "\n".join(header + statements + extra + [" -> ".join(chain)]) + "\n"
        try:
            model = check_text(text)
        except CnnError:
            continue
        statements += extra
        current = chain
        shape = model.shapes[model.graph.outputs[0][1]]
        channels, spatial = shape[0], list(shape[1:])
    if rng.random() < 0.4:
        current.append(f"flatten -> fc {rng.randint(1, 10)}" + rng.choice(["", " -> softmax", " relu"]))
    return "\n".join(header + statements + [" -> ".join(current or ["identity"])]) + "\n"


@dataclass
class Outcome:
    accepted: bool
    layers: int = 0
    mismatches: list[str] = field(default_factory=list)


def run_case(text: str, batch: int = 2, seed: int = 0) -> Outcome:
    """Check, compile and run one spec; compare every intermediate shape with ONNX Runtime's."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    import cnndsl

    try:
        model = cnndsl.check_text(text, path="case.cnn")
    except cnndsl.CnnError:
        return Outcome(False)
    proto = cnndsl.compile_model(model, seed=seed)
    expected: dict[str, tuple[int, ...]] = {}
    for node in model.layers:
        if node.layer is not None and not node.layer.training_only:  # dropout emits nothing: its tensor is its input's
            expected[node.name] = model.shapes[node]
    present = {o.name for o in proto.graph.output}
    for name in expected:
        if name not in present:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    mismatches = []
    initializer_total = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    if initializer_total != model.total_params:
        mismatches.append(f"initializers hold {initializer_total} values, checker counts {model.total_params}")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = np.random.default_rng(seed).standard_normal((batch, *model.input_shape), dtype=np.float32)
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: feed})
    for name, value in zip(names, values, strict=True):
        if name in expected and tuple(value.shape) != (batch, *expected[name]):
            mismatches.append(f"{name}: ONNX Runtime {tuple(value.shape)[1:]}, checker {expected[name]}")
    mismatches += _pytorch_mismatches(model, proto, feed, dict(zip(names, values, strict=True)))
    return Outcome(True, len(expected), mismatches)


def _pytorch_mismatches(model: Any, proto: Any, feed: Any, onnx_values: dict[str, Any]) -> list[str]:
    """The module `cnndsl export` generates, with the compiled model's weights, against ONNX
    Runtime's outputs (where torch is installed and PyTorch can express every layer)."""
    try:
        import torch
    except ImportError:
        return []
    import numpy as np
    from onnx import numpy_helper

    import cnndsl
    from cnndsl.export.pytorch import pytorch_source

    try:
        source = pytorch_source(model)
    except cnndsl.CnnError:  # E510: a layer PyTorch has no exact form for
        return []
    namespace: dict[str, Any] = {}
    exec(compile(source, "case.py", "exec"), namespace)
    network = [value for value in namespace.values() if isinstance(value, type)][-1]()  # the model's class: last
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in proto.graph.initializer}
    missing, unexpected = network.load_state_dict(weights, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        return [f"pytorch export: missing {missing}, unexpected {unexpected}"]
    with torch.no_grad():
        outputs = network.eval()(torch.from_numpy(feed))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    mismatches = []
    for (name, _), output in zip(model.graph.outputs, outputs, strict=True):
        want, got = onnx_values[name], output.numpy()
        error = float(np.abs(want - got).max()) if want.shape == got.shape else float("inf")
        if error > 1e-4 * max(1.0, float(np.abs(want).max())):
            mismatches.append(f"pytorch export: output {name} differs from ONNX Runtime's by {error:g}")
    return mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.time()
    accepted = layers = 0
    failures: list[tuple[str, list[str]]] = []
    coverage = dict.fromkeys(FEATURES, 0)
    for index in range(args.cases):
        text = random_spec(rng)
        outcome = run_case(text, seed=index)
        accepted += outcome.accepted
        layers += outcome.layers
        for feature, pattern in FEATURES.items():
            coverage[feature] += bool(re.search(pattern, text, re.MULTILINE))
        if outcome.mismatches:
            failures.append((text, outcome.mismatches))
            print(f"MISMATCH in case {index}:\n{text}" + "\n".join(outcome.mismatches), file=sys.stderr)
    elapsed = time.time() - started
    print(
        f"cases: {args.cases}, accepted and run: {accepted}, layers compared: {layers}, "
        f"mismatches: {len(failures)}, seconds: {elapsed:.0f}"
    )
    print("cases with: " + ", ".join(f"{feature} {count}" for feature, count in coverage.items()))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
