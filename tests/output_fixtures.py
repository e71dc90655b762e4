"""Shared fixtures (no tests): synthetic, realistic NTFS file stat events.

An EWF image with a GPT partition holding NTFS, like a Windows host disk;
files with $STANDARD_INFORMATION and $FILE_NAME times, ties on purpose, an
unallocated entry, a VSS copy, a place-holder and a sandtrace warning.
"""

from __future__ import annotations

from dfdatetime import filetime, posix_time, semantic_time
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory

from sandtrace.core.events import Event, EventData, Provenance, warning

_SI, _FN = 0x10, 0x30
NOT_A_TIME = "Not a time"


def ntfs_path_spec(location: str, mft_entry: int, store_index: int | None = None):
    spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_OS, location="/evidence/host.E01")
    spec = path_spec_factory.Factory.NewPathSpec(dfvfs_definitions.TYPE_INDICATOR_EWF, parent=spec)
    spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_GPT, location="/p1", parent=spec)
    if store_index is not None:
        spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_VSHADOW, store_index=store_index, parent=spec)
    return path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_NTFS, location=location, mft_entry=mft_entry,
        parent=spec)


def ntfs_stat(location, mft_entry, sequence, attribute_type, times, *, allocated=True,
              parent=(5, 5), store_index=None, name=None, tags=()):
    """One fs:stat:ntfs event data; times: dict of plaso attribute -> FILETIME."""
    spec = ntfs_path_spec(location, mft_entry, store_index)
    display = f"NTFS:{location}" if store_index is None else f"VSS{store_index + 1}:NTFS:{location}"
    values = {
        "access_time": filetime.Filetime(timestamp=times["access_time"]),
        "attribute_type": attribute_type,
        "creation_time": filetime.Filetime(timestamp=times["creation_time"]),
        "display_name": display,
        "entry_modification_time": filetime.Filetime(timestamp=times["entry_modification_time"]),
        "file_attribute_flags": 0x20,
        "file_reference": (sequence << 48) | mft_entry,
        "file_system_type": "NTFS",
        "filename": location,
        "is_allocated": allocated,
        "modification_time": filetime.Filetime(timestamp=times["modification_time"]),
        "name": name if attribute_type == _FN else None,
        "parent_file_reference": (parent[1] << 48) | parent[0] if attribute_type == _FN else None,
        "path_hints": [location] if attribute_type == _FN else None,
    }
    provenance = Provenance(source="/evidence/host.E01", volume="p1", path_spec=spec,
                            display_name=display, inode=mft_entry)
    return EventData("fs:stat:ntfs", values, parser="mft" if not allocated else "filestat",
                     provenance=provenance, tags=list(tags))


_TIMELINE = (  # plaso timeliner.yaml order for fs:stat:ntfs
    ("access_time", "Last Access Time"),
    ("creation_time", "Creation Time"),
    ("entry_modification_time", "Metadata Modification Time"),
    ("modification_time", "Content Modification Time"),
)


def timeline(data: EventData, first_sequence: int) -> list[Event]:
    """Like the timeliner: one event per date-time attribute."""
    events = []
    for offset, (name, description) in enumerate(_TIMELINE):
        date_time = data.values[name]
        seconds, fraction = date_time.CopyToPosixTimestampWithFractionOfSecond()
        timestamp = seconds * 1_000_000 + fraction // 10
        events.append(Event(timestamp, description, date_time, data, sequence=first_sequence + offset))
    return events


T0 = 133_500_000_000_000_000  # 2024-01-17T21:20:00 UTC as FILETIME


def realistic_events() -> list[Event]:
    same = {k: T0 for k, _ in _TIMELINE}  # all four equal: one MACB row
    records = [
        ntfs_stat("\\Windows\\System32\\config\\SYSTEM", 47, 1, 0x10, {
            "access_time": T0 + 12_345_678, "creation_time": T0 - 36_000_000_000,
            "entry_modification_time": T0 + 12_345_678, "modification_time": T0 + 12_345_678}),
        ntfs_stat("\\Windows\\System32\\config\\SYSTEM", 47, 1, 0x30, same, name="SYSTEM"),
        ntfs_stat("\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\a,b.vhdx", 301, 3,
                  0x10, same, tags=["sandbox"]),
        ntfs_stat("\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\a,b.vhdx", 301, 3,
                  0x30, {**same, "access_time": T0 + 5}, name="a,b.vhdx"),
        ntfs_stat("\\Users\\Alice\\Desktop\\sandbox.wsb", 1022, 2, 0x10, {
            "access_time": T0 + 7, "creation_time": T0 + 3,
            "entry_modification_time": T0 + 10_000_000, "modification_time": T0 + 3}),
        ntfs_stat("\\Users\\Alice\\Desktop\\deleted.wsb", 1040, 4, 0x10, same, allocated=False),
        ntfs_stat("\\Users\\Alice\\Desktop\\sandbox.wsb", 1022, 2, 0x10, {
            "access_time": T0 + 7, "creation_time": T0 + 3,
            "entry_modification_time": T0 + 10_000_000, "modification_time": T0 + 3},
            store_index=0),
        ntfs_stat("\\$MFT", 0, 1, 0x10, {k: 0 for k, _ in _TIMELINE}),  # FILETIME 0: 1601
    ]
    events: list[Event] = []
    for data in records:
        events.extend(timeline(data, len(events)))
    # A duplicate of the SYSTEM record (same values, parsed twice): psort drops it.
    events.extend(timeline(records[0], len(events)))
    # Data without dates: plaso's place-holder event.
    placeholder = EventData("windows:sandbox:config", {"networking": "Disable", "vgpu": "Enable"},
                            parser="wsb_config", provenance=records[4].provenance)
    events.append(Event(0, NOT_A_TIME, semantic_time.NotSet(), placeholder, sequence=len(events)))
    # A warning, as every output receives them.
    problem = warning("unable to open EVTX file: checksum mismatch", parser="winevtx",
                      provenance=records[2].provenance)
    events.append(Event(0, NOT_A_TIME, semantic_time.NotSet(), problem, sequence=len(events)))
    # A POSIX time event at the same second as SYSTEM's SI times, other data type.
    other = EventData("windows:sandbox:launch", {"command": "WindowsSandbox.exe x.wsb", "pid": 4242},
                      parser="sandbox_log", provenance=records[4].provenance, tags=["sandbox launch"])
    events.append(Event(1705742401234567, "Creation Time",
                        posix_time.PosixTimeInMicroseconds(timestamp=1705742401234567),
                        other, sequence=len(events)))
    return events


def pinfo_report(path) -> dict:
    """plaso's ``pinfo --output_format json`` of a store as {"sessions": [...], "event_sources": [...],
    counter name: {name: count}} (its JSON repeats keys such as "source": pairs are kept)."""
    import json
    import os
    import subprocess
    import sys

    pinfo = os.path.join(os.path.dirname(sys.executable), "pinfo")
    result = subprocess.run([pinfo, "--output_format", "json", str(path)], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    report = dict(json.loads(result.stdout, object_pairs_hook=lambda pairs: pairs))
    counters = {name: dict(values) for name, values in report["storage_counters"]}
    return {"sessions": [dict(value) for _, value in report["sessions"]],
            "event_sources": [dict(value) for _, value in report["event_sources"]], **counters}
