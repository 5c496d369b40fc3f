"""editors/vscode: the extension manifest is valid JSON and agrees with itself, with the extension
that starts the server and with `cnndsl lsp` (no npm needed)."""

from __future__ import annotations

import json
import pathlib
import re

import cnndsl
from cnndsl.cli.options import build_parser

EXTENSION = pathlib.Path(__file__).resolve().parent.parent / "editors" / "vscode"


def _json(name: str) -> dict:
    return json.loads((EXTENSION / name).read_text(encoding="utf-8"))


def test_the_manifest_declares_the_cnn_language_its_grammar_and_configuration():
    manifest = _json("package.json")
    assert manifest["name"] == "cnndsl" and manifest["version"] == cnndsl.__version__
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "cnn" and language["extensions"] == [".cnn"]
    assert (EXTENSION / language["configuration"]).is_file()
    [grammar] = manifest["contributes"]["grammars"]
    assert grammar["language"] == "cnn" and grammar["path"] == "./syntaxes/cnn.tmLanguage.json"
    assert (EXTENSION / manifest["main"]).is_file() and "vscode-languageclient" in manifest["dependencies"]


def test_the_language_configuration_has_hash_comments_and_the_brackets():
    configuration = _json("language-configuration.json")
    assert configuration["comments"] == {"lineComment": "#"}
    assert configuration["brackets"] == [["{", "}"], ["[", "]"], ["(", ")"]]


def test_the_extension_starts_cnndsl_lsp_for_the_cnn_language():
    manifest = _json("package.json")
    default = manifest["contributes"]["configuration"]["properties"]["cnndsl.server.command"]["default"]
    assert default == ["cnndsl", "lsp"]
    script = (EXTENSION / "extension.js").read_text(encoding="utf-8")
    assert re.search(r'documentSelector: \[\{ language: "cnn" \}\]', script)
    assert 'settings.get("server.command", ["cnndsl", "lsp"])' in script
    # The client's stdio transport adds --stdio: the command must accept it.
    assert "TransportKind.stdio" in script
    assert build_parser().parse_command_line(["lsp", "--stdio"]).command == "lsp"
