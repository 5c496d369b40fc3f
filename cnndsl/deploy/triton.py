"""A Triton model repository for a compiled model: `DIR/NAME/config.pbtxt` and `DIR/NAME/1/model.onnx`,
for Triton's onnxruntime backend (`cnndsl compile --triton-repo DIR`).

The configuration is read off the model file written into the repository (its graph's inputs and
outputs: names, element types, dimensions), so it describes the final model whatever precision it
was converted to. With batching (max_batch_size > 0) Triton adds the batch dimension itself: the
model's first dimension must then be symbolic and the config's dims leave it out.

Writing is all or nothing: the model folder is built in a hidden temporary folder beside its place
(`.NAME.PID.RANDOM.tmp`, the naming of cnndsl.files, so a temporary left by a killed process is
removed by the next write) and renamed into place. A folder that is not a model repository, or a
model folder cnndsl did not write, is refused (E811) before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..diagnostics import CnnError, error, shorten
from ..files import existing_kind, remove_stale_temporaries
from ..signals import deferred_signals, raise_if_interrupted
from ..version import __version__
from .triton_names import DEFAULT_MAX_BATCH, DEVICE_KINDS, model_name_problem

if TYPE_CHECKING:
    import onnx

CONFIG_FILE = "config.pbtxt"
MODEL_FILE = "model.onnx"  # the onnxruntime backend's default_model_filename
VERSION = "1"
MAX_QUEUE_DELAY_MICROSECONDS = 100  # how long a request waits for others to batch with
# The first line of every config cnndsl writes: a model folder starting with it may be replaced.
_WRITTEN_BY = "# Written by cnndsl"

# ONNX TensorProto element types -> Triton data types (model_config.proto's DataType).
_TRITON_TYPES = {
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    4: "TYPE_UINT16",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
    12: "TYPE_UINT32",
    13: "TYPE_UINT64",
    16: "TYPE_BF16",
}


@dataclass(frozen=True)
class TensorSpec:
    """An input or output as Triton sees it: dims without the batch when the model batches; -1 for a
    dimension of any size."""

    name: str
    data_type: str  # TYPE_FP32, ...
    dims: tuple[int, ...]


@dataclass(frozen=True)
class Batching:
    """How the server batches and how many copies of the model it runs."""

    max_batch: int = DEFAULT_MAX_BATCH  # 0: no batching, every request is one whole model input
    instances: int = 1
    device: str = "cpu"  # a key of DEVICE_KINDS

    @property
    def preferred_batch_sizes(self) -> tuple[int, ...]:
        """The sizes the dynamic batcher waits to fill: the powers of two from 2 up to max_batch, and
        max_batch itself; none without batching."""
        if self.max_batch < 2:
            return ()
        sizes = [size for size in (2**k for k in range(1, self.max_batch.bit_length())) if size <= self.max_batch]
        return tuple(sorted({*sizes, self.max_batch}))


@dataclass(frozen=True)
class Repository:
    """What write_repository wrote."""

    directory: str  # the repository
    model_directory: str  # DIR/NAME
    config: str  # the config.pbtxt text
    model_bytes: int  # of model.onnx (and its external data)


def model_tensors(model: onnx.ModelProto, max_batch: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The model's inputs (initializers excluded) and outputs as Triton sees them with `max_batch`.

    With batching, every tensor's first dimension must be symbolic (compiled without --batch): E812."""
    graph = model.graph
    initializers = {tensor.name for tensor in graph.initializer}

    def spec(value: onnx.ValueInfoProto) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor.shape.dim]
        element = _TRITON_TYPES.get(tensor.elem_type)
        return tensor_spec(value.name, element, f"ONNX element type {tensor.elem_type}", dims, max_batch)

    return (
        [spec(value) for value in graph.input if value.name not in initializers],
        [spec(value) for value in graph.output],
    )


def tensor_spec(name: str, data_type: str | None, type_name: str, dims: list[int], max_batch: int) -> TensorSpec:
    """A tensor as Triton sees it: `dims` (-1 for a symbolic one) without the batch when Triton batches
    (max_batch > 0). E812 for a type Triton lacks (data_type None; `type_name` says which) or a
    first dimension that is not symbolic where Triton batches."""
    if data_type is None:
        raise CnnError([error("E812", f"the model's '{name}' has {type_name}, which Triton lacks", None)])
    if max_batch > 0:
        if not dims or dims[0] != -1:
            fixed = f"a fixed batch of {dims[0]}" if dims else "no batch dimension"
            raise CnnError(
                [
                    error(
                        "E812",
                        f"the model's '{name}' has {fixed}, but Triton batches it (max batch {max_batch})",
                        None,
                        notes=["with max_batch_size > 0 Triton adds the batch dimension itself"],
                        help="compile without --batch (a symbolic batch), or give --max-batch 0",
                    )
                ]
            )
        dims = dims[1:]
    return TensorSpec(name, data_type, tuple(dims))


def config_text(name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], batching: Batching, source: str) -> str:
    """The model's config.pbtxt in protobuf text format (Triton's model_config.proto), for the
    onnxruntime backend; `source` (the spec's file name) goes into the header comment."""

    def tensors(field: str, specs: list[TensorSpec]) -> list[str]:
        entries = [
            f"  {{\n    name: {_quoted(spec.name)}\n    data_type: {spec.data_type}\n"
            f"    dims: [ {', '.join(map(str, spec.dims))} ]\n  }}"
            for spec in specs
        ]
        return [f"{field} [", ",\n".join(entries), "]"]

    lines = [
        f"{_WRITTEN_BY} {__version__} from {source}. A later compile to this repository replaces it.",
        f"name: {_quoted(name)}",
        'platform: "onnxruntime_onnx"',
        'backend: "onnxruntime"',
        f"max_batch_size: {batching.max_batch}",
        *tensors("input", inputs),
        *tensors("output", outputs),
    ]
    if batching.max_batch > 0:
        preferred = ", ".join(map(str, batching.preferred_batch_sizes))
        lines += [
            "dynamic_batching {",
            *([f"  preferred_batch_size: [ {preferred} ]"] if preferred else []),
            f"  max_queue_delay_microseconds: {MAX_QUEUE_DELAY_MICROSECONDS}",
            "}",
        ]
    lines += [
        "instance_group [",
        f"  {{\n    count: {batching.instances}\n    kind: {DEVICE_KINDS[batching.device]}\n  }}",
        "]",
    ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A string in protobuf's text format."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_repository(
    directory: str | os.PathLike[str],
    name: str,
    write_model: Callable[[str], object],
    batching: Batching,
    source: str,
) -> Repository:
    """Write model `name` into the Triton repository `directory` (created when absent) atomically.

    `write_model(path)` writes the final ONNX model to `path` (in a temporary folder; it may add
    `path.data`, external data, beside it); the config is read off that file. A model folder cnndsl
    wrote before is replaced; anything else there is refused (E811) before anything is written."""
    import onnx  # the compile command has imported it already

    directory = os.fspath(directory)
    problem = model_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    _check_repository(directory, name)
    created = existing_kind(directory) is None
    if created:
        try:
            os.mkdir(directory)
        except OSError as failure:
            raise _cannot_write(directory, failure) from None
    remove_stale_temporaries(directory, name)
    temporary = None
    written = False
    try:
        with deferred_signals():  # an interrupt must not come between creating and naming it
            temporary = tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=directory)
        version = os.path.join(temporary, VERSION)
        os.mkdir(version)
        model_path = os.path.join(version, MODEL_FILE)
        write_model(model_path)
        model = onnx.load(model_path, load_external_data=False)
        inputs, outputs = model_tensors(model, batching.max_batch)
        config = config_text(name, inputs, outputs, batching, source)
        with open(os.path.join(temporary, CONFIG_FILE), "w", encoding="utf-8") as out:
            out.write(config)
        size = sum(os.path.getsize(os.path.join(version, file)) for file in os.listdir(version))
        os.chmod(temporary, 0o777 & ~_umask())  # mkdtemp's 0o700 would hide it from a server's user
        raise_if_interrupted()  # a signal whose exception got lost still stops the write
        _move_into_place(temporary, os.path.join(directory, name))
        written = True
    except OSError as failure:
        raise _cannot_write(directory, failure) from None
    finally:
        if not written:
            with deferred_signals():  # a second signal must not stop the cleanup
                if temporary is not None:
                    shutil.rmtree(temporary, ignore_errors=True)
                if created:  # the folder this write made for its model, unless another write uses it
                    with contextlib.suppress(OSError):
                        os.rmdir(directory)
    return Repository(directory, os.path.join(directory, name), config, size)


def _move_into_place(temporary: str, target: str) -> None:
    """Rename the finished folder to `target`; a folder cnndsl wrote there before is set aside
    first and removed after, or put back when the rename fails."""
    with deferred_signals():  # both renames or neither
        if not os.path.lexists(target):
            os.rename(temporary, target)
            return
        previous = temporary + ".previous"
        os.rename(target, previous)
        try:
            os.rename(temporary, target)
        except BaseException:
            os.rename(previous, target)
            raise
    shutil.rmtree(previous, ignore_errors=True)


def _check_repository(directory: str, name: str) -> None:
    """Refuse, before writing, a `directory` that is no Triton model repository (E811) or cannot
    become one (E503), and a folder `name` in it that cnndsl did not write (E811)."""
    shown = shorten(directory)
    kind = existing_kind(directory)
    if kind is None:
        parent = os.path.dirname(os.path.abspath(directory))
        if not os.path.isdir(parent):
            raise CnnError([error("E503", f"the repository's parent folder '{shorten(parent)}' does not exist", None)])
        return
    if kind != "a directory":
        raise _not_a_repository(f"'{shown}' is {kind}, not a folder")
    try:
        entries = sorted(entry for entry in os.listdir(directory) if not entry.startswith("."))
    except OSError as failure:
        raise _cannot_write(directory, failure) from None
    for entry in entries:
        path = os.path.join(directory, entry)
        if not os.path.isdir(path) or not _looks_like_model(path):
            what = "a folder that is not a model" if os.path.isdir(path) else "a file"
            raise _not_a_repository(
                f"'{shown}' is not a Triton model repository: it holds '{shorten(entry, 40)}', {what}",
                "a repository holds only model folders (NAME/config.pbtxt, NAME/1/...)",
            )
    if name in entries and not _written_by_cnndsl(os.path.join(directory, name)):
        raise _not_a_repository(
            f"the repository '{shown}' already holds a model '{name}' that cnndsl did not write",
            "cnndsl replaces only model folders it wrote (config.pbtxt starting with "
            f"'{_WRITTEN_BY}', and nothing but that model)",
            help="give another name with --name, or remove the folder",
        )


def _looks_like_model(path: str) -> bool:
    """A model folder: a config.pbtxt, or version folders (Triton can make up the config)."""
    entries = os.listdir(path)
    return CONFIG_FILE in entries or any(
        entry.isdigit() and os.path.isdir(os.path.join(path, entry)) for entry in entries
    )


def _written_by_cnndsl(path: str) -> bool:
    """The folder holds exactly what write_repository writes, under a config it wrote."""
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as config:
            first = config.readline()
        files = set(os.listdir(path))
        versions = set(os.listdir(os.path.join(path, VERSION)))
    except (OSError, UnicodeDecodeError):
        return False
    return (
        first.startswith(_WRITTEN_BY)
        and files == {CONFIG_FILE, VERSION}
        and versions <= {MODEL_FILE, MODEL_FILE + ".data"}
    )


def _not_a_repository(message: str, note: str | None = None, help: str | None = None) -> CnnError:
    return CnnError(
        [
            error(
                "E811",
                message,
                None,
                notes=[note] if note else [],
                help=help or "choose an empty or new folder with --triton-repo, or an existing model repository",
            )
        ]
    )


def _cannot_write(directory: str, failure: OSError) -> CnnError:
    return CnnError(
        [error("E503", f"cannot write the repository '{shorten(directory)}': {failure.strerror or failure}", None)]
    )


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
