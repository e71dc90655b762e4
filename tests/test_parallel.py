"""Parallel extraction (pipeline/parallel.py): the same bytes as one process, failures cost one file.

The cases: a triage folder with two large event logs (one copied, so equal
records tie across files), a small one the main process keeps, a .wsb and a
corrupt log; the corpus EVTX folder when the test corpus is there (docs/test-data.md).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest

from sandtrace import cli
from sandtrace.pipeline import handout, parallel, pool
from sandtrace.timeline import runs as run_files
from sandtrace.timeline import sorter
from tests.conftest import CORPUS

from test_images.writers.evtx import EvtxLog, HexInt64  # noqa: E402

FT = 133814880000000000  # 2025-01-16T00:00:00Z


def _log(channel: str, count: int, event_id: int, step: int) -> bytes:
    log = EvtxLog(channel, "WIN11-HOST")
    for index in range(count):
        # Steps of whole seconds with creation == written time: ties inside a record and across copies.
        log.add("Microsoft-Windows-Security-Auditing", event_id, FT + index * step * 10_000_000,
                data=[("TargetUserName", f"user{index % 7}"), ("LogonType", 2), ("TargetLogonId", HexInt64(index))])
    return log.to_bytes()


@pytest.fixture(scope="module")
def triage(tmp_path_factory):
    root = tmp_path_factory.mktemp("triage")
    logs = root / "Windows" / "System32" / "winevt" / "Logs"
    logs.mkdir(parents=True)
    big = _log("Security", 6000, 4624, 3)
    assert len(big) >= handout.HAND_OUT_MIN_BYTES
    (logs / "Security.evtx").write_bytes(big)
    (logs / "Security-copy.evtx").write_bytes(big)  # a VSS-like copy: every record ties with its twin
    (logs / "System.evtx").write_bytes(_log("System", 50, 7045, 5))  # small: parsed by the main process
    junk = bytes(range(256)) * (handout.HAND_OUT_MIN_BYTES // 256)  # chunks without a chunk header
    (logs / "Broken.evtx").write_bytes(b"ElfFile\x00" + b"\x00" * 4088 + junk)
    (root / "x.wsb").write_text("<Configuration><Networking>Enable</Networking></Configuration>")
    _access_times_ahead(root)
    return str(root)


def _access_times_ahead(root) -> None:
    """Reading a file moves its access time (relatime) unless it is ahead of the other
    times: set it ahead, so each run sees the same times."""
    ahead, before = time.time() + 3600, time.time() - 86400
    for directory, folders, names in os.walk(root, topdown=False):
        for name in [*names, *folders]:
            os.utime(os.path.join(directory, name), (ahead, before))
    os.utime(root, (ahead, before))


def _extract(source: str, out: str, *extra: str) -> dict:
    assert cli.main(["extract", source, "-o", out, "-q", "--no-hash", *extra]) == cli.EXIT_OK
    with open(out + ".meta.json") as handle:
        meta = json.load(handle)
    for volatile in ("command_line", "started", "finished"):
        meta.pop(volatile, None)
    meta["summary"].pop("output", None)
    meta["summary"].pop("seconds", None)
    return meta


@pytest.mark.parametrize("fmt", ["json_line", "timesketch"])
@pytest.mark.parametrize("include_all", [False, True])
@pytest.mark.parametrize("halves", [False, True], ids=["one-merge", "merge-in-halves"])
def test_workers_write_the_same_bytes_as_one_process(triage, tmp_path, fmt, include_all, halves, monkeypatch):
    if halves:  # the final merge split in two processes, as on large cases
        monkeypatch.setattr(parallel, "SPLIT_MIN_ITEMS", 0)
    extra = ["--format", fmt, "--parsers", "winevtx,wsb,filestat"] + (["--include-all"] if include_all else [])
    one = _extract(triage, str(tmp_path / "one.jsonl"), "--workers", "0", *extra)
    two = _extract(triage, str(tmp_path / "two.jsonl"), "--workers", "2", *extra)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert one == two  # counts per parser and data type, warnings in the same order
    lines = (tmp_path / "one.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    evtx = [r for r in records if r["data_type"] == "windows:evtx:record"]
    # 6000 records x 2 times (creation, written) per big log, twice, plus the small log's 50 x 2:
    # the copies differ by path spec, so psort de-duplicates nothing here.
    assert len(evtx) == 2 * 6000 * 2 + 50 * 2
    assert any("Broken.evtx" in w["path"] for w in one["warnings"])


def test_the_small_log_stays_in_the_main_process_and_the_large_ones_go_to_workers(triage):
    from sandtrace.engine import sources
    from sandtrace.pipeline.extraction import ExtractionOptions, Extractor

    extractor = Extractor(ExtractionOptions(parsers="winevtx,filestat"))
    extractor.hand_out_bytes = handout.HAND_OUT_MIN_BYTES
    handed = [item.target.location for item in extractor.run(sources.open_source(triage))
              if isinstance(item, handout.HandedOutFile)]
    assert sorted(path.rsplit("\\", 1)[-1] for path in handed) == ["Broken.evtx", "Security-copy.evtx", "Security.evtx"]


def test_other_formats_and_reports_stay_in_one_process(triage, tmp_path):
    """l2tcsv needs the events themselves (MACB groups); the report builder too."""
    one = tmp_path / "one.csv"
    two = tmp_path / "two.csv"
    _extract(triage, str(one), "--format", "l2tcsv", "--parsers", "winevtx", "--workers", "0")
    _extract(triage, str(two), "--format", "l2tcsv", "--parsers", "winevtx", "--workers", "2")
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.skipif(not os.path.isdir(os.path.join(CORPUS, "evtx")), reason="needs the test corpus (docs/test-data.md)")
def test_the_corpus_event_logs_are_the_same_with_workers(tmp_path):
    folder = tmp_path / "corpus"
    shutil.copytree(os.path.join(CORPUS, "evtx"), folder)
    one = _extract(str(folder), str(tmp_path / "one.jsonl"), "--workers", "0", "--evtx-anywhere", "--parsers", "winevtx")
    two = _extract(str(folder), str(tmp_path / "two.jsonl"), "--workers", "2", "--evtx-anywhere", "--parsers", "winevtx")
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert one == two
    assert one["summary"]["events_written"] > 30_000


class _Done(Future):
    def __init__(self, value=None, error=None):
        super().__init__()
        if error is not None:
            self.set_exception(error)
        else:
            self.set_result(value)


@pytest.mark.parametrize("disk", [False, True], ids=["file", "disk"])
def test_a_worker_that_dies_costs_one_retry_and_then_the_file_not_the_run(tmp_path, monkeypatch, disk):
    """BrokenProcessPool: the pool is replaced, the file (or nested disk) tried once more, then a warning."""
    from sandtrace.engine.collection import FileTarget
    from sandtrace.core.events import Provenance
    from sandtrace.pipeline.extraction import ExtractionStats
    from sandtrace.engine.provenance import RunRecord
    from sandtrace.output import manager
    from sandtrace.pipeline.event_path import EventPath

    writer = manager.create_writer("json_line", str(tmp_path / "out.jsonl"))
    stats, record = ExtractionStats(), RunRecord.start([])
    pipeline = parallel.LinePipeline(writer, 1, {"format": "json_line", "output_options": manager.OutputOptions(),
                                                 "include_all": False}, 1000, EventPath(), stats, record)
    attempts = []

    def submit(handed_out, position, base):
        attempts.append(handed_out.target.location)
        return _Done(error=BrokenProcessPool("worker died"))

    monkeypatch.setattr(pipeline, "_pool_submit", submit)
    target = FileTarget(volume=None, path_spec=None, location="\\crash.evtx",
                        provenance=Provenance(source="s", display_name="OS:\\crash.evtx"))
    pipeline.submit(handout.HandedOutDisk(target, "p1>crash.evtx", None, []) if disk
                    else handout.HandedOutFile(target, ["winevtx"]))
    pipeline._pool = type("Pool", (), {"shutdown": lambda self, **kw: None})()
    pipeline.finish()
    writer.close()
    pipeline.close()
    assert attempts == ["\\crash.evtx", "\\crash.evtx"]
    assert [w["error"] for w in record.warnings] == [
        "parallel worker failed: the worker process parsing it died twice"]
    assert stats.warnings == 1
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["data_type"] for line in lines] == ["sandtrace:warning"]
    assert lines[0]["display_name"] == "OS:\\crash.evtx"
    assert lines[0]["parser"] == ("nested_disk" if disk else "winevtx")


def test_batch_hands_large_event_logs_to_tasks_of_their_own_and_writes_the_same_timeline(triage, tmp_path):
    """batch --split-evtx-mb: each large log a task ("evtx" in the manifest), the timeline as one extract's."""
    import sqlite3

    from sandtrace.batch import BatchOptions, discovery, run_batch

    store = tmp_path / "store"
    shutil.copytree(triage, store / "host")
    (store / "host" / discovery.TRIAGE_MARKER).write_text("")
    _access_times_ahead(store)
    single = tmp_path / "single.jsonl"
    _extract(str(store / "host"), str(single), "--format", "json_line", "--parsers", "winevtx,wsb,filestat", "--workers", "0")
    args = cli.build_parser().parse_args(["batch", "x", "-o", "y", "--parsers", "winevtx,wsb,filestat"])
    summary = run_batch(BatchOptions(evidence=[str(store)], out_dir=str(tmp_path / "out"), workers=2,
                                     extract=cli._batch_extraction(args), hash=False, quiet=True,
                                     split_evtx_bytes=handout.HAND_OUT_MIN_BYTES))
    assert summary.done == ["host"] and not summary.failed
    assert (tmp_path / "out" / "sources" / "host" / "timeline.jsonl").read_bytes() == single.read_bytes()
    with sqlite3.connect(tmp_path / "out" / "manifest.sqlite") as db:
        kinds = sorted(kind for (kind,) in db.execute("SELECT kind FROM tasks"))
    assert kinds.count("evtx") == 3  # Security, its copy, Broken; the small System.evtx stays in its part
    meta = json.loads((tmp_path / "out" / "sources" / "host" / "timeline.meta.json").read_text())
    assert sorted(p["event_log"].rsplit("/", 1)[-1] for p in meta["batch"]["parts"] if "event_log" in p) == [
        "Broken.evtx", "Security-copy.evtx", "Security.evtx"]
    assert meta["summary"]["events_written"] == len(single.read_text().splitlines())


HOST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_images", "host.E01")


@pytest.fixture
def every_log_handed_out(monkeypatch):
    """Every event log goes to a worker (host.E01's are small), nested disks too; what the main
    process submits is listed: ("disk" or "file", display name, context, index base). A disk's
    event logs come back from the worker that ran the disk and are submitted from here too."""
    handed: list[tuple[str, str, object, int]] = []
    real = parallel.LinePipeline._pool_submit

    def spy(self, handed_out, position, base):
        disk = isinstance(handed_out, handout.HandedOutDisk)
        handed.append(("disk" if disk else "file", handed_out.target.provenance.display_name,
                       None if disk else handed_out.context, base))
        return real(self, handed_out, position, base)

    monkeypatch.setattr(handout, "HAND_OUT_MIN_BYTES", 1)
    monkeypatch.setattr(parallel.LinePipeline, "_pool_submit", spy)
    return handed


@pytest.mark.parametrize("carve", [False, True], ids=["", "carve"])
def test_sandbox_disks_and_the_event_logs_inside_them_go_to_workers(tmp_path, every_log_handed_out, carve):
    """A sandbox disk (and the base layer) runs in a worker as a whole; the worker hands its
    event logs back, to go to workers with the disk's container and their place in it. With
    --carve, disks rebuilt from free clusters live in the main extractor's scratch folder:
    they stay in the main process, and the output is still the same (it was not even
    between two one-process runs: the rebuilt file's random path is in its path specs)."""
    extra = ["--format", "json_line"] + (["--carve"] if carve else [])
    one = _extract(HOST, str(tmp_path / "one.jsonl"), "--workers", "0", *extra)
    assert every_log_handed_out == []  # one process: nothing handed out
    two = _extract(HOST, str(tmp_path / "two.jsonl"), "--workers", "2", *extra)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert one == two
    meta_one, meta_two = (json.loads((tmp_path / f"{n}.jsonl.meta.json").read_text()) for n in ("one", "two"))
    for key in ("files_collected", "files_per_volume", "event_data", "warnings", "events_per_data_type", "collector"):
        assert meta_one["summary"][key] == meta_two["summary"][key], key
    assert meta_one["warnings"] == meta_two["warnings"]
    disks = [name for kind, name, _, _ in every_log_handed_out if kind == "disk"]
    assert any("BaseLayer" in name for name in disks) and sum("sandbox" in name for name in disks) >= 2, disks
    nested = [(name, context, base) for kind, name, context, base in every_log_handed_out if kind == "file" and ">" in name]
    assert len(nested) >= 2 and all(base > 0 for _, _, base in nested)  # their place inside the disk's task
    assert all(context is not None and context.container["container_guid"] for _, context, _ in nested)
    assert all(base == 0 for kind, name, _, base in every_log_handed_out if ">" not in name)
    records = [json.loads(line) for line in (tmp_path / "two.jsonl").read_text().splitlines()]
    inside = [r for r in records if r["data_type"] == "windows:evtx:record" and ">" in r["display_name"]
              and "$Unallocated" not in r["display_name"]]  # a carved disk has no container path
    assert inside and all(r.get("container_guid") for r in inside)  # what the disk gives its events
    carved = [r for r in records if "carved" in (r.get("tag") or {}).get("labels", [])]
    assert bool(carved) == carve
    assert not any("$Unallocated" in name for _, name, _, _ in every_log_handed_out)


def test_batch_runs_sandbox_disks_and_their_event_logs_as_tasks_of_their_own(tmp_path, every_log_handed_out):
    import sqlite3

    from sandtrace.batch import BatchOptions, run_batch

    store = tmp_path / "store"
    store.mkdir()
    for name in ("host.E01", "host.E02"):
        shutil.copy(os.path.join(os.path.dirname(HOST), name), store / name)
    single = tmp_path / "single.jsonl"
    _extract(str(store / "host.E01"), str(single), "--format", "json_line", "--workers", "0")
    args = cli.build_parser().parse_args(["batch", "x", "-o", "y"])
    summary = run_batch(BatchOptions(evidence=[str(store)], out_dir=str(tmp_path / "out"), workers=2,
                                     extract=cli._batch_extraction(args), hash=False, quiet=True, split_evtx_bytes=1,
                                     split_disk_bytes=1))
    assert summary.done == ["host"] and not summary.failed
    assert (tmp_path / "out" / "sources" / "host" / "timeline.jsonl").read_bytes() == single.read_bytes()
    with sqlite3.connect(tmp_path / "out" / "manifest.sqlite") as db:
        kinds = [kind for (kind,) in db.execute("SELECT kind FROM tasks")]
    meta = json.loads((tmp_path / "out" / "sources" / "host" / "timeline.meta.json").read_text())
    logs = [p["event_log"] for p in meta["batch"]["parts"] if "event_log" in p]
    assert kinds.count("evtx") == len(logs) >= 3
    assert any(">" in log for log in logs), logs  # a log inside a sandbox disk was a task of its own
    disks = [p["disk"].rsplit("\\", 1)[-1] for p in meta["batch"]["parts"] if "disk" in p]
    assert kinds.count("disk") == len(disks) == 3 and sorted(disks) == ["BaseLayer.vhdx", "sandbox.vhdx", "sandbox.vhdx"]
    single_meta = json.loads((tmp_path / "single.jsonl.meta.json").read_text())
    for key in ("files_collected", "event_data", "warnings", "events_per_data_type", "files_per_volume"):
        assert meta["summary"][key] == single_meta["summary"][key], key


@pytest.mark.parametrize("include_all", [False, True])
def test_psort_items_chunks_each_timestamp_as_psort_does(monkeypatch, include_all):
    """Unique timestamps pass through; a timestamp's items are heap-ordered in chunks of at most
    PSORT_HEAP_CHUNK, duplicates (same hash and description) dropped unless include_all."""
    from sandtrace.timeline.sorter import heap_order

    monkeypatch.setattr(sorter, "PSORT_HEAP_CHUNK", 3)
    items = [(1, 0, 0, "b", "Creation Time", "l1"), (2, 1, 0, "c", "Creation Time", "l2"),
             (2, 2, 0, "a", "Creation Time", "l3"), (2, 3, 0, "a", "Creation Time", "l4"),  # l4 repeats l3
             (2, 4, 0, "0", "Creation Time", "l5"), (2, 5, 0, "0", "Access Time", "l6"),  # 4th+ of ts 2: next chunk
             (3, 6, 0, "z", "Creation Time", "l7")]
    got = [item[5] for item in sorter.psort_items(iter(items), include_all)]
    chunks = [[items[0]], items[1:4], items[4:6], [items[6]]]
    expected = [entry[5] for chunk in chunks
                for entry in heap_order(((e[3], e[4], e) for e in chunk), not include_all)]
    assert got == expected
    assert got == (["l1", "l3", "l4", "l2", "l6", "l5", "l7"] if include_all else ["l1", "l3", "l2", "l6", "l5", "l7"])


def test_many_runs_are_merged_smallest_first_into_one_order(tmp_path, monkeypatch):
    """More runs than can be read at once: the smallest are merged first, as few as needed;
    the result is every item once, in order, and the big runs are read only once."""
    import random

    monkeypatch.setattr(run_files, "_FAN_IN", 4)
    rng = random.Random(7)
    sizes = [5, 400, 3, 7, 350, 2, 6]  # two big runs, five small ones
    runs, everything = [], []
    for number, size in enumerate(sizes):
        writer = run_files.RunWriter(str(tmp_path), 1 << 30, f"r{number}-")
        for index in range(size):
            item = (rng.randrange(1000), number, index, "h", "d", f"line {number}/{index}" if index % 5 else None)
            writer.extend([item])
            everything.append(item)
        writer.flush()
        runs.extend(writer.runs)
    big = {run.path for run, size in zip(runs, sizes) if size > 100}
    read = []
    real = run_files.read_run
    monkeypatch.setattr(run_files, "read_run", lambda run, *rest: read.append(run.path) or real(run, *rest))
    reduced = run_files.reduce_runs(runs, str(tmp_path))
    assert len(reduced) == 4
    assert list(run_files.merged(reduced)) == sorted(everything)
    assert all(read.count(path) == 1 for path in big)
    # The four smallest runs merged (2, 3, 5, 6 items), then the final merge of four runs.
    assert len(read) == 4 + 4
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(run.path) for run in reduced)


def test_a_run_reads_a_timestamp_range_and_its_keys_alone(tmp_path):
    writer = run_files.RunWriter(str(tmp_path), 1 << 30, "r-")
    items = [(t // 3, 0, t, "h", "d", "é" * (t % 4) if t % 7 else None) for t in range(1000)]
    writer.extend(items)
    writer.flush()
    run, = writer.runs
    blocks = -(-1000 // run_files.BLOCK)
    assert len(run.offsets) == blocks > 2 and run.firsts[1] == run_files.BLOCK // 3
    for low, high in [(None, None), (None, 100), (100, None), (42, 43), (200, 201), (400, 500)]:
        expected = [i for i in items if (low is None or i[0] >= low) and (high is None or i[0] < high)]
        assert list(run_files.read_run(run, low, high)) == expected
        keys = list(run_files.read_run(run, low, high, keys_only=True))
        assert keys == [(*i[:5], -1 if i[5] is None else len(i[5].encode())) for i in expected]


def test_batch_with_carve_writes_the_same_timeline_as_extract(tmp_path):
    """Parts carve their own volumes into their own scratch folders; named by source, volume
    and offset, the rebuilt disks' path specs are those of a single extract run."""
    from sandtrace.batch import BatchOptions, run_batch

    store = tmp_path / "store"
    store.mkdir()
    for name in ("host.E01", "host.E02"):
        shutil.copy(os.path.join(os.path.dirname(HOST), name), store / name)
    single = tmp_path / "single.jsonl"
    _extract(str(store / "host.E01"), str(single), "--format", "json_line", "--carve")
    args = cli.build_parser().parse_args(["batch", "x", "-o", "y", "--carve"])
    summary = run_batch(BatchOptions(evidence=[str(store)], out_dir=str(tmp_path / "out"), workers=2,
                                     extract=cli._batch_extraction(args), hash=False, quiet=True))
    assert summary.done == ["host"] and not summary.failed
    timeline = (tmp_path / "out" / "sources" / "host" / "timeline.jsonl").read_bytes()
    assert b'"carved"' in timeline and b"sandtrace-carved-" in timeline
    assert timeline == single.read_bytes()



class _InProcessPool:
    """A pool stub running tasks here (``fail``: every task raises)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def submit(self, function, *args):
        if self.fail:
            return _Done(error=OSError("worker gone"))
        return _Done(function(*args))


@pytest.mark.parametrize("case", ["worker", "worker-fails", "keys-miscount"])
def test_merge_in_halves_writes_what_one_merge_writes(tmp_path, monkeypatch, case):
    """The second half lands at the offset the first half's keys give; a failed worker or a
    first half of another size (a bug) costs time, not lines: this process writes the rest."""
    import random
    from types import SimpleNamespace

    from sandtrace.output import manager

    rng = random.Random(3)
    runs = []
    for number in range(5):
        writer = run_files.RunWriter(str(tmp_path), 1 << 30, f"r{number}-")
        for index in range(300):
            stamp = rng.randrange(400)
            line = None if index % 11 == 0 else f'{{"n": "{number}-{index}", "x": "{"ü" * (index % 3)}"}}'
            writer.extend([(stamp, number, index, rng.choice("ab"), "Creation Time", line)])
        writer.flush()
        runs.extend(writer.runs)
    point = run_files.split_point(runs)
    assert point is not None

    def write(path, pool):
        out = manager.create_writer("json_line", str(path))
        parallel.LinePipeline._write_halves(SimpleNamespace(writer=out, _pool=pool), runs, point, False)
        out.close()
        return out

    serial = manager.create_writer("json_line", str(tmp_path / "serial.jsonl"))
    serial.write_formatted_lines(item[5] for item in sorter.psort_items(run_files.merged(runs), False))
    serial.close()
    if case == "keys-miscount":
        real = run_files.read_run
        monkeypatch.setattr(run_files, "read_run", lambda run, low=None, high=None, keys_only=False: (
            (*key[:5], key[5] + 1 if key[5] >= 0 else key[5]) for key in real(run, low, high, keys_only))
            if keys_only else real(run, low, high))
    halves = write(tmp_path / "halves.jsonl", _InProcessPool(fail=case == "worker-fails"))
    assert (tmp_path / "halves.jsonl").read_bytes() == (tmp_path / "serial.jsonl").read_bytes()
    assert (halves.events_written, halves.events_dropped) == (serial.events_written, serial.events_dropped)
    assert serial.events_dropped > 0


def test_workers_start_early_only_for_a_large_image_and_a_line_format(tmp_path, monkeypatch, triage):
    from sandtrace.output import manager

    assert pool.LINE_FORMATS == {name for name in manager.names()
                                    if manager.create_writer(name, None).line_format}
    image = tmp_path / "disk.raw"
    with open(image, "wb") as handle:
        handle.truncate(pool.START_EARLY_BYTES)  # sparse
    small = tmp_path / "small.raw"
    small.write_bytes(b"\0" * 4096)
    assert pool.start_early(2, [str(image)], "l2tcsv") is None
    assert pool.start_early(0, [str(image)], "json_line") is None
    assert pool.start_early(2, [str(small)], "json_line") is None
    assert pool.start_early(2, [str(image), triage], "json_line") is None  # a folder: not worth walking
    started = pool.start_early(2, [str(image)], "json_line")
    try:
        assert started is not None and started._max_workers == 2
    finally:
        started.shutdown(cancel_futures=True)


def test_an_early_pool_serves_the_run(tmp_path, monkeypatch, every_log_handed_out):
    """On an image, the pool started before the source is opened is the one the pipeline uses
    (no second pool); the bytes are those of one process."""

    started, made = [], []
    real_start, real_new = pool.start_early, pool.new_pool
    monkeypatch.setattr(pool, "START_EARLY_BYTES", 1)
    monkeypatch.setattr(pool, "start_early", lambda *a: started.append(real_start(*a)) or started[-1])
    monkeypatch.setattr(parallel, "new_pool", lambda count: made.append(count) or real_new(count))
    one = _extract(HOST, str(tmp_path / "one.jsonl"), "--workers", "0", "--format", "json_line")
    assert started == [None]  # no workers asked for
    two = _extract(HOST, str(tmp_path / "two.jsonl"), "--workers", "2", "--format", "json_line")
    assert len(started) == 2 and started[1] is not None and made == []
    assert every_log_handed_out  # the early pool parsed them
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()
    assert one == two


class _DeadPool:
    def submit(self, *args, **kwargs):
        future = Future()
        future.set_exception(BrokenProcessPool("worker died"))
        return future


@pytest.mark.parametrize("pool", ["thread", "dead"])
def test_a_worker_merges_half_of_the_runs_of_a_reduce_pass(tmp_path, monkeypatch, pool):
    """Many runs beyond what the merge reads at once: a worker merges every other one of
    the smallest into a run while this process merges the rest; a dead worker's half is
    merged here. Either way: every item once, in order, no run file left behind."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(run_files, "_FAN_IN", 4)
    monkeypatch.setattr(run_files, "_SPLIT_REDUCE_MIN", 2)
    rng = random.Random(11)
    runs, everything = [], []
    for number, size in enumerate([9, 3, 7, 1, 400, 5, 2, 8, 6, 300]):
        writer = run_files.RunWriter(str(tmp_path), 1 << 30, f"r{number}-")
        for index in range(size):
            item = (rng.randrange(500), number, index, "h", "d", f"line {number}/{index}")
            writer.extend([item])
            everything.append(item)
        writer.flush()
        runs.extend(writer.runs)
    executor = ThreadPoolExecutor(1) if pool == "thread" else _DeadPool()
    reduced = run_files.reduce_runs(runs, str(tmp_path), executor)
    if pool == "thread":
        executor.shutdown()
    assert len(reduced) == 4
    assert list(run_files.merged(reduced)) == sorted(everything)
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(run.path) for run in reduced)
