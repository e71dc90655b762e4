"""The sandbox disks (live, deleted, in a shadow copy, carved) and what is inside each.

A carved disk whose disk or data-write identifier equals a listed disk's is
that disk, carved again ("also carved"). Inside a disk: its non-template
event counts, WDAGUtilityAccount logons, services installed, commands and
the files the sandbox wrote (label sandbox_written_file), executables first.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sandtrace.report.findings.evidence import event_data, evidence, from_iso, iso, what_of
from sandtrace.report.findings.kept import Kept

_ROLES = ("base_layer", "sandbox_disk", "snapshot_template", "virtual_disk")
_LOGONS = {"wdag_logon", "wdag_logon_failed", "wdag_explicit_credentials"}
_COMMANDS = ("windows:sandbox:psreadline", "windows:registry:mrulist", "windows:registry:userassist",
             "windows:registry:typedurls")
_EXECUTABLE = (".exe", ".dll", ".sys", ".scr", ".com", ".ps1", ".psm1", ".bat", ".cmd", ".vbs", ".vbe", ".js", ".jse",
               ".wsf", ".hta", ".msi", ".lnk", ".jar", ".py")
MAX_FILES_LISTED = 200


def find(kept: Kept) -> list[dict]:
    """The disks, base layers first, then by creation time."""
    disks: dict[str, dict] = {}
    identifiers = _containers(kept, disks)
    _carved(kept, disks, identifiers)
    for key, disk in disks.items():
        disk["contents"] = _contents(kept, key)
    for record in kept.by_type("fs:ntfs:usn_change"):
        if "sandbox_disk_created" in record.tags or "sandbox_disk_deleted" in record.tags:
            kept.point(record.first_time, "storage", what_of(record))
    return sorted(disks.values(), key=lambda d: (d["role"] != "base_layer", d["created"] or "9", d["display_name"]))


def inside(disks: list[dict]) -> list[dict]:
    """The activity inside each disk that is neither a base layer nor template content only."""
    return [{"disk": d["display_name"], "state": d["state"], "session": d.get("session"), **d["contents"]}
            for d in disks if d["role"] != "base_layer" and not d["contents"].get("template_only")]


def _containers(kept: Kept, disks: dict[str, dict]) -> dict[str, str]:
    """The disks found as files on the host, into ``disks``; returns their disk identifiers."""
    identifiers: dict[str, str] = {}
    for record in kept.by_type("windows:sandbox:container"):
        v = record.values
        if record.disk_key or v.get("role") not in _ROLES:
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
        if v.get("disk_identifier"):
            identifiers[str(v["disk_identifier"]).lower()] = key
        if v.get("role") == "sandbox_disk":
            kept.point(record.time_of("Creation Time"), "storage", f"sandbox.vhdx {v.get('container_guid')} created")
            if state == "deleted":
                kept.point(record.last_time, "storage", f"sandbox.vhdx {v.get('container_guid')} deleted")
    return identifiers


def _carved(kept: Kept, disks: dict[str, dict], identifiers: dict[str, str]) -> None:
    """The disks rebuilt from free space, into ``disks``: under the disk they are a copy of, or as their own."""
    for record in kept.by_type("windows:sandbox:carved_disk"):
        v = record.values
        same = [identifiers.get(str(v.get(n) or "").lower()) for n in ("disk_identifier", "data_write_identifier")]
        same = next((s for s in same if s), None)
        item = evidence(record, None, None,
                        f"VHDX carved from free space: {v.get('blocks_present')} of {v.get('blocks_total')} blocks present")
        if same:
            disks[same].setdefault("also_carved", []).append(item)
            continue
        has_activity = v.get("has_parent") or kept.builder.inner_counts.get(record.display_name)
        disks[record.display_name] = {
            "display_name": record.display_name, "path": None, "guid": None,
            "role": "sandbox_disk" if has_activity else "virtual_disk",
            "state": "carved", "model": "differencing" if v.get("has_parent") else "standalone",
            "parent": (v.get("parent_locator") or {}).get("absolute_win32_path"),
            "size": v.get("virtual_size"), "created": None,
            "blocks": {"present": v.get("blocks_present"), "total": v.get("blocks_total"),
                       "written": v.get("blocks_written")},
            "evidence": [item],
        }


def files_written(inner: list) -> list[dict[str, Any]]:
    """The files the sandbox wrote inside a disk (label ``sandbox_written_file``), one
    entry per file from its $STANDARD_INFORMATION record: executables and scripts
    first, then by path."""
    files: dict[str, dict[str, Any]] = {}
    for record in inner:
        v = record.values
        if "sandbox_written_file" not in record.tags or v.get("attribute_type") == 0x30:
            continue
        path = str(v.get("filename") or "")
        files.setdefault(path, {
            "path": path, "sha256": v.get("sha256_hash"), "sha256_note": v.get("sha256_note"),
            "size": v.get("file_size"), "deleted": v.get("is_allocated") is False,
            "created": iso(record.time_of("Creation Time")), "modified": iso(record.time_of("Content Modification Time")),
            "executable": path.lower().endswith(_EXECUTABLE),
        })
    return sorted(files.values(), key=lambda f: (not f["executable"], f["path"].lower()))


def _contents(kept: Kept, disk_key: str) -> dict[str, Any]:
    counts = kept.builder.inner_counts.get(disk_key, Counter())
    inner = [r for r in kept.records if r.disk_key == disk_key and not r.is_template]
    logons = [evidence(r) for r in inner if r.tags & _LOGONS and r.data_type == "windows:evtx:record"]
    services = [evidence(r, None, None, f"service installed: {event_data(r).get('ServiceName')} ({event_data(r).get('ImagePath')})")
                for r in inner if r.data_type == "windows:evtx:record" and r.values.get("event_identifier") == 7045]
    commands = [evidence(r) for r in inner if r.data_type in _COMMANDS]
    files = files_written(inner)
    span = kept.builder.inner_spans.get(disk_key) or [0, 0]
    for item in logons + services + commands:
        kept.point(from_iso(item["time"]), "inside", item["what"])
    return {
        "events": sum(counts.values()),
        "events_by_data_type": dict(sorted(counts.items())),
        "first_activity": iso(span[0]), "last_activity": iso(span[1]),
        "wdag_logons": logons, "services_installed": services, "commands": commands,
        "files_written": files[:MAX_FILES_LISTED],
        "files_written_total": len(files),
        "template_only": not counts,
    }
