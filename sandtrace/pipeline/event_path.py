"""The event path: event data -> timeline events -> labels -> sortable items.

Every process of a run takes the same path, so that every output is the
same whichever process made an event: the CLI's own process, extract's
workers (pipeline/tasks.py) and batch's tasks (batch/worker.py). The
timeliner turns an event data into one event per date-time attribute, the
tagger labels each event, and for the sort of lines (timeline/runs.py) each
event becomes an item: its production key, psort's values hash (computed
once per event data) and description, and its formatted line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sandtrace.core.events import Event, EventData
from sandtrace.core.plaso_view import plaso_view
from sandtrace.timeline.runs import Item
from sandtrace.timeline.tagger import Tagger
from sandtrace.timeline.timeliner import Timeliner


class EventPath:
    """One process's timeliner, tagger and (for lines) formatter, with their counts."""

    def __init__(self, tagging_files: Iterable[str] = (), formatter: Any = None) -> None:
        self.timeliner = Timeliner()
        self.tagger = Tagger.with_files(tagging_files)
        self.formatter = formatter  # a Writer without a file: its lines() format (line formats only)

    def events(self, data: EventData) -> list[Event]:
        """The event data's events, labelled."""
        return self.tagger.tag_events(self.timeliner.events(data))

    def items(self, data: EventData, position: int, index: int = 0) -> list[Item]:
        """The event data's items; their indexes run on from ``index``."""
        return self.items_of(self.events(data), position, index)

    def items_of(self, events: list[Event], position: int, index: int) -> list[Item]:
        """Items ``(timestamp, position, index, values hash, description, line)`` of one
        event data's events, labelled; their indexes run on from ``index``."""
        if not events:
            return []
        values_hash = plaso_view(events[0].data).values_hash
        return [(event.timestamp, position, index + number, values_hash, event.timestamp_desc or "Unknown Time", line)
                for number, (event, line) in enumerate(zip(events, self.formatter.lines(events)))]

    # -- counts, summed over processes for the sidecar ------------------------------

    def counts(self) -> dict[str, Counter]:
        """Events per data type, labels given, and data types the timeliner has no entry for."""
        return {"timeliner": Counter(self.timeliner.counter), "tags": Counter(self.tagger.counter),
                "unmapped": Counter(self.timeliner.unmapped)}

    def add_counts(self, counts: dict[str, Any]) -> None:
        """Another process's ``counts()`` (or their JSON form)."""
        self.timeliner.counter.update(counts.get("timeliner") or {})
        self.tagger.counter.update(counts.get("tags") or {})
        self.timeliner.unmapped.update(counts.get("unmapped") or {})

    def clear_counts(self) -> None:
        """A worker's counts start again with each task."""
        self.timeliner.counter.clear()
        self.tagger.counter.clear()
        self.timeliner.unmapped.clear()
