"""Sorted run files of items and their merge in psort's order: the one external sort.

An item is ``(timestamp, position, index, values hash, description, payload)``:
(position, index) is the event's production key (pipeline/handout.py), so
that sorting on (timestamp, key) gives exactly the order one process would
have produced; psort's per-timestamp order and de-duplication then work on
(hash, description) (``psort_items``). Runs are written in blocks whose keys
can be read without their payloads, which is how a split merge learns where
its second part starts in the output file.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import heapq
import operator
import os
import pickle
import struct
import tempfile
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from sandtrace.timeline.sorter import heap_order, psort_order

# An item: (timestamp, position, index, values hash, description, line).
Item = tuple

_BLOCK = 64  # items per pickle in a run file: what a merge holds per run (~200 KB of json_line)
# Runs merged at once (a block of each in memory, ~75 MB at 384); more runs:
# the smallest are merged first. One event log is one run (the measurements
# behind the number: docs/performance.md).
_FAN_IN = 384
_SPLIT_REDUCE_MIN = 32  # runs to merge beforehand from which a worker merges half of them


@dataclass
class Run:
    """A run file: blocks of sorted items, with each block's first timestamp and offset.

    A block is a header (the byte lengths of the two pickles), the items' keys
    ``(timestamp, position, index, hash, description, line bytes)`` and their
    lines: the keys alone can be read (``_read_run(keys_only=True)``), and a
    timestamp range can start at its block.
    """

    path: str
    firsts: list = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


_HEADER = struct.Struct("<II")


def _line_bytes(line: str | None) -> int:
    """The line's UTF-8 length (-1: a line the format leaves out)."""
    if line is None:
        return -1
    return len(line) if line.isascii() else len(line.encode("utf-8", "surrogatepass"))


class RunWriter:
    """Items kept up to ``window``, then sorted and written as one run file."""

    def __init__(self, directory: str, window: int, prefix: str) -> None:
        self.directory, self.window, self.prefix = directory, max(window, 1), prefix
        self.items: list[Item] = []
        self.runs: list[Run] = []
        self.count = 0

    def add(self, item: Item) -> None:
        self.items.append(item)
        self.count += 1
        if len(self.items) >= self.window:
            self.flush()

    def flush(self) -> None:
        """The items kept, sorted, as a new run."""
        if not self.items:
            return
        self.items.sort()  # (timestamp, position, index) is unique: the rest is never compared
        self._new_run()
        self.append_sorted()

    def _new_run(self) -> None:
        handle, path = tempfile.mkstemp(dir=self.directory, prefix=self.prefix, suffix=".run")
        os.close(handle)
        self.runs.append(Run(path))

    def append_sorted(self) -> None:
        """The items kept, already in order, at the end of the last run (a merge writes in rounds)."""
        if not self.runs:
            self._new_run()
        run = self.runs[-1]
        dumps = pickle.dumps
        with open(run.path, "ab") as handle:
            for start in range(0, len(self.items), _BLOCK):
                block = self.items[start:start + _BLOCK]
                keys = dumps([(*item[:5], _line_bytes(item[5])) for item in block], pickle.HIGHEST_PROTOCOL)
                lines = dumps([item[5] for item in block], pickle.HIGHEST_PROTOCOL)
                run.firsts.append(block[0][0])
                run.offsets.append(handle.tell())
                handle.write(_HEADER.pack(len(keys), len(lines)) + keys + lines)
        self.items = []


def _read_run(run: Run, low: Any = None, high: Any = None, keys_only: bool = False) -> Iterator[Item]:
    """A run's items with ``low <= timestamp < high`` (None: unbounded); with
    ``keys_only`` their keys, whose last field is the line's byte length."""
    first = 0
    if low is not None:  # the block before the first one starting at or after ``low`` may hold some
        first = max(bisect.bisect_left(run.firsts, low) - 1, 0)
    loads = pickle.loads
    with open(run.path, "rb") as handle:
        if run.offsets:
            handle.seek(run.offsets[first])
        for number in range(first, len(run.offsets)):
            if high is not None and run.firsts[number] >= high:
                return
            key_size, line_size = _HEADER.unpack(handle.read(_HEADER.size))
            keys = loads(handle.read(key_size))
            if keys_only:
                handle.seek(line_size, os.SEEK_CUR)
                block = keys
            else:
                block = [(*key[:5], line) for key, line in zip(keys, loads(handle.read(line_size)))]
            if low is not None and number == first:
                block = [item for item in block if item[0] >= low]
            if high is not None and block and block[-1][0] >= high:
                yield from (item for item in block if item[0] < high)
                return
            yield from block


def merged(runs: list[Run], low: Any = None, high: Any = None, keys_only: bool = False) -> Iterator[Item]:
    """The runs' items (within ``[low, high)``) in (timestamp, production key) order."""
    return heapq.merge(*(_read_run(run, low, high, keys_only) for run in runs))


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
    writer = RunWriter(directory, 1 << 62, f"merge{os.getpid()}-")
    for item in merged(chosen):
        writer.items.append(item)
        if len(writer.items) >= _BLOCK * 64:
            writer.append_sorted()
    writer.append_sorted()
    for run in chosen:
        os.unlink(run.path)
    return writer.runs[0]


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


def psort_items(items: Iterator[Item], include_all: bool) -> Iterator[Item]:
    """psort's per-timestamp order and de-duplication, on items (the sorter's one chunker)."""
    return psort_order(items, include_all, _TIMESTAMP, _chunk)


_TIMESTAMP = operator.itemgetter(0)


def _chunk(chunk: list[Item], deduplicate: bool) -> Iterator[Item]:
    """One timestamp's items in psort's heap order."""
    return heap_order(((item[3], item[4], item) for item in chunk), deduplicate)
