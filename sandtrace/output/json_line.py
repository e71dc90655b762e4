"""json_line: one JSON object per event, with psort's keys and values.

Every event data attribute except date-times, ``parser`` (plaso's
``_parser_chain``), ``pathspec`` (serialized path spec), the event's
``date_time`` (serialized dfdatetime), ``timestamp``, ``timestamp_desc``,
``display_name``, ``message`` and the ``tag`` container; sort_keys=True.
There is no ``datetime`` key, as in plaso.
"""

from __future__ import annotations

import json
from typing import Any

from sandtrace.engine.events import Event
from sandtrace.output import fields
from sandtrace.output.base import EventView, Writer


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return fields.bytes_dict(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


class JSONLineWriter(Writer):
    name = "json_line"
    description = "JSON lines with plaso's keys (psort -o json_line)"

    _last: tuple[Any, dict[str, Any]] | None = None

    def record(self, event: Event) -> dict[str, Any]:
        # A record's events (e.g. creation and written time) usually come in a
        # row and differ only in their time fields: reuse the rest.
        last = self._last
        if last is not None and last[0] is event.data:
            record = dict(last[1])
            self._set_times(record, event)
            return record
        record = self._record(event)
        self._last = (event.data, record)
        return record

    @staticmethod
    def _set_times(record: dict[str, Any], event: Event) -> None:
        record.pop("tag", None)
        if event.date_time is not None:
            record["date_time"] = fields.date_time_dict(event.date_time)
        else:
            record.pop("date_time", None)
        record["timestamp"] = event.timestamp
        if event.timestamp_desc is not None:
            record["timestamp_desc"] = event.timestamp_desc
        else:
            record.pop("timestamp_desc", None)
        labels = fields.labels(event)
        if labels:
            record["tag"] = {"__container_type__": "event_tag",
                             "__type__": "AttributeContainer", "labels": labels}

    def _record(self, event: Event) -> dict[str, Any]:
        view = EventView(event, self.formatters)
        data, attributes = view.data, view.attributes
        record: dict[str, Any] = {"__container_type__": "event", "__type__": "AttributeContainer"}
        for name, value in attributes.items():
            if fields.is_date_time(value):
                continue
            if name == "display_name":
                value = view.display_name()
            elif name == "filename":
                value = fields.filename(data, attributes, self.fallback_path)
            elif name == "inode":
                value = fields.inode(data, attributes, self.fallback_path)
            elif name == "message":
                value = view.message()
            elif name == "values":
                value = fields.registry_values(attributes)
            record[name] = _json_value(value)
        if data.parser:
            record["parser"] = data.parser
        if data.provenance.path_spec is not None:
            record["pathspec"] = fields.path_spec_dict(data.provenance.path_spec)
        if event.date_time is not None:
            record["date_time"] = fields.date_time_dict(event.date_time)
        record["timestamp"] = event.timestamp
        if event.timestamp_desc is not None:
            record["timestamp_desc"] = event.timestamp_desc
        record.setdefault("display_name", view.display_name())
        if self.fallback_path:
            record.setdefault("filename", fields.filename(data, attributes, True))
            record.setdefault("inode", fields.inode(data, attributes, True))
        record["message"] = view.message()
        labels = fields.labels(event)
        if labels:
            record["tag"] = {"__container_type__": "event_tag",
                             "__type__": "AttributeContainer", "labels": labels}
        return record

    def _write(self, event: Event) -> None:
        self.write_line(json.dumps(self.record(event), sort_keys=True, default=str))
        self.events_written += 1
