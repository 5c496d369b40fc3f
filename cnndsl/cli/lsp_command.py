"""`cnndsl lsp`: the language server over standard input and output (cnndsl.lsp, on pygls).

Building the parser, as every command does, imports neither pygls nor cnndsl.lsp; running the
command does, and says how to install pygls when it is missing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..resolve import Limits
from .status import EXIT_OK, EXIT_USAGE


def add_lsp_command(
    command: Callable[[str, str], argparse.ArgumentParser], limits: Callable[[argparse.Namespace], Limits]
) -> None:
    """Add `lsp` with `command` (options.build_parser's); `limits` reads the limit options (options.limits),
    which the server checks every document with."""
    lsp = command("lsp", "run the language server for editors (Language Server Protocol over stdio)")
    # Editors' LSP clients (vscode-languageclient's stdio transport) pass --stdio; it is the only transport.
    lsp.add_argument("--stdio", action="store_true", help="talk over standard input and output (the default)")
    # The documents the editor opens are checked, with their pyproject.toml's rules.
    lsp.set_defaults(files=[], limits_of=limits)


def run_lsp(args: argparse.Namespace) -> int:
    try:
        from ..lsp.server import serve
    except ImportError as missing:
        if (missing.name or "").split(".")[0] not in ("pygls", "lsprotocol", "cattrs"):
            raise
        print(
            f"cnndsl lsp: the language server needs pygls ({missing.name} is not installed); "
            "install it with: pip install 'cnndsl[lsp]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    serve(args.limits_of(args))
    return EXIT_OK
