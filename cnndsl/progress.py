"""A progress line on a terminal for long writes: 'writing vgg19.onnx: 312.4 of 575.3 MB (54%), 412 MB/s'.

It appears only on a terminal and only once a write has run for `delay` seconds (a quick compile
prints nothing extra), is redrawn in place with '\\r' a few times a second, and is erased by
`clear()`, so that the final message (or an error) starts on a clean line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class ProgressLine:
    """A `progress(done, total)` callback for cnndsl.onnx.compile_file that draws on `stream`."""

    DELAY = 1.0  # seconds of silence first: most compiles finish sooner and need no progress

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        delay: float = DELAY,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.label = label
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None
        self.width = 0  # of the line on screen, to blank it out

    @classmethod
    def for_terminal(cls, stream: TextIO, label: str) -> ProgressLine | None:
        """A progress line when `stream` is a terminal; None otherwise (logs and pipes get none)."""
        try:
            interactive = stream.isatty()
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            interactive = False
        return cls(stream, label, delay=cls.DELAY) if interactive else None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.started < self.delay:
            return
        if self.drawn_at is not None and now - self.drawn_at < self.interval and done < total:
            return
        self.drawn_at = now
        self._draw(self.render(done, total, now - self.started))

    def render(self, done: int, total: int, elapsed: float) -> str:
        percent = f" ({100 * done // total}%)" if total else ""
        rate = f", {done / 1e6 / elapsed:,.0f} MB/s" if elapsed > 0 else ""
        return f"{self.label}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB{percent}{rate}"

    def clear(self) -> None:
        """Erase the line if one was drawn; harmless otherwise."""
        if self.width:
            self._write("\r" + " " * self.width + "\r")
            self.width = 0

    def _draw(self, text: str) -> None:
        padding = " " * max(0, self.width - len(text))  # cover a longer previous line
        self._write("\r" + text + padding)
        self.width = len(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away (SIGHUP follows): progress is optional
            pass
