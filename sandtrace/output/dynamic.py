"""dynamic: psort's default CSV, with a choice of fields (``--fields``)."""

from __future__ import annotations

from collections.abc import Callable

from sandtrace.core.events import Event
from sandtrace.output import fields, sanitize
from sandtrace.output.base import EventView, Writer
from sandtrace.output.sorted_lines import SortedLines

DEFAULT_FIELDS = [
    "datetime", "timestamp_desc", "source", "source_long", "message", "parser",
    "display_name", "tag",
]

Field = Callable[["DynamicWriter", EventView], object]

# plaso DynamicFieldFormattingHelper._FIELD_FORMAT_CALLBACKS; any other name
# is read from the event data attributes.
FIELDS: dict[str, Field] = {
    "date": lambda w, v: fields.date(v.event, w.zone),
    "datetime": lambda w, v: fields.plaso_datetime(v.event, w.zone),
    "display_name": lambda w, v: v.display_name(),
    "filename": lambda w, v: fields.filename(v.data, v.attributes, w.fallback_path),
    "host": lambda w, v: fields.hostname(v.attributes, w.options.hostname),
    "hostname": lambda w, v: fields.hostname(v.attributes, w.options.hostname),
    "inode": lambda w, v: fields.inode(v.data, v.attributes, w.fallback_path),
    "macb": lambda w, v: fields.macb(v.event),
    "message": lambda w, v: v.message(),
    "message_short": lambda w, v: v.message_short(),
    "parser": lambda w, v: fields.parser_chain(v.data),
    "source": lambda w, v: w.formatters.source(v.data.data_type)[0],
    "sourcetype": lambda w, v: w.formatters.source(v.data.data_type)[1],
    "source_long": lambda w, v: w.formatters.source(v.data.data_type)[1],
    "tag": lambda w, v: " ".join(fields.labels(v.event)) or "-",
    "time": lambda w, v: fields.time_of_day(v.event, w.zone),
    "timestamp_desc": lambda w, v: v.event.timestamp_desc or "-",
    "timezone": lambda w, v: fields.zone_name(v.event, w.zone),
    "type": lambda w, v: v.event.timestamp_desc or "-",
    "user": lambda w, v: fields.username(v.attributes),
    "username": lambda w, v: fields.username(v.attributes),
    "values": lambda w, v: fields.registry_values_text(v.attributes),
    "yara_match": lambda w, v: "-",
    "zone": lambda w, v: fields.zone_name(v.event, w.zone),
}


class DynamicWriter(Writer):
    name = "dynamic"
    description = "CSV with selectable fields, psort's default output"

    def _open(self) -> None:
        self.field_names = list(self.options.fields or DEFAULT_FIELDS)
        self._sorted = SortedLines(["datetime", "display_name", "message"], self.write_raw)
        self.write_line(",".join(self.field_names))

    def field_values(self, event: Event) -> dict[str, str]:
        view = EventView(event, self.formatters)
        values = {}
        for name in self.field_names:
            callback = FIELDS.get(name)
            value = callback(self, view) if callback else view.attributes.get(name)
            # commas become spaces (plaso); controls and bidi overrides are escaped (output/sanitize.py)
            values[name] = "-" if value is None else sanitize.escape_cell(str(value))
            if self.options.neutralize_formulas:
                values[name] = sanitize.neutralize_formula(values[name])
        return values

    def _write(self, event: Event) -> None:
        values = self.field_values(event)
        self._sorted.push(values, ",".join(values.values()) + "\n")
        self.events_written += 1

    def _finish(self) -> None:
        self._sorted.flush()
