"""Sort events into the order psort writes them, in bounded memory.

psort reads events by timestamp, then per timestamp pushes them on a heap
keyed by (event values hash, timestamp description), pops them in that order
and drops an event whose hash and description equal the previous one's
(``plaso/multi_process/output_engine.py``). ``psort_order`` is that step, the
one chunker of every path: over events (``sort_events``, batch's merged
parts) and over items of lines (``psort_items``, extract's workers). What it
reads is in storage order, (timestamp, production order): the external sort
of timeline/runs.py, so memory stays bounded whatever the input size.

The values hash the order depends on is the event data's plaso view's
(core/plaso_view.py), the one the outputs and the ``.plaso`` writer use.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sandtrace.core.events import Event
from sandtrace.core.plaso_view import plaso_view
from sandtrace.timeline import runs
from sandtrace.timeline.runs import Item

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


def storage_order(events: Iterable[Event], max_in_memory: int, tmp_dir: str | None) -> Iterator[Item]:
    """Items ``(timestamp, sequence, number, event)`` by (timestamp, production order):
    how psort reads a store (``number`` keeps events of one sequence in their order)."""
    counter = itertools.count()
    keyed = ((event.timestamp, event.sequence, next(counter), event) for event in events)
    return runs.sort(keyed, max_in_memory, runs.Events, tmp_dir)


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
    most ``max_in_memory`` events for the runs (then a block of each while
    merging them) plus one same-timestamp chunk (psort's own bound, 100,001
    events).
    """
    if max_in_memory < 1:
        raise ValueError("max_in_memory must be at least 1")
    return psort_order((item[3] for item in storage_order(events, max_in_memory, tmp_dir)), include_all)


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
    (``psort_items`` gives ``timestamp_of`` and ``order_chunk`` for items)."""
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


def psort_items(items: Iterable[Item], include_all: bool) -> Iterator[Item]:
    """psort's per-timestamp order and de-duplication, on items of lines (timeline/runs.py)."""
    return psort_order(items, include_all, _TIMESTAMP, _items_chunk)


_TIMESTAMP = operator.itemgetter(0)


def _items_chunk(chunk: list[Item], deduplicate: bool) -> Iterator[Item]:
    """One timestamp's items in psort's heap order, on their (values hash, description)."""
    return heap_order(((item[3], item[4], item) for item in chunk), deduplicate)
