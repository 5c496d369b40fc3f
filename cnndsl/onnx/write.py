"""Writing a compiled model to a file (`cnndsl compile`), safely.

Every output is checked before anything is written (`_check_output`): a compile never overwrites
its own inputs (the spec, an included spec, the weights file), a directory, a device or FIFO, or
the system's /dev, /proc and /sys. The model is then written atomically (cnndsl.files): into a
temporary file, or directory for a model with an external data file, beside the output, then
renamed; a failure or an interrupt leaves no temporary file behind and an existing output
untouched. A model over protobuf's limit (cnndsl.onnx.protobuf.PROTOBUF_LIMIT) is written with its
weights in `OUTPUT.data`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..diagnostics import CnnError, error, shorten
from ..files import existing_kind, write_atomically, write_directory_atomically
from . import protobuf
from .emit import check_graph_size, included_sources, plan
from .stream import Progress

if TYPE_CHECKING:
    from ..model import CheckedModel

_SYSTEM_DIRECTORIES = ("/dev", "/proc", "/sys")


@dataclass(frozen=True)
class Written:
    """What `compile_file` wrote."""

    path: str
    bytes: int  # all files written together
    opset: int
    external_data: str | None = None  # path of the external data file, if any
    data_bytes: int = 0  # of `bytes`, those in the external data file

    @property
    def model_bytes(self) -> int:
        return self.bytes - self.data_bytes


def default_output(model: CheckedModel) -> str:
    """The spec's path with .onnx in place of its extension."""
    base, _ = os.path.splitext(model.source.path)
    return base + ".onnx"


def compile_file(
    model: CheckedModel,
    output: str | os.PathLike[str] | None = None,
    *,
    opset: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    weights: str | os.PathLike[str] | None = None,
    external_data: bool | None = None,
    progress: Progress | None = None,
) -> Written:
    """Write the model to `output` (default: the spec's path with .onnx) atomically.

    external_data: None writes weights externally (to OUTPUT.data) only when the model exceeds
    protobuf's limit. progress: called with (bytes written so far, total bytes) while writing.
    Every file written is checked first (_check_output): nothing is written when one is refused.
    """
    output = checked_output(model, output, weights)
    result = plan(model, opset=opset, batch=batch, seed=seed, weights=weights)
    external = result.serialized_size() > protobuf.PROTOBUF_LIMIT if external_data is None else external_data
    if external:
        check_graph_size(result, os.path.basename(output))
        _check_output(output + ".data", model, weights, "the model's external data")
    try:
        if external:
            size = write_directory_atomically(
                output, lambda directory, name: result.write_external(directory, name, progress)
            )
            model_size = result.external_size(os.path.basename(output))
            return Written(output, size, result.opset, output + ".data", size - model_size)
        size = write_atomically(output, lambda out: result.write(out, progress))
    except OSError as problem:
        raise _output_error(f"cannot write '{shorten(output)}': {problem.strerror or problem}") from None
    return Written(output, size, result.opset)


def checked_output(
    model: CheckedModel, output: str | os.PathLike[str] | None, weights: str | os.PathLike[str] | None = None
) -> str:
    """The path `compile_file` would write for these arguments, checked as it checks it (E503);
    for a model converted in memory (cnndsl.deploy) before it is converted."""
    path = _output_path(model, output)
    _check_output(path, model, weights)
    return path


def write_serialized(output: str, serialized: bytes, opset: int) -> Written:
    """Write a serialized model to `output` (from checked_output) atomically, as compile_file does."""
    try:
        size = write_atomically(output, lambda out: out.write(serialized))
    except OSError as problem:
        raise _output_error(f"cannot write '{shorten(output)}': {problem.strerror or problem}") from None
    return Written(output, size, opset)


def _output_path(model: CheckedModel, output: str | os.PathLike[str] | None) -> str:
    if output is not None:
        return os.fspath(output)
    if not os.path.exists(model.source.path):
        raise _output_error("an output path is needed for a spec that is not a file", help="give one with -o OUT.onnx")
    return default_output(model)


def _check_output(
    output: str, model: CheckedModel, weights: str | os.PathLike[str] | None, what: str = "the ONNX model"
) -> None:
    """Refuse to write `output` where that would lose data or cannot give a model file: over an
    input of this compile (spec, included spec, weights), or over anything but a regular file. A
    directory is refused; so are a FIFO or a device: renaming over /dev/null would replace it."""
    shown = shorten(output)
    if "\0" in output:  # the operating system refuses such paths (Python raises ValueError)
        raise _output_error(f"the output '{shown}' contains a NUL character")
    kind = existing_kind(output)
    if kind == "a directory":
        raise _output_error(f"the output '{shown}' is a directory", help="name the file: -o DIR/model.onnx")
    if output.endswith(("/", os.sep)):
        raise _output_error(
            f"the output '{shown}' ends in '/', so it names a directory, not a file",
            help="name the file: -o DIR/model.onnx",
        )
    if kind not in (None, "a regular file"):
        raise _output_error(
            f"the output '{shown}' is {kind}, not a regular file",
            help="cnndsl writes models to files only; name a file with -o OUT.onnx",
        )
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise _output_error(
            f"the output's directory '{shorten(directory)}' "
            + ("is not a directory" if os.path.exists(directory) else "does not exist")
        )
    system = _system_path(output)
    if system is not None:
        # /dev/stdout is a link to /proc/self/fd/1, which may be a regular file (a log): renaming
        # over the link would replace the system's /dev/stdout.
        raise _output_error(
            f"the output '{shown}' is in {system}, the system's device and process files",
            help="cnndsl writes models to files only; name a file with -o OUT.onnx",
        )
    protected = [s.path for s in [model.source, *included_sources(model)]]
    if weights is not None:
        protected.append(os.fspath(weights))
    for path in protected:
        same = os.path.realpath(path) == os.path.realpath(output)
        if not same and os.path.exists(path) and os.path.exists(output):
            same = os.path.samefile(path, output)  # hard links
        if same:
            raise _output_error(
                f"refusing to overwrite the input '{shorten(path)}' with {what}",
                help="choose another output with -o OUT.onnx",
            )


def _system_path(path: str) -> str | None:
    """'/dev', '/proc' or '/sys' when `path` (its link, its directory or what it points to) is
    under one of them; None otherwise."""
    for where in (
        os.path.abspath(path),
        os.path.realpath(os.path.dirname(os.path.abspath(path))),
        os.path.realpath(path),
    ):
        for system in _SYSTEM_DIRECTORIES:
            if where == system or where.startswith(system + os.sep):
                return system
    return None


def _output_error(message: str, help: str | None = None) -> CnnError:
    return CnnError([error("E503", message, None, help=help)])
