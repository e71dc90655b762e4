"""Scale benchmark: sandtrace against plaso and the floor on a synthetic case.

    .venv/bin/python bench/scale.py [--size-mb 256] [--no-plaso] [--keep DIR] [--quick] [--results NAME]

Builds the synthetic disk (bench/synthetic.py: two NTFS volumes, event logs,
hives, filler, the sandbox disks) at SIZE and 2 x SIZE, then measures, each
command in its own process tree:

- ``sandtrace extract IMAGE --parsers winevtx,winreg --format json_line``
  at both sizes, with the default workers (one per core) and with
  ``--workers 0`` (one process), and with ``--workers 1`` at SIZE (wall
  time, events/s, peak memory; the outputs' SHA-256 must agree; best of two
  runs, both kept in ``all_seconds``);
- ``sandtrace batch`` on the SIZE image with 1 and 2 workers (the image's two
  volumes are two parts);
- the floor: reading every targeted file's bytes through dfVFS (event logs,
  the hives, the sandbox disk files), nothing parsed;
- plaso, when installed: ``log2timeline --parsers winevtx,winreg -f FILTER
  --archives vhdi`` (the filter file names the same paths) then
  ``psort -o json_line``, on the SIZE image.

Peak memory: ``ru_maxrss`` of the process tree from wait4 (the largest single
process), and the sampled sum of the tree's RSS every 0.1 s (plaso and batch
run several processes at once). Caches are warm for every run (each image is
read once before anything is measured); the floor is measured the same way.
plaso and batch run once each (plaso takes minutes). Writes
bench/results/scale.json (``--results``). ``--quick``, for GB sizes: each
extract once, no ``--workers 1`` and no batch runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sandtrace.engine.provenance import write_atomically  # noqa: E402

BIN = os.path.dirname(sys.executable)
PARSERS = "winevtx,winreg"
FILTER = r"""---
description: the scope of sandtrace --parsers winevtx,winreg (its PATTERNS), and the sandbox disks
type: include
path_separator: '\'
paths:
- '\\Windows\\System32\\winevt\\Logs\\.+[.]evtx'
- '\\Windows\\System32\\config\\(SYSTEM|SOFTWARE|SAM|SECURITY)'
- '\\Users\\.+\\NTUSER[.]DAT'
- '\\Users\\.+\\AppData\\Local\\Microsoft\\Windows\\UsrClass[.]dat'
- '\\ProgramData\\Microsoft\\Windows\\Containers\\.+\\.+\\.+[.]vhdx'
- '\\Files\\Windows\\System32\\winevt\\Logs\\.+[.]evtx'
- '\\Files\\Windows\\System32\\config\\(SYSTEM|SOFTWARE|SAM|SECURITY)'
- '\\Files\\Users\\.+\\NTUSER[.]DAT'
"""


def _tree_rss(root: int) -> int:
    """Sum of the RSS (KiB) of ``root`` and its descendants."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(pid)] = int(fields[1])
            rss[int(pid)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _warm(path: str) -> None:
    """Reads a file once, so every run finds it in the page cache (as a just-written image is)."""
    with open(path, "rb") as handle:
        while handle.read(16 << 20):
            pass


def best_of(runs: int, function, *args) -> dict:
    """The fastest of ``runs`` measurements (the others are kept under ``runs``)."""
    rows = [function(*args) for _ in range(runs)]
    best = min(rows, key=lambda row: row["seconds"])
    best["all_seconds"] = [row["seconds"] for row in rows]
    return best


def measure(command: list[str], **kwargs) -> dict:
    """Wall time, CPU time, peak RSS (largest process) and sampled peak tree RSS of a command.

    Dirty pages are written out first: the previous run's output (hundreds of
    MB) would otherwise be flushed during this one and billed to it.
    """
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    peak_tree = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak_tree[0] = max(peak_tree[0], _tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode not in (0,):
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {stderr.decode()[-2000:]}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_rss_mib_sampled": round(peak_tree[0] / 1024, 1),
    }


def _lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def sandtrace_extract(image: str, work: str, workers: int | None = None) -> dict:
    """``extract``; ``workers`` None is the default (a worker process per core)."""
    output = os.path.join(work, "extract.jsonl")
    for previous in (output, output + ".meta.json"):  # a new file, as on a case: replacing one
        if os.path.exists(previous):                   # makes ext4 write the new one out at once
            os.unlink(previous)
    chosen = [] if workers is None else ["--workers", str(workers)]
    row = measure([sys.executable, "-m", "sandtrace.cli", "extract", image, "-o", output, "--format", "json_line",
                   "--parsers", PARSERS, "-q", "--overwrite", "--no-hash", *chosen])
    row["events"] = _lines(output)
    row["events_per_second"] = round(row["events"] / row["seconds"])
    row["command"] = f"sandtrace extract IMAGE -o out.jsonl --format json_line --parsers {PARSERS} --no-hash {' '.join(chosen)}".strip()
    digest = hashlib.sha256()
    with open(output, "rb") as handle:
        # In blocks: a child's ru_maxrss starts at this process's RSS when it forks.
        while block := handle.read(1 << 20):
            digest.update(block)
    row["output_sha256"] = digest.hexdigest()
    return row


def sandtrace_batch(image: str, work: str, workers: int) -> dict:
    evidence = os.path.join(work, f"evidence-{workers}")
    os.makedirs(evidence, exist_ok=True)
    os.symlink(image, os.path.join(evidence, "synthetic.raw"))
    out_dir = os.path.join(work, f"batch-{workers}")
    row = measure([sys.executable, "-m", "sandtrace.cli", "batch", evidence, "-o", out_dir, "--format", "json_line",
                   "--parsers", PARSERS, "-q", "--no-hash", "--workers", str(workers)])
    row["events"] = _lines(os.path.join(out_dir, "sources", "synthetic", "timeline.jsonl"))
    row["events_per_second"] = round(row["events"] / row["seconds"])
    row["command"] = f"sandtrace batch DIR -o OUT --format json_line --parsers {PARSERS} --no-hash --workers {workers}"
    shutil.rmtree(out_dir, ignore_errors=True)
    return row


_FLOOR = r"""
import sys, time
from dfvfs.resolver import resolver
from dfvfs.path import factory
from sandtrace.engine import sources

started = time.perf_counter()
source = sources.open_source(sys.argv[1], vss=False)
total = files = 0

def read(entry):
    global total, files
    handle = entry.GetFileObject()
    if handle is None:
        return
    while block := handle.read(4 * 1024 * 1024):
        total += len(block)
    files += 1

def children(volume, location):
    spec = factory.Factory.NewPathSpec(volume.type_indicator, location=location, parent=volume.path_spec.parent)
    entry = resolver.Resolver.OpenFileEntry(spec)
    return list(entry.sub_file_entries) if entry else []

for volume in source.volumes:
    for entry in children(volume, "\\Windows\\System32\\winevt\\Logs"):
        if entry.name.lower().endswith(".evtx"):
            read(entry)
    for entry in children(volume, "\\Windows\\System32\\config"):
        if entry.name.upper() in ("SYSTEM", "SOFTWARE", "SAM", "SECURITY"):
            read(entry)
    for user in children(volume, "\\Users"):
        for entry in user.sub_file_entries:
            if entry.name.upper() == "NTUSER.DAT":
                read(entry)
    stack = children(volume, "\\ProgramData\\Microsoft\\Windows\\Containers")
    while stack:
        entry = stack.pop()
        if entry.IsDirectory():
            stack.extend(entry.sub_file_entries)
        elif entry.name.lower().endswith(".vhdx"):
            read(entry)
print(f"{total} {files} {time.perf_counter() - started}")
"""


def floor(image: str) -> dict:
    started = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", _FLOOR, image], check=True, capture_output=True, text=True).stdout
    total, files, inner = output.split()
    return {"seconds": round(time.perf_counter() - started, 2), "seconds_reading_in_process": round(float(inner), 2),
            "bytes": int(total), "files": int(files),
            "what": "open the image with dfVFS and read every targeted file (event logs, hives, sandbox disk files) once"}


def plaso(image: str, work: str) -> dict | None:
    log2timeline, psort = os.path.join(BIN, "log2timeline"), os.path.join(BIN, "psort")
    if not (os.path.exists(log2timeline) and os.path.exists(psort)):
        return None
    filter_file = os.path.join(work, "filter.yaml")
    with open(filter_file, "w") as handle:
        handle.write(FILTER)
    storage = os.path.join(work, "plaso.plaso")
    output = os.path.join(work, "plaso.jsonl")
    extraction = measure([log2timeline, "--status_view", "none", "-q", "--unattended", "--parsers", PARSERS,
                          "-f", filter_file, "--archives", "vhdi", "--partitions", "all", "--volumes", "all",
                          "--vss_stores", "all", "--storage_file", storage, image], cwd=work)
    sorting = measure([psort, "--status_view", "none", "-q", "-o", "json_line", "-w", output, storage], cwd=work)
    events = _lines(output)
    return {
        "log2timeline": extraction, "psort": sorting,
        "seconds": round(extraction["seconds"] + sorting["seconds"], 2),
        "peak_rss_mib": max(extraction["peak_rss_mib"], sorting["peak_rss_mib"]),
        "peak_tree_rss_mib_sampled": max(extraction["peak_tree_rss_mib_sampled"], sorting["peak_tree_rss_mib_sampled"]),
        "events": events,
        "events_per_second": round(events / (extraction["seconds"] + sorting["seconds"])),
        "command": f"log2timeline --status_view none -q --unattended --parsers {PARSERS} -f filter.yaml --archives vhdi "
                   "--partitions all --volumes all --vss_stores all --storage_file s.plaso IMAGE; "
                   "psort --status_view none -q -o json_line -w out.jsonl s.plaso",
        "filter_file": FILTER,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("SANDTRACE_BENCH_MB", "256")))
    parser.add_argument("--no-plaso", action="store_true", default=os.environ.get("SANDTRACE_BENCH_PLASO") == "0")
    parser.add_argument("--keep", metavar="DIR", help="build the images in DIR and keep them")
    parser.add_argument("--quick", action="store_true",
                        help="large sizes: extract (default and --workers 0) once per size, no --workers 1, no batch")
    parser.add_argument("--results", default="scale.json", metavar="NAME",
                        help="file name under bench/results (default scale.json)")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else 2
    from bench import synthetic

    work = args.keep or tempfile.mkdtemp(prefix="sandtrace-scale-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.makedirs(work, exist_ok=True)
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "platform": platform.platform()},
                     "parsers": PARSERS, "sizes": {}}
    try:
        images = {}
        for size in (args.size_mb, 2 * args.size_mb):
            image = os.path.join(work, f"synthetic-{size}.raw")
            if not os.path.exists(image):
                try:
                    info = synthetic.build(image, size)
                except synthetic.Unavailable as reason:
                    print(f"bench/scale.py: skipped: {reason}")
                    return 0
            else:
                info = {"size_mb": size, "reused": True}
            images[size] = image
            _warm(image)
            results["sizes"][str(size)] = {"image": info}
        small, large = args.size_mb, 2 * args.size_mb
        print(f"{'what':44} {'s':>8} {'events':>8} {'ev/s':>8} {'peak MiB':>9} {'tree MiB':>9}")

        def show(name: str, row: dict) -> None:
            print(f"{name:44} {row['seconds']:8.2f} {row.get('events', 0):8d} {row.get('events_per_second', 0):8d} "
                  f"{row.get('peak_rss_mib', 0):9.1f} {row.get('peak_tree_rss_mib_sampled', 0):9.1f}")

        for size in (small, large):
            for workers, key, name in ((None, "sandtrace_extract", "sandtrace extract"),
                                       (0, "sandtrace_extract_one_process", "sandtrace extract --workers 0")):
                scratch = tempfile.mkdtemp(dir=work)
                row = best_of(repeat, sandtrace_extract, images[size], scratch, workers)
                results["sizes"][str(size)][key] = row
                show(f"{name}, {size} MB", row)
                shutil.rmtree(scratch)
        for workers in () if args.quick else (1,):
            scratch = tempfile.mkdtemp(dir=work)
            row = best_of(2, sandtrace_extract, images[small], scratch, workers)
            results["sizes"][str(small)]["sandtrace_extract_1_worker"] = row
            show(f"sandtrace extract --workers 1, {small} MB", row)
            shutil.rmtree(scratch)
        for workers in () if args.quick else (1, 2):
            scratch = tempfile.mkdtemp(dir=work)
            row = sandtrace_batch(images[small], scratch, workers)
            results["sizes"][str(small)][f"sandtrace_batch_{workers}_workers"] = row
            show(f"sandtrace batch --workers {workers}, {small} MB", row)
            shutil.rmtree(scratch)
        row = floor(images[small])
        results["sizes"][str(small)]["floor"] = row
        show(f"floor (read targeted bytes), {small} MB", row)
        if not args.no_plaso:
            scratch = tempfile.mkdtemp(dir=work)
            row = plaso(images[small], scratch)
            shutil.rmtree(scratch)
            if row is None:
                print("plaso is not installed (pip install 'sandtrace[plaso]'); skipped")
            else:
                results["sizes"][str(small)]["plaso"] = row
                show(f"plaso log2timeline + psort, {small} MB", row)
        at = results["sizes"]
        s_small, s_large = at[str(small)]["sandtrace_extract"], at[str(large)]["sandtrace_extract"]
        one_small, one_large = at[str(small)]["sandtrace_extract_one_process"], at[str(large)]["sandtrace_extract_one_process"]
        summary = {
            "extract_one_process_over_default": round(one_small["seconds"] / s_small["seconds"], 2),
            "same_output_with_and_without_workers": all(
                at[str(size)]["sandtrace_extract"]["output_sha256"] == at[str(size)]["sandtrace_extract_one_process"]["output_sha256"]
                for size in (small, large)),
            "peak_rss_mib_size_and_double": [s_small["peak_rss_mib"], s_large["peak_rss_mib"]],
            "peak_rss_growth_when_size_doubles": round(s_large["peak_rss_mib"] / s_small["peak_rss_mib"], 2),
            "peak_tree_rss_mib_size_and_double": [s_small["peak_tree_rss_mib_sampled"], s_large["peak_tree_rss_mib_sampled"]],
            "peak_tree_rss_growth_when_size_doubles": round(
                s_large["peak_tree_rss_mib_sampled"] / max(s_small["peak_tree_rss_mib_sampled"], 1), 2),
            "one_process_peak_rss_mib_size_and_double": [one_small["peak_rss_mib"], one_large["peak_rss_mib"]],
            "one_process_peak_rss_growth_when_size_doubles": round(one_large["peak_rss_mib"] / one_small["peak_rss_mib"], 2),
            "extract_over_floor": round(s_small["seconds"] / at[str(small)]["floor"]["seconds"], 1),
        }
        if not args.quick:
            summary["extract_scaling_1_to_2_workers"] = round(
                at[str(small)]["sandtrace_extract_1_worker"]["seconds"] / s_small["seconds"], 2)
            summary["batch_scaling_1_to_2_workers"] = round(
                at[str(small)]["sandtrace_batch_1_workers"]["seconds"]
                / at[str(small)]["sandtrace_batch_2_workers"]["seconds"], 2)
        if "plaso" in at[str(small)]:
            p = at[str(small)]["plaso"]
            summary["plaso_over_sandtrace_extract"] = round(p["seconds"] / s_small["seconds"], 1)
            if not args.quick:
                summary["plaso_over_sandtrace_batch_2_workers"] = round(
                    p["seconds"] / at[str(small)]["sandtrace_batch_2_workers"]["seconds"], 1)
            summary["events_per_second_ratio"] = round(s_small["events_per_second"] / max(p["events_per_second"], 1), 1)
        results["summary"] = summary
        print(json.dumps(summary, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    target = os.path.join(ROOT, "bench", "results", os.path.basename(args.results))
    write_atomically(target, json.dumps(results, indent=2))
    print(f"-> {os.path.relpath(target, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
