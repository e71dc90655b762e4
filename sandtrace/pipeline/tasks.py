"""The worker side of hand-out: a worker process parses a file or runs a disk, and
returns its events as sorted runs of formatted lines (timeline/runs.py).

A worker sets itself up once per run (parsers, timeliner, tagger, formatter)
and counts per task; a disk's large event logs come back to be handed on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandtrace.engine import gc_tuning
from sandtrace.engine.collection import FileTarget
from sandtrace.engine.provenance import warning_entry
from sandtrace.pipeline.extraction import ExtractionStats
from sandtrace.pipeline.handout import HandedOutDisk, keyed
from sandtrace.timeline.runs import Run, RunWriter, merged
from sandtrace.timeline.sorter import psort_items


@dataclass
class WorkerResult:
    """What a task sends back: its sorted runs, its counts, its warnings."""

    runs: list[Run]
    items: int
    stats: ExtractionStats = field(default_factory=ExtractionStats)
    warnings: list[dict] = field(default_factory=list)  # provenance.warning_entry's form
    warning_keys: list[int] = field(default_factory=list)  # each warning's index key (a disk's: sub_key)
    counts: dict = field(default_factory=dict)  # EventPath.counts(): events per data type, labels, unmapped
    handed_out: list = field(default_factory=list)  # a disk's event logs to hand on: [(sub_position, HandedOutFile)]

# -- the worker side -----------------------------------------------------------------


_WORKER: dict[str, Any] = {}


def _configure(config: dict[str, Any]) -> None:
    """Once per worker process and run: the parsers and the event path (timeliner, tagger, formatter)."""
    from sandtrace.engine import vhdi_parents
    from sandtrace.output import manager as output_manager
    from sandtrace.pipeline.event_path import EventPath
    from sandtrace.pipeline.extraction import Extractor

    _WORKER["config"] = config
    for root in config.get("triage_roots") or ():  # differencing disks in a triage folder find their parents there
        vhdi_parents.register_triage_root(root)
    _WORKER["extractor"] = Extractor(config["options"])
    _WORKER["path"] = EventPath(config["tagging_files"],
                                output_manager.create_writer(config["format"], None, config["output_options"]))
    gc_tuning.for_throughput()  # also where the pool was not started by pool.new_pool
    gc_tuning.freeze_set_up()


def _worker_setup(config: dict[str, Any]):
    if _WORKER.get("config", {}).get("directory") != config["directory"]:  # a new run: its own set-up
        _configure(config)
    extractor = _WORKER["extractor"]
    extractor.stats = ExtractionStats()  # this task's counts only
    _WORKER["path"].clear_counts()
    return extractor


def _work(config: dict[str, Any], stream: Iterator, position: int, base: int | None) -> WorkerResult:
    """A task's event data as sorted runs of items with keys (``position``, index);
    inside a handed-out disk each event data's index starts at ``sub_key`` of its
    own position there (``base`` None), and event logs the disk hands on are
    returned, not parsed."""
    path = _WORKER["path"]
    runs = RunWriter(config["directory"], config["window"], f"w{os.getpid()}-")
    warnings, keys, handed_out = [], [], []
    for data, index, events in keyed(stream, path, base, handed_out):
        entry = warning_entry(data)
        if entry is not None:
            warnings.append(entry)
            keys.append(index)
        runs.extend(path.items_of(events, position, index))
    runs.flush()
    return WorkerResult(runs=runs.runs, items=runs.count, stats=_WORKER["extractor"].stats, warnings=warnings,
                        warning_keys=keys, counts=path.counts(), handed_out=handed_out)


def parse_file(config: dict[str, Any], target: FileTarget, parsers: list[str], position: int,
               context: Any = None, base: int = 0) -> WorkerResult:
    """Parses one file in a worker (``base``: a file a disk handed on, its index key there)."""
    extractor = _worker_setup(config)
    return _work(config, extractor.parse_names(target, parsers, context), position, base)


def parse_disk(config: dict[str, Any], disk: HandedOutDisk, position: int) -> WorkerResult:
    """Runs one nested disk in a worker; its large event logs come back to be handed on."""
    extractor = _worker_setup(config)
    extractor.hand_out_bytes = config.get("hand_out_bytes", 0)
    try:
        return _work(config, extractor.run_disk(disk), position, None)
    finally:
        extractor.hand_out_bytes = 0


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

