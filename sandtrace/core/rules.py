"""The one condition language of sandtrace's knowledge: the tagging rules' clauses
(``data/tagging/``) and the EVTX catalogue's ``when`` (``data/evtx_catalogue/``) are
read and tested here, so a condition means the same wherever it is written.

A ``when`` is a clause or a list of clauses, and holds when any clause holds; a
clause is a mapping of conditions, and holds when all of them hold:

  data_type, timestamp_desc       a value or a list (timestamp_desc: events only)
  tags_any / tags_all / tags_none labels the event or record already carries
  exists / missing                attribute names that must be set / unset
  equals       {attribute: value or [values]}    one of them
  basename     {attribute: name or [names]}      the last part of the path (after
                                                 the last \\ or /, without quotes and
                                                 spaces) is one of them
  contains_all {attribute: text or [texts]}      each is found in the attribute
  contains_any {attribute: text or [texts]}      one of them is
  regex        {attribute: pattern}              Python regex search
  not_regex    {attribute: pattern}              the pattern is not found

Strings compare case-insensitively. An attribute's text is its string; a list's
items one by one (a list holding dicts, or a dict: sorted JSON); another value
as ``str``. Attribute names may go into nested values with dots
(``event_data.CommandLine``). Names of Windows Sandbox are written once, in
``data/sandbox_names.yaml``: in place of a value or list, ``$filter`` is the names
of the entries a filter selects: comma-separated terms, each ``property=value`` or
a bare property that must be set (``$kind=binary``, ``$launcher=start``); the bare
term ``event_name`` adds the entries' event names (``$kind=service,event_name``).
Inside a pattern, ``{$filter}`` is those names as alternatives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sandtrace.core import sandbox_names

Lookup = Callable[[str], Any]

CONDITIONS = frozenset({
    "data_type", "timestamp_desc", "tags_any", "tags_all", "tags_none", "exists", "missing",
    "equals", "basename", "contains_all", "contains_any", "regex", "not_regex",
})
_UNSET = (None, "", [], {})
_PLACEHOLDER = re.compile(r"\{\$([^}]*)\}")


class RuleError(ValueError):
    """A condition that cannot be used (where it is written is named in the message)."""


@dataclass(frozen=True, slots=True)
class Clause:
    """Conditions that must all hold (compiled: sets, lower-cased texts, patterns)."""

    data_types: frozenset[str] = frozenset()
    timestamp_descs: frozenset[str] = frozenset()
    tags_any: frozenset[str] = frozenset()
    tags_all: frozenset[str] = frozenset()
    tags_none: frozenset[str] = frozenset()
    exists: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    equals: tuple[tuple[str, tuple], ...] = ()
    basename: tuple[tuple[str, frozenset[str]], ...] = ()
    contains_all: tuple[tuple[str, tuple[str, ...]], ...] = ()
    contains_any: tuple[tuple[str, tuple[str, ...]], ...] = ()
    regex: tuple[tuple[str, re.Pattern], ...] = ()
    not_regex: tuple[tuple[str, re.Pattern], ...] = ()
    # (test, attribute, argument) for each attribute condition given: every record that
    # reaches the catalogue or the tagger passes here, so absent conditions cost nothing.
    checks: tuple[tuple[Callable[[Any, Any], bool], str, Any], ...] = field(init=False, repr=False, compare=False)
    on_event: bool = field(init=False, repr=False, compare=False)  # a data type, description or tag condition

    def __post_init__(self) -> None:
        checks = [(_is_set, name, None) for name in self.exists]
        checks += [(_is_unset, name, None) for name in self.missing]
        checks += [(_equals_test(wanted), name, wanted) for name, wanted in self.equals]
        checks += [(_basename_in, name, wanted) for name, wanted in self.basename]
        checks += [(_contains_all, name, needles) for name, needles in self.contains_all]
        checks += [(_contains_any, name, needles) for name, needles in self.contains_any]
        checks += [(_found, name, pattern) for name, pattern in self.regex]
        checks += [(_not_found, name, pattern) for name, pattern in self.not_regex]
        object.__setattr__(self, "checks", tuple(checks))
        object.__setattr__(self, "on_event", bool(self.data_types or self.timestamp_descs or self.tags_any
                                                  or self.tags_all or self.tags_none))

    def names(self) -> set[str]:
        """The attribute names this clause reads."""
        return {name for _, name, _ in self.checks}

    def matches(self, data_type: str, timestamp_desc: str, labels: Iterable[str], lookup: Lookup) -> bool:
        if self.on_event and not self._on_event(data_type, timestamp_desc, labels):
            return False
        for test, name, argument in self.checks:
            if not test(lookup(name), argument):
                return False
        return True

    def _on_event(self, data_type: str, timestamp_desc: str, labels: Iterable[str]) -> bool:
        if self.data_types and data_type not in self.data_types:
            return False
        if self.timestamp_descs and timestamp_desc not in self.timestamp_descs:
            return False
        if self.tags_any and self.tags_any.isdisjoint(labels):
            return False
        if self.tags_all and not self.tags_all.issubset(labels):
            return False
        return not (self.tags_none and not self.tags_none.isdisjoint(labels))


def holds(clauses: Iterable[Clause], data_type: str, timestamp_desc: str, labels: Iterable[str],
          lookup: Lookup) -> bool:
    """Whether any clause of a ``when`` holds."""
    for clause in clauses:
        if clause.matches(data_type, timestamp_desc, labels, lookup):
            return True
    return False


def _is_set(value: Any, _: None) -> bool:
    return value not in _UNSET


def _is_unset(value: Any, _: None) -> bool:
    return value in _UNSET


def _equals_test(wanted: tuple) -> Callable[[Any, Any], bool]:
    """``equals``, or its shortcut when every wanted value is a string (then only a string
    or a list's string can equal one)."""
    if not wanted or not all(isinstance(expected, str) for expected in wanted):
        return equals
    lowered = frozenset(expected.lower() for expected in wanted)

    def equals_a_string(value: Any, _: tuple) -> bool:
        if isinstance(value, str):
            return value.lower() in lowered
        return isinstance(value, list) and any(isinstance(item, str) and item.lower() in lowered for item in value)
    return equals_a_string


def _basename_in(value: Any, wanted: frozenset[str]) -> bool:
    return any(basename(text) in wanted for text in texts(value))


def _contains_all(value: Any, needles: tuple[str, ...]) -> bool:
    joined = "\n".join(texts(value)).lower()
    return all(needle in joined for needle in needles)


def _contains_any(value: Any, needles: tuple[str, ...]) -> bool:
    joined = "\n".join(texts(value)).lower()
    return any(needle in joined for needle in needles)


def _found(value: Any, pattern: re.Pattern) -> bool:
    return any(pattern.search(text) for text in texts(value))


def _not_found(value: Any, pattern: re.Pattern) -> bool:
    return not any(pattern.search(text) for text in texts(value))


def equals(value: Any, wanted: tuple) -> bool:
    """Whether the value (a list: one of its items) equals one of the wanted values."""
    for candidate in value if isinstance(value, list) else [value]:
        for expected in wanted:
            if isinstance(expected, str) and isinstance(candidate, str):
                if candidate.lower() == expected.lower():
                    return True
            elif isinstance(expected, bool) or isinstance(candidate, bool):
                if candidate is expected:
                    return True
            elif candidate == expected:
                return True
            elif isinstance(candidate, str) and not isinstance(expected, str) and candidate == str(expected):
                return True
    return False


def texts(value: Any) -> list[str]:
    """The texts of an attribute that ``basename``, ``contains_*`` and ``regex`` test."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, (str, int, float)) for item in value):
            return [str(item) for item in value]
        return [json.dumps(value, sort_keys=True, default=str)]
    if isinstance(value, dict):
        return [json.dumps(value, sort_keys=True, default=str)]
    return [str(value)]


def basename(path: str) -> str:
    """A path's last part, lower-cased, without the spaces and quotes around it."""
    return path.replace("/", "\\").rsplit("\\", 1)[-1].strip().strip('"').lower()


def lookup_in(values: dict[str, Any], extra: dict[str, Any] | None = None) -> Lookup:
    """Reads attributes (``extra`` first), dotted names into nested mappings."""
    extra = extra or {}

    def lookup(name: str) -> Any:
        if extra and name in extra:
            return extra[name]
        if name in values:
            return values[name]
        head, _, rest = name.partition(".")
        value = values.get(head)
        while rest and isinstance(value, dict):
            head, _, rest = rest.partition(".")
            value = value.get(head)
        return None if rest else value
    return lookup


def compile_when(raw: Any, where: str) -> list[Clause]:
    """A ``when`` (a clause or a list of clauses), compiled."""
    clauses = [raw] if isinstance(raw, dict) else raw
    if not clauses or not isinstance(clauses, list):
        raise RuleError(f"{where}: 'when' needs at least one clause")
    return [compile_clause(clause, where) for clause in clauses]


def compile_clause(raw: Any, where: str) -> Clause:
    """One clause, compiled; a ``RuleError`` names what is wrong and where."""
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: a clause must be a mapping")
    unknown = set(raw) - CONDITIONS
    if unknown:
        raise RuleError(f"{where}: unknown condition(s) {', '.join(sorted(unknown))}")

    def by_attribute(key: str) -> list[tuple[str, Any]]:
        mapping = raw.get(key) or {}
        if not isinstance(mapping, dict):
            raise RuleError(f"{where}: {key} takes {{attribute: value}}")
        return list(mapping.items())

    def values(key: str) -> tuple[tuple[str, tuple], ...]:
        return tuple((name, tuple(_values(value, where))) for name, value in by_attribute(key))

    def lowered(key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple((name, tuple(str(v).lower() for v in wanted)) for name, wanted in values(key))

    def patterns(key: str) -> tuple[tuple[str, re.Pattern], ...]:
        compiled = []
        for name, pattern in by_attribute(key):
            try:
                compiled.append((name, re.compile(_expand(str(pattern), where), re.IGNORECASE)))
            except re.error as exception:
                raise RuleError(f"{where}: bad {key} for {name}: {exception}") from None
        return tuple(compiled)

    return Clause(
        data_types=frozenset(_as_list(raw.get("data_type"))),
        timestamp_descs=frozenset(_as_list(raw.get("timestamp_desc"))),
        tags_any=frozenset(_as_list(raw.get("tags_any"))),
        tags_all=frozenset(_as_list(raw.get("tags_all"))),
        tags_none=frozenset(_as_list(raw.get("tags_none"))),
        exists=tuple(_as_list(raw.get("exists"))),
        missing=tuple(_as_list(raw.get("missing"))),
        equals=values("equals"),
        basename=tuple((name, frozenset(wanted)) for name, wanted in lowered("basename")),
        contains_all=lowered("contains_all"),
        contains_any=lowered("contains_any"),
        regex=patterns("regex"),
        not_regex=patterns("not_regex"),
    )


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _values(value: Any, where: str) -> list:
    """A condition's values: one, a list, or a ``$filter`` set of sandbox names."""
    if isinstance(value, str) and value.startswith("$"):
        return list(sandbox_set(value[1:], where))
    return _as_list(value)


def _expand(pattern: str, where: str) -> str:
    """A pattern with each ``{$filter}`` replaced by its names, escaped, as alternatives."""
    return _PLACEHOLDER.sub(
        lambda found: "(?:" + "|".join(re.escape(name) for name in sandbox_set(found.group(1), where)) + ")",
        pattern)


def sandbox_set(text: str, where: str = "") -> tuple[str, ...]:
    """The names of the sandbox names a filter selects (``kind=binary,launcher``: each term
    ``property=value``, or a bare property that must be set); with the bare term
    ``event_name``, their event names too. A name with a ``*`` is a pattern, not a name,
    and is left out."""
    conditions: dict[str, object] = {}
    for term in text.split(","):
        key, has_value, value = term.strip().partition("=")
        if not key:
            raise RuleError(f"{where}: empty term in ${text}")
        conditions[key] = value.strip() if has_value else True
    try:
        selected = sandbox_names.select(**conditions)
    except ValueError as exception:
        raise RuleError(f"{where}: ${text}: {exception}") from None
    with_event_names = conditions.get("event_name") is True
    found = [name for entry in selected
             for name in (None if entry.is_pattern else entry.name, entry.event_name if with_event_names else None)
             if name]
    if not found:
        raise RuleError(f"{where}: ${text} selects no sandbox name")
    return tuple(found)
