"""Termination signals as exceptions, for the command line only.

By default SIGTERM (CI cancelling a job, `timeout`, `kill`) and SIGHUP (a closed terminal) end the
process at once, so a compile in progress leaves its hidden temporary file behind. While
`signals_as_interrupts()` is active, they raise `Interrupted`, a KeyboardInterrupt, and unwind the
stack exactly as Ctrl-C does: every `except BaseException` / `finally` that removes a temporary
file runs. Short steps that must not be split (creating a temporary and remembering its name,
renaming two files into place) hold signals back with `deferred_signals()`; so does Ctrl-C, which
is handled here too while a command runs. Only `cnndsl.cli.main` installs the handlers: a library
must not change a process's signal handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

# The signals that ask a process to end and that Python does not already turn into an exception.
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A termination signal arrived; unwinds like Ctrl-C (which is KeyboardInterrupt itself)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception for a signal: KeyboardInterrupt for Ctrl-C, as Python raises it; Interrupted otherwise."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's convention for a process ended by signal N: 128 + N (130 for Ctrl-C, SIGINT)."""
    return 128 + (interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT)


class _Held:
    """Signals that arrived inside deferred_signals(), to be raised when its outermost block ends,
    and every signal received under the innermost signals_as_interrupts()."""

    depth: ClassVar[int] = 0
    pending: ClassVar[list[int]] = []
    received: ClassVar[list[int]] = []


def raise_if_interrupted() -> None:
    """Raise the interruption for a signal that arrived under signals_as_interrupts() even if its
    exception was lost: C extensions can swallow an exception raised while they run Python code
    (seen with one raised during numpy's lazy import of numpy.random). Call it before a step that
    cannot be undone, such as renaming a finished file into place."""
    if _Held.received and not _Held.depth:
        raise interruption(_Held.received[0])


@contextmanager
def signals_as_interrupts(signums: tuple[int, ...] = (signal.SIGINT, *TERMINATING)) -> Iterator[list[int]]:
    """Raise `interruption(signum)` in the main thread on each of `signums`, unless held back by
    deferred_signals(); restore the previous handlers after. Yields the list of signals received,
    so that a caller can tell that one arrived even if some code swallowed its exception.

    Signals that are ignored stay ignored, and Ctrl-C is taken over only from Python's own handler.
    Outside the main thread (where Python cannot install handlers) it does nothing."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        if _Held.depth:
            _Held.pending.append(signum)
            return
        raise interruption(signum)

    outer, _Held.received = _Held.received, received
    previous = {signum: signal.signal(signum, interrupt) for signum in signums if _ours_to_handle(signum)}
    try:
        yield received
    finally:
        _Held.received = outer
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _ours_to_handle(signum: int) -> bool:
    handler = signal.getsignal(signum)
    if signum == signal.SIGINT:
        return handler is signal.default_int_handler
    return handler is not signal.SIG_IGN  # `nohup cnndsl compile ...` must survive a hangup


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back the signals of signals_as_interrupts() inside the block; the first one that
    arrived is raised as soon as the outermost block ends.

    For steps that must not be split: creating a temporary file and remembering its name (to
    remove it), renaming a model and its external data file into place (stopping between the two
    would pair the new data with the old model), removing a temporary. Python runs signal handlers
    between bytecodes of the main thread, so the handler itself checks whether it is held back:
    blocking the signal with pthread_sigmask would not do, as another thread (numpy's BLAS pool)
    would take it. Under the Python API nothing is held back: the library installs no handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers run in the main thread only: nothing to hold back here
        return
    _Held.depth += 1
    try:
        yield
    finally:
        _Held.depth -= 1
        if not _Held.depth and _Held.pending:
            signum, _Held.pending = _Held.pending[0], []
            raise interruption(signum)
