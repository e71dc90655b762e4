"""Anomalies (what a careful examiner should look at twice), and the context that is not evidence of use.

Anomalies: WDAGUtilityAccount activity on the host, event logs cleared, a
command run inside a sandbox as SYSTEM, a hidden or SYSTEM scheduled task
that starts the sandbox (a loosened policy is found with the policy).
Context: what every host with the feature has (the SAM's
WDAGUtilityAccount, the .wsb file association, the Store package).
"""

from __future__ import annotations

from sandtrace.report.findings.evidence import cleared_log, evidence, iso, statement, what_of
from sandtrace.report.findings.kept import Kept
from sandtrace.report.model import Record


def find(kept: Kept) -> list[dict]:
    found = []
    for record in kept.tagged("wdag_on_host", "wdag_anomaly", host_only=True):
        found.append(_anomaly(kept, record, f"WDAGUtilityAccount activity on the host: {what_of(record)}",
                              "wdag_on_host", "WDAGUtilityAccount on host"))
    for record in kept.tagged("log_cleared"):
        found.append(_anomaly(kept, record, cleared_log(record, where=True), "log_cleared", "log cleared"))
    for record in kept.tagged("wsb_command_as_system", "wsb_exec_system", host_only=True):
        found.append(_anomaly(kept, record, f"Command run inside a sandbox as SYSTEM: {what_of(record)}",
                              "exec_as_system", "wsb exec as System"))
    for record in kept.tagged("sandbox_launch_mechanism", host_only=True):
        if record.data_type == "windows:sandbox:scheduled_task" and _hidden_or_system(record):
            text = record.values.get("summary") or what_of(record)
            found.append(_anomaly(kept, record, f"Hidden/SYSTEM scheduled task starts Windows Sandbox: {text}",
                                  "sandbox_task", "task launches sandbox",
                                  record.time_of("Registration Time", "Creation Time") or record.first_time))
    return found


def _hidden_or_system(task: Record) -> bool:
    return str(task.values.get("user_id")) in ("S-1-5-18", "SYSTEM") or bool(task.values.get("hidden"))


def _anomaly(kept: Kept, record: Record, text: str, kind: str, label: str, cited: int | None = None) -> dict:
    """An anomaly statement on one record (cited at ``cited``, by default its first time), marked on the chart."""
    kept.point(record.first_time, "anomaly", label)
    return statement(text, [evidence(record, cited)], kind=kind, time=iso(record.first_time))


def context(kept: Kept) -> list[dict]:
    items = []
    for record in kept.by_type("windows:registry:sam_users"):
        if record.disk_key:
            continue
        v = record.values
        items.append(statement(
            f"Host SAM: WDAGUtilityAccount (RID {v.get('account_rid')}), "
            f"{'disabled' if v.get('account_disabled') else 'ENABLED'}, logon count {v.get('login_count')} - "
            "present on every Windows 10/11 host; not evidence of sandbox use",
            [evidence(record)]))
        break
    for record in kept.by_type("windows:sandbox:file_association")[:1]:
        items.append(statement("The .wsb file association exists - it ships with the feature and proves installation, not use",
                               [evidence(record)]))
    for record in kept.by_type("windows:sandbox:execution_alias"):
        if not record.disk_key:
            items.append(statement(f"wsb.exe execution alias of user {record.values.get('user_name') or '?'}: the Store "
                                   "app's command line was available to that user - installation, not use",
                                   [evidence(record)]))
    for record in kept.by_type("windows:sandbox:appx_package")[:1]:
        items.append(statement(f"Store package {record.values.get('package_full_name')} registered (wsb.exe CLI available)",
                               [evidence(record)]))
    return items
