"""`cnndsl lsp`: the Language Server Protocol server (pygls), over stdio."""
