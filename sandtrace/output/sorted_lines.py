"""psort's line re-ordering for CSV outputs (plaso SortedTextFileOutputModule).

psort does not write l2tcsv/dynamic lines in event order: it buffers lines
while the first sort field (l2tcsv "time", dynamic "datetime") stays the same
and writes each batch sorted on the joined sort fields, then on the line. We
reproduce it literally, including that a batch starts only on the second line
after a change, so the row order matches psort's byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable

_MAXIMUM_LINES = 100_000  # plaso SortedStringHeap._MAXIMUM_NUMBER_OF_STRINGS


class SortedLines:
    def __init__(self, sort_fields: list[str], emit: Callable[[str], None]) -> None:
        self._sort_fields = sort_fields
        self._emit = emit
        self._lines: list[tuple[str, str]] = []
        self._last_primary: str | None = None

    def push(self, field_values: dict[str, str], line: str) -> None:
        primary = field_values.get(self._sort_fields[0])
        if self._last_primary is None:
            self._last_primary = primary
        if primary != self._last_primary or len(self._lines) >= _MAXIMUM_LINES:
            self.flush()
        key = " ".join(field_values.get(name) or "" for name in self._sort_fields)
        self._lines.append((key, line))

    def flush(self) -> None:
        for _, line in sorted(self._lines):
            self._emit(line)
        self._lines = []
        self._last_primary = None
