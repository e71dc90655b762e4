"""The batch scheduler: sources -> plan, hash, parts, assemble -> super-timeline.

Each source goes through four kinds of task (see ``tasks``): ``plan`` opens it
and lists its volumes; then ``hash`` (its files, for the sidecar) and one
``part`` per volume (partition or VSS store, nested disks included with the
volume that holds them) run side by side, so one large image keeps every
worker busy; ``assemble`` merges the parts into the source's timelines in
psort's order and writes the sidecar. The ready tasks run on a pool of
``--workers`` local processes (threads that each wait on one child process)
or on a Dask cluster; finishing sources come first (assemble, then parts,
hash, plan), so a crash loses as little as possible. When every source is
done or failed, the super-timeline is merged from the done sources.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from sandtrace.batch import discovery, merge, tasks
from sandtrace.batch.manifest import Manifest, sha256_file

_PRIORITY = {"assemble": 0, "disk": 1, "evtx": 1, "part": 1, "hash": 2, "plan": 3}
_SUFFIXES = {
    "json_line": "timeline.jsonl",
    "timesketch": "timeline.timesketch.jsonl",
    "l2tcsv": "timeline.csv",
    "dynamic": "timeline.dynamic.csv",
    "plaso": "timeline.plaso",
}
MERGED = {"json_line": "merged.jsonl", "timesketch": "merged.timesketch.jsonl"}


@dataclass
class BatchOptions:
    evidence: list[str]
    out_dir: str
    formats: list[str] = field(default_factory=lambda: ["json_line"])
    workers: int | None = None  # task processes at once: None = the cores; 0 = one task at a time, as 1
    time_limit: float | None = None  # seconds per task
    memory_limit_mb: int | None = None  # per task (RLIMIT_AS)
    dask: Any = None  # scheduler address, or a distributed.Client
    extract: dict[str, Any] = field(default_factory=dict)  # ExtractionOptions fields
    timezone: str = "UTC"
    fields: list[str] | None = None
    include_all: bool = False
    sort_memory: int = 50_000
    split_evtx_bytes: int = 32 << 20  # event logs this large become tasks of their own (0: never)
    split_disk_bytes: int = 64 << 20  # nested disk files this large too, when they can run alone (0: never)
    hash: bool = True
    verify: bool = False  # E01: stored hashes against the media (in the hash task)
    neutralize_formulas: bool = False  # l2tcsv/dynamic cells
    quiet: bool = False
    command_line: list[str] = field(default_factory=list)
    console: Any = None  # a rich Console on stderr


@dataclass
class BatchSummary:
    done: list[str] = field(default_factory=list)  # source names
    skipped: list[str] = field(default_factory=list)  # done by an earlier run, outputs intact
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    merged: dict[str, int] = field(default_factory=dict)  # format -> events
    seconds: float = 0.0


@dataclass
class _Job:
    row: dict[str, Any]
    workdir: str
    started: float = field(default_factory=time.time)
    plan: dict[str, Any] | None = None
    hashes: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    chunk_errors: list[dict[str, Any]] = field(default_factory=list)
    hash_pending: bool = False
    parts: dict[int, dict[str, Any]] = field(default_factory=dict)
    parts_total: int = 0
    # Handed-out tasks (large event logs, nested disks): results and specs, in hand-out order.
    logs: list[dict[str, Any] | None] = field(default_factory=list)
    log_specs: list[dict[str, Any]] = field(default_factory=list)
    outstanding: int = 0
    failed: bool = False
    assembling: bool = False
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0

    @property
    def path(self) -> str:
        return self.row["path"]

    @property
    def name(self) -> str:
        return self.row["name"]


def options_digest(options: BatchOptions) -> str:
    """What a source's outputs depend on besides the source itself."""
    relevant = {
        "extract": options.extract, "formats": sorted(options.formats), "timezone": options.timezone,
        "fields": options.fields, "include_all": options.include_all, "hash": options.hash,
        "verify": options.verify, "neutralize_formulas": options.neutralize_formulas,
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def output_formats(formats: list[str]) -> list[str]:
    """The chosen formats, plus json_line when none can make a super-timeline."""
    chosen = list(dict.fromkeys(formats))
    if not any(fmt in merge.LINE_FORMATS for fmt in chosen):
        chosen.append("json_line")
    return chosen


class BatchBusy(Exception):
    """Another batch is running on the same output folder."""


def _lock(out_dir: str):
    """One batch per OUT_DIR at a time; the kernel drops the lock when the process dies."""
    import fcntl

    handle = open(os.path.join(out_dir, ".batch.lock"), "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BatchBusy(f"another sandtrace batch is running on {out_dir}") from None
    return handle


def run_batch(options: BatchOptions) -> BatchSummary:
    started = time.monotonic()
    out_dir = os.path.abspath(options.out_dir)
    os.makedirs(out_dir, exist_ok=True)
    lock = _lock(out_dir)
    try:
        return _run_batch(options, out_dir, started)
    finally:
        lock.close()


def _run_batch(options: BatchOptions, out_dir: str, started: float) -> BatchSummary:
    options.formats = output_formats(options.formats)
    manifest = Manifest(out_dir)
    manifest.reset_running()
    run_id = manifest.begin_run(options.command_line)
    summary = BatchSummary()
    digest = options_digest(options)
    found = discovery.discover(options.evidence, exclude=[out_dir])
    taken = manifest.names()
    for item in found:
        if manifest.source(item.path) is None:
            name = discovery.source_name(item.path, taken)
            taken.add(name)
            manifest.add_source(item.path, name, item.kind)

    jobs: list[_Job] = []
    for item in found:
        row = manifest.source(item.path)
        if _still_done(manifest, row, digest):
            summary.skipped.append(row["name"])
            # A batch killed after this source was done may have left its parts behind.
            shutil.rmtree(os.path.join(out_dir, ".work", row["name"]), ignore_errors=True)
            continue
        jobs.append(_Job(row=row, workdir=os.path.join(out_dir, ".work", row["name"], f"attempt-{(row['attempts'] or 0) + 1}")))

    progress = _Progress(options, total=len(found), already=len(summary.skipped))
    executor = _executor(options)
    status = "interrupted"
    try:
        _Scheduler(options, manifest, executor, progress, summary, digest, out_dir).run(jobs)
        summary.merged = _merge_all(manifest, out_dir, options, executor, progress)
        status = "finished"
    except BaseException:
        tasks.kill_all()
        manifest.reset_running()
        raise
    finally:
        executor.shutdown()
        progress.stop()
        manifest.end_run(run_id, status)
        manifest.close()
    summary.seconds = time.monotonic() - started
    return summary


def _still_done(manifest: Manifest, row: dict[str, Any], digest: str) -> bool:
    if row["status"] != "done" or row["options_digest"] != digest:
        return False
    files = json.loads(row["files"] or "[]")
    if json.dumps(discovery.fingerprint(row["path"], files), sort_keys=True) != row["fingerprint"]:
        return False
    return manifest.outputs_intact(row)


_HANDED_NAME = {"evtx": "event_log", "disk": "disk"}


def _handed_name(spec: dict[str, Any]) -> str:
    target = spec["disk"]["target"] if spec["kind"] == "disk" else spec["target"]
    return target["provenance"]["display_name"]


class _Scheduler:
    def __init__(self, options, manifest, executor, progress, summary, digest, out_dir) -> None:
        self.options = options
        self.manifest = manifest
        self.executor = executor
        self.progress = progress
        self.summary = summary
        self.digest = digest
        self.out_dir = out_dir
        self.queue: list[tuple[tuple, tasks.Task, _Job]] = []
        self.order: dict[str, int] = {}

    def run(self, jobs: list[_Job]) -> None:
        for index, job in enumerate(jobs):
            self.order[job.path] = index
            shutil.rmtree(os.path.dirname(job.workdir), ignore_errors=True)  # earlier attempts' leftovers
            os.makedirs(job.workdir, exist_ok=True)
            self.manifest.start(job.path)
            self.progress.started(job)
            self._enqueue(job, "plan", 0, {"source": job.path, "extract": self.options.extract})
        running: dict[Any, _Job] = {}
        while self.queue or running:
            while self.queue and self.executor.has_room(len(running)):
                self.queue.sort(key=lambda entry: entry[0])
                _, task, job = self.queue.pop(0)
                running[self.executor.submit(task)] = (job, task)
            for future in self.executor.wait(list(running)):
                job, task = running.pop(future)
                job.outstanding -= 1
                try:
                    outcome = future.result()
                except Exception as exception:  # noqa: BLE001 - the executor itself failed (a lost Dask worker)
                    outcome = tasks.TaskResult(task=task, ok=False, error=f"{task.kind} task could not run: "
                                               f"{type(exception).__name__}: {exception}")
                self._handle(job, outcome)

    def _enqueue(self, job: _Job, kind: str, part: int, spec: dict[str, Any]) -> None:
        spec = dict(spec, kind=kind, result=os.path.join(job.workdir, f"{kind}-{part}.result.json"))
        task = tasks.Task(
            kind=kind, source=job.path, part=part, spec=spec,
            log_path=os.path.join(job.workdir, f"{kind}-{part}.log"),
            time_limit=self.options.time_limit, memory_limit_mb=self.options.memory_limit_mb,
        )
        job.outstanding += 1
        self.queue.append(((_PRIORITY[kind], self.order[job.path], part), task, job))

    def _handle(self, job: _Job, outcome: tasks.TaskResult) -> None:
        task = outcome.task
        job.cpu_seconds += outcome.cpu_seconds
        job.peak_rss_mib = max(job.peak_rss_mib, outcome.peak_rss_mib)
        self.manifest.task(
            job.path, task.kind, task.part, volumes=task.spec.get("volumes"),
            status="done" if outcome.ok else "failed", error=outcome.error or None,
            seconds=round(outcome.seconds, 3), cpu_seconds=round(outcome.cpu_seconds, 3),
            peak_rss_mib=outcome.peak_rss_mib, finished=time.time(), host=outcome.host,
        )
        if job.failed:
            self._cleanup(job)
            return
        if not outcome.ok:
            return self._fail(job, outcome.error)
        result = outcome.result
        if task.kind == "plan":
            self._planned(job, result)
        elif task.kind == "hash":
            job.hashes = result["hashes"]
            job.verify = result.get("verify")
            job.chunk_errors = result.get("chunk_errors") or []
            job.hash_pending = False
        elif task.kind == "part":
            job.parts[task.part] = result
            for handed in result.get("handed_out") or []:
                self._split(job, task.part, handed)
            self.progress.advance(job, f"parts {len(job.parts)}/{job.parts_total}")
        elif task.kind in ("evtx", "disk"):
            job.logs[task.part] = result
            for handed in result.get("handed_out") or []:  # a disk's own large event logs
                self._split(job, job.log_specs[task.part]["order"], handed)
            self.progress.advance(job, f"event logs and disks {sum(r is not None for r in job.logs)}/{len(job.logs)}")
        elif task.kind == "assemble":
            return self._assembled(job, result)
        if (job.plan is not None and len(job.parts) == job.parts_total and None not in job.logs
                and not job.hash_pending and not job.assembling):
            job.assembling = True
            self._assemble(job)

    def _planned(self, job: _Job, plan: dict[str, Any]) -> None:
        job.plan = plan
        job.parts_total = len(plan["volumes"])
        self.manifest.update(
            job.path, kind=plan["kind"], files=plan["files"], volumes=plan["volumes"], parts=job.parts_total,
            fingerprint=json.dumps(discovery.fingerprint(job.path, plan["files"]), sort_keys=True),
        )
        self.progress.planned(job)
        if (self.options.hash and plan["files"]) or self.options.verify:
            job.hash_pending = True
            self._enqueue(job, "hash", 0, {
                "files": plan["files"] if self.options.hash else [],
                "verify": self.options.verify, "ewf": plan["source_record"].get("ewf"),
            })
        for index, label in enumerate(plan["volumes"]):
            self._enqueue(job, "part", index, {
                "source": job.path, "volumes": [label], "extract": self.options.extract,
                "output": os.path.join(job.workdir, f"part-{index}.events"),
                "sort_memory": self.options.sort_memory, "tmp_dir": job.workdir,
                "split_evtx_bytes": self.options.split_evtx_bytes,
                "split_disk_bytes": self.options.split_disk_bytes,
            })

    def _split(self, job: _Job, part: int, handed: dict[str, Any]) -> None:
        """A large event log or a nested disk a part (or a disk task) handed out: a task
        of its own, in the part's production order."""
        number = len(job.logs)
        kind = handed.get("kind", "evtx")
        spec = {"source": job.path, "position": handed["position"], "extract": self.options.extract,
                "output": os.path.join(job.workdir, f"{kind}-{number}.events"),
                "sort_memory": self.options.sort_memory, "tmp_dir": job.workdir}
        if kind == "disk":
            spec.update(disk=handed["disk"], split_evtx_bytes=self.options.split_evtx_bytes)
        else:
            spec.update(target=handed["target"], parsers=handed["parsers"], context=handed.get("context"),
                        base=handed.get("base") or 0)
        job.logs.append(None)
        job.log_specs.append(dict(spec, order=part, kind=kind))
        self._enqueue(job, kind, number, spec)

    def _assemble(self, job: _Job) -> None:
        output_dir = os.path.join(self.out_dir, "sources", job.name)
        os.makedirs(output_dir, exist_ok=True)
        self.progress.advance(job, "assembling")
        self._enqueue(job, "assemble", 0, {
            "name": job.name,
            "output_dir": output_dir,
            "outputs": {fmt: os.path.join(output_dir, _SUFFIXES[fmt]) for fmt in self.options.formats},
            "meta": os.path.join(output_dir, "timeline.meta.json"),
            "parts": [
                {"path": os.path.join(job.workdir, f"part-{index}.events"), "events": job.parts[index]["events"],
                 "volumes": [job.plan["volumes"][index]], "order": index}
                for index in range(job.parts_total)
            ] + [
                {"path": spec["output"], "events": result["events"], "volumes": [job.plan["volumes"][spec["order"]]],
                 "order": spec["order"], _HANDED_NAME[spec["kind"]]: _handed_name(spec)}
                for spec, result in zip(job.log_specs, job.logs)
            ],
            "part_results": [job.parts[index] for index in range(job.parts_total)] + list(job.logs),
            "source_record": job.plan["source_record"],
            "hashes": job.hashes,
            "hash_folder_files": self.options.hash,  # a folder source's files are listed (and hashed) here
            "verify": job.verify,
            "chunk_errors": job.chunk_errors,
            "out": {"timezone": self.options.timezone, "fields": self.options.fields,
                    "include_all": self.options.include_all,
                    "neutralize_formulas": self.options.neutralize_formulas},
            "command_line": self.options.command_line,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(job.started)),
            "report": True,
            "extract": self.options.extract,
        })

    def _assembled(self, job: _Job, result: dict[str, Any]) -> None:
        outputs = {os.path.relpath(path, self.out_dir): digest for path, digest in result["outputs"].items()}
        self.manifest.done(
            job.path, outputs=outputs, hostname=result["hostname"], events=result["events"],
            event_data=result["event_data"], files_collected=result["files_collected"],
            warnings=result["warnings"], source_hashes=job.hashes or {}, options_digest=self.digest,
            seconds=round(time.time() - job.started, 3), cpu_seconds=round(job.cpu_seconds, 3),
            peak_rss_mib=job.peak_rss_mib,
        )
        self.summary.done.append(job.name)
        self.progress.finished(job, f"{result['events']} events")
        self._cleanup(job)

    def _fail(self, job: _Job, error: str) -> None:
        job.failed = True
        kept = [entry for entry in self.queue if entry[2] is not job]
        job.outstanding -= len(self.queue) - len(kept)  # dropped before they ran; running ones still report
        self.queue = kept
        self.manifest.fail(job.path, error, seconds=round(time.time() - job.started, 3))
        self.summary.failed[job.name] = error
        self.progress.finished(job, f"failed: {error}", failed=True)
        self._cleanup(job)

    def _cleanup(self, job: _Job) -> None:
        """Parts go once nothing of the source runs any more; a failure's task logs stay."""
        if job.outstanding > 0:
            return
        if not job.failed:
            shutil.rmtree(os.path.dirname(job.workdir), ignore_errors=True)
            return
        for name in os.listdir(job.workdir) if os.path.isdir(job.workdir) else []:
            if name.endswith(".events"):
                os.unlink(os.path.join(job.workdir, name))


def _merge_all(manifest: Manifest, out_dir: str, options: BatchOptions, executor, progress) -> dict[str, int]:
    """The super-timeline of every done source, in each chosen line format."""
    rows = [row for row in manifest.sources() if row["status"] == "done"]
    counts = {}
    for fmt in options.formats:
        if fmt not in merge.LINE_FORMATS:
            continue
        inputs, identity = [], []
        for row in rows:
            outputs = json.loads(row["outputs"])
            relative = os.path.join("sources", row["name"], _SUFFIXES[fmt])
            if relative not in outputs:
                continue
            inputs.append({"path": os.path.join(out_dir, relative), "source": row["path"], "name": row["name"],
                           "hostname": row["hostname"] or row["name"]})
            identity.append([row["name"], outputs[relative]])
        target = os.path.join(out_dir, MERGED[fmt])
        known = manifest.merged(fmt)
        if (known and json.loads(known["sources"]) == identity and os.path.exists(target)
                and sha256_file(target) == known["sha256"]):
            counts[fmt] = known["events"]
            continue
        progress.note(f"merged timeline ({fmt}) of {len(inputs)} sources")
        counts[fmt] = _super_timeline(inputs, fmt, target, out_dir, options, executor, manifest)
        manifest.set_merged(fmt, MERGED[fmt], sha256_file(target), counts[fmt], identity)
    return counts


ANNOTATE_MIN_BYTES = 64 << 20  # a range of a timeline annotated by one task is at least this long


def _super_timeline(inputs: list[dict], fmt: str, target: str, out_dir: str, options: BatchOptions, executor,
                    manifest: Manifest) -> int:
    """``merge.super_timeline``'s output, its per-line work done by tasks.

    Each source's timeline is cut into byte ranges of whole lines (one per
    worker for a single large source, whole sources when there are many);
    an ``annotate`` task decodes, annotates and re-encodes each range's lines
    and keeps their timestamps; this process then only merges bytes. Should
    a task fail, the merge is done here, line by line, as before.
    """
    work = os.path.join(out_dir, ".work", f"merge-{fmt}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    workers = _task_processes(options)
    total = sum(os.path.getsize(item["path"]) for item in inputs)
    chunk = max(ANNOTATE_MIN_BYTES, -(-total // workers))
    jobs: list[tasks.Task] = []
    ranges: list[list[tuple[str, str]]] = []
    for item in inputs:
        own = []
        for start, end in merge.line_ranges(item["path"], -(-os.path.getsize(item["path"]) // chunk)):
            number = len(jobs)
            lines, keys = os.path.join(work, f"{number}.lines"), os.path.join(work, f"{number}.keys")
            own.append((lines, keys))
            jobs.append(tasks.Task(
                kind="annotate", source=item["source"], part=number, log_path=os.path.join(work, f"{number}.log"),
                spec={"kind": "annotate", "item": item, "format": fmt, "start": start, "end": end,
                      "lines": lines, "keys": keys, "result": os.path.join(work, f"{number}.result.json")},
                time_limit=options.time_limit, memory_limit_mb=options.memory_limit_mb))
        ranges.append(own)
    try:
        outcomes = _run_all(executor, jobs)
        for outcome in outcomes:  # kind "annotate:<format>": one row per range and format
            manifest.task(outcome.task.source, f"annotate:{fmt}", outcome.task.part,
                          status="done" if outcome.ok else "failed", error=outcome.error or None,
                          seconds=round(outcome.seconds, 3), cpu_seconds=round(outcome.cpu_seconds, 3),
                          peak_rss_mib=outcome.peak_rss_mib, finished=time.time(), host=outcome.host)
        if not all(outcome.ok for outcome in outcomes):
            return merge.super_timeline(inputs, fmt, target)
        return merge.merge_annotated(ranges, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_all(executor, jobs: list[tasks.Task]) -> list[tasks.TaskResult]:
    """Every task of ``jobs`` on the executor, as many at once as it has room for."""
    waiting, running, outcomes = list(jobs), {}, []
    while waiting or running:
        while waiting and executor.has_room(len(running)):
            task = waiting.pop(0)
            running[executor.submit(task)] = task
        for future in executor.wait(list(running)):
            task = running.pop(future)
            try:
                outcomes.append(future.result())
            except Exception as exception:  # noqa: BLE001 - the executor itself failed
                outcomes.append(tasks.TaskResult(task=task, ok=False, error=f"{type(exception).__name__}: {exception}"))
    return outcomes


# -- executors ----------------------------------------------------------------------


class _LocalExecutor:
    """``workers`` threads, each waiting on one child process at a time."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandtrace-batch")

    def has_room(self, running: int) -> bool:
        return running < self.workers

    def submit(self, task: tasks.Task):
        return self.pool.submit(tasks.execute, task)

    def wait(self, futures: list) -> list:
        done, _ = concurrent.futures.wait(futures, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _executor(options: BatchOptions):
    if options.dask is not None:
        from sandtrace.batch.dask_runner import DaskExecutor

        return DaskExecutor(options.dask, options.workers or None)
    return _LocalExecutor(_task_processes(options))


def _task_processes(options: BatchOptions) -> int:
    """``--workers`` as extract reads it: not given, the cores; 0, nothing in parallel
    (extract: one process; batch: one task process at a time, which 1 also gives)."""
    if options.workers is None:
        return os.cpu_count() or 1
    return max(options.workers, 1)


# -- progress -----------------------------------------------------------------------


class _Progress:
    """Overall and per-source progress on stderr (rich), nothing with --quiet."""

    def __init__(self, options: BatchOptions, total: int, already: int) -> None:
        self.console = options.console
        self.quiet = options.quiet or self.console is None
        self.bar = None
        self.rows: dict[str, Any] = {}
        if self.quiet:
            return
        if already:
            self.console.print(f"sandtrace batch: {already} of {total} sources already done (outputs intact), skipped")
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=self.console, transient=False)
            self.overall = self.bar.add_task("[bold]all sources", total=total, completed=already)
            self.bar.start()

    def started(self, job: _Job) -> None:
        if self.bar is not None:
            self.rows[job.path] = self.bar.add_task(f"  {job.name}: planning", total=None)

    def planned(self, job: _Job) -> None:
        if self.bar is not None:
            self.bar.update(self.rows[job.path], total=job.parts_total + 1, completed=0,
                            description=f"  {job.name}: parts 0/{job.parts_total}")

    def advance(self, job: _Job, what: str) -> None:
        if self.bar is not None:
            self.bar.update(self.rows[job.path], completed=len(job.parts), description=f"  {job.name}: {what}")

    def finished(self, job: _Job, what: str, failed: bool = False) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.remove_task(self.rows.pop(job.path))
            self.bar.advance(self.overall)
        style = "red" if failed else "green"
        self.console.print(f"[{style}]{job.name}[/]: {what} ({time.time() - job.started:.1f}s)", markup=True)

    def note(self, what: str) -> None:
        """A step of the whole batch (the merged timelines)."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(self.overall, description=f"[bold]{what}")
        else:
            self.console.print(f"sandtrace batch: {what}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
