"""Benchmarks (``make bench``): three parts, each writing bench/results/*.json.

1. extract: sandtrace's whole path (image -> sorted output) on the committed
   and corpus images, in separate processes so peak memory is per run
   (bench/results/extract.json).
2. scale: a synthetic two-volume disk at SIZE and 2 x SIZE against plaso,
   the floor and 1 vs 2 workers (bench/scale.py, bench/results/scale.json;
   SANDTRACE_BENCH_MB=256 by default, SANDTRACE_BENCH_PLASO=0 skips plaso;
   needs root, mkntfs and ntfs-3g to build the disk, else skipped).
3. evtx: bench/evtx_speed.py, when present (its own results file).

Wall time is measured here, never asserted in tests.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

from sandtrace.core.atomic import write_atomically  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench import CORPUS as _CORPUS  # noqa: E402

CORPUS = os.path.join(_CORPUS, "images", "dfvfs")
CASES = [
    ("foundation.E01 (all files)", os.path.join(ROOT, "test_images", "foundation.E01"), ["--paths", "**"]),
    ("vsstest.qcow2 + 2 VSS (all files)", os.path.join(CORPUS, "vsstest.qcow2"), ["--paths", "**"]),
    ("windows_volume.qcow2 (all files)", os.path.join(CORPUS, "windows_volume.qcow2"), ["--paths", "**"]),
]
REPEAT = 3


def run_case(image: str, extra: list[str], fmt: str) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, f"out.{fmt}")
        command = [sys.executable, "-m", "sandtrace.cli", "extract", image, "-o", out, "--format", fmt, "-q", "--no-hash", "--overwrite", *extra]
        best = None
        for _ in range(REPEAT):
            started = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(command, check=True)
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        meta = json.load(open(out + ".meta.json"))
        summary = meta["summary"]
        return {
            "seconds_best_of_3": round(best, 3),
            "events": summary["events_written"],
            "files": summary["files_collected"],
            "events_per_second": round(summary["events_written"] / best),
            "peak_rss_mib_any_run_so_far": round(peak_kib / 1024, 1),
            "cpu_user_seconds_last": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before.ru_utime, 3),
        }


def extract_cases() -> None:
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "runs": []}
    print(f"{'case':40} {'format':10} {'s':>7} {'events':>7} {'ev/s':>8} {'peak MiB':>9}")
    for name, image, extra in CASES:
        if not os.path.exists(image):
            print(f"{name:40} skipped (missing {image})")
            continue
        for fmt in ("json_line", "l2tcsv"):
            row = run_case(image, extra, fmt)
            row.update(case=name, format=fmt)
            results["runs"].append(row)
            print(f"{name:40} {fmt:10} {row['seconds_best_of_3']:7.2f} {row['events']:7d} {row['events_per_second']:8d} {row['peak_rss_mib_any_run_so_far']:9.1f}")
    target = os.path.join(ROOT, "bench", "results", "extract.json")
    write_atomically(target, json.dumps(results, indent=2))
    print(f"-> {os.path.relpath(target, ROOT)}")


def main() -> int:
    print("== extract: committed and corpus images ==")
    extract_cases()
    print("\n== scale: synthetic disk, sandtrace vs plaso, floor, workers ==")
    from bench import scale

    status = scale.main([])
    evtx = os.path.join(ROOT, "bench", "evtx_speed.py")
    if os.path.exists(evtx):
        print("\n== evtx: bench/evtx_speed.py ==")
        status = subprocess.run([sys.executable, evtx]).returncode or status  # pins itself to one core
    return status


if __name__ == "__main__":
    sys.exit(main())
