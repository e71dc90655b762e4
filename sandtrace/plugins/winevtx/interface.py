"""What an event-log plugin is (it reads each record the winevtx parser has decoded),
and the event catalogue that most of them are: entries as data, the rest as handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sandtrace import data
from sandtrace.core.events import EventData
from sandtrace.core.rules import Clause, Lookup, compile_when, holds, lookup_in
from sandtrace.data import load_yaml
from sandtrace.parsers.interface import BasePlugin


class EvtxPlugin(BasePlugin):
    """Reads (tags, explains) the parser's records in place; the winevtx parser finds
    every such class in this package's modules and runs them in module order."""

    DATA_TYPES = ("windows:evtx:record",)

    def process(self, data: EventData) -> bool:
        """Reads one record; True asks the parser to hold it to the end of the file."""
        raise NotImplementedError

    def finish(self, deferred: list[EventData]) -> None:
        """Reads the held records once the whole file is read (correlations)."""


_MISSING = "?"


class Entry:
    """One catalogue entry, compiled (``when``: the condition language of core/rules.py)."""

    def __init__(self, spec: dict[str, Any], handlers: dict[str, Callable], where: str = "<catalogue>") -> None:
        self.spec = spec
        self.id: str = spec["id"]
        self.tags: list[str] = list(spec.get("tags") or [])
        self.tags_by_event_id = {int(k): list(v) for k, v in (spec.get("tags_by_event_id") or {}).items()}
        self.action_by_event_id = {int(k): v for k, v in (spec.get("action_by_event_id") or {}).items()}
        self.message: str | None = spec.get("message")
        self.handler: Callable | None = handlers[spec["handler"]] if spec.get("handler") else None
        when = spec.get("when")
        self.when: list[Clause] = compile_when(when, f"{where}: entry {self.id}") if when is not None else []

    def keys(self) -> list[tuple[str, str, int | None]]:
        spec = self.spec
        ids = spec.get("event_ids") or [None]
        if spec.get("channel") or spec.get("channel_any"):
            names = [spec["channel"]] if spec.get("channel") else spec["channel_any"]
            return [("channel", name.lower(), event_id) for name in names for event_id in ids]
        names = [spec["provider"]] if spec.get("provider") else spec["provider_any"]
        return [("provider", name.lower(), event_id) for name in names for event_id in ids]

    def matches(self, data: EventData, lookup: Lookup) -> bool:
        """Whether the record (its attributes read through ``lookup``) meets ``when``; an entry
        without one takes every record it names."""
        return not self.when or holds(self.when, data.data_type, "", data.tags, lookup)


def load_catalogue(text: str, handlers: dict[str, Callable] | None = None,
                   where: str = "<catalogue>") -> tuple[Entry, ...]:
    """A catalogue's entries, compiled (``handlers``: the code its entries name)."""
    document = load_yaml(text)
    return tuple(Entry(spec, handlers or {}, where) for spec in document["entries"])


class _Format(dict):
    def __missing__(self, key: str) -> str:
        return _MISSING

class CataloguePlugin(EvtxPlugin):
    """An event catalogue: its entries are data (``CATALOGUE``, a file under
    sandtrace/data: channel or provider, event ids, a condition on the fields,
    tags, a message); what data cannot say is code, named by the entries'
    ``handler`` (``HANDLERS``). A new catalogue is a subclass in a module of
    this package, its YAML file and its test."""

    CATALOGUE: ClassVar[str] = ""
    HANDLERS: ClassVar[dict[str, Callable]] = {}

    def __init__(self, entries: tuple[Entry, ...] | None = None) -> None:
        self.entries = entries if entries is not None else self.load()
        self._index: dict[tuple[str, str, int | None], list[Entry]] = {}
        for entry in self.entries:
            for key in entry.keys():
                self._index.setdefault(key, []).append(entry)

    @classmethod
    def load(cls) -> tuple[Entry, ...]:
        """The entries of CATALOGUE, compiled once per class."""
        if "_entries" not in cls.__dict__:
            cls._entries = load_catalogue(data.read(cls.CATALOGUE), cls.HANDLERS, cls.CATALOGUE)
        return cls._entries

    def process(self, data: EventData) -> bool:
        """Applies matching entries; True asks the parser to hold the record to the end of the file."""
        values = data.values
        event_id = values.get("event_identifier")
        channel = (values.get("channel") or "").lower()
        provider = (values.get("source_name") or "").lower()
        index = self._index
        candidates = (
            index.get(("channel", channel, event_id), [])
            + index.get(("channel", channel, None), [])
            + index.get(("provider", provider, event_id), [])
        )
        if not candidates:
            return False
        defer = False
        named = values.get("catalogue_id") is not None  # by a catalogue before this one
        lookup = lookup_in(values)
        for entry in candidates:
            if not entry.matches(data, lookup):
                continue
            extra: dict[str, Any] = {}
            tags = list(entry.tags) + entry.tags_by_event_id.get(event_id, [])
            if entry.handler is not None:
                verdict = entry.handler(self, values, extra, tags)
                if verdict == "defer":
                    defer = True
                    values["_catalogue_pending"] = entry
                    continue
                if verdict is False:
                    continue
            self._apply(data, entry, extra, tags, named)
        return defer

    @staticmethod
    def _apply(data: EventData, entry: Entry, extra: dict[str, Any], tags: list[str], named: bool = False) -> None:
        """Adds the entry's attributes and tags; the id and message stay those of the
        first catalogue that named the record (``named``: one before this one did)."""
        values = data.values
        for tag in tags:
            if tag not in data.tags:
                data.tags.append(tag)
        if named:
            values.update({k: v for k, v in extra.items() if v is not None and not k.startswith("catalogue_")})
            return
        action = entry.action_by_event_id.get(values.get("event_identifier"))
        if action:
            extra.setdefault("catalogue_action", action)
        values.update({k: v for k, v in extra.items() if v is not None})
        values["catalogue_id"] = entry.id
        if entry.message:
            fields = _Format(values.get("event_data") or {})
            fields.update({k: v for k, v in values.items() if k != "event_data" and v is not None})
            try:
                values["catalogue_message"] = entry.message.format_map(fields)
            except (ValueError, IndexError, AttributeError, TypeError):
                values["catalogue_message"] = entry.message
