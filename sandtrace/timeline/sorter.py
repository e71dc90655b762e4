"""Sort events into the order psort writes them, in bounded memory.

psort reads events by timestamp, then per timestamp pushes them on a heap
keyed by (event values hash, timestamp description), pops them in that order
and drops an event whose hash and description equal the previous one's
(``plaso/multi_process/output_engine.py``). ``sort_events`` reproduces that
order and de-duplication over an external merge sort: sorted runs of at most
``max_in_memory`` events are pickled to temporary files and merged with
heapq, so memory stays bounded whatever the input size.

The values hash the order depends on is the event data's plaso view's
(core/plaso_view.py), the one the outputs and the ``.plaso`` writer use.
"""

from __future__ import annotations

import heapq
import itertools
import operator
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from sandtrace.core.events import Event, EventData, Provenance
from sandtrace.core.plaso_view import plaso_view

# psort flushes its per-timestamp heap once it holds more than this many
# events; the order inside a timestamp is heap order per flushed chunk.
PSORT_HEAP_CHUNK = 100_001


class _Tie:
    """An entry on psort's heap past (values hash, description): a full tie.

    plaso's EventObject.__lt__ orders on timestamp and description, both equal
    here (one chunk is one timestamp), so it is always False and the pop order
    of full ties is heapq's, which only the same pushes in the same order
    reproduce. No __eq__: identity, as for plaso's events.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Tie) -> bool:
        return False


def heap_order(entries: Iterable[tuple[str, str, Any]], deduplicate: bool) -> Iterator[Any]:
    """psort's heap over one timestamp's (values hash, description, value) entries, in push order.

    Pops by (hash, description); with ``deduplicate``, a value whose hash and
    description equal the previous one's is dropped (psort without ``-a``).
    When no two entries share (hash, description) the heap pops them in
    sorted order and drops none: a sort gives the same, without the heap.
    """
    entries = list(entries)
    if len({entry[:2] for entry in entries}) == len(entries):
        entries.sort(key=_HASH_DESCRIPTION)
        return iter([value for _, _, value in entries])
    return _heap_pops(entries, deduplicate)


_HASH_DESCRIPTION = operator.itemgetter(0, 1)


def _heap_pops(entries: list[tuple[str, str, Any]], deduplicate: bool) -> Iterator[Any]:
    heap: list[tuple[str, str, _Tie]] = []
    for values_hash, description, value in entries:
        heapq.heappush(heap, (values_hash, description, _Tie(value)))
    last: tuple[str, str] | None = None
    while heap:
        values_hash, description, tie = heapq.heappop(heap)
        if deduplicate and last == (values_hash, description):
            continue
        last = (values_hash, description)
        yield tie.value


def _psort_chunk(events: list[Event], deduplicate: bool) -> Iterator[Event]:
    if len(events) == 1:  # most timestamps are unique: no tie to order, nothing to de-duplicate
        yield events[0]
        return
    data = events[0].data
    if all(event.data is data for event in events):
        # One record's events (creation and written time equal): one values
        # hash for all, so the heap orders them by description alone, and
        # equal descriptions are full duplicates. Same order, no hashing.
        keyed = sorted(((event.timestamp_desc or "Unknown Time", index) for index, event in enumerate(events)))
        last_description = None
        for description, index in keyed:
            if deduplicate and description == last_description:
                continue
            last_description = description
            yield events[index]
        return
    yield from heap_order(((plaso_view(event.data).values_hash, event.timestamp_desc or "Unknown Time", event)
                           for event in events), deduplicate)


class ProvenanceTable:
    """Provenances by number; each object is held, so its id stays its own."""

    def __init__(self) -> None:
        self.objects: list[Provenance] = []
        self._numbers: dict[int, int] = {}

    def number(self, provenance: Provenance) -> tuple[int, bool]:
        """Its number, and whether it is new to the table."""
        number = self._numbers.get(id(provenance))
        if number is not None:
            return number, False
        number = self._numbers[id(provenance)] = len(self.objects)
        self.objects.append(provenance)
        return number, True


def dump_groups(stream: IO[bytes], items: Iterable[tuple[Any, Event]], table: ProvenanceTable | None = None) -> int:
    """Writes (key, event) items, in their order, as the sorter's runs and batch's parts hold them.

    One pickle per group of neighbours sharing their event data: a record's
    events (creation and written time) usually sort next to each other, so
    their event data (the bulk: strings, XML) is written once. Events and
    event data are plain tuples; each provenance (a file's, with its dfVFS
    path spec) is referred to by number: numbered in ``table`` when the
    reader shares it (the sorter's runs, read by this process), else written
    once before its first use (batch's parts, read by another process).
    Returns the number of events.
    """
    pickler = pickle.Pickler(stream, protocol=pickle.HIGHEST_PROTOCOL)
    inline = table is None
    table = table or ProvenanceTable()
    group: list[tuple] = []
    data: EventData | None = None
    count = 0

    def flush() -> None:
        number, new = table.number(data.provenance)
        if new and inline:
            pickler.dump(("provenance", data.provenance))
            pickler.clear_memo()
        pickler.dump(("events", (data.data_type, data.values, data.parser, number, data.tags), group))
        pickler.clear_memo()  # each group is loaded on its own

    for key, event in items:
        if group and event.data is not data:
            flush()
            group = []
        data = event.data
        group.append((key, event.timestamp, event.timestamp_desc, event.date_time, event.tags, event.sequence))
        count += 1
    if group:
        flush()
    return count


def load_groups(stream: IO[bytes], offset: int = 0, table: ProvenanceTable | None = None) -> Iterator[tuple[Any, Event]]:
    """The items ``dump_groups`` wrote (with ``table`` if it had one), each event's sequence moved by ``offset``."""
    provenances = table.objects if table is not None else []
    while True:
        try:  # one load per group: a shared Unpickler's memo would keep every event alive
            kind, *body = pickle.load(stream)
        except EOFError:
            return
        if kind == "provenance":
            provenances.append(body[0])
            continue
        (data_type, values, parser, number, tags), group = body
        data = EventData(data_type, values, parser, provenances[number], tags)
        for key, timestamp, description, date_time, event_tags, sequence in group:
            yield key, Event(timestamp, description, date_time, data, event_tags, sequence + offset)


def _write_run(events: list[tuple[tuple[int, int, int], Event]], tmp_dir: str | None,
               table: ProvenanceTable) -> IO[bytes]:
    run = tempfile.TemporaryFile(dir=tmp_dir, prefix="sandtrace-sort-")
    dump_groups(run, events, table)
    run.seek(0)
    return run


def _read_run(run: IO[bytes], table: ProvenanceTable) -> Iterator[tuple[tuple[int, int, int], Event]]:
    with run:
        yield from load_groups(run, table=table)


def storage_order(
    events: Iterable[Event], max_in_memory: int, tmp_dir: str | None
) -> Iterator[Event]:
    """Events by (timestamp, production order): how psort reads a store."""
    counter = itertools.count()
    table = ProvenanceTable()  # the runs' provenances stay here, one object per file
    runs: list[IO[bytes]] = []
    batch: list[tuple[tuple[int, int, int], Event]] = []
    try:
        for event in events:
            batch.append(((event.timestamp, event.sequence, next(counter)), event))
            if len(batch) >= max_in_memory:
                batch.sort(key=lambda item: item[0])
                runs.append(_write_run(batch, tmp_dir, table))
                batch = []
        batch.sort(key=lambda item: item[0])
        if not runs:
            yield from (event for _, event in batch)
            return
        if batch:
            runs.append(_write_run(batch, tmp_dir, table))
            batch = []
        merged = heapq.merge(*(_read_run(run, table) for run in runs), key=lambda item: item[0])
        yield from (event for _, event in merged)
    finally:
        for run in runs:
            run.close()


def sort_events(
    events: Iterable[Event],
    *,
    max_in_memory: int = 50_000,
    tmp_dir: str | None = None,
    include_all: bool = False,
) -> Iterator[Event]:
    """Yields events in psort's output order, without psort's duplicates.

    Duplicates are events with the same timestamp, description and event
    values hash; ``include_all`` keeps them (psort ``-a``). Memory holds at
    most ``max_in_memory`` events for the runs plus one same-timestamp chunk
    (psort's own bound, 100,001 events).
    """
    if max_in_memory < 1:
        raise ValueError("max_in_memory must be at least 1")
    return psort_order(storage_order(events, max_in_memory, tmp_dir), include_all)


def by_event_data(events: Iterable[Event]) -> Iterator[list[Event]]:
    """Neighbouring events that share their event data, a list at a time: a
    record's events (creation and written time alike) usually sort next to
    each other, and a writer formats what they share once."""
    group: list[Event] = []
    for event in events:
        if group and event.data is not group[0].data:
            yield group
            group = []
        group.append(event)
    if group:
        yield group


_EVENT_TIMESTAMP = operator.attrgetter("timestamp")


def psort_order(stored: Iterable[Any], include_all: bool = False, timestamp_of: Callable[[Any], int] = _EVENT_TIMESTAMP,
                order_chunk: Callable[[list, bool], Iterator[Any]] = _psort_chunk) -> Iterator[Any]:
    """What is in storage order (timestamp, production order) -> psort's output order:
    each timestamp's entries, at most PSORT_HEAP_CHUNK at a time, through psort's heap
    (``order_chunk``), duplicates dropped unless ``include_all``. The one chunker of
    every path: the sorter's events, batch's merged parts, the runs of lines
    (timeline/runs.py gives ``timestamp_of`` and ``order_chunk`` for items)."""
    deduplicate = not include_all
    chunk: list = []
    current = None
    for entry in stored:
        timestamp = timestamp_of(entry)
        if timestamp == current and len(chunk) < PSORT_HEAP_CHUNK:
            chunk.append(entry)
            continue
        if len(chunk) == 1:  # most timestamps are unique: nothing to order or drop
            yield chunk[0]
        elif chunk:
            yield from order_chunk(chunk, deduplicate)
        chunk = [entry]
        current = timestamp
    if len(chunk) == 1:
        yield chunk[0]
    elif chunk:
        yield from order_chunk(chunk, deduplicate)
