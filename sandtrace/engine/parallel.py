"""Parallel extraction for line formats: event logs parsed and formatted in worker processes.

Most of a host's events come from its event logs, and each log is
independent of the others. With ``extract --workers N`` (N worker processes, default
the cores; 0: none) and a line format (json_line, timesketch), every event log of
at least 1 MiB, on the source or inside a nested disk (``Extractor._offloaded``
says which are not), is handed to a worker, which parses it, runs the timeliner
and the tagging rules, and formats each event into its output line there; batch
uses the same hand-out for its evtx tasks. The main process does everything
else as before and writes its own events as lines too.

The output is byte-identical to a single-process run. psort's order is
(timestamp, production order), then per timestamp the event values hash and
description; so every event carries a production key ``(position, index)``:
the main process counts a position per event data it makes and one per file
it hands out, and a worker numbers the events of its file. Sorting on
(timestamp, key) therefore gives exactly the order one process would have
produced. Each side writes sorted runs of bounded size to a scratch folder;
the main process merges them, applies psort's per-timestamp ordering and
de-duplication to (hash, description), and writes the lines. On large cases
the merge is split at a timestamp: a worker writes the second half into the
output file at the byte offset the first half's keys add up to (each key
carries its line's length) while the main process writes the first.

A worker that fails on a file costs that file (a warning); a worker process
that dies is replaced and the file is tried once more.
"""

from __future__ import annotations

import base64
import bisect
import concurrent.futures
import dataclasses
import heapq
import os
import pickle
import struct
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from sandtrace.engine import gc_tuning, scratch
from sandtrace.engine.collection import FileTarget
from sandtrace.engine.events import Event, EventData, warning
from sandtrace.engine.provenance import warning_entry
from sandtrace.engine.sorter import PSORT_HEAP_CHUNK, event_values_hash, heap_order
from sandtrace.engine.workers import new_pool

# An item: (timestamp, position, index, values hash, description, line).
Item = tuple

# Parsers a worker may run on a file (they read the file through its path
# spec only); a file goes to a worker when its parsers are among these and
# include winevtx, and it is at least OFFLOAD_MIN_BYTES long.
OFFLOADABLE = frozenset({"winevtx", "filestat"})
OFFLOAD_MIN_BYTES = 1 << 20
_BLOCK = 64  # items per pickle in a run file: what a merge holds per run (~200 KB of json_line)
SPLIT_MIN_ITEMS = 50_000  # fewer lines: the main process merges them alone
# Runs merged at once (a block of each in memory, ~75 MB at 384); more runs:
# the smallest are merged first. One event log is one run: a 2 GB case has
# 321 and merges them in one pass (at 128, with blocks twice as large, the
# 195 smallest were merged first: 1.4 to 1.8 s more).
_FAN_IN = 384
_SPLIT_REDUCE_MIN = 32  # runs to merge beforehand from which a worker merges half of them
# The split merge's first part, written by a worker while this process reads
# its keys (a quarter of the cost of writing them) to learn where the second
# part starts: parts of equal time at about 4/7.
FIRST_SHARE = 0.56


@dataclass
class Offloaded:
    """What the Extractor yields instead of event data for a file a worker will parse."""

    target: FileTarget
    parsers: list[str]
    context: Any = None  # extraction.SourceContext of a file inside a nested disk


@dataclass
class OffloadedDisk:
    """What the Extractor yields instead of a nested disk's event data when the
    disk can run in another process (``Extractor._self_contained``)."""

    target: FileTarget
    label: str  # the disk's volume label prefix (``p2>sandbox.vhdx@95``)
    outer: Any  # extraction.OuterContext: the source the disk sits in
    layers: list  # [(GUID, Volume)]: base layers registered when it was handed out

    @property
    def parsers(self) -> list[str]:  # what a failure is blamed on
        return ["nested_disk"]


def sub_key(sub_position: int) -> int:
    """What a handed-out disk's events add to their index: the disk's own production
    position ``sub_position``, so that (position, index) stays its production order."""
    return sub_position << 32


@dataclass
class WorkerResult:
    runs: list[Run]
    items: int
    event_data: int = 0
    per_data_type: Counter = field(default_factory=Counter)
    per_parser: Counter = field(default_factory=Counter)
    warnings: list[dict] = field(default_factory=list)  # provenance.warning_entry's form
    warning_keys: list[int] = field(default_factory=list)  # each warning's index key (a disk's: sub_key)
    warning_count: int = 0
    timeliner: Counter = field(default_factory=Counter)
    tags: Counter = field(default_factory=Counter)
    # A disk's: the rest of its counts, and the event logs it handed on [(sub_position, Offloaded)].
    files: int = 0
    per_volume: Counter = field(default_factory=Counter)
    collector: Counter = field(default_factory=Counter)
    nested_sources: int = 0
    template_event_data_skipped: int = 0
    offloaded: list = field(default_factory=list)


def target_to_dict(target: FileTarget) -> dict[str, Any]:
    """A file target as JSON (a batch task's spec).

    The path spec is pickled (base64): dfVFS's JSON serializer drops some
    attributes (a partition's sector size), and the path spec's text is
    part of the psort values hash, so it must come back whole.
    """
    provenance = target.provenance
    return {
        "path_spec": base64.b64encode(pickle.dumps(target.path_spec, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii"),
        "location": target.location, "is_allocated": target.is_allocated, "mft_entry": target.mft_entry,
        "parsers": sorted(target.parsers),
        "provenance": {"source": provenance.source, "volume": provenance.volume, "display_name": provenance.display_name,
                       "inode": provenance.inode, "nesting": list(provenance.nesting),
                       "path_spec": provenance.path_spec is target.path_spec},
    }


def target_from_dict(document: dict[str, Any]) -> FileTarget:
    from sandtrace.engine.events import Provenance

    path_spec = pickle.loads(base64.b64decode(document["path_spec"]))
    shown = document["provenance"]
    provenance = Provenance(source=shown["source"], volume=shown["volume"],
                            path_spec=path_spec if shown["path_spec"] else None,
                            display_name=shown["display_name"], inode=shown["inode"], nesting=tuple(shown["nesting"]))
    return FileTarget(volume=None, path_spec=path_spec, location=document["location"],
                      is_allocated=document["is_allocated"], mft_entry=document["mft_entry"],
                      parsers=set(document["parsers"]), provenance=provenance)


def context_to_dict(context: Any) -> dict[str, Any] | None:
    """A SourceContext as JSON (a batch task's spec)."""
    if context is None:
        return None
    return {"container": context.container, "tags": list(context.tags)}


def context_from_dict(document: dict[str, Any] | None) -> Any:
    from sandtrace.engine.extraction import SourceContext

    if not document:
        return None
    return SourceContext(document.get("container"), tuple(document.get("tags") or ()))


def disk_to_dict(disk: OffloadedDisk) -> dict[str, Any]:
    """A handed-out disk as JSON (a batch ``disk`` task's spec); the layers' volumes pickled, as path specs are."""
    outer = disk.outer
    return {
        "target": target_to_dict(disk.target), "label": disk.label,
        "outer": {"path": outer.path, "nesting": list(outer.nesting), "depth": outer.depth, "container": outer.container,
                  "all_template": outer.all_template, "tags": list(outer.tags)},
        "layers": base64.b64encode(pickle.dumps(disk.layers, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii"),
    }


def disk_from_dict(document: dict[str, Any]) -> OffloadedDisk:
    from sandtrace.engine.extraction import OuterContext

    outer = document["outer"]
    return OffloadedDisk(
        target_from_dict(document["target"]), document["label"],
        OuterContext(outer["path"], tuple(outer["nesting"]), outer["depth"], outer["container"],
                     outer["all_template"], tuple(outer["tags"])),
        pickle.loads(base64.b64decode(document["layers"])))


# -- run files ---------------------------------------------------------------------


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
    """psort's per-timestamp order and de-duplication, on items (sorter.sort_events's rules)."""
    chunk: list[Item] = []
    timestamp = None
    for item in items:
        if item[0] == timestamp and len(chunk) < PSORT_HEAP_CHUNK:
            chunk.append(item)
            continue
        if len(chunk) == 1:  # most timestamps are unique: nothing to order or drop
            yield chunk[0]
        elif chunk:
            yield from _chunk(chunk, include_all)
        chunk = [item]
        timestamp = item[0]
    if len(chunk) == 1:
        yield chunk[0]
    elif chunk:
        yield from _chunk(chunk, include_all)


def _chunk(chunk: list[Item], include_all: bool) -> Iterator[Item]:
    """One timestamp's items in psort's heap order."""
    return heap_order(((item[3], item[4], item) for item in chunk), not include_all)


# -- making items ----------------------------------------------------------------


class ItemMaker:
    """Events to items: production key, values hash (once per event data), line."""

    def __init__(self, formatter) -> None:
        self.formatter = formatter
        self._data: EventData | None = None
        self._hash = ""

    def item(self, event: Event, position: int, index: int) -> Item:
        if event.data is not self._data:
            self._data, self._hash = event.data, event_values_hash(event.data)
        return (event.timestamp, position, index, self._hash, event.timestamp_desc or "Unknown Time",
                self.formatter.line(event))


# -- the worker side -----------------------------------------------------------------


_WORKER: dict[str, Any] = {}


def _configure(config: dict[str, Any]) -> None:
    """Once per worker process and run: the parsers, timeliner, tagger and formatter."""
    from sandtrace.engine import vhdi_parents
    from sandtrace.engine.extraction import Extractor
    from sandtrace.engine.tagger import Tagger
    from sandtrace.engine.timeliner import Timeliner
    from sandtrace.output import manager as output_manager

    _WORKER["config"] = config
    for root in config.get("triage_roots") or ():  # differencing disks in a triage folder find their parents there
        vhdi_parents.register_triage_root(root)
    _WORKER["extractor"] = Extractor(config["options"])
    _WORKER["formatter"] = output_manager.create_writer(config["format"], None, config["output_options"])
    _WORKER["tagger"] = Tagger.with_files(config["tagging_files"])
    _WORKER["timeliner"] = Timeliner()
    gc_tuning.for_throughput()  # also where the pool was not started by workers.new_pool
    gc_tuning.freeze_set_up()


def keyed(stream: Iterator, timeliner, base: int | None, offloaded: list) -> Iterator[tuple[EventData, int, list[Event]]]:
    """A handed-out task's event data with the index key of its first event and its
    events (the next ones follow on): an event log's keys run on from ``base``; a
    disk's (``base`` None) start at each event data's own position in the disk
    (``sub_key``). Event logs the disk hands on go to ``offloaded`` as
    (sub-position, marker). Shared by extract's workers and batch's tasks."""
    index = base or 0
    for sub, data in enumerate(stream):
        if isinstance(data, Offloaded):
            offloaded.append((sub, data))
            continue
        if base is None:
            index = sub_key(sub)
        events = list(timeliner.events(data))
        yield data, index, events
        index += len(events)


def _worker_setup(config: dict[str, Any]):
    from sandtrace.engine.extraction import ExtractionStats

    if _WORKER.get("config", {}).get("directory") != config["directory"]:  # a new run: its own set-up
        _configure(config)
    extractor = _WORKER["extractor"]
    extractor.stats = ExtractionStats()  # this task's counts only
    _WORKER["timeliner"].counter.clear()
    _WORKER["tagger"].counter.clear()
    return extractor


def _work(config: dict[str, Any], stream: Iterator, position: int, base: int | None) -> WorkerResult:
    """A task's event data as sorted runs of items with keys (``position``, index);
    inside a handed-out disk each event data's index starts at ``sub_key`` of its
    own position there (``base`` None), and event logs the disk hands on are
    returned, not parsed."""
    timeliner, tagger = _WORKER["timeliner"], _WORKER["tagger"]
    maker = ItemMaker(_WORKER["formatter"])
    runs = RunWriter(config["directory"], config["window"], f"w{os.getpid()}-")
    warnings, keys, offloaded = [], [], []
    for data, index, events in keyed(stream, timeliner, base, offloaded):
        entry = warning_entry(data)
        if entry is not None:
            warnings.append(entry)
            keys.append(index)
        for number, event in enumerate(events):
            runs.add(maker.item(tagger.tag(event), position, index + number))
    runs.flush()
    stats = _WORKER["extractor"].stats
    return WorkerResult(runs=runs.runs, items=runs.count, event_data=stats.event_data,
                        per_data_type=stats.per_data_type, per_parser=stats.per_parser, warnings=warnings,
                        warning_keys=keys, warning_count=stats.warnings, timeliner=Counter(timeliner.counter),
                        tags=Counter(tagger.counter), files=stats.files, per_volume=stats.per_volume,
                        collector=stats.collector, nested_sources=stats.nested_sources,
                        template_event_data_skipped=stats.template_event_data_skipped, offloaded=offloaded)


def parse_file(config: dict[str, Any], target: FileTarget, parsers: list[str], position: int,
               context: Any = None, base: int = 0) -> WorkerResult:
    """Parses one file in a worker (``base``: a file a disk handed on, its index key there)."""
    extractor = _worker_setup(config)
    return _work(config, extractor.parse_names(target, parsers, context), position, base)


def parse_disk(config: dict[str, Any], disk: OffloadedDisk, position: int) -> WorkerResult:
    """Runs one nested disk in a worker; its large event logs come back to be handed on."""
    extractor = _worker_setup(config)
    extractor.offload = config.get("offload", 0)
    try:
        return _work(config, extractor.run_disk(disk), position, None)
    finally:
        extractor.offload = 0


def write_at(path: str, offset: int, runs: list[Run], low: Any, high: Any, include_all: bool) -> tuple[int, int, int]:
    """The lines with ``low <= timestamp < high`` (None: unbounded), in psort's
    order, written into the file at ``path`` from ``offset`` (each half of a
    split merge writes its own part of one file): (lines written, lines left out, bytes)."""
    from sandtrace.output.base import write_in_blocks
    from sandtrace.output.direct import OffsetWriter

    def write(lines: list[str]) -> None:
        lines.append("")  # the last line's newline, without copying the joined block again
        out.write("\n".join(lines).encode("utf-8"))

    with OffsetWriter(path, offset) as out:
        written, dropped = write_in_blocks(
            (item[5] for item in psort_items(merged(runs, low, high), include_all)), write)
    return written, dropped, out.end - offset


# -- the main side -------------------------------------------------------------------


class LinePipeline:
    """The main process's side: its own events, the workers' files, the merge and the writing."""

    def __init__(self, writer, workers: int, config: dict[str, Any], window: int, tagger, timeliner, stats,
                 run_record, progress=None, pool: concurrent.futures.ProcessPoolExecutor | None = None) -> None:
        self.writer, self.workers, self.progress = writer, workers, progress
        self.tagger, self.timeliner, self.stats, self.run_record = tagger, timeliner, stats, run_record
        self._scratch = scratch.Folder("sandtrace-parallel-", config.get("tmp_dir"))  # swept if this run is killed
        from sandtrace.engine import vhdi_parents

        self.config = dict(config, directory=self._scratch.name, window=max(window // max(workers, 1), 1000),
                           triage_roots=vhdi_parents.triage_roots())
        self.runs = RunWriter(self._scratch.name, window, "main-")
        self.maker = ItemMaker(output_formatter(config))
        self.position = 0
        # (future, what was handed out, position, attempt, index base)
        self.pending: list[tuple[concurrent.futures.Future, Offloaded | OffloadedDisk, int, int, int]] = []
        self.warnings: list[tuple[int, int, int, dict]] = []  # (position, index key, order, warning) for the sidecar
        self._pool = pool  # started early (engine/workers.py), or at the first file handed out

    # The main process's own event data.
    def add(self, data: EventData) -> None:
        position = self.position
        self.position += 1
        entry = warning_entry(data)
        if entry is not None:
            self.warnings.append((position, 0, 0, entry))
        for index, event in enumerate(self.timeliner.events(data)):
            self.runs.add(self.maker.item(self.tagger.tag(event), position, index))

    # A file or a nested disk for a worker.
    def submit(self, offloaded: Offloaded | OffloadedDisk) -> None:
        position = self.position
        self.position += 1
        self.pending.append((self._pool_submit(offloaded, position, 0), offloaded, position, 0, 0))

    def _pool_submit(self, offloaded: Offloaded | OffloadedDisk, position: int, base: int) -> concurrent.futures.Future:
        if self._pool is None:
            self._pool = new_pool(self.workers)
        target = dataclasses.replace(offloaded.target, volume=None)  # the path spec is what a worker opens
        if isinstance(offloaded, OffloadedDisk):
            return self._pool.submit(parse_disk, self.config, dataclasses.replace(offloaded, target=target), position)
        return self._pool.submit(parse_file, self.config, target, offloaded.parsers, position, offloaded.context, base)

    def finish(self) -> None:
        """Waits for the workers, merges every run and writes the lines in psort's order."""
        runs: list[Run] = []
        for result, position in self._results():
            if self.progress is not None:
                self.progress(self.stats, f"event logs and disks in worker processes: {len(self.pending)} to go")
            runs.extend(result.runs)
            stats = self.stats
            stats.event_data += result.event_data
            stats.per_data_type.update(result.per_data_type)
            stats.per_parser.update(result.per_parser)
            stats.warnings += result.warning_count
            stats.files += result.files
            stats.per_volume.update(result.per_volume)
            stats.collector.update(result.collector)
            stats.nested_sources += result.nested_sources
            stats.template_event_data_skipped += result.template_event_data_skipped
            self.timeliner.counter.update(result.timeliner)
            self.tagger.counter.update(result.tags)
            self.warnings.extend((position, key, order, w) for order, (key, w) in
                                 enumerate(zip(result.warning_keys, result.warnings)))
            for sub, offloaded in result.offloaded:  # a disk's large event logs: on to the workers
                base = sub_key(sub)
                self.pending.append((self._pool_submit(offloaded, position, base), offloaded, position, 0, base))
        self.warnings.sort(key=lambda entry: entry[:3])
        self.run_record.warnings.extend(entry[3] for entry in self.warnings)
        self.runs.flush()  # the main process's own items too, so that a worker can read every run
        runs = reduce_runs(self.runs.runs + runs, self._scratch.name, self._pool)
        include_all = self.config["include_all"]
        blocks = sum(len(run.firsts) for run in runs)
        point = (split_point(runs, FIRST_SHARE) if self._pool is not None and blocks * _BLOCK >= SPLIT_MIN_ITEMS
                 else None)
        if point is None:
            self.writer.write_formatted_lines(item[5] for item in psort_items(merged(runs), include_all))
        else:
            self._write_halves(runs, point, include_all)
        if self._pool is not None:  # the workers exit while the output is closed
            self._pool.shutdown(wait=False)

    def _write_halves(self, runs: list[Run], point: Any, include_all: bool) -> None:
        """The merge in two processes: a worker writes the lines before ``point``,
        this process the rest, at the byte offset where they go in the same file.

        The offset comes from the keys alone (each carries its line's length):
        this process reads the first part's keys while the worker already
        writes, which is why the worker's part is the larger (FIRST_SHARE).
        """
        writer = self.writer
        start = writer.flush_to_file()
        try:
            future = self._pool.submit(write_at, writer.temp_path, start, runs, None, point, include_all)
        except (BrokenProcessPool, RuntimeError):
            future = None
        size = 0
        for key in psort_items(merged(runs, None, point, keys_only=True), include_all):
            if key[5] >= 0:
                size += key[5] + 1
        mine = write_at(writer.temp_path, start + size, runs, point, None, include_all)
        first = None
        if future is not None:
            try:
                first = future.result()
            except Exception:  # noqa: BLE001 - a dead worker: this process writes the first part
                first = None
        if first is None:
            first = write_at(writer.temp_path, start, runs, None, point, include_all)
        if first[2] == size:
            writer.appended(*first)
            writer.appended(*mine)
            return
        # The first part did not end where its keys said (which would be a
        # bug): everything again, in this process alone.
        writer.truncate_at(start)
        writer.write_formatted_lines(item[5] for item in psort_items(merged(runs), include_all))

    def _results(self) -> Iterator[tuple[WorkerResult, int]]:
        while self.pending:
            future, offloaded, position, attempt, base = self.pending.pop(0)
            try:
                result = future.result()
            except BrokenProcessPool:
                # A worker died (a crash in a C library?): a new pool, and one more try.
                if self._pool is not None:
                    self._pool.shutdown(cancel_futures=True)
                    self._pool = None
                retry = [(self._pool_submit(o, p, b), o, p, a, b) for _, o, p, a, b in self.pending]
                if attempt == 0:
                    retry.insert(0, (self._pool_submit(offloaded, position, base), offloaded, position, 1, base))
                    result = None
                else:
                    result = self._failed(offloaded, "the worker process parsing it died twice", position, base)
                self.pending = retry
            except Exception as exception:  # noqa: BLE001 - one file must not stop the run
                result = self._failed(offloaded, f"{type(exception).__name__}: {exception}", position, base)
            if result is not None:
                yield result, position

    def _failed(self, offloaded: Offloaded | OffloadedDisk, reason: str, position: int, base: int) -> WorkerResult:
        data = warning(f"parallel worker failed: {reason}", parser=",".join(offloaded.parsers),
                       provenance=offloaded.target.provenance)
        runs = RunWriter(self._scratch.name, 1 << 30, "fail-")
        maker = ItemMaker(self.maker.formatter)
        for index, event in enumerate(self.timeliner.events(data)):
            runs.add(maker.item(event, position, base + index))
        runs.flush()
        return WorkerResult(runs=runs.runs, items=runs.count, event_data=1,
                            per_data_type=Counter({data.data_type: 1}), warnings=[warning_entry(data)],
                            warning_keys=[base], warning_count=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._scratch.cleanup()


def output_formatter(config: dict[str, Any]):
    from sandtrace.output import manager as output_manager

    return output_manager.create_writer(config["format"], None, config["output_options"])


