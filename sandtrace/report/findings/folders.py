"""Host folders mapped into a sandbox, and the host's writes to them.

A folder counts when a configuration a session used maps it, or when ``wsb
share`` shared it writable. Host file-system creation and modification times
under a writable one are writes to it: "during session N" when inside a
session's span (vmwp.exe writes on the sandbox's behalf), else "outside any
known session". ``extract`` timelines only sandbox paths by default, so a
folder with no file-system times gets a note with the ``--paths`` to add.
"""

from __future__ import annotations

import re

from sandtrace.report.findings.evidence import evidence, from_iso, iso, strip_drive
from sandtrace.report.findings.kept import Kept
from sandtrace.report.findings.sessions import END_SLACK

_WRITES = ("Creation Time", "Content Modification Time")


def mapped(kept: Kept, configurations: list[dict], sessions: list[dict]) -> list[dict]:
    """The mapped folders, each once per configuration, with how many file times the timeline holds under it."""
    folders = []
    used = {ref for session in sessions for ref in session["configurations"]}
    for configuration in configurations:
        if configuration["id"] not in used:
            continue
        for folder in (configuration["settings"].get("mapped_folders") or []):
            if folder.get("host_folder"):
                folders.append({"host_folder": folder["host_folder"], "writable": not folder.get("read_only"),
                                "configuration": configuration["id"]})
    for record in kept.tagged("wsb_share_writable", host_only=True):
        if record.values.get("wsb_host_folder"):
            folders.append({"host_folder": record.values["wsb_host_folder"], "writable": True,
                            "configuration": f"wsb share (record {record.values.get('record_number')})"})
    unique = {}
    for folder in folders:
        unique.setdefault((strip_drive(folder["host_folder"]), folder["configuration"]), folder)
    result = list(unique.values())
    for folder in result:
        prefix = strip_drive(folder["host_folder"]) + "\\"
        timelined = sum(1 for path, *_ in kept.builder.host_files if path.lower().startswith(prefix))
        folder["file_times_in_timeline"] = timelined
        if not timelined:
            relative = re.sub(r"^[A-Za-z]:", "", folder["host_folder"]).rstrip("\\")
            folder["note"] = ("the timeline holds no file-system times under this folder; to see host-side "
                              f"writes, extract with --paths '{relative}\\**'")
    return result


def host_writes(kept: Kept, folders: list[dict], sessions: list[dict]) -> list[dict]:
    """The host files written under a writable mapped folder, by path, each with its times and sessions."""
    prefixes = {strip_drive(f["host_folder"]) + "\\": f for f in folders if f["writable"]}
    if not prefixes:
        return []
    spans = [(n["number"], from_iso(n["start"]), from_iso(n["end"]) or from_iso(n["start"])) for n in sessions]
    files: dict[str, dict] = {}
    for path, timestamp, description, display_name, allocated in kept.builder.host_files:
        lowered = path.lower()
        prefix = next((p for p in prefixes if lowered.startswith(p)), None)
        if prefix is None or description not in _WRITES:
            continue
        entry = files.setdefault(path, {"path": path, "artifact": display_name, "mapped_folder": prefixes[prefix]["host_folder"],
                                        "times": [], "deleted": not allocated})
        entry["times"].append({"time": iso(timestamp), "timestamp_desc": description})
        session = next((n for n, s, e in spans if s - 5_000_000 <= timestamp <= e + END_SLACK), None)
        if session is not None:
            entry.setdefault("during_sessions", set()).add(session)
    _worker_writes(kept, files, prefixes)
    return [_written(kept, entry) for entry in sorted(files.values(), key=lambda e: e["path"].lower())]


def _worker_writes(kept: Kept, files: dict[str, dict], prefixes: dict[str, dict]) -> None:
    """Sysmon 11 file creations by vmwp.exe (label sandbox_mapped_folder_write): the writer itself,
    cited under the file's entry (made from the record when the file's own times are not in the timeline)."""
    for record in kept.tagged("sandbox_mapped_folder_write", host_only=True):
        written = str(record.values.get("written_file") or "")
        path = re.sub(r"^[A-Za-z]:", "", written)
        prefix = next((p for p in prefixes if path.lower().startswith(p)), None)
        if not written or prefix is None:
            continue
        known = next((key for key in files if key.lower() == path.lower()), path)
        entry = files.setdefault(known, {"path": path, "artifact": record.display_name,
                                         "mapped_folder": prefixes[prefix]["host_folder"], "times": [], "deleted": False})
        entry.setdefault("evidence", []).append(evidence(record))


def _written(kept: Kept, entry: dict) -> dict:
    """A written file's entry completed: its sessions, its times in order, what the writes mean."""
    during = sorted(entry.pop("during_sessions", set()))
    entry["during_sessions"] = during
    entry["times"].sort(key=lambda t: t["time"])
    entry["confidence"] = "I"
    entry["what"] = (f"written during session {', '.join(map(str, during))} - host-side writes to a mapped folder "
                     "are made by vmwp.exe on behalf of the sandbox" if during else
                     "in a writable mapped folder, written outside any known session (staged by the host?)")
    if during:
        for t in entry["times"]:
            kept.point(from_iso(t["time"]), "host_write", entry["path"])
    return entry
