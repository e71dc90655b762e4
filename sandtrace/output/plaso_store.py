"""plaso: a ``.plaso`` storage file written with plaso's own storage API.

psort, Timesketch's plaso importer and plaso's analysis plugins then read
sandtrace's events as if log2timeline had produced them. One EventData per
distinct event data (cached by values hash and parser), one EventDataStream
per path spec, one EventObject per event, an EventTag when it has labels.
``_event_values_hash`` is sandtrace's (plaso's algorithm), so psort orders
and de-duplicates exactly as sandtrace's own outputs do.

plaso cannot store bytes or dict attribute values in event data: bytes are
stored as base64url strings, dicts as JSON strings.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from typing import Any

from sandtrace.core.events import Event
from sandtrace.core.plaso_view import plaso_view
from sandtrace.output import fields
from sandtrace.output.base import Writer

PLASO_MISSING = "the plaso output needs the plaso extra: pip install 'sandtrace[plaso]'"
_CACHE_SIZE = 100_000


def _import_plaso():
    try:
        from plaso.containers import events as plaso_events
        from plaso.lib import definitions as plaso_definitions
        from plaso.storage import factory as plaso_factory
    except ImportError as error:
        raise RuntimeError(PLASO_MISSING) from error
    return plaso_events, plaso_definitions, plaso_factory


def _storable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


class PlasoStoreWriter(Writer):
    name = "plaso"
    description = "plaso storage file (.plaso), needs the plaso extra"
    binary = True

    def _open(self) -> None:
        self._events, definitions, factory = _import_plaso()
        self._storage = factory.StorageFactory.CreateStorageWriter(
            definitions.STORAGE_FORMAT_SQLITE)
        self._storage.Open(path=self.temp_path)  # mkstemp made an empty file: replace it
        self._data_ids: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._stream_ids: OrderedDict[str, Any] = OrderedDict()

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
        return identifier

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
        labels = fields.labels(event)
        if labels:
            tag = self._events.EventTag()
            tag.AddLabels(labels)
            tag.SetEventIdentifier(plaso_event.GetIdentifier())
            self._storage.AddAttributeContainer(tag)
        self.events_written += 1

    def _release(self) -> None:
        storage, self._storage = getattr(self, "_storage", None), None
        if storage is not None:
            storage.Close()
