"""Reading spec files: regular files only, size limit, UTF-8 decoding, and characters that must not be
in a spec; and helpers for messages about user files (`file_kind`, `file_problem`)."""

from __future__ import annotations

import os
import re
import stat

from .diagnostics import CnnError, Label, error, shorten
from .source import Source, Span

# Bidirectional controls can make a spec display differently from how it parses (CVE-2021-42574).
_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_FORBIDDEN = re.compile(f"[\\0{_BIDI_CONTROLS}]")


def read_source(path: str, max_bytes: int) -> Source:
    """Read a spec file as a Source; raise CnnError (E104/E105) when it cannot be used.

    Only regular files are read: a FIFO would block forever and a device could have no end, so the
    path is checked with stat before it is opened (and again on the open file, in case it changed).
    """
    shown = shorten(path)
    if "\0" in path:  # the operating system refuses such paths (Python raises ValueError)
        raise CnnError([error("E105", f"cannot read '{shown}': the path contains a NUL character", None)])
    try:
        info = os.stat(path)
        _refuse_unless_regular(shown, info.st_mode)
        if info.st_size > max_bytes:
            raise _too_big(shown, info.st_size, max_bytes)
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it must not block.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as handle:
            _refuse_unless_regular(shown, os.fstat(fd).st_mode)
            data = handle.read(max_bytes + 1)
    except OSError as failure:
        raise CnnError([error("E105", f"cannot read '{shown}': {failure.strerror or failure}", None)]) from None
    if data is None:  # a "regular" file with no data yet, such as /proc/kmsg: waiting could be forever
        raise CnnError(
            [
                error(
                    "E105",
                    f"cannot read '{shown}': it has no data to read now",
                    None,
                    help="give the path of a spec file",
                )
            ]
        )
    if len(data) > max_bytes:  # it grew after the stat
        raise _too_big(shown, len(data), max_bytes)
    return source_from_bytes(path, data)


def _refuse_unless_regular(shown: str, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise CnnError([error("E105", f"'{shown}' is a directory, not a spec file", None)])
    if not stat.S_ISREG(mode):
        raise CnnError(
            [
                error(
                    "E105",
                    f"'{shown}' is {file_kind(mode)}, not a regular file",
                    None,
                    help="give the path of a spec file; cnndsl reads specs from files only",
                )
            ]
        )


def _too_big(shown: str, size: int, max_bytes: int) -> CnnError:
    return CnnError(
        [
            error(
                "E105",
                f"'{shown}' is {size:,} bytes, over the limit of {max_bytes:,}",
                None,
                help="raise the limit with --max-file-bytes if this is really a spec",
            )
        ]
    )


# --- helpers for every module that reads or writes user files ---------------------------------

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def file_kind(mode: int) -> str:
    """What an st_mode names, as a noun phrase for messages: 'a FIFO', 'a character device', ..."""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """None when `path` is a readable regular file; else a short reason for a message such as
    f"cannot read '{path}': {reason}": 'no such file', 'a directory', 'a FIFO', 'permission denied'.

    Never opens the file (opening a FIFO blocks), so it is safe to call on any path."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "no such file"
    except PermissionError:
        return "permission denied"
    except (OSError, ValueError) as failure:  # ValueError: a NUL character in the path
        return (getattr(failure, "strerror", None) or str(failure)).lower()
    if not stat.S_ISREG(mode):
        return file_kind(mode)
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def source_from_bytes(path: str, data: bytes) -> Source:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as failure:
        at = len(data[: failure.start].decode("utf-8"))
        # The rest is decoded with replacement characters only so that the line can be shown.
        source = Source(path, data.decode("utf-8", errors="replace"))
        raise CnnError(
            [
                error(
                    "E104",
                    f"the file is not valid UTF-8: byte 0x{data[failure.start]:02x} at offset {failure.start}",
                    Label(source, Span(at, at + 1)),
                    help="save the spec as UTF-8",
                )
            ]
        ) from None
    return source_from_text(path, text)


def source_from_text(path: str, text: str) -> Source:
    """Validate text; a leading byte-order mark is accepted and dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(path, text)
    found = _FORBIDDEN.search(text)  # a regular expression: a 10 MB spec is scanned at C speed
    if found is not None:
        char, offset = found.group(), found.start()
        what = "a NUL byte" if char == "\0" else f"the bidirectional control character U+{ord(char):04X}"
        raise CnnError(
            [
                error(
                    "E104",
                    f"the file contains {what}",
                    Label(source, Span(offset, offset + 1)),
                    help="remove it; specs are plain text",
                )
            ]
        )
    return source
