"""json_line: one JSON object per event, with psort's keys and values.

Every event data attribute except date-times, ``parser`` (plaso's
``_parser_chain``), ``pathspec`` (serialized path spec), the event's
``date_time`` (serialized dfdatetime), ``timestamp``, ``timestamp_desc``,
``display_name``, ``message`` and the ``tag`` container; sort_keys=True.
There is no ``datetime`` key, as in plaso.
"""

from __future__ import annotations

import bisect
import json
import uuid
from typing import Any

from sandtrace.core.events import Event
from sandtrace.core.plaso_view import plaso_view
from sandtrace.output import fields
from sandtrace.output.base import EventView, Writer

_PLAIN = frozenset({str, int, float, bool, type(None)})
_TEXT = frozenset({str})
_COMPUTED = frozenset({"display_name", "filename", "inode", "message", "values"})  # shown as psort computes them
# The keys that differ between the events of one record, and ``pathspec``
# (the same for every record of a file: encoded once per file, core/plaso_view.py);
# the rest is encoded once per record.
_SPLICED = frozenset({"date_time", "pathspec", "tag", "timestamp", "timestamp_desc"})
_BOUNDS = tuple(sorted(_SPLICED))


def _encoder():
    """``json.JSONEncoder(sort_keys=True, default=str).encode``, less its per-call set-up.

    JSONEncoder.encode builds a new C encoder on every call; a line takes
    several calls, so one C encoder is made here and kept (without the
    circular-reference check: event values are trees). Python without the
    C accelerator gets the plain encode.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(sort_keys=True, default=str).encode
    iterencode = make(None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", True, False, True)

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


_encode = _encoder()
_DESCRIPTIONS: dict[str, str] = {}


def _description(text: str) -> str:
    encoded = _DESCRIPTIONS.get(text)
    if encoded is None:
        encoded = _DESCRIPTIONS[text] = _encode(text)
    return encoded


# Place-holders for the spliced keys: the record is encoded once with them and
# cut where they sit. The random part keeps evidence text from ever matching.
_NONCE = uuid.uuid4().hex
_HOLDERS = {key: f"\x00{_NONCE}{number}\x00" for number, key in enumerate(_BOUNDS)}
_TOKENS = {key: f"{_encode(key)}: {_encode(holder)}" for key, holder in _HOLDERS.items()}


def _shared_runs(record: dict[str, Any]) -> list[str]:
    """The record's keys other than the spliced ones, as six encoded runs
    (before date_time, before pathspec, before tag, before timestamp, before
    timestamp_desc, after it), each ``"k": v, ...`` without braces, empty
    when it has no key."""
    text = _encode({**record, **_HOLDERS})[1:-1]
    runs = []
    for key in _BOUNDS:
        before, found, text = text.partition(_TOKENS[key])
        if not found:
            return _shared_runs_apart(record)
        runs.append(before.strip(", "))  # a run starts with a key's quote and ends with a value
    runs.append(text.strip(", "))
    return runs


def _shared_runs_apart(record: dict[str, Any]) -> list[str]:
    """``_shared_runs``, each run encoded on its own."""
    runs: list[dict[str, Any]] = [{}, {}, {}, {}, {}, {}]
    for key, value in record.items():
        if key not in _SPLICED:
            runs[bisect.bisect(_BOUNDS, key)][key] = value
    return [_encode(run)[1:-1] if run else "" for run in runs]


def _json_value(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    # Most containers (an event log's strings and event data) hold plain
    # values under text keys: encoded as they are, without a copy.
    if kind is list and set(map(type, value)) <= _PLAIN:
        return value
    if kind is dict and set(map(type, value.values())) <= _PLAIN and set(map(type, value)) <= _TEXT:
        return value
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

    def record(self, event: Event) -> dict[str, Any]:
        """The event's JSON object, as ``json.dumps(record, sort_keys=True)`` gives its line."""
        return self._record(event)

    def _record(self, event: Event) -> dict[str, Any]:
        view = EventView(event, self.formatters)
        data, attributes = view.data, view.attributes
        record: dict[str, Any] = {"__container_type__": "event", "__type__": "AttributeContainer"}
        for name, value in attributes.items():
            if type(value) in _PLAIN and name not in _COMPUTED:
                record[name] = value  # most attributes: a plain value shown as it is
                continue
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
            record["pathspec"] = view.plaso.path.json
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

    @staticmethod
    def _date_time(date_time: Any, known: dict[tuple, str]) -> str:
        """``"date_time": {...}``; a record's creation and written times are often the same value."""
        key = (type(date_time), getattr(date_time, "_timestamp", None), date_time.time_zone_offset,
               date_time.is_local_time)
        text = known.get(key) if key[1] is not None else None
        if text is None:
            text = known[key] = '"date_time": ' + _encode(fields.date_time_dict(date_time))
        return text

    line_format = True

    def _write(self, event: Event) -> None:
        self.write_formatted(self.line(event))

    def write_events(self, events: list[Event]) -> None:
        self.write_formatted_lines(self.lines(events))

    def line(self, event: Event) -> str:
        return self.lines([event])[0]

    def lines(self, events: list[Event]) -> list[str]:
        """The lines of one event data's events: ``json.dumps(record, sort_keys=True)``, assembled.

        The keys of the event data are encoded once, in runs between the
        events' own keys (date_time, tag, timestamp, timestamp_desc) and
        pathspec (encoded once per file), whose values are spliced in.
        """
        record = self._record(events[0])
        runs = _shared_runs(record)
        pathspec = ""
        if "pathspec" in record:
            data = events[0].data
            pathspec = '"pathspec": ' + (plaso_view(data).path.json_text if data.provenance.path_spec is not None
                                         else _encode(record["pathspec"]))
        known: dict[tuple, str] = {}
        return [self._line(event, runs, pathspec, known) for event in events]

    def _line(self, event: Event, runs: list[str], pathspec: str, known: dict[tuple, str]) -> str:
        pieces = [runs[0]]
        if event.date_time is not None:
            pieces.append(self._date_time(event.date_time, known))
        pieces.append(runs[1])
        pieces.append(pathspec)
        pieces.append(runs[2])
        labels = fields.labels(event)
        if labels:
            pieces.append('"tag": ' + _encode({"__container_type__": "event_tag",
                                                "__type__": "AttributeContainer", "labels": labels}))
        pieces.append(runs[3])
        timestamp = event.timestamp
        pieces.append(f'"timestamp": {timestamp}' if type(timestamp) is int else '"timestamp": ' + _encode(timestamp))
        pieces.append(runs[4])
        if event.timestamp_desc is not None:
            pieces.append('"timestamp_desc": ' + _description(event.timestamp_desc))
        pieces.append(runs[5])
        return "{" + ", ".join(piece for piece in pieces if piece) + "}"
