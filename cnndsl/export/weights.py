"""`cnndsl weights MODEL.onnx -o w.npz`: a compiled model's initializers as an .npz archive keyed by
their names, which are the generated PyTorch module's state_dict keys (and what `compile --weights`
reads back). Imports onnx and numpy when it runs."""

from __future__ import annotations

import io
import os
from typing import Any

from ..diagnostics import CnnError, error, first_line, shorten
from ..files import existing_kind, write_atomically


def extract_weights(model_path: str, output: str) -> int:
    """Write every initializer of the ONNX model at `model_path` to `output`; return how many."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    kind = existing_kind(output)
    if kind not in (None, "a regular file") or output.endswith(("/", os.sep)):
        raise _refused(f"the output '{shorten(output)}' is {kind or 'a directory'}, not a regular file")
    if os.path.exists(output) and os.path.exists(model_path) and os.path.samefile(model_path, output):
        raise _refused(f"refusing to overwrite the input '{shorten(model_path)}' with its weights")
    try:
        proto = onnx.load(model_path)
    except Exception as problem:  # an OSError, or protobuf's DecodeError for what is not an ONNX file
        message = f"cannot read the ONNX model '{shorten(model_path)}': {first_line(problem)}"
        raise CnnError([error("E501", message, None)]) from None
    arrays = {initializer.name: numpy_helper.to_array(initializer) for initializer in proto.graph.initializer}
    # torch's batch norm keeps a count of its training steps in its state_dict; ONNX has no use for
    # it (`compile --weights` skips it), but a strict load_state_dict needs it.
    for name in [name for name in arrays if name.endswith(".running_mean")]:
        arrays[name.removesuffix("running_mean") + "num_batches_tracked"] = np.array(0, dtype=np.int64)
    buffer = io.BytesIO()
    savez: Any = np.savez  # numpy's stubs read the names as its allow_pickle keyword
    savez(buffer, **arrays)
    data = buffer.getvalue()
    try:
        write_atomically(output, lambda out: out.write(data))
    except OSError as problem:
        raise _refused(f"cannot write '{shorten(output)}': {problem.strerror or problem}") from None
    return len(arrays)


def _refused(message: str) -> CnnError:
    return CnnError([error("E503", message, None, help="name a file with -o w.npz")])
