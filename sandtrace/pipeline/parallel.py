"""The main process's side of a run with workers: its own events as items, the
files and disks it hands out, the merge of every run and the writing.

The output is byte-identical to a single-process run (timeline/runs.py says
why). Each side writes sorted runs of bounded size to a scratch folder; the
main process merges them and writes the lines. On large cases the merge is
split at a timestamp: a worker writes the lines before it (the first part)
into the output file while the main process reads the first part's keys to
learn the byte offset where its own part, the rest, goes.

A worker that fails on a file costs that file (a warning); a worker process
that dies is replaced and the file is tried once more.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections import Counter
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sandtrace.core.events import EventData, warning
from sandtrace.engine import scratch
from sandtrace.engine.provenance import warning_entry
from sandtrace.pipeline.event_path import EventPath
from sandtrace.pipeline.extraction import ExtractionStats
from sandtrace.pipeline.handout import HandedOutDisk, HandedOutFile, sub_key
from sandtrace.pipeline.pool import new_pool
from sandtrace.pipeline.tasks import WorkerResult, parse_disk, parse_file, write_at
from sandtrace.timeline.runs import BLOCK, Run, RunWriter, merged, reduce_runs, split_point
from sandtrace.timeline.sorter import psort_items

SPLIT_MIN_ITEMS = 50_000  # fewer lines: the main process merges them alone
# The split merge's first part, written by a worker while this process reads
# its keys (a quarter of the cost of writing them) to learn where the second
# part starts: parts of equal time at about 4/7.
FIRST_SHARE = 0.56


# -- the main side -------------------------------------------------------------------


class LinePipeline:
    """The main process's side: its own events, the workers' files, the merge and the writing."""

    def __init__(self, writer, workers: int, config: dict[str, Any], window: int, path: EventPath, stats,
                 run_record, progress=None, pool: concurrent.futures.ProcessPoolExecutor | None = None) -> None:
        self.writer, self.workers, self.progress = writer, workers, progress
        self.path, self.stats, self.run_record = path, stats, run_record
        if path.formatter is None:
            path.formatter = output_formatter(config)
        self._scratch = scratch.Folder("sandtrace-parallel-", config.get("tmp_dir"))  # swept if this run is killed
        from sandtrace.engine import vhdi_parents

        self.config = dict(config, directory=self._scratch.name, window=max(window // max(workers, 1), 1000),
                           triage_roots=vhdi_parents.triage_roots())
        self.runs = RunWriter(self._scratch.name, window, "main-")
        self.position = 0
        # (future, what was handed out, position, attempt, index base)
        self.pending: list[tuple[concurrent.futures.Future, HandedOutFile | HandedOutDisk, int, int, int]] = []
        self.warnings: list[tuple[int, int, int, dict]] = []  # (position, index key, order, warning) for the sidecar
        self._pool = pool  # started early (pipeline/pool.py), or at the first file handed out

    # The main process's own event data.
    def add(self, data: EventData) -> None:
        position = self.position
        self.position += 1
        entry = warning_entry(data)
        if entry is not None:
            self.warnings.append((position, 0, 0, entry))
        self.runs.extend(self.path.items(data, position))

    # A file or a nested disk for a worker.
    def submit(self, handed_out: HandedOutFile | HandedOutDisk) -> None:
        position = self.position
        self.position += 1
        self.pending.append((self._pool_submit(handed_out, position, 0), handed_out, position, 0, 0))

    def _pool_submit(self, handed_out: HandedOutFile | HandedOutDisk, position: int, base: int) -> concurrent.futures.Future:
        if self._pool is None:
            self._pool = new_pool(self.workers)
        target = dataclasses.replace(handed_out.target, volume=None)  # the path spec is what a worker opens
        if isinstance(handed_out, HandedOutDisk):
            return self._pool.submit(parse_disk, self.config, dataclasses.replace(handed_out, target=target), position)
        return self._pool.submit(parse_file, self.config, target, handed_out.parsers, position, handed_out.context, base)

    def finish(self) -> None:
        """Waits for the workers, merges every run and writes the lines in psort's order."""
        runs: list[Run] = []
        for result, position in self._results():
            if self.progress is not None:
                self.progress(self.stats, f"event logs and disks in worker processes: {len(self.pending)} to go")
            runs.extend(result.runs)
            self.stats.merge(result.stats)
            self.path.add_counts(result.counts)
            self.warnings.extend((position, key, order, w) for order, (key, w) in
                                 enumerate(zip(result.warning_keys, result.warnings)))
            for sub, handed_out in result.handed_out:  # a disk's large event logs: on to the workers
                base = sub_key(sub)
                self.pending.append((self._pool_submit(handed_out, position, base), handed_out, position, 0, base))
        self.warnings.sort(key=lambda entry: entry[:3])
        self.run_record.warnings.extend(entry[3] for entry in self.warnings)
        self.runs.flush()  # the main process's own items too, so that a worker can read every run
        runs = reduce_runs(self.runs.runs + runs, self._scratch.name, self._pool)
        include_all = self.config["include_all"]
        blocks = sum(len(run.firsts) for run in runs)
        point = (split_point(runs, FIRST_SHARE) if self._pool is not None and blocks * BLOCK >= SPLIT_MIN_ITEMS
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
            future, handed_out, position, attempt, base = self.pending.pop(0)
            try:
                result = future.result()
            except BrokenProcessPool:
                # A worker died (a crash in a C library?): a new pool, and one more try.
                if self._pool is not None:
                    self._pool.shutdown(cancel_futures=True)
                    self._pool = None
                retry = [(self._pool_submit(o, p, b), o, p, a, b) for _, o, p, a, b in self.pending]
                if attempt == 0:
                    retry.insert(0, (self._pool_submit(handed_out, position, base), handed_out, position, 1, base))
                    result = None
                else:
                    result = self._failed(handed_out, "the worker process parsing it died twice", position, base)
                self.pending = retry
            except Exception as exception:  # noqa: BLE001 - one file must not stop the run
                result = self._failed(handed_out, f"{type(exception).__name__}: {exception}", position, base)
            if result is not None:
                yield result, position

    def _failed(self, handed_out: HandedOutFile | HandedOutDisk, reason: str, position: int, base: int) -> WorkerResult:
        data = warning(f"parallel worker failed: {reason}", parser=",".join(handed_out.parsers),
                       provenance=handed_out.target.provenance)
        runs = RunWriter(self._scratch.name, 1 << 30, "fail-")
        runs.extend(self.path.items(data, position, base))
        runs.flush()
        stats = ExtractionStats(event_data=1, warnings=1, per_data_type=Counter({data.data_type: 1}))
        return WorkerResult(runs=runs.runs, items=runs.count, stats=stats, warnings=[warning_entry(data)],
                            warning_keys=[base])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._scratch.cleanup()


def output_formatter(config: dict[str, Any]):
    from sandtrace.output import manager as output_manager

    return output_manager.create_writer(config["format"], None, config["output_options"])



