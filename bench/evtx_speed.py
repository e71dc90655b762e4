"""EVTX benchmark: sandtrace's whole path against the raw decoders, on one core.

    .venv/bin/python bench/evtx_speed.py

Source: the test corpus's evtx folder (28 real and damaged logs; docs/test-data.md). Figures,
all pinned to CPU 0, best of 3:

- raw pyevtx-rs: iterating ``PyEvtxParser(path, number_of_threads=1).records_json()``
  (JSON strings, not decoded), and the same plus ``json.loads`` of each;
- python-evtx: ``Record.xml()`` for every record of the header's chunks;
- sandtrace parser only: ``WinEvtxParser.parse`` (active + recovered records,
  catalogue applied), no timeline;
- sandtrace whole path: ``sandtrace extract <folder> --evtx-anywhere --parsers
  winevtx --format json_line --workers 0`` in a subprocess (collection, parsing,
  two events per record, external sort, formatted json_line output); the same
  less the fixed cost of a run (the command on an empty folder); and, not
  pinned, with ``--workers`` = the cores (the default).

Writes bench/results/evtx.json. Wall time is measured here, never asserted in tests.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings

from sandtrace.core.atomic import write_atomically  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The checkout first; bench/ itself off the path (no bench script may shadow a package).
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
sys.path.insert(0, ROOT)
from bench import CORPUS as _CORPUS  # noqa: E402

CORPUS = os.path.join(_CORPUS, "evtx")
REPEAT = 3


def _one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})


def _best(function) -> tuple[float, int]:
    best, count = None, 0
    for _ in range(REPEAT):
        started = time.perf_counter()
        count = function()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best, count


def raw_rs(files: list[str], decode: bool) -> int:
    import evtx

    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            for record in evtx.PyEvtxParser(path, number_of_threads=1, skip_errors=True).records_json():
                if decode:
                    json.loads(record["data"], strict=False)
                count += 1
    return count


def python_evtx(files: list[str]) -> int:
    from Evtx import Evtx as python_evtx_module

    count = 0
    for path in files:
        with python_evtx_module.Evtx(path) as log:
            for record in log.records():
                try:
                    record.xml()
                except Exception:  # noqa: BLE001
                    continue
                count += 1
    return count


def sandtrace_parser(files: list[str]) -> int:
    from sandtrace.core.events import Provenance
    from sandtrace.parsers.winevtx import DATA_TYPE, WinEvtxParser

    class Target:
        def __init__(self, path):
            self.path, self.provenance = path, Provenance(display_name=path)

        def open_file_object(self):
            return open(self.path, "rb")

    parser = WinEvtxParser()
    return sum(1 for path in files for data in parser.parse(Target(path)) if data.data_type == DATA_TYPE)


def sandtrace_whole_path(source: str = CORPUS, workers: str = "0", pinned: bool = True) -> tuple[float, int, int]:
    best, records, events = None, 0, 0
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "out.jsonl")
        command = [sys.executable, "-m", "sandtrace.cli", "extract", source, "-o", out, "--format", "json_line",
                   "--evtx-anywhere", "--parsers", "winevtx", "-q", "--no-hash", "--overwrite", "--workers", workers]
        for _ in range(REPEAT):
            started = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT, preexec_fn=_one_core if pinned else _all_cores)
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        with open(out, encoding="utf-8") as handle:
            for line in handle:
                event = json.loads(line)
                if event.get("data_type") == "windows:evtx:record":
                    events += 1
                    records += event.get("timestamp_desc") == "Creation Time"
    return best, records, events


def _all_cores() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def main() -> int:
    files = sorted(glob.glob(os.path.join(CORPUS, "*", "*.evtx")))
    if not files:
        print(f"bench/evtx_speed.py: the test corpus ({CORPUS}, docs/test-data.md) is not present; skipped")
        return 0
    _one_core()
    results: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "pinned_to_one_core": True},
        "source": "the test corpus's evtx folder, docs/test-data.md (folder source, --evtx-anywhere)",
        "files": len(files),
        "command": "sandtrace extract $SANDTRACE_CORPUS/evtx -o out.jsonl --format json_line --evtx-anywhere --parsers winevtx",
    }
    rows = {}
    seconds, count = _best(lambda: raw_rs(files, decode=False))
    rows["raw_pyevtx_rs_records_json"] = (seconds, count)
    seconds, count = _best(lambda: raw_rs(files, decode=True))
    rows["raw_pyevtx_rs_records_json_plus_json_loads"] = (seconds, count)
    started = time.perf_counter()
    count = python_evtx(files)
    rows["python_evtx_record_xml"] = (time.perf_counter() - started, count)
    seconds, count = _best(lambda: sandtrace_parser(files))
    rows["sandtrace_parser_only"] = (seconds, count)
    seconds, records, events = sandtrace_whole_path()
    rows["sandtrace_whole_path_json_line"] = (seconds, records)
    results["events_written"] = events
    # The fixed cost of a run (interpreter, imports, opening the source): an empty folder.
    with tempfile.TemporaryDirectory() as empty:
        startup, _, _ = sandtrace_whole_path(empty)
    rows["sandtrace_whole_path_json_line_less_startup"] = (max(seconds - startup, 1e-6), records)
    results["startup_seconds"] = round(startup, 3)
    # Not one core: the default --workers (every core), for what an examiner sees.
    seconds, records, _ = sandtrace_whole_path(workers=str(os.cpu_count() or 1), pinned=False)
    rows[f"sandtrace_whole_path_json_line_{os.cpu_count()}_cores"] = (seconds, records)
    raw_rate = rows["raw_pyevtx_rs_records_json"][1] / rows["raw_pyevtx_rs_records_json"][0]
    loads_rate = rows["raw_pyevtx_rs_records_json_plus_json_loads"][1] / rows["raw_pyevtx_rs_records_json_plus_json_loads"][0]
    results["rates"] = {}
    print(f"{'what':48} {'records':>8} {'seconds':>8} {'records/s':>10} {'x raw rs':>9}")
    for name, (seconds, count) in rows.items():
        rate = count / seconds if seconds else 0.0
        results["rates"][name] = {"records": count, "seconds": round(seconds, 3), "records_per_second": round(rate)}
        results["rates"][name]["ratio_to_raw_pyevtx_rs"] = round(rate / raw_rate, 3)
        results["rates"][name]["ratio_to_raw_pyevtx_rs_plus_json_loads"] = round(rate / loads_rate, 3)
        print(f"{name:48} {count:8d} {seconds:8.2f} {rate:10.0f} {rate / raw_rate:9.3f}")
    target = os.path.join(ROOT, "bench", "results", "evtx.json")
    write_atomically(target, json.dumps(results, indent=2))
    print(f"-> {os.path.relpath(target, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
