"""One unit of batch work, run as a child process with limits.

A task (plan, hash, part or assemble of one source) runs as
``python -m sandtrace.batch.worker``: a crash, a hang or a runaway
allocation in a parser library costs that task only. The child caps its own
address space (RLIMIT_AS, the ``--memory-limit``), asks the kernel to kill it
when its parent dies (PR_SET_PDEATHSIG, so a SIGKILLed batch leaves no
orphan writing outputs), reads its spec as JSON on stdin and writes its
result as JSON to a file. ``execute`` is what the local runner's threads and
Dask workers both call, so both run exactly the same code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sandtrace.engine import children

_RUNNING: set[subprocess.Popen] = set()
_LOCK = threading.Lock()


@dataclass
class Task:
    kind: str  # plan, hash, part, assemble
    source: str  # the source's path (manifest key)
    part: int  # part index (0 for the other kinds)
    spec: dict[str, Any]  # what the worker needs; spec["result"] is where it writes its result
    log_path: str
    time_limit: float | None = None  # seconds; None = no limit
    memory_limit_mb: int | None = None  # RLIMIT_AS; None = no limit

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.part}-{self.source}"


@dataclass
class TaskResult:
    task: Task
    ok: bool
    error: str = ""
    returncode: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    host: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def execute(task: Task) -> TaskResult:
    """Runs ``task`` in a child process; never raises for the task's own failure."""
    result_path = task.spec["result"]
    os.makedirs(os.path.dirname(result_path), exist_ok=True)
    if os.path.exists(result_path):
        os.unlink(result_path)
    command = [*children.module_command("sandtrace.batch.worker"), "--parent", str(os.getpid())]
    if task.memory_limit_mb:
        command += ["--memory-limit", str(task.memory_limit_mb)]
    environment = dict(children.environment(), MALLOC_ARENA_MAX="2", PYTHONUNBUFFERED="1")
    started = time.monotonic()
    with open(task.log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=log,
                                   start_new_session=True, env=environment)
    with _LOCK:
        _RUNNING.add(process)
    timed_out = False
    try:
        try:
            process.stdin.write(json.dumps(task.spec).encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        delay = 0.005
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if task.time_limit and time.monotonic() - started > task.time_limit and not timed_out:
                timed_out = True
                _kill(process)
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        with _LOCK:
            _RUNNING.discard(process)
    outcome = TaskResult(
        task=task,
        ok=False,
        returncode=process.returncode,
        seconds=time.monotonic() - started,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
        host=socket.gethostname(),
    )
    reported = _read_result(result_path)
    outcome.result = reported
    if timed_out:
        outcome.error = f"time limit of {task.time_limit:g} s exceeded ({task.kind} task)"
    elif reported.get("ok") and process.returncode == 0:
        outcome.ok = True
    elif reported.get("error"):
        outcome.error = reported["error"]
    elif process.returncode < 0:
        name = signal.Signals(-process.returncode).name
        outcome.error = f"{task.kind} task killed by {name}" + (
            " (memory limit?)" if task.memory_limit_mb and name in ("SIGSEGV", "SIGABRT", "SIGKILL") else "")
    else:
        outcome.error = f"{task.kind} task exited with code {process.returncode}: {_last_line(task.log_path)}"
    return outcome


def kill_all() -> None:
    """Kills every running child (Ctrl-C): nothing is left writing."""
    with _LOCK:
        running = list(_RUNNING)
    for process in running:
        _kill(process)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_result(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - 4096))
            lines = [line for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1][:400] if lines else "no output"
    except OSError:
        return "no log"
