"""The EventLog providers a system's registry names, merged as plaso's preprocessing merges them.

Two keys name them (plaso.preprocessors.windows): in SOFTWARE,
``Microsoft\\Windows\\CurrentVersion\\WINEVT\\Publishers\\{GUID}`` (the
provider's name as default value, ``MessageFileName``), and in SYSTEM,
``<current control set>\\Services\\EventLog\\<log>\\<source>``
(``EventMessageFile``, ``ParameterMessageFile``, ``CategoryMessageFile``,
``ProviderGuid``). A provider met twice (same GUID, else same first source
name) is merged: sources, logs and message files added, a second GUID kept
as ``additional_identifier`` (plaso.helpers.windows.eventlog_providers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandtrace.eventlog_messages import paths
from sandtrace.parsers.winreg_hive import current_control_set, value_data

PUBLISHERS = "Microsoft\\Windows\\CurrentVersion\\WINEVT\\Publishers"


@dataclass
class Provider:
    """plaso's WindowsEventLogProviderArtifact (the same attributes)."""

    identifier: str | None = None
    additional_identifier: str | None = None
    log_sources: list[str] = field(default_factory=list)
    log_types: list[str] = field(default_factory=list)
    category_message_files: list[str] = field(default_factory=list)
    event_message_files: list[str] = field(default_factory=list)
    parameter_message_files: list[str] = field(default_factory=list)


def _files(key: Any, name: str) -> list[str]:
    value = key.get_value_by_name(name)
    data = value_data(value) if value is not None else None
    if not isinstance(data, str):
        return []
    return sorted(filter(None, (path.strip().lower() for path in data.split(";"))))


def _text(key: Any, name: str) -> str | None:
    value = key.get_value_by_name(name)
    data = value_data(value) if value is not None else None
    return data if isinstance(data, str) else None


def publishers(software: Any) -> Iterator[Provider]:
    """SOFTWARE's WINEVT publishers (a pyregf file)."""
    root = software.get_key_by_path(PUBLISHERS)
    for key in root.sub_keys if root is not None else ():
        source = _text(key, "")
        if source is None:
            continue  # plaso: "EventLog source missing"
        yield Provider(identifier=key.name.lower(), log_sources=[source.lower()] if source else [],
                       event_message_files=_files(key, "MessageFileName"))


def sources(system: Any) -> Iterator[Provider]:
    """SYSTEM's EventLog sources (a pyregf file), in the current control set."""
    control_set = current_control_set(system)
    logs = system.get_key_by_path(f"{control_set}\\Services\\EventLog") if control_set else None
    for log in logs.sub_keys if logs is not None else ():
        for key in log.sub_keys:
            guid = _text(key, "ProviderGuid")
            yield Provider(identifier=guid.lower() if guid else None,
                           log_sources=[key.name.lower()] if key.name else [],
                           log_types=[log.name.lower()] if log.name else [],
                           category_message_files=_files(key, "CategoryMessageFile"),
                           event_message_files=_files(key, "EventMessageFile"),
                           parameter_message_files=_files(key, "ParameterMessageFile"))


class Providers:
    """A system's providers, added one by one and merged as plaso merges them."""

    def __init__(self) -> None:
        self.all: list[Provider] = []
        self._by_source: dict[str, Provider] = {}
        self._by_identifier: dict[str, Provider] = {}

    def add(self, provider: Provider) -> None:
        if not provider.log_sources:
            return
        existing = self._by_identifier.get(provider.identifier) if provider.identifier else None
        existing = existing or self._by_source.get(provider.log_sources[0])
        if existing is None:
            for name in ("category_message_files", "event_message_files", "parameter_message_files"):
                setattr(provider, name, [paths.normalise(path) for path in getattr(provider, name)])
            self.all.append(provider)
            self._by_source[provider.log_sources[0]] = provider
            if provider.identifier:
                self._by_identifier[provider.identifier] = provider
            return
        if not existing.identifier:
            existing.identifier = provider.identifier
        elif existing.identifier != provider.identifier:
            existing.additional_identifier = provider.identifier
        for name in ("log_sources", "log_types"):
            mine = getattr(existing, name)
            mine.extend(item for item in dict.fromkeys(v.lower() for v in getattr(provider, name)) if item not in mine)
        for name in ("category_message_files", "event_message_files", "parameter_message_files"):
            mine = getattr(existing, name)
            for path in getattr(provider, name):
                path = paths.normalise(path)
                if path not in mine:
                    mine.append(path)

    def lookup_table(self) -> dict[str, Provider]:
        """psort's table: by GUID and by each source name (lower case); a later provider wins."""
        table: dict[str, Provider] = {}
        for provider in self.all:
            if provider.identifier:
                table[provider.identifier] = provider
            for source in provider.log_sources:
                table[source.lower()] = provider
        return table
