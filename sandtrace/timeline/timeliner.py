"""Event data -> timeline events, driven by ``data/timeliner/*.yaml``.

As in plaso, which date-time attributes become events and how each is
described is data, not code: a parser never decides its timestamp
descriptions. Data types marked ``place_holder_event`` still appear once
("Not a time") when they hold no date, so nothing extracted is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from dfdatetime import filetime as dfdatetime_filetime
from dfdatetime import interface as dfdatetime_interface
from dfdatetime import semantic_time

from sandtrace import data
from sandtrace.data import load_yaml_all
from sandtrace.core.events import WARNING_DATA_TYPE, Event, EventData

NOT_A_TIME = "Not a time"
UNKNOWN_TIME = "Unknown Time"
_FILETIME_EPOCH = 116_444_736_000_000_000  # 1970-01-01 in FILETIME's 100 ns since 1601
_UINT64_MAX = (1 << 64) - 1


def plaso_timestamp(value: dfdatetime_interface.DateTimeValues) -> int | None:
    """``value.GetPlasoTimestamp()``; for a FILETIME in UTC, in integers.

    dfdatetime goes through Decimal (seconds, then x 10**6, rounded half up):
    a quarter of the timeliner's time on an event log. In 100 ns units the
    same rounding is (d + 5) // 10 for d >= 0 and -((-d + 5) // 10) below.
    """
    if type(value) is dfdatetime_filetime.Filetime and not value._time_zone_offset:
        timestamp = value._timestamp
        if type(timestamp) is int and 0 <= timestamp <= _UINT64_MAX:
            delta = timestamp - _FILETIME_EPOCH
            return (delta + 5) // 10 if delta >= 0 else -((5 - delta) // 10)
    return value.GetPlasoTimestamp()


def load_mappings(text: str | None = None) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Reads timeliner YAML (``text``, or every file in ``data/timeliner``):
    data_type -> {attribute: description}, place holders."""
    texts = [text] if text is not None else [content for _, content in data.folder("timeliner")]
    mappings: dict[str, dict[str, str]] = {}
    place_holders: set[str] = set()
    for document in (document for content in texts for document in load_yaml_all(content)):
        if not document:
            continue
        data_type = document["data_type"]
        if data_type in mappings:
            raise ValueError(f"duplicate timeliner definition for {data_type}")
        mappings[data_type] = {
            item["name"]: item["description"] for item in document.get("attribute_mappings") or []
        }
        if document.get("place_holder_event"):
            place_holders.add(data_type)
    return mappings, place_holders


class Timeliner:
    """Produces the events of each event data, counting what it made."""

    def __init__(self, yaml_text: str | None = None) -> None:
        self._mappings, self._place_holders = load_mappings(yaml_text)
        self._place_holders.add(WARNING_DATA_TYPE)
        self.counter: Counter[str] = Counter()
        self.unmapped: Counter[str] = Counter()
        self._sequence = 0

    def events(self, data: EventData) -> Iterator[Event]:
        mapping = self._mappings.get(data.data_type)
        if mapping is None:
            # An unmapped data type is a developer error; keep its dates anyway.
            self.unmapped[data.data_type] += 1
            mapping = {name: UNKNOWN_TIME for name in data.date_time_values()}
        produced = 0
        for attribute, description in mapping.items():
            values = data.values.get(attribute)
            if values is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, dfdatetime_interface.DateTimeValues):
                    continue
                timestamp = plaso_timestamp(value)
                if timestamp is None:
                    continue
                produced += 1
                yield self._event(timestamp, description, value, data)
        if not produced and data.data_type in self._place_holders:
            yield self._event(0, NOT_A_TIME, semantic_time.NotSet(), data)

    def _event(self, timestamp, description, date_time, data: EventData) -> Event:
        self._sequence += 1
        self.counter[data.data_type] += 1
        return Event(
            timestamp=timestamp,
            timestamp_desc=description,
            date_time=date_time,
            data=data,
            tags=list(data.tags),
            sequence=self._sequence,
        )
