"""Tagging rules: labels added to events from YAML rule files, as plaso's tagging files do.

A rule names a label and one or more clauses; a clause is a set of conditions
that must all hold, and the label is added when any clause holds. Rules only
ever add labels: the tags a parser set (catalogue tags, ``carved``,
``sandbox_template`` ...) are kept. The rule format is documented in
docs/report.md and at the top of ``data/tagging/windows_sandbox.yaml``.

Conditions of a clause (all optional; all given must hold):
  data_type      a data type or a list of them
  timestamp_desc a timestamp description or a list of them
  tags_any / tags_all / tags_none   labels the event already carries
  exists / missing                  attribute names that must be set / unset
  equals         {attribute: value or [values]}; strings compare case-insensitively
  regex          {attribute: pattern}; Python regex, case-insensitive, searched in
                 the attribute's text (list items one by one; dicts and lists of
                 dicts as sorted JSON)
  not_regex      {attribute: pattern}; the pattern must not match
Attribute names may go into nested values with dots (``event_data.CommandLine``);
``display_name``, ``parser`` and ``timestamp_desc`` are attributes too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from sandtrace import data
from sandtrace.data import load_yaml
from sandtrace.core.events import Event

_CLAUSE_KEYS = {
    "data_type", "timestamp_desc", "tags_any", "tags_all", "tags_none",
    "exists", "missing", "equals", "regex", "not_regex",
}
_RULE_KEYS = {"label", "description", "source", "confidence", "when"}
_LABEL = re.compile(r"^[A-Za-z0-9_]+$")


class TaggingFileError(ValueError):
    """A rules file that cannot be used (named in the message)."""


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


@dataclass
class Clause:
    data_types: frozenset[str] = frozenset()
    timestamp_descs: frozenset[str] = frozenset()
    tags_any: frozenset[str] = frozenset()
    tags_all: frozenset[str] = frozenset()
    tags_none: frozenset[str] = frozenset()
    exists: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    equals: tuple[tuple[str, tuple], ...] = ()
    regex: tuple[tuple[str, re.Pattern], ...] = ()
    not_regex: tuple[tuple[str, re.Pattern], ...] = ()

    def names(self) -> set[str]:
        """The attribute names this clause reads."""
        return {*self.exists, *self.missing, *(name for name, _ in self.equals),
                *(name for name, _ in self.regex), *(name for name, _ in self.not_regex)}

    def matches(self, data_type: str, timestamp_desc: str, labels: set[str], lookup) -> bool:
        if self.data_types and data_type not in self.data_types:
            return False
        if self.timestamp_descs and timestamp_desc not in self.timestamp_descs:
            return False
        if self.tags_any and not (labels & self.tags_any):
            return False
        if self.tags_all and not self.tags_all <= labels:
            return False
        if self.tags_none and labels & self.tags_none:
            return False
        for name in self.exists:
            if lookup(name) in (None, "", [], {}):
                return False
        for name in self.missing:
            if lookup(name) not in (None, "", [], {}):
                return False
        for name, wanted in self.equals:
            if not _equals(lookup(name), wanted):
                return False
        for name, pattern in self.regex:
            if not any(pattern.search(text) for text in _texts(lookup(name))):
                return False
        for name, pattern in self.not_regex:
            if any(pattern.search(text) for text in _texts(lookup(name))):
                return False
        return True


def _equals(value: Any, wanted: tuple) -> bool:
    for candidate in _as_list(value) if isinstance(value, list) else [value]:
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


def _texts(value: Any) -> list[str]:
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


@dataclass
class Rule:
    label: str
    clauses: list[Clause]
    description: str = ""
    source: str = ""
    confidence: str = ""
    origin: str = ""  # the file the rule came from


def _compile_clause(raw: dict, where: str) -> Clause:
    if not isinstance(raw, dict):
        raise TaggingFileError(f"{where}: a clause must be a mapping")
    unknown = set(raw) - _CLAUSE_KEYS
    if unknown:
        raise TaggingFileError(f"{where}: unknown condition(s) {', '.join(sorted(unknown))}")

    def patterns(key: str) -> tuple[tuple[str, re.Pattern], ...]:
        compiled = []
        for name, pattern in (raw.get(key) or {}).items():
            try:
                compiled.append((name, re.compile(str(pattern), re.IGNORECASE)))
            except re.error as exception:
                raise TaggingFileError(f"{where}: bad {key} for {name}: {exception}") from None
        return tuple(compiled)

    return Clause(
        data_types=frozenset(_as_list(raw.get("data_type"))),
        timestamp_descs=frozenset(_as_list(raw.get("timestamp_desc"))),
        tags_any=frozenset(_as_list(raw.get("tags_any"))),
        tags_all=frozenset(_as_list(raw.get("tags_all"))),
        tags_none=frozenset(_as_list(raw.get("tags_none"))),
        exists=tuple(_as_list(raw.get("exists"))),
        missing=tuple(_as_list(raw.get("missing"))),
        equals=tuple((name, tuple(_as_list(value))) for name, value in (raw.get("equals") or {}).items()),
        regex=patterns("regex"),
        not_regex=patterns("not_regex"),
    )


def load_rules(text: str, origin: str = "<rules>") -> list[Rule]:
    """Parses a tagging rules document (``rules:`` list, or a bare list)."""
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exception:
        raise TaggingFileError(f"{origin}: not valid YAML: {exception}") from None
    if isinstance(document, dict):
        document = document.get("rules")
    if not isinstance(document, list):
        raise TaggingFileError(f"{origin}: expected a list of rules under 'rules:'")
    rules = []
    for index, raw in enumerate(document, 1):
        where = f"{origin}: rule {index}"
        if not isinstance(raw, dict) or "label" not in raw:
            raise TaggingFileError(f"{where}: each rule needs a 'label'")
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise TaggingFileError(f"{where} ({raw['label']}): unknown key(s) {', '.join(sorted(unknown))}")
        label = str(raw["label"])
        if not _LABEL.match(label):
            raise TaggingFileError(f"{where}: label {label!r} may hold only letters, digits and _")
        clauses = raw.get("when")
        clauses = [clauses] if isinstance(clauses, dict) else clauses
        if not clauses:
            raise TaggingFileError(f"{where} ({label}): 'when' needs at least one clause")
        rules.append(Rule(
            label=label,
            clauses=[_compile_clause(c, f"{where} ({label})") for c in clauses],
            description=str(raw.get("description") or ""),
            source=str(raw.get("source") or ""),
            confidence=str(raw.get("confidence") or ""),
            origin=origin,
        ))
    return rules


def default_rules() -> list[Rule]:
    """Every rules file shipped under ``sandtrace/data/tagging``."""
    rules: list[Rule] = []
    for path, text in data.folder("tagging"):
        rules.extend(load_rules(text, origin=f"sandtrace/data/{path}"))
    return rules


def _lookup_in(values: dict[str, Any], extra: dict[str, Any]):
    def lookup(name: str) -> Any:
        if name in extra:
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


@dataclass
class Tagger:
    """Applies rules to events; counts the labels it added."""

    rules: list[Rule] = field(default_factory=default_rules)
    counter: Counter = field(default_factory=Counter)
    _plans: dict = field(default_factory=dict, repr=False)  # data type -> rules that can apply
    _event_dependent: dict = field(default_factory=dict, repr=False)  # data type -> rules read timestamp_desc

    def _plan(self, data_type: str) -> list[tuple[str, list[Clause]]]:
        """The rules (label, clauses) whose clauses can match this data type, in rule order."""
        plan = self._plans.get(data_type)
        if plan is None:
            plan = []
            for rule in self.rules:
                clauses = [c for c in rule.clauses if not c.data_types or data_type in c.data_types]
                if clauses:
                    plan.append((rule.label, clauses))
            self._plans[data_type] = plan
        return plan

    @classmethod
    def with_files(cls, paths: Iterable[str] = ()) -> Tagger:
        rules = default_rules()
        for path in paths:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exception:
                raise TaggingFileError(f"{path}: {exception.strerror or exception}") from None
            rules.extend(load_rules(text, origin=path))
        return cls(rules=rules)

    def labels_for(self, data_type: str, timestamp_desc: str, values: dict[str, Any],
                   labels: Iterable[str], display_name: str = "", parser: str = "") -> list[str]:
        """The labels the rules add (in rule order) to an event with these values."""
        present = set(labels)
        lookup = _lookup_in(values, {"display_name": display_name, "parser": parser,
                                     "timestamp_desc": timestamp_desc, "data_type": data_type})
        added: list[str] = []
        # Rules may build on labels other rules add (in file order).
        for label, clauses in self._plan(data_type):
            if label in present:
                continue
            for clause in clauses:
                # Most clauses wait for a label the event lacks: reject those without the call.
                if clause.tags_any and present.isdisjoint(clause.tags_any):
                    continue
                if clause.matches(data_type, timestamp_desc, present, lookup):
                    present.add(label)
                    added.append(label)
                    break
        return added

    def _per_event(self, data_type: str) -> bool:
        """Whether a rule for this data type looks at the event's own description."""
        answer = self._event_dependent.get(data_type)
        if answer is None:
            answer = self._event_dependent[data_type] = any(
                clause.timestamp_descs or "timestamp_desc" in clause.names()
                for _, clauses in self._plan(data_type) for clause in clauses)
        return answer

    def tag(self, event: Event) -> Event:
        return self.tag_events([event])[0]

    def tag_events(self, events: Iterable[Event]) -> list[Event]:
        """Labels the events of one event data. Their labels are found once, unless
        a rule looks at an event's own description or an event carries its own tags."""
        events = list(events)
        shared: list[str] | None = None
        for event in events:
            data = event.data
            if event.tags or self._per_event(data.data_type):
                added = self._labels(event)
            else:
                if shared is None:
                    shared = self._labels(event)
                added = shared
            for label in added:
                event.tags.append(label)
                self.counter[label] += 1
        return events

    def _labels(self, event: Event) -> list[str]:
        data = event.data
        return self.labels_for(data.data_type, event.timestamp_desc or "", data.values, [*data.tags, *event.tags],
                               data.provenance.display_name, data.parser)
