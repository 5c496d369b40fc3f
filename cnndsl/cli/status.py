"""The exit statuses of every command, in one place for the modules that run them.

0 success (warnings allowed), 1 diagnostics with errors (or `fmt --check` finding changes),
2 usage errors, 3 internal error (a bug in cnndsl); 128 + N for signal N (signals.exit_status).
"""

from __future__ import annotations

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
