"""The cnndsl grammar, shipped as package data (cnndsl.grammars)."""
