"""The sandbox configurations: .wsb files outside template content, and inline ``wsb start --config``.

A .wsb file is one configuration per path (its live and deleted records
together); an inline configuration is one per 4688 command line. Each comes
with its effective settings and its risk flags (a writable mapped folder or a
logon command makes it risky).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sandtrace.report.findings.evidence import evidence, iso
from sandtrace.report.findings.kept import Kept
from sandtrace.report.findings.meanings import meaning_of, risk_flag_meaning
from sandtrace.report.model import Record

SETTING_NAMES = ("networking_enabled", "logon_command", "mapped_folders", "memory_in_mb", "vgpu_enabled",
                 "audio_input_enabled", "video_input_enabled", "protected_client_enabled",
                 "printer_redirection_enabled", "clipboard_redirection_enabled")
_RISKY = ("writable_mapped_folder", "logon_command")


def find(kept: Kept) -> list[dict]:
    by_path: dict[str, list[Record]] = defaultdict(list)
    for record in kept.by_type("windows:sandbox:wsb_config"):
        if record.disk_key and record.is_template:
            continue
        by_path[(record.values.get("filename") or record.display_name).lower()].append(record)
    configurations = [_file(kept, records) for records in by_path.values()]
    configurations += [_inline(kept, record) for record in kept.tagged("wsb_inline_config", host_only=True)
                       if record.data_type == "windows:evtx:record"]
    configurations.sort(key=lambda c: c["created"] or "")
    return configurations


def _file(kept: Kept, records: list[Record]) -> dict[str, Any]:
    """One .wsb path: its first record's content, every record's times as evidence."""
    record = records[0]
    v = record.values
    created = record.time_of("Creation Time") or record.first_time
    kept.point(created, "configuration", f".wsb {v.get('filename')}")
    return _configuration(
        record, v.get("risk_flags"), identifier=f"wsb:{v.get('filename')}", kind="file", path=v.get("filename"),
        state="live" if v.get("is_allocated", True) else "deleted", inside_disk=record.disk_key or None,
        sha256=v.get("sha256_hash"), created=iso(created),
        settings={name: v[name] for name in SETTING_NAMES if name in v},
        items=[evidence(r, t, d) for r in records for t, d in sorted(r.times) if t][:8])


def _inline(kept: Kept, record: Record) -> dict[str, Any]:
    """A ``wsb start --config`` command line: the settings its event record carries as ``wsb_*`` values."""
    v = record.values
    kept.point(record.first_time, "configuration", "inline configuration")
    return _configuration(
        record, v.get("wsb_risk_flags"), identifier=f"inline:{v.get('record_number')}", kind="inline (wsb start --config)",
        path=None, state="command line only (no .wsb on disk)", inside_disk=None, sha256=None,
        created=iso(record.first_time),
        settings={k[4:]: v[k] for k in v if k.startswith("wsb_") and k[4:] in SETTING_NAMES},
        items=[evidence(record)])


def _configuration(record: Record, risk_flags: list[str] | None, *, identifier: str, kind: str, path: str | None,
                   state: str, inside_disk: str | None, sha256: str | None, created: str | None,
                   settings: dict, items: list[dict]) -> dict[str, Any]:
    flags = []
    for flag in risk_flags or []:
        confidence, meaning = risk_flag_meaning(flag)
        flags.append({"flag": flag, "meaning": meaning, "confidence": confidence})
    return {
        "id": identifier,
        "kind": kind,
        "path": path,
        "display_name": record.display_name,
        "state": state,
        "inside_disk": inside_disk,
        "sha256": sha256,
        "created": created,
        "settings": settings,
        "risk_flags": flags,
        "risky": any(f["flag"] in _RISKY for f in flags),
        "evidence": items,
        "confidence": meaning_of(record)[0],
    }
