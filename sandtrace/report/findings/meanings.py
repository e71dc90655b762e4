"""What a kind of record means, and how sure that meaning is ([C], [S] or [I]).

The meaning comes from the knowledge in ``sandtrace/data/``: the EVTX
catalogue (by ``catalogue_id``), the .wsb schema (risk flags) or
``report_meanings.yaml`` (everything else).
"""

from __future__ import annotations

import re
from functools import lru_cache

from sandtrace import data
from sandtrace.data import load_yaml
from sandtrace.report.model import Record


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
    """(confidence, meaning) of a .wsb risk flag, from the schema's ``risk_flags``."""
    text = (_wsb_schema().get("risk_flags") or {}).get(flag, flag)
    match = re.search(r"\[([CSI])\]", text)
    return (match.group(1) if match else "I"), re.sub(r"\s*\[[CSI]\]", "", text)
