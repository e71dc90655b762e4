"""Merges: a source's parts into psort's order, and sources into one super-timeline.

A part (the events of some of a source's volumes) is a run file of events
in storage order, (timestamp, production order), written by the one external
sort (timeline/runs.py). Production order across parts is the part order,
because one ``extract`` run walks the volumes in that same order. Inside a
part, the key is (position, index): a large event log or a nested disk the
part handed to a task of its own keeps the position it had in the part, so
its events slot in where the part would have made them; inside a disk task
each event data's index starts at its own position there
(``handout.sub_key``), and an event log the disk task hands on keeps that
start. Merging the parts on (timestamp, part offset + key) and then applying
psort's per-timestamp heap and de-duplication gives exactly the events, in
exactly the order, of a single ``sandtrace extract`` of the whole source.

The super-timeline merges the per-source JSON-lines timelines on their
``timestamp`` (ties: source order, then line order), adding ``source`` (the
evidence path), ``source_name`` and ``hostname`` to every line; an event that
already names its host (an EVTX record's computer, say) keeps it and gains
``source_hostname``. Memory holds one line per source. Decoding and
re-encoding every line is most of the work: batch does it in tasks, one per
byte range of a source's timeline (``annotate_range``, each line's timestamp
kept beside it), and then only merges bytes (``merge_annotated``); the
output is the same as ``super_timeline``'s.
"""

from __future__ import annotations

import array
import heapq
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator

from sandtrace.core.atomic import atomic_file
from sandtrace.core.events import Event
from sandtrace.timeline import runs, sorter

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
    """Writes ``events`` to ``path`` in storage order, as one run file of events; returns the count."""
    stored = sorter.storage_order(events, max_in_memory, tmp_dir)
    with atomic_file(path) as stream:
        return runs.write_run(stream, stored, runs.Run(path, runs.Events))


def read_part(path: str, offset: int) -> Iterator[Event]:
    """A part's events with their sequence moved past the earlier parts'."""
    for _, _, _, event in runs.read_run(runs.Run(path, runs.Events)):
        event.sequence += offset
        yield event


def merge_parts(parts: list[tuple[str, int]]) -> Iterator[Event]:
    """Events of ``parts`` ([(path, sequence offset)], in volume order) in storage order."""
    streams = [read_part(path, offset) for path, offset in parts]
    return heapq.merge(*streams, key=lambda event: (event.timestamp, event.sequence))


def psort_order(events: Iterable[Event], include_all: bool = False) -> Iterator[Event]:
    """Storage-ordered events (the merged parts) -> psort's output order and de-duplication."""
    return sorter.psort_order(events, include_all)


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


def _line_encoder(fmt: str) -> Callable[[dict, dict], bytes]:
    """A record and its source's item -> the super-timeline's line, in ``fmt``'s encoding."""
    ensure_ascii = fmt != "timesketch"
    # timesketch writes U+0085/U+2028/U+2029 as escapes (readers split lines on them): so here.
    escape = str if ensure_ascii else _escape_line_breaks()

    def encode(record: dict, item: dict) -> bytes:
        record = _annotate(record, item["source"], item["name"], item["hostname"])
        return (escape(json.dumps(record, sort_keys=True, ensure_ascii=ensure_ascii, default=str)) + "\n").encode("utf-8")

    return encode


def super_timeline(inputs: list[dict], fmt: str, output: str) -> int:
    """Merges per-source line timelines into ``output`` atomically; returns the line count.

    ``inputs``: [{"path", "source", "name", "hostname"}] in source order.
    """
    encode = _line_encoder(fmt)
    streams = [_lines(index, item) for index, item in enumerate(inputs)]

    def write(stream) -> int:
        count = 0
        for _, record, item in heapq.merge(*streams, key=lambda entry: entry[0]):
            stream.write(encode(record, item))
            count += 1
        return count

    return _write_atomically(output, write)


def _write_atomically(output: str, write: Callable) -> int:
    """``write(binary stream)`` into ``output``, atomically; returns what write did."""
    with atomic_file(output) as stream:
        return write(stream)


def line_ranges(path: str, pieces: int) -> list[tuple[int, int]]:
    """``pieces`` byte ranges of about equal size, each of whole lines, covering the file."""
    size = os.path.getsize(path)
    bounds = [0]
    with open(path, "rb") as handle:
        for number in range(1, max(pieces, 1)):
            handle.seek(max(size * number // pieces, bounds[-1]))
            if handle.tell() > 0:
                handle.seek(handle.tell() - 1)
                handle.readline()  # to the end of the line the cut fell in
            if bounds[-1] < handle.tell() < size:
                bounds.append(handle.tell())
    bounds.append(size)
    return list(zip(bounds, bounds[1:]))


def annotate_range(item: dict, fmt: str, start: int, end: int, lines_out: str, keys_out: str) -> int:
    """The lines of ``item["path"]`` in bytes [start, end) as the super-timeline writes
    them (``_annotate``), to ``lines_out``, and each one's timestamp (int64) to
    ``keys_out``; returns the count. ``merge_annotated`` merges them."""
    encode = _line_encoder(fmt)
    keys = array.array("q")
    count = 0
    with open(item["path"], "rb") as source, open(lines_out, "wb") as lines:
        source.seek(start)
        position = start
        while position < end:
            line = source.readline()
            if not line:
                break
            position += len(line)
            if not line.strip():
                continue
            record = json.loads(line)
            keys.append(int(record.get("timestamp") or 0))
            lines.write(encode(record, item))
            count += 1
    with open(keys_out, "wb") as handle:
        keys.tofile(handle)
    return count


def _annotated(index: int, ranges: list[tuple[str, str]]) -> Iterator[tuple[tuple[int, int, int], bytes]]:
    """One source's annotated lines with their merge keys (as ``_lines`` makes them)."""
    last, number = None, 0
    for lines_path, keys_path in ranges:
        keys = array.array("q")
        with open(keys_path, "rb") as handle:
            keys.frombytes(handle.read())
        with open(lines_path, "rb") as lines:
            for timestamp, line in zip(keys, lines):
                last = timestamp if last is None else max(last, timestamp)
                yield (last, index, number), line
                number += 1


def merge_annotated(sources: list[list[tuple[str, str]]], output: str) -> int:
    """The super-timeline from ``annotate_range``'s files: per source, in source order,
    its ranges' (lines, keys) paths in file order. Bytes only: the lines are ready."""

    def write(stream) -> int:
        if len(sources) == 1:  # one source: its ranges one after the other
            for lines_path, _ in sources[0]:
                with open(lines_path, "rb") as lines:
                    shutil.copyfileobj(lines, stream, 1 << 20)
            return sum(os.path.getsize(keys) // 8 for _, keys in sources[0])
        count = 0
        for _, line in heapq.merge(*(_annotated(index, ranges) for index, ranges in enumerate(sources)),
                                   key=lambda entry: entry[0]):
            stream.write(line)
            count += 1
        return count

    return _write_atomically(output, write)
