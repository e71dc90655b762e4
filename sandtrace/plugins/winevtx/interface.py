"""What an event-log plugin is: it reads each record the winevtx parser has decoded."""

from __future__ import annotations

from sandtrace.core.events import EventData
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
