"""What every finding is made of: records cited as evidence, and statements resting on them.

An evidence item names its record (display name, a reference such as a
record number or key path, a time) and carries the confidence of what that
kind of record means (``meanings.meaning_of``). A statement's confidence is
that of its strongest item. The small readers of record values that several
sections share (event data, container GUID, paths) are here too.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sandtrace.report.findings.meanings import meaning_of
from sandtrace.report.model import Record

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_CONFIDENCE_ORDER = {"C": 0, "S": 1, "I": 2}
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(timestamp: int | None) -> str | None:
    """A timestamp (microseconds since 1970, UTC) as the report writes it; None for none."""
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp / 1_000_000, tz=timezone.utc).strftime(_ISO)


def from_iso(text: str | None) -> int:
    """The timestamp of a time the report wrote (0 for none): sections read each other's times."""
    if not text:
        return 0
    moment = datetime.strptime(text, _ISO).replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def basename(path: str | None) -> str:
    return re.split(r"[\\/]", str(path or ""))[-1].lower()


def strip_drive(path: str) -> str:
    """A Windows path without its drive letter and last backslash, lower case: to compare paths."""
    return re.sub(r"^[A-Za-z]:", "", path or "").rstrip("\\").lower()


def event_data(record: Record) -> dict:
    return record.values.get("event_data") or {}


def container_id(record: Record) -> str | None:
    """The sandbox GUID an event record names (ContainerId or SandboxId), lower case."""
    fields = event_data(record)
    for name in ("ContainerId", "SandboxId"):
        match = _GUID.search(str(fields.get(name) or ""))
        if match:
            return match.group(0).lower()
    return None


def reference(record: Record) -> str:
    """Where in its artifact the record is: event and record number, key, line, offset or file."""
    v = record.values
    if record.data_type == "windows:evtx:record":
        return f"{v.get('channel', '?')} event {v.get('event_identifier')}, record {v.get('record_number')}"
    if v.get("key_path"):
        extra = f" value {v['value_name']}" if v.get("value_name") else ""
        return f"key {v['key_path']}{extra}"
    if record.data_type == "windows:sandbox:psreadline":
        return f"line {v.get('line_number')}"
    if record.data_type == "windows:sandbox:carved_disk":
        return f"free-space offset {v.get('volume_offset', 0):#x}"
    if v.get("filename"):
        state = "" if v.get("is_allocated", True) else " (deleted)"
        return f"file {v['filename']}{state}"
    return record.data_type


def what_of(record: Record) -> str:
    """What the record shows, in one line."""
    v = record.values
    if "log_cleared" in record.tags and record.data_type == "windows:evtx:record":
        return cleared_log(record)
    for name in ("catalogue_message", "sandbox_summary", "summary"):
        if v.get(name):
            return str(v[name])
    if record.data_type == "windows:sandbox:psreadline":
        return f"PowerShell: {v.get('command')}"
    if record.data_type in ("windows:registry:userassist", "windows:registry:bam"):
        return f"{v.get('path') or v.get('value_name')} executed"
    if record.data_type in ("windows:registry:mrulistex", "windows:registry:mrulist", "windows:registry:typedurls"):
        return "; ".join(v.get("entries") or [])[:200]
    if record.data_type == "windows:sandbox:container":
        state = "" if v.get("is_allocated", True) else " (deleted)"
        return f"{v.get('role')} {v.get('filename')}{state}"
    if record.data_type == "fs:stat:ntfs":
        return f"file {v.get('filename')}"
    if record.data_type == "windows:registry:task_scheduler:task_cache:entry":
        return f"scheduled task {v.get('task_path') or v.get('task_name')} (TaskCache {v.get('task_identifier')})"
    if record.data_type == "windows:sandbox:feature":
        return f"feature {v.get('feature')} {v.get('state')}"
    # The json_line message is not available while extracting: keep both reports equal.
    return record.data_type


def cleared_log(record: Record, where: bool = False) -> str:
    """An event log clearing, naming the log: 104 names it in its data; 1102 is the Security log's own
    (``where``: and the sandbox disk it is in, if any)."""
    fields, v = event_data(record), record.values
    log = fields.get("Channel")
    if not log and str(v.get("event_identifier")) == "1102":
        log = v.get("channel") or "Security"
    inside = f" inside {record.disk_key}" if where and record.disk_key else ""
    user = "\\".join(str(fields[name]) for name in ("SubjectDomainName", "SubjectUserName") if fields.get(name))
    return f"Event log {log or '(not named in the record)'} cleared{inside}" + (f" by {user}" if user else "")


def evidence(record: Record, timestamp: int | None = None, description: str | None = None,
             what: str | None = None) -> dict[str, Any]:
    """The record as evidence, at one of its times (by default its first, with that time's description)."""
    if timestamp is None:
        timestamp = record.first_time
        description = next((d for t, d in record.times if t == timestamp), "") if timestamp else "Not a time"
    confidence, meaning, source = meaning_of(record)
    return {
        "time": iso(timestamp),
        "timestamp_desc": description or "",
        "artifact": record.display_name,
        "ref": reference(record),
        "data_type": record.data_type,
        "what": what or what_of(record),
        "confidence": confidence,
        "meaning": meaning,
        "meaning_source": source,
        "labels": sorted(record.tags),
    }


def _strongest(items: list[dict]) -> str:
    """A statement's confidence: that of its strongest evidence (one good source suffices)."""
    marks = [e["confidence"] for e in items if e.get("confidence")]
    return min(marks, key=lambda m: _CONFIDENCE_ORDER.get(m, 3)) if marks else "I"


def statement(text: str, items: list[dict], **extra: Any) -> dict[str, Any]:
    return {"text": text, "confidence": _strongest(items), "evidence": items, **extra}
