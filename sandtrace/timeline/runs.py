"""The one external sort: sorted run files of items, and their merge.

An item is a tuple whose first fields are its sort key, unique per item:
(timestamp, production order). Two payloads travel this way:

- lines: ``(timestamp, position, index, values hash, description, line)``,
  (position, index) the production key of extract's workers
  (pipeline/handout.py), the line formatted where the event was made;
- events: ``(timestamp, sequence, number, event)``, ``number`` telling apart
  two events of one production key (timeline/sorter.py).

Sorting on the key gives exactly the order one process would have produced;
psort's per-timestamp order and de-duplication then run on top
(timeline/sorter.py, the one chunker). A run file is blocks of ``BLOCK``
items: a header (the byte lengths of the two pickles), the items' keys, then
their payloads, each written by the payload's codec. Keys alone can be read
(a split merge sums line lengths from them), and a timestamp range starts at
its block.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import heapq
import itertools
import os
import pickle
import struct
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from sandtrace.core.events import Event, EventData
from sandtrace.engine import scratch

# An item: (timestamp, production key..., payload).
Item = tuple

BLOCK = 64  # items per block: what a merge holds per run (~200 KB of json_line)
# Runs merged at once (a block of each in memory, ~75 MB of lines at 384);
# more runs: the smallest are merged first. One event log is one run (the
# measurements behind the number: docs/performance.md).
_FAN_IN = 384
_SPLIT_REDUCE_MIN = 32  # runs to merge beforehand from which a worker merges half of them
_HEADER = struct.Struct("<II")


class Codec(Protocol):
    """How one payload kind is written: a block's keys and payloads, and back."""

    @staticmethod
    def keys(block: list[Item]) -> list: ...

    @staticmethod
    def payloads(block: list[Item]) -> list: ...

    @staticmethod
    def items(keys: list, payloads: list) -> list[Item]: ...


class Lines:
    """Formatted lines: each key carries its line's UTF-8 length (-1: a line the format leaves out)."""

    @staticmethod
    def keys(block: list[Item]) -> list:
        return [(*item[:5], _line_bytes(item[5])) for item in block]

    @staticmethod
    def payloads(block: list[Item]) -> list:
        return [item[5] for item in block]

    @staticmethod
    def items(keys: list, payloads: list) -> list[Item]:
        return [(*key[:5], line) for key, line in zip(keys, payloads)]


def _line_bytes(line: str | None) -> int:
    if line is None:
        return -1
    return len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))


class Events:
    """Events as plain tuples, pickled a block at a time: neighbours sharing their
    event data (a record's events usually sort together) share one tuple, and
    every event data of a file shares its provenance, so pickle's memo writes
    each once per block. A block is read on its own: nothing refers across blocks."""

    @staticmethod
    def keys(block: list[Item]) -> list:
        return [item[:3] for item in block]

    @staticmethod
    def payloads(block: list[Item]) -> list:
        payloads, data, shared = [], None, None
        for item in block:
            event = item[3]
            if event.data is not data:
                data = event.data
                shared = (data.data_type, data.values, data.parser, data.provenance, data.tags)
            payloads.append((event.timestamp_desc, event.date_time, event.tags, shared))
        return payloads

    @staticmethod
    def items(keys: list, payloads: list) -> list[Item]:
        items, data, shared = [], None, None
        for (timestamp, sequence, number), (description, date_time, tags, record) in zip(keys, payloads):
            if record is not shared:
                shared, data = record, EventData(*record)
            items.append((timestamp, sequence, number, Event(timestamp, description, date_time, data, tags, sequence)))
        return items


@dataclass
class Run:
    """A run file of one codec's blocks, with each block's first timestamp and offset
    (a run read by its path alone, without them, is read whole)."""

    path: str
    codec: type[Codec] = Lines
    firsts: list = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


def write_run(stream: IO[bytes], items: Iterable[Item], run: Run) -> int:
    """Sorted ``items`` as blocks at the end of ``stream`` (``run``'s file), noted in ``run``; the count."""
    keys, payloads, dumps = run.codec.keys, run.codec.payloads, pickle.dumps
    items = iter(items)
    count = 0
    while block := list(itertools.islice(items, BLOCK)):
        key_bytes = dumps(keys(block), pickle.HIGHEST_PROTOCOL)
        payload_bytes = dumps(payloads(block), pickle.HIGHEST_PROTOCOL)
        run.firsts.append(block[0][0])
        run.offsets.append(stream.tell())
        stream.write(_HEADER.pack(len(key_bytes), len(payload_bytes)) + key_bytes + payload_bytes)
        count += len(block)
    return count


def _new_run(directory: str, prefix: str, codec: type[Codec]) -> tuple[IO[bytes], Run]:
    handle, path = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".run")
    return os.fdopen(handle, "wb"), Run(path, codec)


class RunWriter:
    """Items kept up to ``window``, then sorted and written as one run file.

    The files go to ``directory``; None: to a scratch folder of the writer's
    own (swept if the run is killed), made in ``tmp_dir`` at its first run
    and removed by ``close``.
    """

    def __init__(self, directory: str | None, window: int, prefix: str, codec: type[Codec] = Lines,
                 tmp_dir: str | None = None) -> None:
        self.directory, self.window, self.prefix, self.codec = directory, max(window, 1), prefix, codec
        self.tmp_dir = tmp_dir
        self._scratch: scratch.Folder | None = None
        self.items: list[Item] = []
        self.runs: list[Run] = []
        self.count = 0

    def extend(self, items: Iterable[Item]) -> None:
        """Keeps ``items``, writing a run each time the window fills."""
        items = iter(items)
        while True:
            before = len(self.items)
            self.items.extend(itertools.islice(items, self.window - before))
            self.count += len(self.items) - before
            if len(self.items) < self.window:
                return
            self.flush()

    def flush(self) -> None:
        """The items kept, sorted, as a new run."""
        if not self.items:
            return
        self.items.sort()  # the keys are unique: the payloads are never compared
        if self.directory is None:
            self._scratch = scratch.Folder("sandtrace-sort-", self.tmp_dir)
            self.directory = self._scratch.name
        stream, run = _new_run(self.directory, self.prefix, self.codec)
        with stream:
            write_run(stream, self.items, run)
        self.runs.append(run)
        self.items = []

    def close(self) -> None:
        """Removes the writer's own scratch folder and its runs (a given ``directory`` is its owner's)."""
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = self.directory = None


def sort(items: Iterable[Item], window: int, codec: type[Codec], tmp_dir: str | None = None) -> Iterator[Item]:
    """``items`` in key order, holding at most ``window`` of them (and a block of
    each run while merging); no file at all when they fit in one window."""
    writer = RunWriter(None, window, "sort-", codec, tmp_dir)
    try:
        writer.extend(items)
        if not writer.runs:
            writer.items.sort()
            yield from writer.items
            return
        writer.flush()
        yield from merged(reduce_runs(writer.runs, writer.directory))
    finally:
        writer.close()


def read_run(run: Run, low: Any = None, high: Any = None, keys_only: bool = False) -> Iterator[Item]:
    """A run's items with ``low <= timestamp < high`` (None: unbounded; a range
    needs the run's block index); with ``keys_only`` their keys."""
    first = 0
    if low is not None:  # the block before the first one starting at or after ``low`` may hold some
        first = max(bisect.bisect_left(run.firsts, low) - 1, 0)
    loads, decode = pickle.loads, run.codec.items
    with open(run.path, "rb") as handle:
        if first:
            handle.seek(run.offsets[first])
        number = first
        while header := handle.read(_HEADER.size):
            if high is not None and run.firsts[number] >= high:
                return
            key_size, payload_size = _HEADER.unpack(header)
            keys = loads(handle.read(key_size))
            if keys_only:
                handle.seek(payload_size, os.SEEK_CUR)
                block = keys
            else:
                block = decode(keys, loads(handle.read(payload_size)))
            if low is not None and number == first:
                block = [item for item in block if item[0] >= low]
            if high is not None and block and block[-1][0] >= high:
                yield from (item for item in block if item[0] < high)
                return
            yield from block
            number += 1


def merged(runs: list[Run], low: Any = None, high: Any = None, keys_only: bool = False) -> Iterator[Item]:
    """The runs' items (within ``[low, high)``) in key order."""
    return heapq.merge(*(read_run(run, low, high, keys_only) for run in runs))


def reduce_runs(runs: list[Run], directory: str, pool: concurrent.futures.Executor | None = None) -> list[Run]:
    """At most _FAN_IN runs, to be read at once: beyond that the smallest are
    merged first (a merge of sorted runs is a sorted run), as few as it takes
    (merging the first 64 rewrote most of a large case's lines once more
    before the final merge). With a ``pool``, a worker merges half of them
    into a second run while this process merges the other half."""
    runs = list(runs)
    while len(runs) > _FAN_IN:
        runs.sort(key=lambda run: os.path.getsize(run.path))
        halves = pool is not None and len(runs) - _FAN_IN + 2 >= _SPLIT_REDUCE_MIN
        chosen = runs[:min(len(runs) - _FAN_IN + (2 if halves else 1), _FAN_IN * (2 if halves else 1))]
        future = None
        if halves:
            theirs, chosen = chosen[1::2], chosen[0::2]  # sizes alike on both sides
            try:
                future = pool.submit(merge_runs, theirs, directory)
            except (BrokenProcessPool, RuntimeError):
                chosen = sorted(chosen + theirs, key=lambda run: os.path.getsize(run.path))
        done = [merge_runs(chosen, directory)]
        if future is not None:
            try:
                done.append(future.result())
            except Exception:  # noqa: BLE001 - a dead worker: this process merges its half
                done.append(merge_runs(theirs, directory))
            chosen = chosen + theirs
        runs = runs[len(chosen):] + done
    return runs


def merge_runs(chosen: list[Run], directory: str) -> Run:
    """``chosen`` merged into one new run; their files are removed."""
    stream, run = _new_run(directory, f"merge{os.getpid()}-", chosen[0].codec)
    with stream:
        write_run(stream, merged(chosen), run)
    for old in chosen:
        os.unlink(old.path)
    return run


def split_point(runs: list[Run], share: float = 0.5) -> Any:
    """A timestamp before which about ``share`` of the runs' items lie, or None.

    Each part holds whole timestamps, so psort's per-timestamp order and
    de-duplication are the same in each part as over the whole.
    """
    firsts = sorted(timestamp for run in runs for timestamp in run.firsts)
    if not firsts:
        return None
    point = firsts[min(int(len(firsts) * share), len(firsts) - 1)]
    return point if point > firsts[0] else None
