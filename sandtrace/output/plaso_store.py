"""plaso: a ``.plaso`` storage file written with plaso's own storage API.

psort, pinfo, Timesketch's plaso importer and plaso's analysis plugins read
sandtrace's store as if log2timeline had written it: one EventData per
distinct event data (cached by values hash and parser), one EventDataStream
per path spec, one EventObject per event, an EventTag when it has labels;
and what pinfo reports (output/plaso_session.py): the session, the source
configuration, preprocessing, event sources (the file systems, and every
file that gave event data) and the counts of events per parser, data type
and label. ``_event_values_hash`` is sandtrace's (plaso's algorithm), so
psort orders and de-duplicates exactly as sandtrace's own outputs do.

plaso cannot store bytes or dict values in event data: they are stored as
the text sandtrace's own outputs show for them, so psort renders the same.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any

from sandtrace.core.events import Event
from sandtrace.core.plaso_view import plaso_view
from sandtrace.output import fields
from sandtrace.output import plaso_session
from sandtrace.output.base import Writer
from sandtrace.output.plaso_session import RunSession

PLASO_MISSING = "the plaso output needs the plaso extra: pip install 'sandtrace[plaso]'"
_CACHE_SIZE = 100_000


def _import_plaso():
    try:
        from plaso.containers import artifacts as plaso_artifacts
        from plaso.containers import counts as plaso_counts
        from plaso.containers import event_sources as plaso_sources
        from plaso.containers import events as plaso_events
        from plaso.lib import definitions as plaso_definitions
        from plaso.storage import factory as plaso_factory
    except ImportError as error:
        raise RuntimeError(PLASO_MISSING) from error
    return plaso_artifacts, plaso_counts, plaso_sources, plaso_events, plaso_definitions, plaso_factory


def _unstorable(value: Any) -> bool:
    """A dict or bytes, or a list holding one: plaso's serializer refuses them in event data."""
    if isinstance(value, (list, tuple)):
        return any(_unstorable(item) for item in value)
    return isinstance(value, (dict, bytes))


def _storable(value: Any) -> Any:
    """``value`` as plaso can store it: as is, or as the text l2tcsv's ``extra`` shows for it."""
    if not _unstorable(value):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def parser_name(chain: str | None) -> str | None:
    """The name plaso counts an event under: the last element of its parser chain."""
    return chain.rsplit("/", 1)[-1] if chain else None


class PlasoStoreWriter(Writer):
    name = "plaso"
    description = "plaso storage file (.plaso), needs the plaso extra"
    binary = True

    def _open(self) -> None:
        self._artifacts, self._counts, self._sources, self._events, definitions, factory = _import_plaso()
        self._storage = factory.StorageFactory.CreateStorageWriter(
            definitions.STORAGE_FORMAT_SQLITE)
        self._storage.Open(path=self.temp_path)  # mkstemp made an empty file: replace it
        self._data_ids: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._stream_ids: OrderedDict[str, Any] = OrderedDict()
        self._source_keys: set[str] = set()  # path spec keys of the files already stored as event sources
        self._session = RunSession()
        self._session_container: Any = None
        self.counters: dict[str, Counter] = {"parsers": Counter(), "data_types": Counter(), "labels": Counter()}

    def set_session(self, session: RunSession) -> None:
        """The run's session, written now with its preprocessing and sources (log2timeline's order)."""
        self._session = session
        for source in session.sources:
            self.add_container(self._artifacts.SourceConfigurationArtifact(
                path=source.path, source_type=source.source_type))
            for configuration in plaso_session.preprocess(self._storage, source.file_systems):
                self.add_container(configuration)
            for path_spec in source.file_systems:  # log2timeline's first sources: the file systems
                self._add_event_source(path_spec, path_spec.comparable)
        self._session_container = plaso_session.session_container(session)
        self.add_container(self._session_container)

    def add_container(self, container: Any) -> None:
        """Any other plaso attribute container the store should hold (e.g. EVTX message tables)."""
        self._storage.AddAttributeContainer(container)

    @staticmethod
    def _cache(cache: OrderedDict, key: Any, value: Any) -> None:
        cache[key] = value
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)

    def _stream_identifier(self, path_spec: Any, key: str) -> Any:
        identifier = self._stream_ids.get(key)
        if identifier is None:
            stream = self._events.EventDataStream()
            stream.path_spec = path_spec
            self._storage.AddAttributeContainer(stream)
            identifier = stream.GetIdentifier()
            self._cache(self._stream_ids, key, identifier)
            self._add_event_source(path_spec, key)  # a file that gave event data
        return identifier

    def _add_event_source(self, path_spec: Any, key: str) -> None:
        if key not in self._source_keys:
            self._source_keys.add(key)
            self.add_container(self._sources.EventSource(path_spec=path_spec))

    def _data_identifier(self, event: Event) -> Any:
        data = event.data
        view = plaso_view(data)
        values_hash = view.values_hash
        identifier = self._data_ids.get((values_hash, data.parser))
        if identifier is not None:
            return identifier
        event_data = self._events.EventData(data_type=data.data_type)
        for name, value in view.attributes.items():
            if name != "data_type":
                setattr(event_data, name, _storable(value))
        event_data._parser_chain = data.parser or None  # noqa: SLF001 (plaso's own field)
        event_data._event_values_hash = values_hash  # noqa: SLF001
        if data.provenance.path_spec is not None:
            event_data.SetEventDataStreamIdentifier(
                self._stream_identifier(data.provenance.path_spec, view.path.comparable))
        self._storage.AddAttributeContainer(event_data)
        identifier = event_data.GetIdentifier()
        self._cache(self._data_ids, (values_hash, data.parser), identifier)
        return identifier

    def _write(self, event: Event) -> None:
        plaso_event = self._events.EventObject()
        plaso_event.timestamp = event.timestamp
        plaso_event.timestamp_desc = event.timestamp_desc
        plaso_event.date_time = event.date_time
        plaso_event.SetEventDataIdentifier(self._data_identifier(event))
        self._storage.AddAttributeContainer(plaso_event)
        self._count(event)
        labels = fields.labels(event)
        if labels:
            tag = self._events.EventTag()
            tag.AddLabels(labels)
            tag.SetEventIdentifier(plaso_event.GetIdentifier())
            self._storage.AddAttributeContainer(tag)
            for label in tag.labels:
                self.counters["labels"][label] += 1
                self.counters["labels"]["total"] += 1
        self.events_written += 1

    def _count(self, event: Event) -> None:
        # As plaso's timeliner counts: every event adds to "total", a named one to its name too.
        data_types, parsers = self.counters["data_types"], self.counters["parsers"]
        data_types[event.data.data_type] += 1
        data_types["total"] += 1
        parser = parser_name(event.data.parser)
        if parser:
            parsers[parser] += 1
        parsers["total"] += 1

    def _finish(self) -> None:
        """The counters pinfo shows, and the session's completion (written last, as log2timeline does)."""
        for name, number in self.counters["data_types"].items():
            self.add_container(self._counts.DataTypeCount(name=name, number_of_events=number))
        for name, number in self.counters["parsers"].items():
            self.add_container(self._counts.ParserCount(name=name, number_of_events=number))
        for label, number in self.counters["labels"].items():
            self.add_container(self._counts.EventLabelCount(label=label, number_of_events=number))
        completion = plaso_session.now_microseconds()
        if self._session_container is None:
            self.add_container(plaso_session.session_container(self._session, completion))
        else:
            self._session_container.completion_time = completion
            self._storage.UpdateAttributeContainer(self._session_container)

    def _release(self) -> None:
        storage, self._storage = getattr(self, "_storage", None), None
        if storage is not None:
            storage.Close()
