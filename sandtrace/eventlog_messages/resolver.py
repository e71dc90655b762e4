"""A record's message string, from its system's message files, else from a winevt-rc database.

``MessageResolver.resolve`` gives what psort's ``windows_eventlog_message``
helper gives (plaso.formatters.winevt): nothing without a provider (GUID or
source name) and a non-zero message identifier; the template of the
provider's message identifier (and event version); the record's strings,
each ``%%N`` replaced by the provider's parameter string N, in the
template's placeholders. Also where the template came from, for the
sidecar, and the registered providers whose message files were missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sandtrace.eventlog_messages.database import MessageDatabase, plaso_database
from sandtrace.eventlog_messages.evidence import EvidenceSystem, Problem, locate
from sandtrace.eventlog_messages.templates import format_message

UNRESOLVED = "unresolved"
NO_DATABASE = "none"


@dataclass
class Resolution:
    """A message string (None: none) and where its template came from."""

    text: str | None
    source: str
    problem: Problem | None = None


class MessageResolver:
    """Message strings for the records of one process; systems and templates cached."""

    def __init__(self, database: str | None = None, lcid: int = 0x0409) -> None:
        """``database``: a winevt-rc database's path; None: plaso's when installed; "" none."""
        self.lcid = lcid
        path = plaso_database() if database is None else database
        self.database = MessageDatabase(path, lcid) if path else None
        self.database_label = f"database {path}" if path else NO_DATABASE
        self._systems: dict[tuple, EvidenceSystem | None] = {}
        self._templates: dict[tuple, tuple[str | None, str, Problem | None]] = {}
        self._parameters: dict[tuple, str | None] = {}

    def system(self, path_spec: Any, label: str) -> EvidenceSystem | None:
        """The system a log at ``path_spec`` belongs to (None: not under ``System32\\winevt\\Logs``)."""
        where = locate(path_spec)
        if where is None:
            return None
        system = self._systems.get(where.key)
        if system is None:
            shown = f"{label} {where.separator.join(where.prefix + where.system_root)}"
            system = self._systems[where.key] = EvidenceSystem(where, shown, self.lcid)
        return system

    def _template(self, system: EvidenceSystem | None, provider: str | None, source: str | None,
                  identifier: int, version: int | None) -> tuple[str | None, str, Problem | None]:
        key = (id(system), provider, source, identifier, version)
        known = self._templates.get(key)
        if known is None:
            template, problem, origin = None, None, UNRESOLVED
            if system is not None:
                template, problem = system.message(provider, source, identifier, version)
                origin = f"evidence {system.label}" if template else origin
            if template is None and self.database is not None:
                template = self.database.message(provider, source, identifier, version)
                origin = self.database_label if template else origin
            known = self._templates[key] = (template, origin, problem)
        return known

    def _parameter(self, system: EvidenceSystem | None, provider: str | None, source: str | None,
                   identifier: int) -> str | None:
        key = (id(system), provider, source, identifier)
        if key not in self._parameters:
            found = system.parameter(provider, source, identifier) if system is not None else None
            if found is None and self.database is not None:
                found = self.database.parameter(provider, source, identifier)
            self._parameters[key] = found
        return self._parameters[key]

    def resolve(self, values: dict[str, Any], system: EvidenceSystem | None = None) -> Resolution | None:
        """The message string of a ``windows:evtx:record``'s values (None: psort would not look one up)."""
        provider, source = values.get("provider_identifier"), values.get("source_name")
        identifier = values.get("message_identifier")
        if not (provider or source) or not identifier:
            return None
        template, origin, problem = self._template(system, provider, source, identifier, values.get("event_version"))
        if template is None:
            return Resolution(None, UNRESOLVED, problem)
        strings: Sequence[str | None] = values.get("strings") or []
        text = format_message(template, strings, lambda number: self._parameter(system, provider, source, number))
        return Resolution(text, origin if text is not None else UNRESOLVED, problem)
