"""`cnndsl lsp`: the Language Server Protocol server (pygls), over stdio.

server (pygls wiring, the open documents), documents (a document's check and the included files'
names), index (the names a file writes), reports (diagnostics and quick fixes), hover (and inlay
hints), navigation (definition, references, outline), completion, formatting, positions (offsets
and LSP positions). Only `cnndsl lsp` imports this package; docs/editors.md describes it.
"""
