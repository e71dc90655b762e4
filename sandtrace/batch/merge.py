"""Merges: a source's parts into psort's order, and sources into one super-timeline.

A part (the events of some of a source's volumes) is stored as pickled
events in storage order, (timestamp, production order), like the sorter's
spill files. Production order across parts is the part order, because one
``extract`` run walks the volumes in that same order. Inside a part, the key
is (position, index): a large event log or a nested disk the part handed to
a task of its own keeps the position it had in the part, so its events slot
in where the part would have made them; inside a disk task each event data's
index starts at its own position there (``parallel.sub_key``), and an event
log the disk task hands on keeps that start. Merging the parts on (timestamp, part offset + key) and
then applying psort's per-timestamp heap and de-duplication gives exactly the
events, in exactly the order, of a single ``sandtrace extract`` of the whole
source.

The super-timeline merges the per-source JSON-lines timelines on their
``timestamp`` (ties: source order, then line order), adding ``source`` (the
evidence path), ``source_name`` and ``hostname`` to every line; an event that
already names its host (an EVTX record's computer, say) keeps it and gains
``source_hostname``. Memory holds one line per source.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections.abc import Iterable, Iterator


from sandtrace.engine import sorter
from sandtrace.engine.events import Event

# Formats whose lines carry a ``timestamp``: what the super-timeline is made from.
LINE_FORMATS = ("json_line", "timesketch")


# -- parts of one source ---------------------------------------------------------


def sequence(position: int, index: int) -> int:
    """An event's production key inside a part: its position (event data, handed-out
    event log or disk) and its index there (below 2**64: a disk's sub-position and
    index). A part's keys stay below 2**128; ``part_offset`` puts the parts one
    after the other."""
    return (position << 64) | index


def part_offset(order: int) -> int:
    """What moves the keys of the ``order``-th volume part (and its handed-out tasks) past the earlier parts'."""
    return order << 128


def write_part(events: Iterable[Event], path: str, max_in_memory: int, tmp_dir: str | None = None) -> int:
    """Writes ``events`` to ``path`` in storage order (external sort), as the sorter's runs; returns the count."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".part-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            count = sorter.dump_groups(stream, ((None, event) for event in
                                                sorter._storage_order(events, max_in_memory, tmp_dir)))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return count


def read_part(path: str, offset: int) -> Iterator[Event]:
    """A part's events with their sequence moved past the earlier parts'."""
    with open(path, "rb") as stream:
        yield from (event for _, event in sorter.load_groups(stream, offset))


def merge_parts(parts: list[tuple[str, int]]) -> Iterator[Event]:
    """Events of ``parts`` ([(path, sequence offset)], in volume order) in storage order."""
    streams = [read_part(path, offset) for path, offset in parts]
    return heapq.merge(*streams, key=lambda event: (event.timestamp, event.sequence))


def psort_order(events: Iterable[Event], include_all: bool = False) -> Iterator[Event]:
    """Storage-ordered events -> psort's output order and de-duplication.

    The second half of ``sorter.sort_events``, for input that is already in
    storage order (the merged parts).
    """
    chunk: list[Event] = []
    for event in events:
        if chunk and (event.timestamp != chunk[0].timestamp or len(chunk) >= sorter.PSORT_HEAP_CHUNK):
            yield from sorter._psort_chunk(chunk, not include_all)
            chunk = []
        chunk.append(event)
    if chunk:
        yield from sorter._psort_chunk(chunk, not include_all)


# -- the super-timeline -----------------------------------------------------------


def _lines(index: int, item: dict[str, str]) -> Iterator[tuple[tuple[int, int, int], dict, dict]]:
    last = None
    with open(item["path"], encoding="utf-8") as stream:
        for number, line in enumerate(stream):
            if not line.strip():
                continue
            record = json.loads(line)
            timestamp = int(record.get("timestamp") or 0)
            # A trailing summary line (timesketch's count of dropped events) keeps the input sorted.
            last = timestamp if last is None else max(last, timestamp)
            yield (last, index, number), record, item


def _annotate(record: dict, source: str, name: str, hostname: str) -> dict:
    own = record.get("hostname")
    if own and own != hostname:
        record["source_hostname"] = hostname
    else:
        record["hostname"] = hostname
    if "source" in record and record["source"] != source:
        record["source_attribute"] = record["source"]
    record["source"] = source
    record["source_name"] = name
    return record


def _escape_line_breaks():
    from sandtrace.output.timesketch import escape_line_breaks

    return escape_line_breaks


def super_timeline(inputs: list[dict], fmt: str, output: str) -> int:
    """Merges per-source line timelines into ``output`` atomically; returns the line count.

    ``inputs``: [{"path", "source", "name", "hostname"}] in source order.
    """
    ensure_ascii = fmt != "timesketch"
    # timesketch writes U+0085/U+2028/U+2029 as escapes (readers split lines on them): so here.
    escape = str if ensure_ascii else _escape_line_breaks()
    streams = [_lines(index, item) for index, item in enumerate(inputs)]
    directory = os.path.dirname(os.path.abspath(output))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(output)}.", suffix=".tmp")
    count = 0
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            for _, record, item in heapq.merge(*streams, key=lambda entry: entry[0]):
                record = _annotate(record, item["source"], item["name"], item["hostname"])
                stream.write(escape(json.dumps(record, sort_keys=True, ensure_ascii=ensure_ascii, default=str)) + "\n")
                count += 1
        os.replace(temporary, output)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return count


