"""Batch over an evidence store: resumable after SIGKILL, the same on Dask.

The store holds four sources: the foundation E01 set, a QCOW2 image with two
shadow copies (split into three parts), a triage folder and a truncated E01.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandtrace.batch import discovery
from sandtrace.batch.manifest import sha256_file

from tests.conftest import CORPUS, TEST_IMAGES

GOOD = ("foundation", "store", "triage")
EXTRA = ["--paths", "**"]


def _make_store(root: str) -> dict[str, str]:
    os.makedirs(os.path.join(root, "lab", "case-7"))
    os.makedirs(os.path.join(root, "lab", "case-9", "triage", "C", "Users", "bob", "Documents"))
    for segment in ("foundation.E01", "foundation.E02"):
        shutil.copy(os.path.join(TEST_IMAGES, segment), os.path.join(root, "lab", "case-7", segment))
    qcow = os.path.join(CORPUS, "images", "dfvfs", "vsstest.qcow2")
    if os.path.exists(qcow):
        shutil.copy(qcow, os.path.join(root, "lab", "case-9", "store.qcow2"))
        store = os.path.join(root, "lab", "case-9", "store.qcow2")
    else:  # no corpus: a split raw image exported from the foundation E01
        import pyewf

        handle = pyewf.handle()
        handle.open(pyewf.glob(os.path.join(TEST_IMAGES, "foundation.E01")))
        data = handle.read_buffer(handle.get_media_size())
        handle.close()
        half = len(data) // 2
        store = os.path.join(root, "lab", "case-9", "store.001")
        with open(store, "wb") as first, open(store[:-1] + "2", "wb") as second:
            first.write(data[:half])
            second.write(data[half:])
    triage = os.path.join(root, "lab", "case-9", "triage")
    open(os.path.join(triage, discovery.TRIAGE_MARKER), "w").close()
    with open(os.path.join(triage, "C", "Users", "bob", "Documents", "tools.wsb"), "w") as handle:
        handle.write("<Configuration><Networking>Disable</Networking><MemoryInMB>2048</MemoryInMB></Configuration>\n")
    # Reading a folder moves its access times (relatime) unless they are ahead of the other times.
    ahead, before = time.time() + 3600, time.time() - 86400
    for directory, folders, names in os.walk(triage, topdown=False):
        for name in [*names, *folders]:
            os.utime(os.path.join(directory, name), (ahead, before))
    os.utime(triage, (ahead, before))
    broken = os.path.join(root, "lab", "case-9", "broken.E01")
    with open(os.path.join(TEST_IMAGES, "foundation.E01"), "rb") as handle:
        data = handle.read(300_000)
    with open(broken, "wb") as handle:
        handle.write(data)
    return {"foundation": os.path.join(root, "lab", "case-7", "foundation.E01"), "store": store,
            "triage": triage, "broken": broken}


def _batch(out_dir: str, store: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sandtrace.cli", "batch", store, "-o", out_dir,
            "--format", "json_line,timesketch", "-q", *EXTRA, *extra]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The store, the single-extract timelines of its good sources, and a batch SIGKILLed then rerun."""
    root = str(tmp_path_factory.mktemp("batch"))
    sources = _make_store(os.path.join(root, "evidence"))
    store = os.path.join(root, "evidence")

    def extract(name: str) -> str:
        output = os.path.join(root, "single", f"{name}.jsonl")
        subprocess.run([sys.executable, "-m", "sandtrace.cli", "extract", sources[name], "-o", output,
                        "--format", "json_line", "-q", *EXTRA], check=True)
        return output

    with ThreadPoolExecutor(3) as pool:
        singles = dict(zip(GOOD, pool.map(extract, GOOD)))

    out_dir = os.path.join(root, "out")
    killed = subprocess.Popen(_batch(out_dir, store, "--workers", "1"))
    done_before_kill = _wait_for_first_done(os.path.join(out_dir, "manifest.sqlite"), killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    orphans = _workers_of(killed.pid)
    rerun = subprocess.run(_batch(out_dir, store, "--workers", "2"), capture_output=True, text=True)
    return {"root": root, "store": store, "sources": sources, "singles": singles, "out": out_dir,
            "done_before_kill": done_before_kill, "orphans": orphans, "rerun": rerun}


def _wait_for_first_done(manifest: str, process: subprocess.Popen) -> set[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True, timeout=1) as db:
                done = {row[0] for row in db.execute("SELECT name FROM sources WHERE status = 'done'")}
        except sqlite3.Error:
            done = set()
        if done:
            return done
        time.sleep(0.02)
    raise AssertionError("the batch finished or stalled before a source was done")


def _workers_of(parent: int) -> list[int]:
    time.sleep(0.3)  # PR_SET_PDEATHSIG delivery
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                arguments = handle.read().split(b"\0")
        except OSError:
            continue
        if b"sandtrace.batch.worker" in arguments and str(parent).encode() in arguments:
            found.append(int(pid))
    return found


def _rows(out_dir: str) -> dict[str, dict]:
    with sqlite3.connect(os.path.join(out_dir, "manifest.sqlite")) as db:
        db.row_factory = sqlite3.Row
        return {row["name"]: dict(row) for row in db.execute("SELECT * FROM sources")}


def _lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_discovery_finds_each_source_once(case):
    found = discovery.discover([case["store"]])
    assert sorted(os.path.basename(item.path) for item in found) == sorted(
        os.path.basename(path) for path in case["sources"].values())
    kinds = {os.path.basename(item.path): item.kind for item in found}
    assert kinds["triage"] == "directory" and kinds["foundation.E01"] == "EWF"


def test_the_batch_was_killed_midway_and_left_no_worker(case):
    rows = _rows(case["out"])
    assert case["done_before_kill"] and set(case["done_before_kill"]) < set(rows)
    assert case["orphans"] == []


def test_rerun_does_every_good_source_exactly_once(case):
    assert case["rerun"].returncode == 3, case["rerun"].stderr  # one source failed
    rows = _rows(case["out"])
    assert set(rows) == {*GOOD, "broken"}
    for name in GOOD:
        assert rows[name]["status"] == "done"
        assert rows[name]["completions"] == 1, name
    for name in case["done_before_kill"]:
        assert rows[name]["attempts"] == 1, f"{name} was done before the kill and must not be redone"


def test_the_corrupt_source_is_recorded_as_failed_with_its_reason(case):
    row = _rows(case["out"])["broken"]
    assert row["status"] == "failed"
    assert row["error"].startswith("truncated segment broken.E01: 300,000 bytes, but its section chain goes on")
    assert not os.path.exists(os.path.join(case["out"], "sources", "broken", "timeline.jsonl"))


def test_each_source_timeline_equals_a_single_extract(case):
    rows = _rows(case["out"])
    for name in GOOD:
        produced = os.path.join(case["out"], "sources", name, "timeline.jsonl")
        assert sha256_file(produced) == sha256_file(case["singles"][name]), name
        outputs = json.loads(rows[name]["outputs"])
        assert outputs[os.path.join("sources", name, "timeline.jsonl")] == sha256_file(produced)
        meta = json.load(open(os.path.join(case["out"], "sources", name, "timeline.meta.json")))
        assert meta["summary"]["events_written"] == len(_lines(case["singles"][name]))
        if name == "foundation":
            assert all("sha256" in entry for entry in meta["sources"][0]["files"])


def test_merged_timeline_has_no_duplicates_and_no_losses(case):
    merged = _lines(os.path.join(case["out"], "merged.jsonl"))
    expected = collections.Counter()
    for name in GOOD:
        for line in _lines(case["singles"][name]):
            expected[(case["sources"][name], line)] += 1
    got = collections.Counter()
    timestamps = []
    for line in merged:
        record = json.loads(line)
        source = record.pop("source")
        assert record.pop("source_name") in GOOD
        hostname = record.pop("source_hostname", None) or record.pop("hostname")
        assert hostname
        original = json.loads(line)  # the single run's line had no batch fields
        for key in ("source", "source_name", "source_hostname"):
            original.pop(key, None)
        if "source_hostname" not in json.loads(line):
            original.pop("hostname")
        got[(source, json.dumps(original, sort_keys=True, default=str))] += 1
        timestamps.append(record["timestamp"])
    assert got == expected
    assert timestamps == sorted(timestamps)
    assert len(merged) == sum(len(_lines(path)) for path in case["singles"].values())


def test_host_name_comes_from_the_source_or_its_name(case):
    rows = _rows(case["out"])
    merged = [json.loads(line) for line in _lines(os.path.join(case["out"], "merged.jsonl"))]
    by_source = {record["source_name"]: record for record in merged}
    assert by_source["triage"]["hostname"] == rows["triage"]["hostname"] or by_source["triage"]["hostname"] == "triage"


def test_nothing_half_written_is_left(case):
    leftovers = [os.path.join(directory, name)
                 for directory, _, names in os.walk(case["out"]) for name in names if name.endswith(".tmp")]
    assert leftovers == []
    assert not os.path.exists(os.path.join(case["out"], ".work", "foundation"))


def test_second_rerun_skips_everything_done(case):
    again = subprocess.run(_batch(case["out"], case["store"], "--workers", "2"), capture_output=True, text=True)
    assert again.returncode == 3
    rows = _rows(case["out"])
    assert all(rows[name]["completions"] == 1 and rows[name]["status"] == "done" for name in GOOD)
    # A damaged output is noticed by its hash and redone.
    damaged = os.path.join(case["out"], "sources", "triage", "timeline.timesketch.jsonl")
    with open(damaged, "a") as handle:
        handle.write("{}\n")
    subprocess.run(_batch(case["out"], case["store"], "--workers", "2"), capture_output=True, text=True)
    rows = _rows(case["out"])
    assert rows["triage"]["completions"] == 2 and rows["foundation"]["completions"] == 1


def test_dask_local_cluster_gives_the_same_outputs(case):
    distributed = pytest.importorskip("distributed")
    from sandtrace.batch import BatchOptions, run_batch

    out_dir = os.path.join(case["root"], "out-dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        summary = run_batch(BatchOptions(
            evidence=[case["store"]], out_dir=out_dir, formats=["json_line", "timesketch"], dask=client,
            extract=_extraction(), quiet=True,
        ))
    assert sorted(summary.done) == sorted(GOOD) and list(summary.failed) == ["broken"]
    for relative in ("merged.jsonl", "merged.timesketch.jsonl",
                     *(os.path.join("sources", n, f) for n in GOOD for f in ("timeline.jsonl", "timeline.timesketch.jsonl"))):
        assert sha256_file(os.path.join(out_dir, relative)) == sha256_file(os.path.join(case["out"], relative)), relative


def _extraction() -> dict:
    from sandtrace import cli

    args = cli.build_parser().parse_args(["batch", "x", "-o", "y", *EXTRA])
    return cli._batch_extraction(args)


@pytest.mark.parametrize("fmt", ["json_line", "timesketch"])
def test_the_super_timeline_keeps_line_breaking_characters_escaped(tmp_path, fmt):
    """A message holding U+2028 (a line break to str.splitlines and to some importers):
    timesketch writes it as an escape, and so must the merged timeline; every line is
    the source's record plus the source's names."""
    from sandtrace.batch import merge

    record = {"message": "before\u2028after\u0085end", "timestamp": 5, "timestamp_desc": "Creation Time"}
    text = json.dumps(record, sort_keys=True, ensure_ascii=fmt != "timesketch")
    text = text.replace("\u2028", "\\u2028").replace("\u0085", "\\u0085")
    source = tmp_path / "timeline.jsonl"
    source.write_text(text + "\n", encoding="utf-8")
    output = tmp_path / "merged.jsonl"
    assert merge.super_timeline([{"path": str(source), "source": "/e/a.E01", "name": "a", "hostname": "PC1"}],
                                fmt, str(output)) == 1
    merged = output.read_text(encoding="utf-8")
    assert "\u2028" not in merged and "\u0085" not in merged and len(merged.splitlines()) == 1
    assert json.loads(merged) == dict(record, source="/e/a.E01", source_name="a", hostname="PC1")


def _inputs(out_dir: str, fmt: str) -> list[dict]:
    from sandtrace.batch import runner

    inputs = []
    for row in sorted(_rows(out_dir).values(), key=lambda row: row["path"]):
        if row["status"] != "done":
            continue
        inputs.append({"path": os.path.join(out_dir, "sources", row["name"], runner._SUFFIXES[fmt]),
                       "source": row["path"], "name": row["name"], "hostname": row["hostname"] or row["name"]})
    return inputs


@pytest.mark.parametrize("fmt", ["json_line", "timesketch"])
def test_the_merged_timeline_made_by_annotate_tasks_is_the_line_by_line_merge(case, tmp_path, fmt):
    """batch annotates ranges of each timeline in tasks and merges bytes: the result is
    merge.super_timeline's, byte for byte; the ranges are tasks in the manifest (a source
    redone later, as triage in the rerun test, loses its rows: they are its own tasks')."""
    from sandtrace.batch import merge, runner

    reference = tmp_path / "reference.jsonl"
    inputs = _inputs(case["out"], fmt)
    assert merge.super_timeline(inputs, fmt, str(reference)) > 0
    assert (tmp_path / "reference.jsonl").read_bytes() == open(os.path.join(case["out"], runner.MERGED[fmt]), "rb").read()
    with sqlite3.connect(os.path.join(case["out"], "manifest.sqlite")) as db:
        rows = list(db.execute("SELECT path, status FROM tasks WHERE kind = ?", (f"annotate:{fmt}",)))
    assert len(rows) >= 2 and {path for path, _ in rows} <= {item["source"] for item in inputs}
    assert {status for _, status in rows} == {"done"}
    assert not os.path.exists(os.path.join(case["out"], ".work", f"merge-{fmt}"))


def _timeline(path, fmt: str, records: list[dict]) -> None:
    ensure_ascii = fmt != "timesketch"
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            line = json.dumps(record, sort_keys=True, ensure_ascii=ensure_ascii)
            handle.write(line.replace("\u2028", "\\u2028") + "\n")


@pytest.mark.parametrize("fmt", ["json_line", "timesketch"])
@pytest.mark.parametrize("pieces", [1, 3, 40])
def test_annotated_ranges_merge_to_the_same_bytes_however_a_timeline_is_cut(tmp_path, fmt, pieces):
    """Ties across sources, a host name of the event's own, a ``source`` attribute, text
    beyond ASCII and U+2028, and a summary line at timestamp 0 after the last event
    (timesketch's count of dropped events) alone in the last range."""
    from sandtrace.batch import merge

    one = [{"timestamp": t, "message": f"é{t}\u2028", "hostname": "PC1" if t % 2 else "OTHER"} for t in (1, 3, 3, 7, 9)]
    one.append({"timestamp": 0, "message": "2 events dated before 1700 were left out"})
    two = [{"timestamp": t, "message": f"two {t}", "source": "attr"} for t in (0, 3, 8, 9, 12)]
    items = []
    for name, records in (("one", one), ("two", two)):
        _timeline(tmp_path / f"{name}.jsonl", fmt, records)
        items.append({"path": str(tmp_path / f"{name}.jsonl"), "source": f"/e/{name}.E01", "name": name, "hostname": "PC1"})
    for chosen in (items, items[:1]):
        reference = tmp_path / "reference.jsonl"
        count = merge.super_timeline(chosen, fmt, str(reference))
        ranges = []
        for index, item in enumerate(chosen):
            cuts = merge.line_ranges(item["path"], pieces)
            assert cuts[0][0] == 0 and cuts[-1][1] == os.path.getsize(item["path"])
            own = []
            for number, (start, end) in enumerate(cuts):
                lines, keys = str(tmp_path / f"{index}-{number}.lines"), str(tmp_path / f"{index}-{number}.keys")
                merge.annotate_range(item, fmt, start, end, lines, keys)
                own.append((lines, keys))
            ranges.append(own)
        if pieces == 40:
            assert len(ranges[0]) == len(one)  # every line a range of its own: the summary line too
        assert merge.merge_annotated(ranges, str(tmp_path / "merged.jsonl")) == count
        assert (tmp_path / "merged.jsonl").read_bytes() == reference.read_bytes()


def test_a_failed_annotate_task_costs_time_not_the_merged_timeline(tmp_path):
    """The tasks fail (a lost Dask worker, a memory cap): the merge is made line by line, as before."""
    from concurrent.futures import Future

    from sandtrace.batch import merge, runner, tasks
    from sandtrace.batch.manifest import Manifest

    _timeline(tmp_path / "a.jsonl", "json_line", [{"timestamp": t, "message": str(t)} for t in range(5)])
    inputs = [{"path": str(tmp_path / "a.jsonl"), "source": "/e/a.E01", "name": "a", "hostname": "PC1"}]

    class Failing:
        def has_room(self, running):
            return running < 1

        def submit(self, task):
            future = Future()
            future.set_result(tasks.TaskResult(task=task, ok=False, error="annotate task killed by SIGKILL"))
            return future

        def wait(self, futures):
            return list(futures)

    (tmp_path / "out").mkdir()
    manifest = Manifest(str(tmp_path / "out"))
    target = str(tmp_path / "out" / "merged.jsonl")
    options = runner.BatchOptions(evidence=[], out_dir=str(tmp_path / "out"), workers=2)
    assert runner._super_timeline(inputs, "json_line", target, str(tmp_path / "out"), options, Failing(), manifest) == 5
    merge.super_timeline(inputs, "json_line", str(tmp_path / "reference.jsonl"))
    assert open(target, "rb").read() == (tmp_path / "reference.jsonl").read_bytes()
    rows = [tuple(row) for row in manifest.db.execute("SELECT status, error FROM tasks WHERE kind = 'annotate:json_line'")]
    assert rows == [("failed", "annotate task killed by SIGKILL")]
    manifest.close()


def test_a_negative_worker_count_is_refused_with_what_is_allowed(tmp_path, capsys):
    from sandtrace import cli

    assert cli.main(["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--workers", "-1"]) == cli.EXIT_USAGE
    assert "--workers must be 0 or more (0: nothing in parallel; default: the number of cores)" in capsys.readouterr().err


def test_workers_means_what_it_means_for_extract(monkeypatch):
    """Not given: the cores; 0: nothing in parallel (one task at a time, as extract's one process); N: N."""
    from sandtrace import cli
    from sandtrace.batch import runner

    monkeypatch.setattr(runner.os, "cpu_count", lambda: 6)
    options = lambda **kw: runner.BatchOptions(evidence=[], out_dir="", formats=["json_line"], **kw)  # noqa: E731
    assert runner._task_processes(options()) == 6
    assert runner._task_processes(options(workers=0)) == 1
    assert runner._task_processes(options(workers=3)) == 3
    parser = cli.build_parser()
    assert parser.parse_args(["batch", "e", "-o", "o"]).workers is None
    assert parser.parse_args(["extract", "e", "-o", "o"]).workers is None
