"""What every output writer shares: options, atomic files, the event count."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, ClassVar

from sandtrace.core.atomic import AtomicFile
from sandtrace.core.events import Event
from sandtrace.core.plaso_view import plaso_view
from sandtrace.output import fields
from sandtrace.output.formatting import Formatters, default_formatters


@dataclass
class OutputOptions:
    """Options of every writer; each uses those that apply to its format."""

    timezone: str = "UTC"  # --timezone, IANA name (psort --output_time_zone)
    fields: list[str] | None = None  # --fields for dynamic; None = plaso defaults
    include_all: bool = False  # --include-all: keep psort's duplicates (sorter)
    overwrite: bool = False  # replace an existing output file
    hostname: str | None = None  # fallback host (psort --output_fallback_hostname)
    fallback_path: bool | None = None  # psort --output_fallback_path; None = format default
    formatters: Formatters | None = None  # None = sandtrace/data/formatters
    neutralize_formulas: bool = False  # --neutralize-formulas: l2tcsv/dynamic cells starting = + - @ get a '


def write_in_blocks(lines: Iterable[str | None], write: Callable[[list[str]], object]) -> tuple[int, int]:
    """``lines`` handed to ``write`` in blocks of 512, None (a line the format
    leaves out) skipped: (lines written, lines left out). One write per line
    costs more than encoding the text. Each block is a new list, ``write``'s to change."""
    block: list[str] = []
    written = dropped = 0
    for line in lines:
        if line is None:
            dropped += 1
            continue
        block.append(line)
        written += 1
        if len(block) >= 512:
            write(block)
            block = []
    if block:
        write(block)
    return written, dropped


class Writer:
    """Writes events to ``path`` atomically: a temp file, then ``os.replace``.

    ``events_written`` counts the events given to ``write`` that reached the
    output (l2tcsv folds a MACB group into one line; timesketch can drop).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    binary: ClassVar[bool] = False
    fallback_path_default: ClassVar[bool] = False

    # Formats whose events are independent lines (``line``): parallel
    # extraction formats them in its worker processes (pipeline/parallel.py).
    line_format: ClassVar[bool] = False

    def __init__(self, path: str | None, options: OutputOptions | None = None) -> None:
        self.options = options or OutputOptions()
        self.zone = fields.time_zone(self.options.timezone)
        self.formatters = self.options.formatters or default_formatters()
        self.fallback_path = (self.fallback_path_default
                              if self.options.fallback_path is None else self.options.fallback_path)
        self.events_written = 0
        self.events_dropped = 0
        self._pending: list[str] = []
        self._file: IO | None = None
        self._target: AtomicFile | None = None
        if path is None:  # a formatter only: line() works, nothing is written
            self.path = ""
            self._closed = True
            return
        self.path = os.path.abspath(path)
        if os.path.exists(self.path) and not self.options.overwrite:
            raise FileExistsError(f"output file exists: {path} (use overwrite)")
        self._closed = False
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._target = AtomicFile(self.path)
        try:
            if not self.binary:
                self._file = self._target.open("w", encoding="utf-8", newline="")
            else:
                self._target.close_descriptor()
            self._open()
        except BaseException:
            self.abort()
            raise

    @property
    def temp_path(self) -> str:
        """Where the output is written until ``close`` moves it into place ("" for a formatter only)."""
        return self._target.temp_path if self._target is not None else ""

    # Subclass hooks.
    def _open(self) -> None:
        """Writes a header, opens a store: whatever comes before events."""

    def _write(self, event: Event) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flushes buffered lines before the file is moved into place."""

    def _release(self) -> None:
        """Closes whatever ``_open`` opened besides the text file."""

    def set_session(self, session: object) -> None:
        """How the run was made (output/plaso_session.RunSession): a format that records it keeps it."""

    def write(self, event: Event) -> None:
        if self._closed:
            raise ValueError("writer is closed")
        self._write(event)

    def write_events(self, events: list[Event]) -> None:
        """The events of one event data, in output order (a format may share work between them)."""
        for event in events:
            self.write(event)

    def line(self, event: Event) -> str | None:
        """The event's output line (``line_format`` writers; None: the format leaves it out)."""
        raise NotImplementedError

    def lines(self, events: list[Event]) -> list[str | None]:
        """The lines of one event data's events (a format may share work between them)."""
        return [self.line(event) for event in events]

    def write_formatted(self, line: str | None) -> None:
        """A line ``line()`` made, here or in another process."""
        if line is None:
            self.events_dropped += 1
            return
        self.write_line(line)
        self.events_written += 1

    def write_formatted_lines(self, lines: Iterable[str | None]) -> None:
        """``write_formatted`` for each line, in one loop (a merge writes hundreds of thousands)."""
        self._flush_lines()
        written, dropped = write_in_blocks(lines, lambda block: self._file.write("\n".join(block) + "\n"))
        self.events_written += written
        self.events_dropped += dropped

    # A merge split across processes (pipeline/parallel.py) writes part of the
    # lines into this file from another process, at an offset it is given.
    def flush_to_file(self) -> int:
        """Every line so far written out; the file's size."""
        self._flush_lines()
        self._file.flush()
        return self._file.buffer.tell()

    def appended(self, written: int, dropped: int, size: int) -> None:
        """Another process wrote ``written`` lines (``size`` bytes) at the end: count them, go past them."""
        self.events_written += written
        self.events_dropped += dropped
        self._file.seek(0, os.SEEK_END)

    def truncate_at(self, size: int) -> None:
        """Drops whatever lies past ``size`` (another process's unfinished lines)."""
        self.flush_to_file()
        self._file.buffer.truncate(size)
        self._file.seek(0, os.SEEK_END)

    def write_line(self, text: str) -> None:
        # Lines are gathered and written in blocks: one write per line costs
        # more than encoding the text.
        pending = self._pending
        pending.append(text)
        if len(pending) >= 512:
            self._flush_lines()

    def write_raw(self, text: str) -> None:
        """Text as is (newlines included), after the lines gathered so far."""
        self._flush_lines()
        self._file.write(text)

    def _flush_lines(self) -> None:
        if self._pending:
            self._pending.append("")
            self._file.write("\n".join(self._pending))
            self._pending = []

    def close(self) -> None:
        """Finishes the output and moves it into place."""
        if self._closed:
            return
        try:
            self._finish()
            self._flush_lines()
        except BaseException:
            self.abort()
            raise
        self._release()
        if self._file:
            self._file.close()
        self._closed = True
        self._target.commit()

    def abort(self) -> None:
        """Drops the output: the temp file goes, an existing file stays."""
        if self._closed:
            return
        self._closed = True
        try:
            self._release()
        finally:
            if self._file:
                self._file.close()
            self._target.discard()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class EventView:
    """One event with its event data's plaso view (core/plaso_view.py) and message formatter."""

    __slots__ = ("event", "data", "attributes", "formatter", "plaso")

    def __init__(self, event: Event, formatters: Formatters) -> None:
        self.event = event
        self.data = event.data
        self.plaso = plaso_view(event.data)
        self.attributes = self.plaso.attributes
        self.formatter = formatters.get(event.data.data_type)

    def message(self) -> str:
        return self.formatter.message(self.attributes)

    def message_short(self) -> str:
        return self.formatter.message_short(self.attributes)

    def display_name(self) -> str:
        return self.plaso.display_name
