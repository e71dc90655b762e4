"""Tagging rules: labels added to events from YAML rule files, as plaso's tagging files do.

A rule names a label and, under ``when``, one or more clauses; the label is
added when any clause holds. Clauses are the condition language of
``core/rules.py`` (the EVTX catalogue's too), documented in docs/report.md
("Conditions") and at the top of ``data/tagging/windows_sandbox.yaml``; to a
rule, ``display_name``, ``parser``, ``timestamp_desc`` and ``data_type`` are
attributes too. Rules only ever add labels: the tags a parser set (catalogue
tags, ``carved``, ``sandbox_template`` ...) are kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from sandtrace import data
from sandtrace.core.events import Event
from sandtrace.core.rules import Clause, RuleError, compile_when, lookup_in
from sandtrace.data import load_yaml

_RULE_KEYS = {"label", "description", "source", "confidence", "when"}
_LABEL = re.compile(r"^[A-Za-z0-9_]+$")


class TaggingFileError(RuleError):
    """A rules file that cannot be used (named in the message)."""


@dataclass
class Rule:
    label: str
    clauses: list[Clause]
    description: str = ""
    source: str = ""
    confidence: str = ""
    origin: str = ""  # the file the rule came from


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
        try:
            clauses = compile_when(raw.get("when"), f"{where} ({label})")
        except RuleError as exception:
            raise TaggingFileError(str(exception)) from None
        rules.append(Rule(
            label=label,
            clauses=clauses,
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
        lookup = lookup_in(values, {"display_name": display_name, "parser": parser,
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
