"""The input `cnndsl run` feeds: random numbers, or an array from an .npy file (`--input`).

The input is planned before any of it exists (`plan_input`): its shape, where it comes from, and
the memory making it costs, so that the memory check (cnndsl.runtime.memory) comes before the
allocation. An .npy file is untrusted: its header is read and checked against the model's input
first (E507), and its data only when the input is made, exactly the bytes the header promises
(cnndsl.npy).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .. import npy
from ..diagnostics import byte_size, first_line
from ..model import CheckedModel
from .failure import fail

if TYPE_CHECKING:
    import onnxruntime


class InputSpec(NamedTuple):
    """What a session's input says (onnxruntime.NodeArg has the same fields): the dims are ints, or
    names / None for symbolic ones."""

    name: str
    type: str
    shape: list[Any]


class PlannedInput(NamedTuple):
    """The input to feed, described before any of it is read or drawn."""

    shape: tuple[int, ...]  # batch axis included
    origin: str  # for the report: the file, or the random generator
    extra_bytes: int  # memory used while making it, beyond the float32 array itself
    make: Callable[[], NDArray[np.float32]]

    @property
    def nbytes(self) -> int:
        """Bytes of the float32 array fed to the model."""
        return 4 * math.prod(self.shape)


def only_input(session: onnxruntime.InferenceSession) -> InputSpec:
    """The session's one input; E507 for a model with several."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise fail(
            "E507",
            f"the model has {len(inputs)} inputs; cnndsl run feeds exactly one",
            notes=tuple(f"input '{i.name}' {i.shape}" for i in inputs),
        )
    return InputSpec(inputs[0].name, inputs[0].type, list(inputs[0].shape or []))


def spec_input(model: CheckedModel, compiled_batch: int | None) -> InputSpec:
    """The input the compiled spec will have, known before compiling it."""
    from ..onnx import INPUT_NAME

    return InputSpec(INPUT_NAME, "tensor(float)", [compiled_batch or "N", *model.input_shape])


def plan_input(
    spec: InputSpec, batch: int | None, input_path: str | os.PathLike[str] | None, seed: int
) -> PlannedInput:
    if input_path is not None:
        return _plan_file_input(os.fspath(input_path), spec, batch)
    return _plan_random_input(spec, batch, seed)


def allocate(planned: PlannedInput) -> NDArray[np.float32]:
    """The input array; the memory check came first, but the machine may still be short of memory."""
    try:
        return planned.make()
    except (MemoryError, ValueError) as problem:  # ValueError: numpy's "array is too big"
        raise fail(
            "E508",
            f"the input array ({'x'.join(map(str, planned.shape))} float32, "
            f"{byte_size(planned.nbytes)}) cannot be allocated: "
            f"{first_line(problem)}",
            help="use a smaller --batch or input",
        ) from None


def _fixed_dims(spec: InputSpec) -> tuple[Any, list[Any]]:
    if not spec.shape:
        raise fail("E507", f"input '{spec.name}' is a scalar; cnndsl run feeds a batch of tensors")
    return spec.shape[0], list(spec.shape[1:])


def as_fed(spec: InputSpec, x: NDArray[np.float32]) -> NDArray[Any]:
    """The input as the model takes it: float16 for a model whose input is (`compile --precision
    fp16 --io fp16`), float32 otherwise."""
    return x.astype(np.float16) if spec.type == FLOAT16_INPUT else x


FLOAT16_INPUT = "tensor(float16)"


def _plan_random_input(spec: InputSpec, batch: int | None, seed: int) -> PlannedInput:
    if spec.type not in ("tensor(float)", FLOAT16_INPUT):
        raise fail(
            "E507",
            f"input '{spec.name}' has type {spec.type}; random inputs are float only",
            help="give an input array with --input x.npy",
        )
    model_batch, dims = _fixed_dims(spec)
    if any(not isinstance(d, int) for d in dims):
        raise fail(
            "E507",
            f"input '{spec.name}' has symbolic dimensions {spec.shape}",
            help="give an input array with --input x.npy",
        )
    if isinstance(model_batch, int):
        if batch is not None and batch != model_batch:
            raise fail(
                "E507",
                f"the model was compiled for a batch of {model_batch}, not {batch}",
                help="leave --batch out, or compile without --batch for a symbolic batch",
            )
        batch = model_batch
    shape = (batch or 1, *dims)
    return PlannedInput(
        shape,
        f"random normal (seed {seed})",
        0,
        lambda: np.random.default_rng(seed).standard_normal(shape, dtype=np.float32),
    )


def _plan_file_input(path: str, spec: InputSpec, batch: int | None) -> PlannedInput:
    """Check the .npy file's header against the model; its data is read only by `make`."""
    header = _input_header(path)
    if not header.is_real:
        raise fail("E507", f"input '{path}' has type {npy.dtype_text(header.dtype)}, not a real number type")
    _, dims = _fixed_dims(spec)
    given = header.shape
    shape = (1, *given) if len(given) == len(dims) else given  # a single sample may omit the batch axis
    expected = "x".join(str(d) if isinstance(d, int) else "N" for d in spec.shape)
    fits = len(shape) == len(spec.shape) and all(
        not isinstance(d, int) or d == n for d, n in zip(spec.shape, shape, strict=True)
    )
    if not fits:
        raise fail(
            "E507",
            f"input '{path}' has shape {npy.shape_text(given)}, but the model takes {expected}",
            notes=("N is the batch size; a single sample may omit it",),
        )
    if batch is not None and batch != shape[0]:
        raise fail("E507", f"input '{path}' holds a batch of {shape[0]}, but --batch {batch} was given")
    converted = header.fortran_order or header.dtype != np.dtype(np.float32)
    return PlannedInput(shape, path, header.nbytes if converted else 0, lambda: _read_input(path, header, shape))


def _input_header(path: str) -> npy.Header:
    try:
        handle = npy.open_regular(path)
    except npy.NpyError as problem:
        raise fail("E507", f"cannot read input '{path}': {problem}") from None
    except OSError as problem:
        raise fail("E507", f"cannot read input '{path}': {problem.strerror or problem}") from None
    with handle:
        try:
            if handle.read(len(npy.ZIP_MAGIC)) == npy.ZIP_MAGIC:
                raise fail("E507", f"input '{path}' is an .npz archive; give one array saved with numpy.save")
            handle.seek(0)
            return npy.read_header(handle)
        except (npy.NpyError, *npy.READ_ERRORS) as problem:
            raise fail(
                "E507",
                f"cannot read input '{path}': {first_line(problem)}",
                help="save the input with numpy.save(path, array)",
            ) from None


def _read_input(path: str, header: npy.Header, shape: tuple[int, ...]) -> NDArray[np.float32]:
    try:
        with npy.open_regular(path) as handle:
            if npy.read_header(handle) != header:
                raise npy.NpyError("the file changed while it was read")
            x = npy.read_data(handle, header)
    except (npy.NpyError, *npy.READ_ERRORS) as problem:
        raise fail("E507", f"cannot read input '{path}': {first_line(problem)}") from None
    return np.ascontiguousarray(x.reshape(shape), dtype=np.float32)
