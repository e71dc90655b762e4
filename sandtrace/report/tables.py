"""The report's tables as both renderers show them: a header and rows of plain values each."""

from __future__ import annotations

from typing import Any

Table = tuple[list[str], list[list[Any]]]


def sessions(report: dict[str, Any]) -> Table:
    return (["#", "sandbox GUID", "start", "end", "end from", "launched by", "configuration", "disk"],
            [[s["number"], s["guid"] or "-", s["start"], s["end"] or "unknown", s["end_basis"],
              ", ".join(s["launch_methods"]), ", ".join(s["configurations"]) or "unknown",
              ", ".join(s["disks"]) or "-"] for s in report["sessions"]])


def disks(report: dict[str, Any]) -> Table:
    return (["disk", "role", "state", "model", "session", "events inside (non-template)"],
            [[d["display_name"], d["role"], d["state"], d.get("model"), d.get("session") or "-",
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
