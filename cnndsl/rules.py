"""Which lint warnings a check reports: ruff-style rule selection.

Rules are the lint warnings (W codes). Errors are not rules: they stop the command whatever the
selection, so they can be selected (to no effect) but never ignored.

A selector is a code (`W103`), a prefix of codes (`W1`, `W`) or `ALL`. A selection is built from
layers, lowest first: the defaults, `[tool.cnndsl]` of the nearest pyproject.toml that has one, the
command line. A layer that gives `select` starts over from it; `extend-select` and `ignore` adjust
what the layers below left. Within a layer the more specific selector wins, as in ruff:
`--select W1 --ignore W101` reports W1xx but W101; `--ignore W1 --select W103` reports W103.

A line of a spec can silence warnings whose primary label is on it, whichever file that is:
`# cnndsl: ignore[W101, W102]`, or `# cnndsl: ignore` for every warning there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from .codes import CODES
from .diagnostics import Diagnostic

WARNING_CODES = frozenset(code for code in CODES if code.startswith("W"))
# W103 fires on AlexNet and VGG, the first networks users compile, where the big fc6 is by design.
OPT_IN = frozenset({"W103"})
ALL = "ALL"
CONFIG_FILE = "pyproject.toml"
CONFIG_KEYS = ("select", "ignore", "extend-select")
LINE_LENGTH_KEY = "line-length"  # `cnndsl fmt`'s (cnndsl.syntax.format), read with the rules' table


class RuleError(ValueError):
    """A selector that names no rule, an error given to ignore, or a broken [tool.cnndsl] table."""


class RuleSet(NamedTuple):
    """The warning codes a check reports; errors are always reported."""

    enabled: frozenset[str]

    def reports(self, diagnostic: Diagnostic) -> bool:
        return diagnostic.is_error or diagnostic.code in self.enabled

    @classmethod
    def from_selection(
        cls,
        select: str | Iterable[str] | None = None,
        ignore: str | Iterable[str] = (),
        extend_select: str | Iterable[str] = (),
    ) -> RuleSet:
        """The defaults adjusted by one layer of selectors, each a code, a prefix or ALL; a string
        holds comma-separated selectors. Raises RuleError for an unknown selector or an ignored error."""
        return resolve([Selection.parse(select, ignore, extend_select)])


class Selection(NamedTuple):
    """One layer of selectors (the command line, or one [tool.cnndsl] table)."""

    select: tuple[str, ...] | None = None  # None: keep what the layers below selected
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        select: str | Iterable[str] | None = None,
        ignore: str | Iterable[str] = (),
        extend_select: str | Iterable[str] = (),
    ) -> Selection:
        """Raises RuleError naming the option and the selector at fault."""

        def checked(value: str | Iterable[str], option: str) -> tuple[str, ...]:
            try:
                return selectors(value, option)
            except RuleError as problem:
                raise RuleError(f"{option}: {problem}") from None

        return cls(
            None if select is None else checked(select, "select"),
            checked(ignore, "ignore"),
            checked(extend_select, "extend-select"),
        )


NO_SELECTION = Selection()  # a layer that changes nothing
DEFAULT_RULES = RuleSet(WARNING_CODES - OPT_IN)
ALL_RULES = RuleSet(WARNING_CODES)


def selectors(value: str | Iterable[str], option: str) -> tuple[str, ...]:
    """Validated selectors from 'W101,W2' or ['W101', 'W2']; upper-cased, empty items dropped.
    `option` ('select', 'ignore', 'extend-select') decides whether an error code is allowed."""
    items = value.split(",") if isinstance(value, str) else list(value)
    result = []
    for item in items:
        if not isinstance(item, str):
            raise RuleError(f"expected codes as strings, got {item!r}")
        selector = item.strip().upper()
        if selector:
            _validate(selector, option)
            result.append(selector)
    return tuple(result)


def _validate(selector: str, option: str) -> None:
    if selector == ALL:
        return  # in ignore, ALL means every warning: errors are not rules
    if not any(code.startswith(selector) for code in CODES):
        from .diagnostics import did_you_mean  # imports difflib; only a mistake needs it

        hint = did_you_mean(selector, [ALL, *CODES])
        raise RuleError(
            f"unknown rule code '{selector}'"
            + (f"; {hint}" if hint else "")
            + " (codes are listed in docs/diagnostics.md)"
        )
    if option == "ignore" and selector.startswith("E"):
        raise RuleError(
            f"'{selector}' names errors, and errors cannot be ignored: a spec with an "
            f"error has no valid network to report on; only warnings (W codes) can be ignored"
        )


def resolve(layers: Iterable[Selection]) -> RuleSet:
    """Apply layers over the defaults, lowest first."""
    enabled = set(DEFAULT_RULES.enabled)
    for layer in layers:
        if layer.select is not None:
            enabled = set()
        changes = [(selector, True) for selector in (layer.select or ()) + layer.extend_select]
        changes += [(selector, False) for selector in layer.ignore]
        # Less specific first, so the more specific selector has the last word; ignore wins a tie.
        for selector, on in sorted(changes, key=lambda change: (_specificity(change[0]), change[1] is False)):
            matched = {code for code in WARNING_CODES if selector == ALL or code.startswith(selector)}
            enabled = enabled | matched if on else enabled - matched
    return RuleSet(frozenset(enabled))


def _specificity(selector: str) -> int:
    return 0 if selector == ALL else len(selector)


# --- pyproject.toml -----------------------------------------------------------------------------


class Config(NamedTuple):
    """A [tool.cnndsl] table: where it is, its rule selection and its line-length (None: not set)."""

    path: str
    selection: Selection
    line_length: int | None


# Each directory looked in: the nearest pyproject.toml with a [tool.cnndsl] table from there up
# (None: there is none).
ConfigCache = dict[str, Config | None]


def configured_rules(
    spec_path: str | os.PathLike[str], command_line: Selection = NO_SELECTION, *, cache: ConfigCache | None = None
) -> RuleSet:
    """The rules for a spec: the defaults, then [tool.cnndsl] of the nearest pyproject.toml that has
    one (in the spec's directory or above), then `command_line`. Raises RuleError for a bad table.

    cache: a dict kept across calls to read each directory's pyproject.toml once (`check` of many files)."""
    found = spec_config(spec_path, cache)
    return resolve(([found.selection] if found else []) + [command_line])


def spec_config(spec_path: str | os.PathLike[str], cache: ConfigCache | None = None) -> Config | None:
    """The [tool.cnndsl] table that applies to a spec (find_config from the spec's directory)."""
    return find_config(os.path.dirname(os.path.abspath(os.fspath(spec_path))), cache)


def find_config(directory: str, cache: ConfigCache | None = None) -> Config | None:
    """The nearest pyproject.toml with a [tool.cnndsl] table, from `directory` up, and what it sets.

    Like ruff, a pyproject.toml without the table is passed over (most belong to other tools)."""
    cache = {} if cache is None else cache
    if directory not in cache:
        path = os.path.join(directory, CONFIG_FILE)
        table = _read_table(path) if os.path.isfile(path) else None
        if table is not None:
            cache[directory] = Config(path, _selection_of(table, path), _line_length_of(table, path))
        else:
            parent = os.path.dirname(directory)
            cache[directory] = find_config(parent, cache) if parent != directory else None
    return cache[directory]


MAX_CONFIG_BYTES = 10_000_000  # as for a spec: a pyproject.toml is a few kilobytes


def _read_table(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as problem:
        raise RuleError(f"{path}: cannot be read ({problem.strerror or problem})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise RuleError(f"{path}: over {MAX_CONFIG_BYTES:,} bytes; not read as a configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:  # TOML is UTF-8: a table in it could not be read
        raise RuleError(f"{path}: not valid UTF-8 (byte {problem.start:,})") from None
    if not _may_hold_table(text):
        return None  # the common case, decided without importing a TOML parser
    document = _parse_toml(text, path)
    table = document.get("tool", {}).get("cnndsl") if isinstance(document.get("tool"), dict) else None
    if table is not None and not isinstance(table, dict):
        raise RuleError(f"{path}: [tool.cnndsl] must be a table")
    return table


def _may_hold_table(text: str) -> bool:
    """False when the text cannot define tool.cnndsl ([tool.cnndsl], tool.cnndsl.x =, [tool] with
    cnndsl = {...}, or tool = {cnndsl = {...}}); string tests, not a regex, which would cost a
    `check` more than the test saves."""
    compact = "".join(text.split()).replace('"', "").replace("'", "")
    return "tool.cnndsl" in compact or "[tool]" in compact or "{cnndsl=" in compact


# tomllib recurses once per nesting level of arrays and inline tables, as deep as the host's recursion
# limit allows (importing keras raises it to 3000): nesting is bounded here instead, the same in
# every process, far past any real pyproject.toml.
MAX_TOML_NESTING = 100


def _parse_toml(text: str, path: str) -> dict[str, Any]:
    import tomllib  # only a pyproject.toml that may hold [tool.cnndsl] needs it

    too_deep = RuleError(f"{path}: not read: its arrays or tables are nested too deeply")
    if _bracket_depth(text) > MAX_TOML_NESTING:
        raise too_deep
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise RuleError(f"{path}: not valid TOML: {problem}") from None
    except RecursionError:
        raise too_deep from None


def _bracket_depth(text: str) -> int:
    """The deepest nesting of [ and { (brackets in strings and comments count too: only a file past
    any real nesting is refused for them)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _selection_of(table: dict[str, Any], path: str) -> Selection:
    for key in table:
        if key not in CONFIG_KEYS and key != LINE_LENGTH_KEY:
            from .diagnostics import did_you_mean

            known = (*CONFIG_KEYS, LINE_LENGTH_KEY)
            hint = did_you_mean(key, known)
            raise RuleError(
                f"{path}: [tool.cnndsl] has an unknown key '{key}'"
                + (f"; {hint}" if hint else f" (known: {', '.join(known)})")
            )
    values: dict[str, list[str] | None] = {}
    for key in CONFIG_KEYS:
        value = table.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise RuleError(f'{path}: [tool.cnndsl] {key} must be a list of codes, like ["W101"]')
        values[key] = value
    try:
        return Selection.parse(values["select"], values["ignore"] or (), values["extend-select"] or ())
    except RuleError as problem:
        raise RuleError(f"{path}: [tool.cnndsl] {problem}") from None


def _line_length_of(table: dict[str, Any], path: str) -> int | None:
    value = table.get(LINE_LENGTH_KEY)
    # bool is an int in Python, and `line-length = true` is no length
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise RuleError(f"{path}: [tool.cnndsl] {LINE_LENGTH_KEY} must be a positive whole number, like 100")
    return value


# --- # cnndsl: ignore[...] ------------------------------------------------------------------------

_IGNORE_COMMENT: re.Pattern[str] | None = None  # compiled on the first line that mentions cnndsl:


def _ignore_comment() -> re.Pattern[str]:
    global _IGNORE_COMMENT
    if _IGNORE_COMMENT is None:
        # `ignore[CODES]`, or a bare `ignore`; an unclosed `ignore[` silences nothing.
        _IGNORE_COMMENT = re.compile(r"#.*?\bcnndsl:\s*ignore\b(?:\[([^\]]*)\]|(?!\s*\[))")
    return _IGNORE_COMMENT


def suppressed(diagnostic: Diagnostic) -> bool:
    """Whether a `# cnndsl: ignore` comment on the line of the warning's primary label silences it."""
    label = diagnostic.primary
    if diagnostic.is_error or label is None:
        return False
    line = label.source.line_text(label.source.line_col(label.span.start)[0])
    line = line.lower()
    if "cnndsl:" not in line:  # cheap test first: almost no line has the comment
        return False
    match = _ignore_comment().search(line)
    if match is None:
        return False
    if match.group(1) is None:
        return True
    codes = [c.strip().upper() for c in match.group(1).split(",")]
    return any(c == ALL or (c and diagnostic.code.startswith(c)) for c in codes)


def reported(rules: RuleSet, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics `rules` selects and no ignore comment silences."""
    return [d for d in diagnostics if rules.reports(d) and not suppressed(d)]
