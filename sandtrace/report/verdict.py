"""Findings from the kept records: feature, policy, configurations, disks, sessions, anomalies.

Every statement carries its evidence: the records that support it (display
name, record number or key path, time) and the confidence of each record's
meaning, taken from the EVTX catalogue (by ``catalogue_id``), the .wsb schema
(risk flags) or ``data/report_meanings.yaml``. How each finding is computed is
described in docs/report.md.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sandtrace import data
from sandtrace.data import load_yaml
from sandtrace.report.model import Record, ReportBuilder

FORMAT_VERSION = 1
LAUNCH_WINDOW = 600 * 1_000_000  # launch evidence up to 10 min before a session's first lifecycle trace
END_SLACK = 60 * 1_000_000
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_CONFIDENCE_ORDER = {"C": 0, "S": 1, "I": 2}
CATEGORIES = [
    ("feature", "Feature and policy", "#7b3294"),
    ("configuration", "Configurations (.wsb, inline)", "#1b9e77"),
    ("launch", "Launches", "#d95f02"),
    ("lifecycle", "Session start/end", "#e7298a"),
    ("storage", "Sandbox disks", "#66a61e"),
    ("inside", "Inside the sandbox", "#1f78b4"),
    ("host_write", "Host writes to mapped folders", "#e6ab02"),
    ("anomaly", "Anomalies", "#d7301f"),
]


# -- knowledge ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, dict]:
    return {entry["id"]: dict(entry, file=path) for path, text in data.folder("evtx_catalogue")
            for entry in load_yaml(text).get("entries", [])}


@lru_cache(maxsize=1)
def _meanings() -> dict[str, dict]:
    return data.load("report_meanings.yaml")


@lru_cache(maxsize=1)
def _wsb_schema() -> dict:
    return data.load("wsb_schema.yaml")


@lru_cache(maxsize=1)
def _checklist() -> list[dict]:
    """The rows of "What was checked": what, where, and the data types, labels and channels counted."""
    return data.load("report_checklist.yaml")["checklist"]


def catalogue_confidence(text: str, event_id: int | None) -> str:
    """'C for 7/8/9/10, I for the UpdateName field name and for 13 (on)' -> the mark for one id."""
    text = str(text or "").strip()
    if not text:
        return "I"
    if event_id is not None:
        for part in text.split(","):
            match = re.match(r"\s*([CSI])\b(.*)", part)
            if match and re.search(rf"(?<!\d){event_id}(?!\d)", match.group(2)):
                return match.group(1)
    return text[0] if text[0] in "CSI" else "I"


def meaning_of(record: Record) -> tuple[str, str, str]:
    """(confidence, meaning, source) of a record's kind of artifact."""
    values = record.values
    if record.data_type == "windows:evtx:record":
        entry = _catalogue().get(values.get("catalogue_id") or "")
        if entry:
            return (catalogue_confidence(entry.get("confidence"), values.get("event_identifier")),
                    entry.get("description", ""),
                    f"{entry['file']} {entry['id']}: {entry.get('source', '')}")
        return "I", "event record (not in the catalogue)", "evtx_catalogue (no entry)"
    table = _meanings()
    for name in ("source", "role", "location_kind"):
        entry = table.get(f"{record.data_type}|{name}={values.get(name)}")
        if entry:
            break
    else:
        entry = table.get(record.data_type)
    if entry:
        return entry["confidence"], entry["meaning"], f"report_meanings.yaml: {entry['source']}"
    return "I", record.data_type, "report_meanings.yaml (no entry)"


def risk_flag_meaning(flag: str) -> tuple[str, str]:
    text = (_wsb_schema().get("risk_flags") or {}).get(flag, flag)
    match = re.search(r"\[([CSI])\]", text)
    return (match.group(1) if match else "I"), re.sub(r"\s*\[[CSI]\]", "", text)


# -- helpers ------------------------------------------------------------------------


def iso(timestamp: int | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp / 1_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _basename(path: str | None) -> str:
    return re.split(r"[\\/]", str(path or ""))[-1].lower()


def _strip_drive(path: str) -> str:
    return re.sub(r"^[A-Za-z]:", "", path or "").rstrip("\\").lower()


def reference(record: Record) -> str:
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


def _what(record: Record) -> str:
    v = record.values
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


def evidence(record: Record, timestamp: int | None = None, description: str | None = None,
             what: str | None = None) -> dict[str, Any]:
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
        "what": what or _what(record),
        "confidence": confidence,
        "meaning": meaning,
        "meaning_source": source,
        "labels": sorted(record.tags),
    }


def _weakest(items: list[dict]) -> str:
    """A statement's confidence: that of its strongest evidence (one good source suffices)."""
    marks = [e["confidence"] for e in items if e.get("confidence")]
    return min(marks, key=lambda m: _CONFIDENCE_ORDER.get(m, 3)) if marks else "I"


def statement(text: str, items: list[dict], **extra: Any) -> dict[str, Any]:
    return {"text": text, "confidence": _weakest(items), "evidence": items, **extra}


def _event_data(record: Record) -> dict:
    return record.values.get("event_data") or {}


def _container_id(record: Record) -> str | None:
    data = _event_data(record)
    for name in ("ContainerId", "SandboxId"):
        match = _GUID.search(str(data.get(name) or ""))
        if match:
            return match.group(0).lower()
    return None


# -- the findings -------------------------------------------------------------------


class _Findings:
    def __init__(self, builder: ReportBuilder) -> None:
        self.builder = builder
        self.records = [r for r in builder.records.values() if r.data_type != "sandtrace:warning"]
        self.warnings = [r for r in builder.records.values() if r.data_type == "sandtrace:warning"]
        self.points: list[tuple[int, str, str]] = []

    def by_type(self, *data_types: str) -> list[Record]:
        return sorted((r for r in self.records if r.data_type in data_types), key=lambda r: r.first_time)

    def tagged(self, *labels: str, host_only: bool = False) -> list[Record]:
        found = [r for r in self.records if r.tags & set(labels) and not (host_only and r.disk_key)]
        return sorted(found, key=lambda r: r.first_time)

    def point(self, timestamp: int, category: str, text: str) -> None:
        if timestamp:
            self.points.append((timestamp, category, text))

    # feature ----------------------------------------------------------------

    def feature(self) -> dict[str, Any]:
        changes = []
        state = "unknown"
        for record in self.by_type("windows:sandbox:feature"):
            v = record.values
            if v.get("feature_enabled") is True or v.get("state") in ("enabled", "installed"):
                state = "enabled"
            elif v.get("feature_enabled") is False and state == "unknown":
                state = "disabled"
            when = record.last_time
            changes.append(statement(
                f"{v.get('feature', 'Containers-DisposableClientVM')}: {v.get('state')} "
                f"({v.get('source', 'registry')}); key last written {iso(when)}",
                [evidence(record, when, next((d for t, d in record.times if t == when), ""))],
                time=iso(when), state=v.get("state")))
            self.point(when, "feature", f"feature {v.get('state')}")
        for record in self.tagged("sandbox_feature_enabled", "sandbox_feature_disabled", "sandbox_feature_command",
                                  host_only=True):
            if record.data_type != "windows:evtx:record":
                continue
            v = record.values
            action = v.get("catalogue_action") or v.get("catalogue_message") or "changed"
            if "sandbox_feature_enabled" in record.tags and v.get("event_identifier") == 9:
                state = "enabled"
            if "sandbox_feature_disabled" in record.tags and v.get("event_identifier") == 10:
                state = "disabled"
            changes.append(statement(_what(record), [evidence(record)], time=iso(record.first_time),
                                     state=str(action)))
            self.point(record.first_time, "feature", _what(record))
        changes.sort(key=lambda s: s["time"] or "")
        services = [evidence(r, r.last_time, "Content Modification Time",
                             f"service {r.values.get('name')} ({r.values.get('image_path')})")
                    for r in self.by_type("windows:registry:service") if not r.disk_key]
        enabled_at = next((c["time"] for c in changes if c["state"] in ("turned on", "enabled")), None)
        return {"state": state, "enabled_at": enabled_at, "changes": changes,
                "related_services": services}

    # policy -----------------------------------------------------------------

    def policy(self) -> tuple[list[dict], list[dict]]:
        policies, anomalies = [], []
        for record in self.by_type("windows:sandbox:policy"):
            if record.disk_key:
                continue
            settings = record.values.get("settings") or []
            loosened = [s["name"] for s in settings if s.get("configured") == 1]
            restricted = [s["name"] for s in settings if s.get("configured") == 0]
            item = evidence(record, record.last_time, "Content Modification Time")
            policies.append({"key": record.values.get("key_path"), "time": iso(record.last_time),
                             "effective": record.values.get("effective") or {},
                             "explicitly_allowed": loosened, "explicitly_denied": restricted,
                             "evidence": [item]})
            self.point(record.last_time, "feature", "sandbox policy written")
            if loosened:
                anomalies.append(statement(
                    f"Sandbox policy explicitly allows {', '.join(loosened)} (key last written {iso(record.last_time)})",
                    [item], kind="policy_loosened", time=iso(record.last_time)))
                self.point(record.last_time, "anomaly", "policy loosened")
        return policies, anomalies

    # configurations -----------------------------------------------------------

    def configurations(self) -> list[dict]:
        by_path: dict[str, list[Record]] = defaultdict(list)
        for record in self.by_type("windows:sandbox:wsb_config"):
            if record.disk_key and record.is_template:
                continue
            by_path[(record.values.get("filename") or record.display_name).lower()].append(record)
        configurations = []
        for records in by_path.values():
            record = records[0]
            v = record.values
            flags = []
            for flag in v.get("risk_flags") or []:
                confidence, meaning = risk_flag_meaning(flag)
                flags.append({"flag": flag, "meaning": meaning, "confidence": confidence})
            created = record.time_of("Creation Time") or record.first_time
            items = [evidence(r, t, d) for r in records for t, d in sorted(r.times) if t][:8]
            configurations.append({
                "id": f"wsb:{v.get('filename')}",
                "kind": "file",
                "path": v.get("filename"),
                "display_name": record.display_name,
                "state": "live" if v.get("is_allocated", True) else "deleted",
                "inside_disk": record.disk_key or None,
                "sha256": v.get("sha256_hash"),
                "created": iso(created),
                "settings": _settings(v),
                "risk_flags": flags,
                "risky": any(f["flag"] in ("writable_mapped_folder", "logon_command") for f in flags),
                "evidence": items,
                "confidence": meaning_of(record)[0],
            })
            self.point(created, "configuration", f".wsb {v.get('filename')}")
        for record in self.tagged("wsb_inline_config", host_only=True):
            if record.data_type != "windows:evtx:record":
                continue
            v = record.values
            flags = []
            for flag in v.get("wsb_risk_flags") or []:
                confidence, meaning = risk_flag_meaning(flag)
                flags.append({"flag": flag, "meaning": meaning, "confidence": confidence})
            settings = {k[4:]: v[k] for k in v if k.startswith("wsb_") and k[4:] in _SETTING_NAMES}
            configurations.append({
                "id": f"inline:{v.get('record_number')}",
                "kind": "inline (wsb start --config)",
                "path": None,
                "display_name": record.display_name,
                "state": "command line only (no .wsb on disk)",
                "inside_disk": None,
                "sha256": None,
                "created": iso(record.first_time),
                "settings": settings,
                "risk_flags": flags,
                "risky": any(f["flag"] in ("writable_mapped_folder", "logon_command") for f in flags),
                "evidence": [evidence(record)],
                "confidence": meaning_of(record)[0],
            })
            self.point(record.first_time, "configuration", "inline configuration")
        configurations.sort(key=lambda c: c["created"] or "")
        return configurations

    # disks ----------------------------------------------------------------

    def disks(self) -> list[dict]:
        disks: dict[str, dict] = {}
        identifiers: dict[str, str] = {}
        for record in self.by_type("windows:sandbox:container"):
            v = record.values
            if record.disk_key or v.get("role") not in ("base_layer", "sandbox_disk", "snapshot_template", "virtual_disk"):
                continue
            key = record.display_name
            state = "live" if v.get("is_allocated", True) else "deleted"
            if record.display_name.startswith("VSS"):
                state = f"shadow copy ({record.display_name.split(':', 1)[0]})"
            disk = disks.setdefault(key, {
                "display_name": key, "path": v.get("filename"), "guid": v.get("container_guid"),
                "role": v.get("role"), "state": state, "model": v.get("disk_model"),
                "parent": v.get("parent_filename"), "size": v.get("file_size"),
                "created": iso(record.time_of("Creation Time")), "evidence": [],
            })
            disk["evidence"].append(evidence(record, record.time_of("Creation Time") or record.first_time))
            for name in ("disk_identifier",):
                if v.get(name):
                    identifiers[str(v[name]).lower()] = key
            if v.get("role") == "sandbox_disk":
                self.point(record.time_of("Creation Time"), "storage", f"sandbox.vhdx {v.get('container_guid')} created")
                if state == "deleted":
                    self.point(record.last_time, "storage", f"sandbox.vhdx {v.get('container_guid')} deleted")
        for record in self.by_type("windows:sandbox:carved_disk"):
            v = record.values
            same = [identifiers.get(str(v.get(n) or "").lower()) for n in ("disk_identifier", "data_write_identifier")]
            same = next((s for s in same if s), None)
            item = evidence(record, None, None,
                            f"VHDX carved from free space: {v.get('blocks_present')} of {v.get('blocks_total')} blocks present")
            if same:
                disks[same].setdefault("also_carved", []).append(item)
                continue
            disks[record.display_name] = {
                "display_name": record.display_name, "path": None, "guid": None,
                "role": "sandbox_disk" if v.get("has_parent") or self.builder.inner_counts.get(record.display_name) else "virtual_disk",
                "state": "carved", "model": "differencing" if v.get("has_parent") else "standalone",
                "parent": (v.get("parent_locator") or {}).get("absolute_win32_path"),
                "size": v.get("virtual_size"), "created": None,
                "blocks": {"present": v.get("blocks_present"), "total": v.get("blocks_total"),
                           "written": v.get("blocks_written")},
                "evidence": [item],
            }
        for key, disk in disks.items():
            disk["contents"] = self._contents(key)
        return sorted(disks.values(), key=lambda d: (d["role"] != "base_layer", d["created"] or "9", d["display_name"]))

    def _contents(self, disk_key: str) -> dict[str, Any]:
        counts = self.builder.inner_counts.get(disk_key, Counter())
        inner = [r for r in self.records if r.disk_key == disk_key and not r.is_template]
        logons = [evidence(r) for r in inner if r.tags & {"wdag_logon", "wdag_logon_failed", "wdag_explicit_credentials"}
                  and r.data_type == "windows:evtx:record"]
        services = [evidence(r, None, None, f"service installed: {_event_data(r).get('ServiceName')} ({_event_data(r).get('ImagePath')})")
                    for r in inner if r.data_type == "windows:evtx:record" and r.values.get("event_identifier") == 7045]
        commands = [evidence(r) for r in inner
                    if r.data_type in ("windows:sandbox:psreadline", "windows:registry:mrulist",
                                       "windows:registry:userassist", "windows:registry:typedurls")]
        files = sorted({r.values.get("filename") for r in inner if r.data_type == "fs:stat:ntfs"
                        and str(r.values.get("filename") or "").lower().startswith(("\\users\\", "\\programdata\\", "\\temp"))
                        and not str(r.values.get("filename")).lower().endswith("ntuser.dat")} - {None})
        span = self.builder.inner_spans.get(disk_key) or [0, 0]
        for item in logons + services + commands:
            self.point(_ts(item["time"]), "inside", item["what"])
        return {
            "events": sum(counts.values()),
            "events_by_data_type": dict(sorted(counts.items())),
            "first_activity": iso(span[0]), "last_activity": iso(span[1]),
            "wdag_logons": logons, "services_installed": services, "commands": commands,
            "user_files": files[:200],
            "template_only": not counts,
        }

    # sessions -------------------------------------------------------------

    def sessions(self, disks: list[dict], configurations: list[dict]) -> list[dict]:
        sessions: dict[str, dict] = {}

        def session(guid: str) -> dict:
            return sessions.setdefault(guid, {"guid": guid, "starts": [], "ends": [], "launch": [],
                                              "actions": [], "disk": None, "config_refs": set()})

        host_evtx = [r for r in self.records if r.data_type == "windows:evtx:record" and not r.disk_key]
        for record in host_evtx:
            guid = _container_id(record)
            if not guid:
                continue
            v, data = record.values, _event_data(record)
            if "sandbox_session_start" in record.tags or data.get("Operation") == "SandboxStarted":
                session(guid)["starts"].append((record.first_time, evidence(record)))
            elif "sandbox_session_end" in record.tags or data.get("Operation") == "SandboxStopped":
                session(guid)["ends"].append((record.first_time, evidence(record), "session end event"))
            if data.get("Configuration"):
                session(guid)["config_refs"].add(str(data["Configuration"]))
        for disk in disks:
            if disk["role"] != "sandbox_disk" or not disk.get("guid"):
                continue
            entry = session(disk["guid"].lower())
            entry["disk"] = disk["display_name"]
            created = _ts(disk["created"])
            if created:
                entry["starts"].append((created, {**disk["evidence"][0], "what": "sandbox.vhdx created"}))
            if disk["state"] == "deleted":
                deleted = max((_ts(e["time"]) for e in disk["evidence"]), default=0)
                record = next((r for r in self.records if r.data_type == "windows:sandbox:container"
                               and r.display_name == disk["display_name"]), None)
                if record is not None:
                    deleted = record.last_time
                    entry["ends"].append((deleted, evidence(record, deleted, "last MFT time before deletion",
                                                            "sandbox.vhdx deleted (MFT record unallocated)"),
                                          "disk deleted"))
            elif disk["state"] == "live":
                record = next((r for r in self.records if r.data_type == "windows:sandbox:container"
                               and r.display_name == disk["display_name"]), None)
                if record is not None and record.time_of("Content Modification Time"):
                    t = record.time_of("Content Modification Time")
                    entry["ends"].append((t, evidence(record, t, "Content Modification Time",
                                                      "sandbox.vhdx last written"), "disk last written"))
            contents = disk.get("contents") or {}
            if contents.get("last_activity"):
                entry["ends"].append((_ts(contents["last_activity"]),
                                      {**disk["evidence"][0], "time": contents["last_activity"],
                                       "what": "last event inside the sandbox disk", "confidence": "I"},
                                      "last inner event"))
        for record in self.by_type("fs:ntfs:usn_change"):
            if "sandbox_disk_created" in record.tags or "sandbox_disk_deleted" in record.tags:
                self.point(record.first_time, "storage", _what(record))
        # Sessions with no GUID: launches that match no GUID session form their own.
        launches = [r for r in self.tagged("sandbox_launch", "sandbox_process", "wsb_cli", "sandbox_execution_trace",
                                           "sandbox_launch_task", host_only=True)
                    if _container_id(r) is None and r.data_type != "windows:sandbox:container"]
        ordered = sorted(sessions.values(), key=lambda s: min((t for t, _ in s["starts"]), default=0) or 1 << 62)
        for entry in ordered:
            entry["start"] = min((t for t, _ in entry["starts"]), default=0)
            ends = [t for t, _, how in entry["ends"] if how == "session end event"] or \
                   [t for t, _, _ in entry["ends"]]
            entry["end"] = min(ends) if any(how == "session end event" for _, _, how in entry["ends"]) else max(ends, default=0)
        unmatched = []
        for record in launches:
            t = record.time_of("Creation Time", "Last Time Executed", "Launch Time", "Content Modification Time") or record.first_time
            target = None
            for entry in ordered:
                if entry["start"] and entry["start"] - LAUNCH_WINDOW <= t <= (entry["end"] or entry["start"]) + END_SLACK:
                    target = entry
                    break
            if target is None:
                if record.data_type == "windows:sandbox:scheduled_task" or "sandbox_launch" not in record.tags:
                    continue  # a mechanism or an execution trace without a launch time of its own
                unmatched.append((t, record))
                continue
            bucket = "launch" if t <= target["start"] + 5_000_000 else "actions"
            target[bucket].append((t, record))
            if bucket == "launch" and "sandbox_launch" in record.tags and t < target["start"]:
                target["starts"].append((t, evidence(record, t)))
        # Launch evidence with no lifecycle trace: cluster (10-minute gap) into sessions of its own.
        for t, record in sorted(unmatched, key=lambda item: item[0]):
            if ordered and ordered[-1].get("synthetic") and t - ordered[-1]["start"] <= LAUNCH_WINDOW:
                ordered[-1]["launch"].append((t, record))
                continue
            ordered.append({"guid": None, "starts": [(t, evidence(record, t))], "ends": [], "launch": [(t, record)],
                            "actions": [], "disk": None, "config_refs": set(), "start": t, "end": 0, "synthetic": True})
        for entry in ordered:
            entry["start"] = min((t for t, _ in entry["starts"] if t), default=entry["start"])
        ordered.sort(key=lambda s: s["start"])
        tasks = self.by_type("windows:sandbox:scheduled_task")
        result = []
        for number, entry in enumerate(ordered, 1):
            result.append(self._session(number, entry, tasks, configurations, disks))
        return result

    def _session(self, number: int, entry: dict, tasks: list[Record], configurations: list[dict],
                 disks: list[dict]) -> dict:
        launch_records = [r for _, r in sorted(entry["launch"], key=lambda item: item[0])]
        methods, config_refs = [], set(entry["config_refs"])
        for record in launch_records:
            data, v = _event_data(record), record.values
            parent = _basename(data.get("ParentProcessName"))
            if v.get("wsb_path"):
                config_refs.add(str(v["wsb_path"]))
            if record.data_type == "windows:registry:task_scheduler:task_cache:entry":
                methods.append(("scheduled task", f"task {v.get('task_path') or v.get('task_name')} ran", record))
            elif record.data_type in ("windows:registry:userassist", "windows:registry:mrulistex"):
                methods.append(("Explorer (double-click)", _what(record), record))
            elif record.data_type == "windows:registry:bam":
                methods.append(("interactive user (BAM)", _what(record), record))
            elif record.data_type == "windows:evtx:record" and "wsb_cli" in record.tags:
                sub = v.get("wsb_subcommand") or "?"
                methods.append(("wsb CLI", f"wsb {sub}" + (" with inline --config" if v.get("wsb_inline_config") else ""), record))
                if v.get("wsb_inline_config"):
                    config_refs.add(f"inline:{v.get('record_number')}")
            elif record.data_type == "windows:evtx:record" and _basename(data.get("NewProcessName")) == "windowssandbox.exe":
                if parent == "explorer.exe":
                    methods.append(("Explorer (double-click)", "WindowsSandbox.exe started by explorer.exe", record))
                elif parent in ("svchost.exe", "taskeng.exe", "taskhostw.exe"):
                    methods.append(("scheduled task", f"WindowsSandbox.exe started by {parent} (Task Scheduler service)", record))
                else:
                    methods.append(("process", f"WindowsSandbox.exe started by {parent or 'unknown parent'}", record))
            elif record.data_type == "windows:prefetch:execution":
                methods.append(("executed (Prefetch)", _what(record), record))
        for record in (r for _, r in entry["actions"]):
            if record.values.get("wsb_path"):
                config_refs.add(str(record.values["wsb_path"]))
        # A scheduled task whose action matches the configuration (and its trigger).
        task_info = None
        if any(m[0] == "scheduled task" for m in methods):
            for task in tasks:
                args = str(task.values.get("arguments") or "").lower()
                if not config_refs or any(ref.lower() in args for ref in config_refs):
                    task_info = task
                    trigger = task.values.get("trigger") or ""
                    detail = f"task {task.values.get('task_path')} runs {task.values.get('command')} {task.values.get('arguments') or ''}".strip()
                    if "boot" in trigger.lower():
                        detail += f"; trigger {trigger} (at boot), as {task.values.get('user_id')}"
                    methods.append(("scheduled task", detail, task))
                    config_refs.add(str(task.values.get("arguments") or ""))
                    break
        names = []
        for name, _, _ in methods:
            if name not in names and name not in ("process", "interactive user (BAM)", "executed (Prefetch)"):
                names.append(name)
        if task_info is not None and "boot" in str(task_info.values.get("trigger") or "").lower():
            names.append("at boot")
        if not names:
            names = [m[0] for m in methods[:1]] or ["unknown (no launch trace)"]
        inline_ids = {ref for ref in config_refs if ref.startswith("inline:")}
        matched = []
        for configuration in configurations:
            if configuration["id"] in inline_ids:
                matched.append(configuration["id"])
            elif configuration.get("path") and any(
                    _strip_drive(ref) == _strip_drive(configuration["path"]) for ref in config_refs if not ref.startswith("inline:")):
                matched.append(configuration["id"])
        ends = sorted(entry["ends"], key=lambda item: item[0])
        end_kind = next((how for t, _, how in ends if t == entry["end"]), None)
        disk_names = [entry["disk"]] if entry["disk"] else []
        # carved disks whose inner activity lies in this session's span
        for disk in disks:
            if disk["state"] == "carved" and disk["contents"].get("first_activity"):
                first = _ts(disk["contents"]["first_activity"])
                if entry["start"] - LAUNCH_WINDOW <= first <= (entry["end"] or first) + END_SLACK:
                    disk_names.append(disk["display_name"])
                    disk["session"] = number
        for disk in disks:
            if disk["display_name"] == entry["disk"]:
                disk["session"] = number
        self.point(entry["start"], "lifecycle", f"session {number} start")
        if entry["end"]:
            self.point(entry["end"], "lifecycle", f"session {number} end")
        for t, record in entry["launch"]:
            self.point(t, "launch", _what(record))
        return {
            "number": number,
            "guid": entry["guid"],
            "start": iso(entry["start"]),
            "end": iso(entry["end"]) if entry["end"] else None,
            "end_basis": end_kind or "unknown (no end trace)",
            "duration_seconds": round((entry["end"] - entry["start"]) / 1e6) if entry["end"] and entry["start"] else None,
            "launch_methods": names,
            "launch": [statement(detail, [evidence(record)], method=name) for name, detail, record in methods],
            "configurations": matched,
            "configuration_references": sorted(r for r in config_refs if r),
            "disks": disk_names,
            "start_evidence": [e for _, e in sorted(entry["starts"], key=lambda item: item[0])],
            "end_evidence": [dict(e, end_basis=how) for _, e, how in ends],
            "actions": [evidence(r) for _, r in sorted(entry["actions"], key=lambda item: item[0])],
        }

    # host writes ------------------------------------------------------------

    def mapped_folders(self, configurations: list[dict], sessions: list[dict]) -> list[dict]:
        folders = []
        used = {ref for session in sessions for ref in session["configurations"]}
        for configuration in configurations:
            if configuration["id"] not in used:
                continue
            for folder in (configuration["settings"].get("mapped_folders") or []):
                if folder.get("host_folder"):
                    folders.append({"host_folder": folder["host_folder"], "writable": not folder.get("read_only"),
                                    "configuration": configuration["id"]})
        for record in self.tagged("wsb_share_writable", host_only=True):
            if record.values.get("wsb_host_folder"):
                folders.append({"host_folder": record.values["wsb_host_folder"], "writable": True,
                                "configuration": f"wsb share (record {record.values.get('record_number')})"})
        unique = {}
        for folder in folders:
            unique.setdefault((_strip_drive(folder["host_folder"]), folder["configuration"]), folder)
        result = list(unique.values())
        for folder in result:
            prefix = _strip_drive(folder["host_folder"]) + "\\"
            timelined = sum(1 for path, *_ in self.builder.host_files if path.lower().startswith(prefix))
            folder["file_times_in_timeline"] = timelined
            if not timelined:
                relative = re.sub(r"^[A-Za-z]:", "", folder["host_folder"]).rstrip("\\")
                folder["note"] = ("the timeline holds no file-system times under this folder; to see host-side "
                                  f"writes, extract with --paths '{relative}\\**'")
        return result

    def host_writes(self, folders: list[dict], sessions: list[dict]) -> list[dict]:
        prefixes = {_strip_drive(f["host_folder"]) + "\\": f for f in folders if f["writable"]}
        if not prefixes:
            return []
        spans = [(n["number"], _ts(n["start"]), _ts(n["end"]) or _ts(n["start"])) for n in sessions]
        files: dict[str, dict] = {}
        for path, timestamp, description, display_name, allocated in self.builder.host_files:
            lowered = path.lower()
            prefix = next((p for p in prefixes if lowered.startswith(p)), None)
            if prefix is None or description not in ("Creation Time", "Content Modification Time"):
                continue
            entry = files.setdefault(path, {"path": path, "artifact": display_name, "mapped_folder": prefixes[prefix]["host_folder"],
                                            "times": [], "deleted": not allocated})
            entry["times"].append({"time": iso(timestamp), "timestamp_desc": description})
            session = next((n for n, s, e in spans if s - 5_000_000 <= timestamp <= e + END_SLACK), None)
            if session is not None:
                entry.setdefault("during_sessions", set()).add(session)
        result = []
        for entry in sorted(files.values(), key=lambda e: e["path"].lower()):
            during = sorted(entry.pop("during_sessions", set()))
            entry["during_sessions"] = during
            entry["times"].sort(key=lambda t: t["time"])
            entry["confidence"] = "I"
            entry["what"] = (f"written during session {', '.join(map(str, during))} - host-side writes to a mapped folder "
                             "are made by vmwp.exe on behalf of the sandbox" if during else
                             "in a writable mapped folder, written outside any known session (staged by the host?)")
            result.append(entry)
            for t in entry["times"]:
                if during:
                    self.point(_ts(t["time"]), "host_write", entry["path"])
        return result

    # anomalies ------------------------------------------------------------

    def anomalies(self) -> list[dict]:
        found = []
        for record in self.tagged("wdag_on_host", "wdag_anomaly", host_only=True):
            found.append(statement(f"WDAGUtilityAccount activity on the host: {_what(record)}", [evidence(record)],
                                   kind="wdag_on_host", time=iso(record.first_time)))
            self.point(record.first_time, "anomaly", "WDAGUtilityAccount on host")
        for record in self.tagged("log_cleared"):
            where = f" inside {record.disk_key}" if record.disk_key else ""
            found.append(statement(f"Event log cleared{where}: {_what(record)}", [evidence(record)],
                                   kind="log_cleared", time=iso(record.first_time)))
            self.point(record.first_time, "anomaly", "log cleared")
        for record in self.tagged("wsb_command_as_system", "wsb_exec_system", host_only=True):
            found.append(statement(f"Command run inside a sandbox as SYSTEM: {_what(record)}", [evidence(record)],
                                   kind="exec_as_system", time=iso(record.first_time)))
            self.point(record.first_time, "anomaly", "wsb exec as System")
        for record in self.tagged("sandbox_launch_mechanism", host_only=True):
            if record.data_type != "windows:sandbox:scheduled_task":
                continue
            v = record.values
            if str(v.get("user_id")) in ("S-1-5-18", "SYSTEM") or v.get("hidden"):
                found.append(statement(
                    f"Hidden/SYSTEM scheduled task starts Windows Sandbox: {v.get('summary') or _what(record)}",
                    [evidence(record, record.time_of("Registration Time", "Creation Time") or record.first_time)],
                    kind="sandbox_task", time=iso(record.first_time)))
                self.point(record.first_time, "anomaly", "task launches sandbox")
        return found

    def context(self) -> list[dict]:
        items = []
        for record in self.by_type("windows:registry:sam_users"):
            if record.disk_key:
                continue
            v = record.values
            items.append(statement(
                f"Host SAM: WDAGUtilityAccount (RID {v.get('account_rid')}), "
                f"{'disabled' if v.get('account_disabled') else 'ENABLED'}, logon count {v.get('login_count')} - "
                "present on every Windows 10/11 host; not evidence of sandbox use",
                [evidence(record)]))
            break
        for record in self.by_type("windows:sandbox:file_association")[:1]:
            items.append(statement("The .wsb file association exists - it ships with the feature and proves installation, not use",
                                   [evidence(record)]))
        for record in self.by_type("windows:sandbox:appx_package")[:1]:
            items.append(statement(f"Store package {record.values.get('package_full_name')} registered (wsb.exe CLI available)",
                                   [evidence(record)]))
        return items

    # what was checked ---------------------------------------------------------

    def checked(self) -> list[dict]:
        counts, labels, channels = self.builder.counts_by_data_type, self.builder.counts_by_label, self.builder.counts_by_channel
        rows = []
        for found in _checklist():
            number = sum(counts.get(t, 0) for t in found.get("data_types", ())) + \
                sum(labels.get(t, 0) for t in found.get("labels", ())) + \
                sum(channels.get(c, 0) for c in found.get("channels", ()))
            row = {"what": found["what"], "where": found["where"], "events": number}
            if "carve" in found["where"] and number == 0 and "--carve" not in self.builder.command_line:
                row["events"] = "not checked (extract without --carve)"
            rows.append(row)
        return rows


_SETTING_NAMES = ("networking_enabled", "logon_command", "mapped_folders", "memory_in_mb", "vgpu_enabled",
                  "audio_input_enabled", "video_input_enabled", "protected_client_enabled",
                  "printer_redirection_enabled", "clipboard_redirection_enabled")


def _settings(values: dict) -> dict:
    return {name: values[name] for name in _SETTING_NAMES if name in values}


def _ts(text: str | None) -> int:
    if not text:
        return 0
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def compute(builder: ReportBuilder) -> dict[str, Any]:
    findings = _Findings(builder)
    feature = findings.feature()
    policies, policy_anomalies = findings.policy()
    configurations = findings.configurations()
    disks = findings.disks()
    sessions = findings.sessions(disks, configurations)
    folders = findings.mapped_folders(configurations, sessions)
    writes = findings.host_writes(folders, sessions)
    anomalies = policy_anomalies + findings.anomalies()
    activity = [{"disk": d["display_name"], "state": d["state"], "session": d.get("session"), **d["contents"]}
                for d in disks if d["role"] != "base_layer" and not d["contents"].get("template_only")]
    used = bool(sessions) or bool(activity)
    statements = []
    if used:
        headline = (f"Windows Sandbox was used: {len(sessions)} session(s), "
                    f"{len(configurations)} configuration(s), {len(disks)} sandbox disk(s) found.")
        if feature["changes"]:
            first = feature["changes"][0]
            statements.append(statement(f"The feature was turned on (first trace {first['time']}).", first["evidence"]))
        for item in sessions:
            span = f"{item['start']} - {item['end'] or 'unknown end'}"
            statements.append(statement(
                f"Session {item['number']} ({item['guid'] or 'no GUID'}): {span}, launched by "
                f"{', '.join(item['launch_methods'])}; configuration {', '.join(item['configurations']) or 'unknown'}.",
                (item["start_evidence"] + item["end_evidence"])[:6]))
        for entry in activity:
            if entry["wdag_logons"] or entry["commands"] or entry["services_installed"]:
                statements.append(statement(
                    f"Inside {entry['disk']}: {len(entry['wdag_logons'])} WDAGUtilityAccount logon event(s), "
                    f"{len(entry['services_installed'])} service install(s), {len(entry['commands'])} command trace(s).",
                    (entry["wdag_logons"] + entry["services_installed"] + entry["commands"])[:6]))
        written = [w for w in writes if w["during_sessions"]]
        if written:
            statements.append({"text": f"{len(written)} file(s) in writable mapped folders were written during sessions.",
                               "confidence": "I", "evidence": []})
    elif feature["state"] == "enabled" or any(feature["changes"]):
        headline = "The Windows Sandbox feature is installed, but no evidence of Windows Sandbox use was found."
    else:
        headline = "No evidence of Windows Sandbox use was found."
    if builder.foreign and not used:
        headline = ("No findings could be computed: this timeline lacks the records sandtrace's findings are "
                    "computed from (it was probably not written by sandtrace).")
    if builder.incomplete:
        headline += " The timeline read is incomplete: see the caveat below."
    warnings = [{"path": r.values.get("path") or r.display_name, "parser": r.values.get("parser_name") or r.parser,
                 "error": r.values.get("error")} for r in findings.warnings]
    points = sorted(findings.points)
    return {
        "format_version": FORMAT_VERSION,
        "about": builder.about(),
        "verdict": {"sandbox_used": used, "headline": headline, "statements": statements},
        "feature": feature,
        "policy": policies,
        "configurations": configurations,
        "sessions": sessions,
        "disks": disks,
        "inside_sandboxes": activity,
        "mapped_folders": folders,
        "host_writes_to_mapped_folders": writes,
        "anomalies": anomalies,
        "context": findings.context(),
        "checked": findings.checked(),
        "warnings": warnings,
        "counts": {"by_data_type": dict(sorted(builder.counts_by_data_type.items())),
                   "by_label": dict(sorted(builder.counts_by_label.items()))},
        "chart": {
            "categories": [{"id": c, "title": t, "color": color} for c, t, color in CATEGORIES],
            "points": [{"time": iso(t), "category": c, "label": text} for t, c, text in points],
            "sessions": [{"number": s["number"], "start": s["start"], "end": s["end"] or s["start"],
                          "label": f"session {s['number']}"} for s in sessions],
        },
    }
