// Starts `cnndsl lsp` (the language server, over stdio) for .cnn files.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("cnndsl");
  const [command, ...args] = settings.get("server.command", ["cnndsl", "lsp"]);
  // TransportKind.stdio makes the client add --stdio, which `cnndsl lsp` accepts.
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "cnndsl",
    "cnndsl",
    server,
    {
      documentSelector: [{ language: "cnn" }],
      initializationOptions: { inlayHints: settings.get("inlayHints", false) },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
