"""Reading NumPy .npy arrays (alone, or as members of an .npz archive) from files we do not trust.

`numpy.load` reads a whole array, or every array of an archive, before the caller can look at a
shape: a header claiming 10**10 values, or a 1 MB archive inflating to 1 GB, costs that memory
first. Here the header is read on its own (`read_header`), with the header's own length bounded,
so that the caller can compare dtype and shape with what it needs; only then does `read_data` read
exactly `header.nbytes` bytes, in pieces, and nothing past them is ever read or decompressed.

Problems are `NpyError`s with a plain reason ("it is not a NumPy .npy array", "the data is
truncated"), for callers to turn into their own diagnostics.
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import zipfile
import zlib
from typing import IO, Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from .diagnostics import first_line
from .reader import file_kind, file_problem

MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
# numpy's own limit for a header it parses without allow_pickle; real headers are about 100 bytes.
MAX_HEADER_BYTES = 10_000
_PIECE_BYTES = 16 * 2**20  # read data in pieces, so that a stream never buffers a whole array
# header-length field per format version: version 1 has a 2-byte length, later versions 4 bytes;
# version 3 differs from 2 only by a UTF-8 header (non-ASCII appears only in structured dtypes).
_LENGTH_FIELDS = {(1, 0): "<H", (2, 0): "<I", (3, 0): "<I"}

# What reading a damaged file or archive member can raise (zlib.error: corrupt deflate data;
# RuntimeError: an encrypted member; NotImplementedError: an unsupported compression method).
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError)


class NpyError(Exception):
    """A file or member that is not a readable .npy array; the message is a plain reason."""


class Header(NamedTuple):
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype[Any]

    @property
    def size(self) -> int:
        """The number of values, as an exact Python int (it may exceed any machine integer)."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def is_real(self) -> bool:
        """Integers or floating point numbers: what a weight or an input may hold."""
        return self.dtype.kind in "fiu" and not self.dtype.hasobject


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "()"


def dtype_text(dtype: np.dtype[Any]) -> str:
    return "object (Python objects)" if dtype.hasobject else str(dtype)


# --- files ------------------------------------------------------------------------------------


def open_regular(path: str) -> io.BufferedReader:
    """Open `path` for reading if it is a regular file; else NpyError with the reason.

    A FIFO would block the open (or the read) forever and a device may never end, so the path is
    checked with stat before it is opened, and opened without blocking in case it changed since."""
    problem = regular_file_problem(path)
    if problem is not None:
        raise NpyError(problem)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    handle = open(fd, "rb")  # noqa: SIM115 (returned open: the caller closes it)
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
    except NpyError:
        handle.close()
        raise
    return handle


def regular_file_problem(path: str) -> str | None:
    """None for a readable regular file; else why it cannot be read, as the end of "cannot read
    'x': ..." ('no such file', 'it is a FIFO, not a regular file', ...). Never opens `path`."""
    problem = file_problem(path)
    if problem is None or not problem.startswith("a "):  # not a kind of file: 'no such file', ...
        return problem
    return _not_regular(problem)


def _refuse_unless_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NpyError(_not_regular(file_kind(mode)))


def _not_regular(kind: str) -> str:
    return "it is a directory" if kind == "a directory" else f"it is {kind}, not a regular file"


# --- one array --------------------------------------------------------------------------------


def read_header(stream: IO[bytes]) -> Header:
    """Read an .npy header (format versions 1, 2 and 3), leaving `stream` at the array's data."""
    prefix = _read_exactly(stream, len(MAGIC) + 2, "the file is too short")
    if not prefix.startswith(MAGIC):
        raise NpyError("it is not a NumPy .npy array")
    version = (prefix[6], prefix[7])
    length_format = _LENGTH_FIELDS.get(version)
    if length_format is None:
        raise NpyError(
            f"it is an .npy file of format version {version[0]}.{version[1]}, which NumPy "
            f"{np.__version__} does not define"
        )
    length_field = _read_exactly(stream, struct.calcsize(length_format), "the header is truncated")
    (length,) = struct.unpack(length_format, length_field)
    if length > MAX_HEADER_BYTES:  # read no further: the length could be 4 GB of a zip bomb
        raise NpyError(f"its header claims {length:,} bytes (a real one has about 100)")
    text = _read_exactly(stream, length, "the header is truncated")
    if version == (3, 0) and not text.isascii():
        raise NpyError("its header describes a structured array with non-ASCII field names")
    return _parse_header(length_field + text, length_format == "<H")


def _parse_header(data: bytes, version_1: bool) -> Header:
    """numpy's own header parser (a literal dict, never pickle) over the bytes read above."""
    parse = np.lib.format.read_array_header_1_0 if version_1 else np.lib.format.read_array_header_2_0
    try:
        shape, fortran_order, dtype = parse(io.BytesIO(data), max_header_size=MAX_HEADER_BYTES)
    except Exception as problem:  # numpy's parser of untrusted text: ValueError, SyntaxError, TokenError...
        raise NpyError(f"its .npy header is invalid ({first_line(problem)})") from None
    if any(d < 0 for d in shape):
        raise NpyError(f"its .npy header gives a negative dimension {shape}")
    return Header(tuple(shape), fortran_order, dtype)


def read_data(stream: io.BufferedIOBase, header: Header) -> NDArray[Any]:
    """Read the array `header` describes: exactly header.nbytes bytes, in pieces. The caller has
    checked the header (a real dtype, the shape it needs), so the size is what it asked for."""
    if not header.is_real:
        raise NpyError(f"it holds {dtype_text(header.dtype)} values, not numbers")
    array = np.empty(header.size, dtype=header.dtype)
    view = array.data.cast("B")
    filled = 0
    while filled < len(view):
        count = stream.readinto(view[filled : filled + _PIECE_BYTES])
        if not count:
            raise NpyError(f"the data is truncated: {filled:,} of {len(view):,} bytes")
        filled += count
    if header.fortran_order:
        return array.reshape(header.shape[::-1]).transpose()
    return array.reshape(header.shape)


def _read_exactly(stream: IO[bytes], count: int, short: str) -> bytes:
    data = b""
    while len(data) < count:
        piece = stream.read(count - len(data))
        if not piece:
            raise NpyError(short)
        data += piece
    return data


# --- archives -------------------------------------------------------------------------------


class Archive:
    """An .npz archive opened for reading member by member: `keys` maps each array's name (the
    member name without '.npy', as numpy.load names them) to its member."""

    def __init__(self, handle: IO[bytes]):
        self._handle = handle  # ZipFile does not close a file object it was given
        self._zip = zipfile.ZipFile(handle)
        self.keys: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            if not info.is_dir():
                self.keys[info.filename[:-4] if info.filename.endswith(".npy") else info.filename] = info

    def header(self, key: str) -> Header:
        with self._zip.open(self.keys[key]) as member:
            return read_header(member)

    def read(self, key: str, header: Header) -> NDArray[Any]:
        """The array of member `key`, whose header the caller has read and accepted."""
        with self._zip.open(self.keys[key]) as member:
            if read_header(member) != header:  # the same member, read again: cannot differ
                raise NpyError("its header changed while it was read")
            # typeshed types a member as IO[bytes]; one opened for reading is a ZipExtFile, with readinto
            return read_data(cast(zipfile.ZipExtFile, member), header)

    def close(self) -> None:
        self._zip.close()
        self._handle.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
