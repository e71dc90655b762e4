"""How a session was launched: the method each launch trace shows, and the scheduled task behind it.

Launch traces name the configuration they started too (a .wsb path, an
inline ``--config``): those go into the session's configuration references.
"""

from __future__ import annotations

from sandtrace.core import sandbox_names
from sandtrace.report.findings.evidence import basename, event_data, what_of
from sandtrace.report.model import Record

# Methods that show a sandbox ran, not how it was started: named only when nothing else is.
_TRACES_ONLY = ("process", "interactive user (BAM)", "executed (Prefetch)")
_TASK_HOSTS = ("svchost.exe", "taskeng.exe", "taskhostw.exe")
_STARTERS = frozenset(name.name.lower() for name in sandbox_names.select(launcher=sandbox_names.START))


def methods(records: list[Record], config_refs: set[str]) -> list[tuple[str, str, Record]]:
    """(method, detail, record) of each launch trace that shows one."""
    found = []
    for record in records:
        method = _method(record, config_refs)
        if method is not None:
            found.append((*method, record))
    return found


def _method(record: Record, config_refs: set[str]) -> tuple[str, str] | None:
    v = record.values
    if v.get("wsb_path"):
        config_refs.add(str(v["wsb_path"]))
    if record.data_type == "windows:registry:task_scheduler:task_cache:entry":
        return "scheduled task", f"task {v.get('task_path') or v.get('task_name')} ran"
    if record.data_type in ("windows:registry:userassist", "windows:registry:mrulistex"):
        return "Explorer (double-click)", what_of(record)
    if record.data_type == "windows:registry:bam":
        return "interactive user (BAM)", what_of(record)
    if record.data_type == "windows:evtx:record" and "wsb_cli" in record.tags:
        inline = " with inline --config" if v.get("wsb_inline_config") else ""
        if inline:
            config_refs.add(f"inline:{v.get('record_number')}")
        return "wsb CLI", f"wsb {v.get('wsb_subcommand') or '?'}{inline}"
    started = basename(event_data(record).get("NewProcessName"))
    if record.data_type == "windows:evtx:record" and started in _STARTERS:
        parent = basename(event_data(record).get("ParentProcessName"))
        if parent == "explorer.exe":
            return "Explorer (double-click)", "WindowsSandbox.exe started by explorer.exe"
        if parent in _TASK_HOSTS:
            return "scheduled task", f"WindowsSandbox.exe started by {parent} (Task Scheduler service)"
        return "process", f"WindowsSandbox.exe started by {parent or 'unknown parent'}"
    if record.data_type == "windows:prefetch:execution":
        return "executed (Prefetch)", what_of(record)
    return None


def scheduled_task(found: list[tuple[str, str, Record]], tasks: list[Record], config_refs: set[str]) -> Record | None:
    """When a scheduled task launched the session: the task whose arguments name its configuration
    (the first task when no configuration is known), added to ``found`` with its trigger."""
    if not any(method == "scheduled task" for method, _, _ in found):
        return None
    for task in tasks:
        args = str(task.values.get("arguments") or "").lower()
        if config_refs and not any(ref.lower() in args for ref in config_refs):
            continue
        trigger = task.values.get("trigger") or ""
        detail = f"task {task.values.get('task_path')} runs {task.values.get('command')} {task.values.get('arguments') or ''}".strip()
        if "boot" in trigger.lower():
            detail += f"; trigger {trigger} (at boot), as {task.values.get('user_id')}"
        found.append(("scheduled task", detail, task))
        config_refs.add(str(task.values.get("arguments") or ""))
        return task
    return None


def names(found: list[tuple[str, str, Record]], task: Record | None) -> list[str]:
    """The session's launch methods, each once ("at boot" for a boot-triggered task)."""
    named: list[str] = []
    for method, _, _ in found:
        if method not in named and method not in _TRACES_ONLY:
            named.append(method)
    if task is not None and "boot" in str(task.values.get("trigger") or "").lower():
        named.append("at boot")
    return named or [m[0] for m in found[:1]] or ["unknown (no launch trace)"]
