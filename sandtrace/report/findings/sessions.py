"""The sandbox sessions: their spans, launches, configurations, disks and evidence.

Lifecycle traces with a sandbox GUID (start and end events, the session's
sandbox.vhdx) make a session each. Launch evidence without a GUID joins the
session that starts within ``LAUNCH_WINDOW`` after it; later traces inside a
session's span become its actions. Launches that match no session form
sessions of their own (one per run of launches within ``LAUNCH_WINDOW``). The start
is the earliest start or launch trace; the end the earliest session-end
event or, without one, the latest disk or inner-event trace.
"""

from __future__ import annotations

from typing import Any

from sandtrace.report.findings import launch
from sandtrace.report.findings.evidence import (container_id, event_data, evidence, from_iso, iso, statement,
                                                strip_drive, what_of)
from sandtrace.report.findings.kept import Kept
from sandtrace.report.model import Record

LAUNCH_WINDOW = 600 * 1_000_000  # launch evidence up to 10 min before a session's first lifecycle trace
END_SLACK = 60 * 1_000_000
_LAUNCH_LABELS = ("sandbox_launch", "sandbox_process", "wsb_cli", "sandbox_execution_trace", "sandbox_launch_task")
_SESSION_END = "session end event"


def find(kept: Kept, disks: list[dict], configurations: list[dict]) -> list[dict]:
    """The sessions in start order, numbered from 1; each disk they used gets its number."""
    ordered = sorted(_by_guid(kept, disks).values(), key=lambda s: min((t for t, _ in s["starts"]), default=0) or 1 << 62)
    for entry in ordered:
        _span(entry)
    _cluster(_attach_launches(kept, ordered), ordered)
    for entry in ordered:
        entry["start"] = min((t for t, _ in entry["starts"] if t), default=entry["start"])
    ordered.sort(key=lambda s: s["start"])
    tasks = kept.by_type("windows:sandbox:scheduled_task")
    return [_summary(kept, number, entry, tasks, configurations, disks) for number, entry in enumerate(ordered, 1)]


def _new(guid: str | None) -> dict[str, Any]:
    return {"guid": guid, "starts": [], "ends": [], "launch": [], "actions": [], "disk": None, "config_refs": set()}


def _by_guid(kept: Kept, disks: list[dict]) -> dict[str, dict]:
    """A session per sandbox GUID: the host's start and end events, then its disk's traces."""
    sessions: dict[str, dict] = {}
    for record in kept.records:
        guid = container_id(record) if record.data_type == "windows:evtx:record" and not record.disk_key else None
        if not guid:
            continue
        entry, fields = sessions.setdefault(guid, _new(guid)), event_data(record)
        if "sandbox_session_start" in record.tags or fields.get("Operation") == "SandboxStarted":
            entry["starts"].append((record.first_time, evidence(record)))
        elif "sandbox_session_end" in record.tags or fields.get("Operation") == "SandboxStopped":
            entry["ends"].append((record.first_time, evidence(record), _SESSION_END))
        if fields.get("Configuration"):
            entry["config_refs"].add(str(fields["Configuration"]))
    for disk in disks:
        if disk["role"] == "sandbox_disk" and disk.get("guid"):
            guid = disk["guid"].lower()
            _disk_traces(kept, disk, sessions.setdefault(guid, _new(guid)))
    return sessions


def _disk_traces(kept: Kept, disk: dict, entry: dict) -> None:
    """The session's disk: its creation starts the session; its deletion, last write and last inner event may end it."""
    entry["disk"] = disk["display_name"]
    created = from_iso(disk["created"])
    if created:
        entry["starts"].append((created, {**disk["evidence"][0], "what": "sandbox.vhdx created"}))
    record = next((r for r in kept.records if r.data_type == "windows:sandbox:container"
                   and r.display_name == disk["display_name"]), None)
    if disk["state"] == "deleted" and record is not None:
        deleted = record.last_time
        entry["ends"].append((deleted, evidence(record, deleted, "last MFT time before deletion",
                                                "sandbox.vhdx deleted (MFT record unallocated)"), "disk deleted"))
    elif disk["state"] == "live" and record is not None and record.time_of("Content Modification Time"):
        t = record.time_of("Content Modification Time")
        entry["ends"].append((t, evidence(record, t, "Content Modification Time", "sandbox.vhdx last written"),
                              "disk last written"))
    contents = disk.get("contents") or {}
    if contents.get("last_activity"):
        entry["ends"].append((from_iso(contents["last_activity"]),
                              {**disk["evidence"][0], "time": contents["last_activity"],
                               "what": "last event inside the sandbox disk", "confidence": "I"},
                              "last inner event"))


def _span(entry: dict) -> None:
    """Start: the earliest start trace. End: the earliest end event, else the latest end trace."""
    entry["start"] = min((t for t, _ in entry["starts"]), default=0)
    ended = [t for t, _, how in entry["ends"] if how == _SESSION_END]
    entry["end"] = min(ended) if ended else max((t for t, _, _ in entry["ends"]), default=0)


def _attach_launches(kept: Kept, ordered: list[dict]) -> list[tuple[int, Record]]:
    """Launch evidence without a GUID, into the session whose span holds it; returns the launches no session holds."""
    launches = [r for r in kept.tagged(*_LAUNCH_LABELS, host_only=True)
                if container_id(r) is None and r.data_type != "windows:sandbox:container"]
    unmatched = []
    for record in launches:
        t = record.time_of("Creation Time", "Last Time Executed", "Launch Time", "Content Modification Time") or record.first_time
        target = next((entry for entry in ordered if entry["start"] and
                       entry["start"] - LAUNCH_WINDOW <= t <= (entry["end"] or entry["start"]) + END_SLACK), None)
        if target is None:
            # A mechanism (a task) or an execution trace without a launch time of its own makes no session.
            if record.data_type != "windows:sandbox:scheduled_task" and "sandbox_launch" in record.tags:
                unmatched.append((t, record))
            continue
        bucket = "launch" if t <= target["start"] + 5_000_000 else "actions"
        target[bucket].append((t, record))
        if bucket == "launch" and "sandbox_launch" in record.tags and t < target["start"]:
            target["starts"].append((t, evidence(record, t)))
    return unmatched


def _cluster(unmatched: list[tuple[int, Record]], ordered: list[dict]) -> None:
    """Launches with no lifecycle trace become sessions of their own, one per cluster (10-minute gap)."""
    for t, record in sorted(unmatched, key=lambda item: item[0]):
        if ordered and ordered[-1].get("synthetic") and t - ordered[-1]["start"] <= LAUNCH_WINDOW:
            ordered[-1]["launch"].append((t, record))
            continue
        ordered.append({**_new(None), "starts": [(t, evidence(record, t))], "launch": [(t, record)],
                        "start": t, "end": 0, "synthetic": True})


def _summary(kept: Kept, number: int, entry: dict, tasks: list[Record], configurations: list[dict],
             disks: list[dict]) -> dict[str, Any]:
    config_refs = set(entry["config_refs"])
    found = launch.methods([r for _, r in sorted(entry["launch"], key=lambda item: item[0])], config_refs)
    config_refs |= {str(r.values["wsb_path"]) for _, r in entry["actions"] if r.values.get("wsb_path")}
    task = launch.scheduled_task(found, tasks, config_refs)
    ends = sorted(entry["ends"], key=lambda item: item[0])
    end_kind = next((how for t, _, how in ends if t == entry["end"]), None)
    kept.point(entry["start"], "lifecycle", f"session {number} start")
    if entry["end"]:
        kept.point(entry["end"], "lifecycle", f"session {number} end")
    for t, record in entry["launch"]:
        kept.point(t, "launch", what_of(record))
    return {
        "number": number,
        "guid": entry["guid"],
        "start": iso(entry["start"]),
        "end": iso(entry["end"]) if entry["end"] else None,
        "end_basis": end_kind or "unknown (no end trace)",
        "duration_seconds": round((entry["end"] - entry["start"]) / 1e6) if entry["end"] and entry["start"] else None,
        "launch_methods": launch.names(found, task),
        "launch": [statement(detail, [evidence(record)], method=name) for name, detail, record in found],
        "configurations": _configurations(configurations, config_refs),
        "configuration_references": sorted(r for r in config_refs if r),
        "disks": _disks(number, entry, disks),
        "start_evidence": [e for _, e in sorted(entry["starts"], key=lambda item: item[0])],
        "end_evidence": [dict(e, end_basis=how) for _, e, how in ends],
        "actions": [evidence(r) for _, r in sorted(entry["actions"], key=lambda item: item[0])],
        "connection": _connection(kept, entry),
        "host_traces": _host_traces(kept, entry),
    }


def _host_traces(kept: Kept, entry: dict) -> list[dict]:
    """The host's lifecycle and Host Compute records in the session's span that no GUID tied to it
    (Sandbox-Client-Diagnostics, Hyper-V-Compute-Operational): cited, not used for its span."""
    low, high = entry["start"] - LAUNCH_WINDOW, (entry["end"] or entry["start"]) + END_SLACK
    cited = {(e.get("artifact"), e.get("ref")) for _, e in entry["starts"]} | {(e.get("artifact"), e.get("ref"))
                                                                               for _, e, _ in entry["ends"]}
    items = [evidence(r) for r in kept.tagged("sandbox_lifecycle", "hyperv_compute_event", host_only=True)
             if low <= r.first_time <= high]
    return [item for item in items if (item["artifact"], item["ref"]) not in cited][:20]


def _connection(kept: Kept, entry: dict) -> dict[str, Any]:
    """Whether a person connected (Windows 11 24H2 and later): WindowsSandboxServer.exe runs in every
    session, WindowsSandboxRemoteSession.exe only when someone opens its window; a server without a
    window in the session's span is a headless session (``wsb start`` without connecting)."""
    low, high = entry["start"] - LAUNCH_WINDOW, (entry["end"] or entry["start"]) + END_SLACK

    def within(label: str) -> list[Record]:
        return [r for r in kept.tagged(label, host_only=True) if low <= r.first_time <= high]

    servers, windows = within("sandbox_server_process"), within("sandbox_remote_session")
    if windows:
        return {"state": "connected", "text": "WindowsSandboxRemoteSession.exe ran: a person opened the session's window",
                "evidence": [evidence(r) for r in (servers + windows)[:4]]}
    if servers:
        return {"state": "headless", "text": "WindowsSandboxServer.exe ran without WindowsSandboxRemoteSession.exe: "
                "no one opened the session's window (as 'wsb start' without connecting gives)",
                "evidence": [evidence(r) for r in servers[:4]]}
    return {"state": "unknown", "text": "no Store app server or window process record in the session's span "
            "(before Windows 11 24H2, or process auditing off)", "evidence": []}


def _configurations(configurations: list[dict], config_refs: set[str]) -> list[str]:
    """The configurations the session's references name: an inline one by id, a .wsb file by path."""
    inline = {ref for ref in config_refs if ref.startswith("inline:")}
    paths = {strip_drive(ref) for ref in config_refs if not ref.startswith("inline:")}
    return [c["id"] for c in configurations if c["id"] in inline or (c.get("path") and strip_drive(c["path"]) in paths)]


def _disks(number: int, entry: dict, disks: list[dict]) -> list[str]:
    """The session's disk, and the carved disks whose inner activity lies in its span; each gets the session's number."""
    names = [entry["disk"]] if entry["disk"] else []
    for disk in disks:
        if disk["state"] == "carved" and disk["contents"].get("first_activity"):
            first = from_iso(disk["contents"]["first_activity"])
            if entry["start"] - LAUNCH_WINDOW <= first <= (entry["end"] or first) + END_SLACK:
                names.append(disk["display_name"])
                disk["session"] = number
        if disk["display_name"] == entry["disk"]:
            disk["session"] = number
    return names
