"""timesketch: JSONL that Timesketch imports as is (``*.jsonl``).

Each line has Timesketch's mandatory ``message``, ``datetime`` (ISO 8601,
microseconds, "+00:00") and ``timestamp_desc``, plus ``timestamp`` (µs, always
the same instant as ``datetime``), ``data_type``, ``parser``, ``display_name``,
``source_short``, ``source_long``, ``tag`` (a list) and the event data's
plaso-named attributes. Rules, and why:

- Always UTC: Timesketch stores UTC and converts for display.
- Dates before 1700-01-01 or after 9999 are dropped (Timesketch itself drops
  them from CSV and cannot index them); they are nearly always unset
  FILETIMEs (1601-01-01). The count is in ``events_dropped`` and, when not
  zero, one ``sandtrace:warning`` line at the end says how many.
- Place-holder events (timestamp 0, "Not a time": warnings, data without
  dates) stay, at 1970-01-01T00:00:00+00:00, so gaps remain visible.
- Field names stay bounded (Timesketch fails past ~330 fields): attributes
  keep their plaso names; a dict value (e.g. a future ``event_data``
  mapping) is one JSON-encoded string, never flattened into new fields;
  bytes are base64url strings; date-time attributes are left out.
- Mandatory and standard fields win over attributes of the same name.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sandtrace.core.events import WARNING_DATA_TYPE, Event
from sandtrace.output import fields, sanitize
from sandtrace.output.base import EventView, Writer

MANDATORY_FIELDS = ("message", "datetime", "timestamp_desc")
# Characters that some line readers take for line ends (str.splitlines does):
# written as JSON escapes, so a value decodes unchanged and a line stays a line.
_LINE_BREAKS = str.maketrans({0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"})
STANDARD_FIELDS = MANDATORY_FIELDS + (
    "timestamp", "data_type", "parser", "display_name", "source_short", "source_long", "tag",
)
# Timesketch's importable range: datetime(1700, 1, 1) and datetime(10000, 1, 1) in µs.
MINIMUM_TIMESTAMP = -8_520_336_000_000_000
MAXIMUM_TIMESTAMP = 253_402_300_800_000_000


def escape_line_breaks(text: str) -> str:
    """A JSON line with the characters readers take for line ends written as escapes."""
    return text.translate(_LINE_BREAKS)


def _field_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, (str, int, float, bool)) or item is None for item in value):
            return list(value)
        return json.dumps(value, sort_keys=True, default=str)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class TimesketchWriter(Writer):
    name = "timesketch"
    description = "JSONL for Timesketch import (mandatory fields, UTC, bounded fields)"

    line_format = True

    def record(self, event: Event) -> dict[str, Any] | None:
        if not MINIMUM_TIMESTAMP <= event.timestamp < MAXIMUM_TIMESTAMP:
            return None
        view = EventView(event, self.formatters)
        short, long = self.formatters.source(view.data.data_type)
        record: dict[str, Any] = {
            "datetime": fields.iso_datetime(event.timestamp),
            "timestamp": event.timestamp,
            "timestamp_desc": event.timestamp_desc or "Unknown Time",
            # The two fields Timesketch shows: bidi overrides and C1 controls escaped
            # (json.dumps escapes C0 itself); the attributes keep the raw values.
            "message": sanitize.escape_text(view.message()),
            "data_type": view.data.data_type,
            "parser": view.data.parser or "-",
            "display_name": sanitize.escape_text(view.display_name()),
            "source_short": short,
            "source_long": long,
            "tag": fields.labels(event),
        }
        for name, value in view.attributes.items():
            if name not in record and not fields.is_date_time(value):
                record[name] = _field_value(value)
        return record

    def _write(self, event: Event) -> None:
        self.write_formatted(self.line(event))

    def line(self, event: Event) -> str | None:
        record = self.record(event)
        if record is None:
            return None  # dated outside what Timesketch indexes: counted, said once at the end
        return escape_line_breaks(json.dumps(record, sort_keys=True, ensure_ascii=False))

    def _finish(self) -> None:
        if not self.events_dropped:
            return
        error = (f"{self.events_dropped} events dated before 1700 or after 9999 "
                 f"were left out (Timesketch cannot index them)")
        record = {
            "datetime": fields.iso_datetime(0), "timestamp": 0,
            "timestamp_desc": "Not a time", "message": error,
            "data_type": WARNING_DATA_TYPE, "parser": "sandtrace",
            "display_name": "-", "source_short": "LOG",
            "source_long": "sandtrace warning", "tag": [], "error": error,
        }
        self.write_line(json.dumps(record, sort_keys=True, ensure_ascii=False))
