"""The `cnndsl` command: check | summary | compile | run.

`main` parses the command line (options), runs one command (commands) and turns every way that can
end into an exit status: 0 success (warnings allowed), 1 diagnostics with errors, 2 usage errors,
3 internal error (a bug in cnndsl), 128 + N for signal N (130 interrupted by Ctrl-C).
`console` is the installed program; `python -m cnndsl` runs it too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from ..diagnostics import CnnError
from ..version import __version__
from .commands import COMMANDS, report
from .options import build_parser
from .status import EXIT_ERRORS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE

__all__ = ["console", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line (default: sys.argv[1:]) and return its exit status; never raises."""
    from ..signals import exit_status, interruption, signals_as_interrupts

    try:
        args = build_parser().parse_command_line(argv)
    except SystemExit as done:  # argparse: usage errors exit 2, --help and --version 0
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        # SIGTERM and SIGHUP unwind like Ctrl-C, so that a cancelled compile removes its temporary
        # files; only while a command runs, and the previous handlers come back after it.
        with signals_as_interrupts() as received:
            status = COMMANDS[args.command](args)
        if received:  # some code swallowed the exception; the signal still asked us to stop
            raise interruption(received[0])
        return status
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or cnndsl.signals.Interrupted
        name = getattr(interrupt, "name", None)
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone; the exit status still tells
            print("cnndsl: interrupted" + (f" ({name})" if name else ""), file=sys.stderr)
        return exit_status(interrupt)
    except CnnError as failure:
        report(failure.diagnostics, args)
        return EXIT_ERRORS
    except BrokenPipeError:  # `cnndsl summary spec.cnn | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as bug:  # a crash is a bug in cnndsl, never the user's fault
        detail = str(bug) if len(str(bug)) <= 300 else str(bug)[:300] + "..."
        print(
            f"cnndsl: internal error: {type(bug).__name__}: {detail}\n"
            f"This is a bug in cnndsl {__version__}; please report it with the spec that caused it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def console() -> int:
    """The `cnndsl` program. A check allocates millions of small objects and frees few of them, so
    CPython's default collection thresholds traverse the same objects again and again: half the
    time of a 50,000-statement check. The program owns its process and collects less often, as
    mypy does; `main`, which a host process may call, leaves the collector alone."""
    import gc

    gc.set_threshold(200_000, 30, 30)
    return main()
