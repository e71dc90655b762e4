"""l2tcsv: log2timeline's 17-column CSV, as psort writes it.

plaso rules kept: no CSV quoting (commas become spaces), "-" for a missing
value, consecutive MACB events of one event data at one timestamp folded into
one row ("MACB" letters, descriptions joined by "; "), such rows written at
once while other rows go through psort's per-second re-sorting.
"""

from __future__ import annotations

from sandtrace.core.events import Event
from sandtrace.output import fields, sanitize
from sandtrace.output.base import EventView, Writer
from sandtrace.output.sorted_lines import SortedLines

FIELD_NAMES = [
    "date", "time", "timezone", "MACB", "source", "sourcetype", "type", "user",
    "host", "short", "desc", "version", "filename", "inode", "notes", "format", "extra",
]

# plaso L2TCSVFieldFormattingHelper._RESERVED_VARIABLE_NAMES: never in "extra".
RESERVED_NAMES = frozenset({
    "_event_values_hash", "_parser_chain", "body", "data_type", "date_time",
    "display_name", "filename", "hostname", "http_headers", "inode", "mapped_files",
    "metadata", "offset", "path_spec", "query", "source_long", "source_short", "tag",
    "timestamp", "timestamp_desc", "timezone", "username",
})


def _sanitize(value: object) -> str:
    """plaso's rule (commas become spaces), and controls/bidi overrides escaped (output/sanitize.py)."""
    return "-" if value is None else sanitize.escape_cell(str(value))


class L2TCSVWriter(Writer):
    name = "l2tcsv"
    description = "CSV of log2timeline/plaso, 17 fixed columns"
    fallback_path_default = True  # fill "inode" from the path spec (MFT entry)

    def _open(self) -> None:
        self._sorted = SortedLines(["time", "filename", "inode"], self.write_raw)
        self._group: list[EventView] = []
        self._group_key: tuple[int, str | None] | None = None
        self.write_line(",".join(FIELD_NAMES))

    def extra(self, view: EventView) -> str:
        skipped = view.formatter.attribute_names() | RESERVED_NAMES
        pieces = []
        for name, value in view.attributes.items():
            if name in skipped or fields.is_date_time(value):
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8", "backslashreplace")
            pieces.append(f"{name}: {value!s}")
        return "; ".join(sorted(pieces)).replace("\n", "-").replace("\r", "")

    def row(self, view: EventView, macb: str, description: str | None) -> dict[str, str]:
        event, attributes = view.event, view.attributes
        short, long = self.formatters.source(view.data.data_type)
        values = {
            "date": fields.l2t_date(event, self.zone),
            "time": fields.time_of_day(event, self.zone),
            "timezone": fields.zone_name(event, self.zone),
            "MACB": macb,
            "source": short,
            "sourcetype": long,
            "type": description,
            "user": fields.username(attributes),
            "host": fields.hostname(attributes, self.options.hostname),
            "short": view.message_short(),
            "desc": view.message(),
            "version": "2",
            "filename": view.display_name(),
            "inode": fields.inode(view.data, attributes, self.fallback_path),
            "notes": " ".join(fields.labels(event)) or "-",
            "format": fields.parser_chain(view.data),
            "extra": self.extra(view),
        }
        if self.options.neutralize_formulas:
            return {name: sanitize.neutralize_formula(_sanitize(values[name])) for name in FIELD_NAMES}
        return {name: _sanitize(values[name]) for name in FIELD_NAMES}

    def _write_group(self) -> None:
        descriptions = [view.event.timestamp_desc for view in self._group]
        values = self.row(self._group[0], fields.macb_from_descriptions(descriptions),
                          "; ".join(descriptions))
        self.write_line(",".join(values.values()))
        self.events_written += len(self._group)
        self._group = []

    def _write(self, event: Event) -> None:
        # psort groups MACB events per timestamp: a new timestamp ends a group.
        if self._group_key is not None and self._group_key[0] != event.timestamp:
            if self._group:
                self._write_group()
            self._group_key = None
        view = EventView(event, self.formatters)
        group_id = None
        if event.timestamp_desc in fields.MACB_DESCRIPTIONS:
            group_id = view.plaso.values_hash
        if group_id is None:
            if self._group:
                self._write_group()
            values = self.row(view, fields.macb(event), event.timestamp_desc)
            self._sorted.push(values, ",".join(values.values()) + "\n")
            self.events_written += 1
        else:
            last = self._group_key[1] if self._group_key else None
            if self._group and last != group_id:
                self._write_group()
            self._group.append(view)
        self._group_key = (event.timestamp, group_id)

    def _finish(self) -> None:
        if self._group:
            self._write_group()
        self._sorted.flush()
