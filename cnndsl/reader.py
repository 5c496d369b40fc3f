"""Reading spec files: size limit, UTF-8 decoding, and characters that must not be in a spec."""

from __future__ import annotations

import os

from .diagnostics import CnnError, Label, error
from .source import Source, Span

# Bidirectional controls can make a spec display differently from how it parses (CVE-2021-42574).
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def read_source(path: str, max_bytes: int) -> Source:
    """Read a spec file as a Source; raise CnnError (E104/E105) when it cannot be used."""
    try:
        if os.path.isdir(path):
            raise CnnError([error("E105", f"'{path}' is a directory, not a spec file", None)])
        size = os.path.getsize(path)
        if size > max_bytes:
            raise CnnError([error("E105", f"'{path}' is {size:,} bytes, over the limit of {max_bytes:,}",
                                  None, help="raise the limit with --max-file-bytes if this is really a spec")])
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as failure:
        raise CnnError([error("E105", f"cannot read '{path}': {failure.strerror or failure}", None)]) from None
    return source_from_bytes(path, data)


def source_from_bytes(path: str, data: bytes) -> Source:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as failure:
        at = len(data[:failure.start].decode("utf-8"))
        # The rest is decoded with replacement characters only so that the line can be shown.
        source = Source(path, data.decode("utf-8", errors="replace"))
        raise CnnError([error("E104", f"the file is not valid UTF-8: byte 0x{data[failure.start]:02x} "
                                      f"at offset {failure.start}", Label(source, Span(at, at + 1)),
                              help="save the spec as UTF-8")]) from None
    return source_from_text(path, text)


def source_from_text(path: str, text: str) -> Source:
    """Validate text; a leading byte-order mark is accepted and dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    source = Source(path, text)
    for offset, char in enumerate(text):
        if char == "\0" or char in _BIDI_CONTROLS:
            what = "a NUL byte" if char == "\0" else f"the bidirectional control character U+{ord(char):04X}"
            raise CnnError([error("E104", f"the file contains {what}", Label(source, Span(offset, offset + 1)),
                                  help="remove it; specs are plain text")])
    return source
