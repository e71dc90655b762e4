"""The report's tables as both renderers show them: a header and rows of plain values each.

A table must fit the page: a GUID or a long path is shown shortened
(``Short``: its last parts, GUIDs cut to their first block), with the full
text in the cell's tooltip (HTML) and listed under the table or in the
section that follows it (both formats).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Table = tuple[list[str], list[list[Any]]]
_GUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_KEEP_PARTS = 2


@dataclass(frozen=True)
class Short:
    """A cell of a long name, shown shortened (or not, when it is short enough); ``full`` is the whole text."""

    text: str
    full: str

    def __str__(self) -> str:
        return self.text


def short_guid(guid: str | None) -> Short | str:
    return Short(guid[:8] + "…", guid) if guid and len(guid) > 9 else guid or "-"


def short_path(path: str) -> str:
    """A path as its last parts (``…\\5d1f3a2b…\\sandbox.vhdx``), GUIDs cut to their first block."""
    head, sep, tail = path.rpartition(">")  # a path inside a disk: the inner path is what tells
    parts = re.split(r"(?<=[\\/])", tail)
    text = tail if len(parts) <= _KEEP_PARTS + 1 else "…" + parts[-_KEEP_PARTS - 1][-1] + "".join(parts[-_KEEP_PARTS:])
    return _GUID.sub(lambda m: m.group(1) + "…", ("…>" if sep else "") + text)


def short_paths(paths: list[str], none: str = "-") -> Short | str:
    if not paths:
        return none
    return Short(", ".join(short_path(p) for p in paths), ", ".join(paths))


def sessions(report: dict[str, Any]) -> Table:
    return (["#", "sandbox GUID", "start", "end", "end from", "launched by", "configuration", "disk"],
            [[s["number"], short_guid(s["guid"]), s["start"], s["end"] or "unknown", s["end_basis"],
              ", ".join(s["launch_methods"]), short_paths(s["configurations"], "unknown"),
              short_paths(s["disks"])] for s in report["sessions"]])


def disks(report: dict[str, Any]) -> Table:
    return (["disk", "role", "state", "model", "session", "events inside (non-template)"],
            [[short_paths([d["display_name"]]), d["role"], d["state"], d.get("model"), d.get("session") or "-",
              d["contents"]["events"]] for d in report["disks"]])


def checked(report: dict[str, Any]) -> Table:
    return (["what", "where", "in the evidence", "result"],
            [[c["what"], c["where"], "; ".join(f"{a['artifact']}: {a['state']}" for a in c["in_evidence"]) or "-",
              c["result"]] for c in report["checked"]])


def written_file(entry: dict[str, Any]) -> str:
    """One file written inside a sandbox disk, on one line: path, state, times, hash."""
    state = " (deleted record)" if entry["deleted"] else ""
    digest = f"SHA-256 {entry['sha256']}" if entry.get("sha256") else entry.get("sha256_note") or "no hash"
    size = f", {entry['size']} bytes" if entry.get("size") is not None else ""
    return f"{entry['path']}{state}: created {entry['created'] or '?'}, modified {entry['modified'] or '?'}{size}; {digest}"
