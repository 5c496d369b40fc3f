"""`cnndsl weights SOURCE -o OUT.npz`: weights as an .npz archive, in the spec's layout or Keras's.

From a compiled model (SOURCE.onnx), every initializer keyed by its name: the generated PyTorch
module's state_dict keys, what `compile --weights` reads back. With `--layout keras` (and the
spec, `--spec`), the same weights keyed and laid out as the Keras model of `cnndsl export --to
keras` holds them; `--from keras` reads such an archive (SOURCE.npz) back into the spec's layout
(export/keras_weights.py). An archive in the spec's layout converts to Keras's as a model does.
Imports onnx (for a model) and numpy when it runs.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..diagnostics import CnnError, error, first_line, shorten
from ..files import existing_kind, write_atomically
from ..model import CheckedModel
from ..onnx.weights import load_npz
from ..onnx.write import _check_output as check_output  # compile's refusals, for any output file
from .keras_weights import TORCH_BUFFERS, from_keras, to_keras

# The layouts: the spec's (ONNX's and PyTorch's, channels first) and Keras's.
LAYOUTS = ("onnx", "keras")


def write_weights(
    source: str, output: str, *, layout: str = "onnx", source_layout: str = "onnx", model: CheckedModel | None = None
) -> int:
    """Write the weights of `source` (an .onnx model, or an .npz archive in `source_layout`) to
    `output` in `layout`; return how many arrays. Keras's layout needs the spec's `model`."""
    if model is None:
        _refuse_as_extraction(source, output)
    else:
        check_output(output, model, source, what="its weights")
    arrays = _read(source)
    if source_layout == "keras":
        assert model is not None, "Keras's layout is the spec's Keras model's"
        arrays = dict(from_keras(model, arrays, shorten(source)))
    if layout == "keras":
        assert model is not None, "Keras's layout is the spec's Keras model's"
        arrays = dict(to_keras(model, arrays, shorten(source)))
    else:
        # torch's batch norm keeps a count of its training steps in its state_dict; ONNX has no use
        # for it (`compile --weights` skips it), but a strict load_state_dict needs it.
        for name in list(arrays):
            for kept, marker in TORCH_BUFFERS.items():
                if name.endswith(f".{marker}"):
                    arrays.setdefault(name.removesuffix(marker) + kept, np.array(0, dtype=np.int64))
    archive = io.BytesIO()
    savez: Any = np.savez  # numpy's stubs read the names as its allow_pickle keyword
    savez(archive, **arrays)
    data = archive.getvalue()
    try:
        write_atomically(output, lambda out: out.write(data))
    except OSError as problem:
        raise _refused(f"cannot write '{shorten(output)}': {problem.strerror or problem}") from None
    return len(arrays)


def _read(source: str) -> dict[str, NDArray[np.generic]]:
    """The arrays of an .npz archive, or the initializers of an ONNX model (E501 if it is not one)."""
    if source.lower().endswith(".npz"):
        return load_npz(source)
    import onnx
    from onnx import numpy_helper

    try:
        proto = onnx.load(source)
    except Exception as problem:  # an OSError, or protobuf's DecodeError for what is not an ONNX file
        message = f"cannot read the ONNX model '{shorten(source)}': {first_line(problem)}"
        raise CnnError([error("E501", message, None)]) from None
    return {initializer.name: numpy_helper.to_array(initializer) for initializer in proto.graph.initializer}


def _refuse_as_extraction(source: str, output: str) -> None:
    """Without a spec, the refusals of a plain extraction: anything but a regular file, the input."""
    kind = existing_kind(output)
    if kind not in (None, "a regular file") or output.endswith(("/", os.sep)):
        raise _refused(f"the output '{shorten(output)}' is {kind or 'a directory'}, not a regular file")
    if os.path.exists(output) and os.path.exists(source) and os.path.samefile(source, output):
        raise _refused(f"refusing to overwrite the input '{shorten(source)}' with its weights")


def _refused(message: str) -> CnnError:
    return CnnError([error("E503", message, None, help="name a file with -o w.npz")])
