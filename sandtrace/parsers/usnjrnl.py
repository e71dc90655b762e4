"""The NTFS change journal ($UsnJrnl:$J), kept to what concerns the sandbox.

The journal outlives the files it names: the creation and deletion of a
``sandbox.vhdx`` bracket a sandbox session even when the disk is gone, and a
``.wsb`` file's creation or rename shows in it long after the file itself.
Records are plaso's ``fs:ntfs:usn_change``; by default only those naming a
sandbox file or lying in the Containers tree are kept (``usn_scope``
option ``all`` keeps every record). ITOCHU notes the host $UsnJrnl records
the WSB file, the mapped folders and the VHDX files [S].
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import pyfsntfs
from construct import Bytes, Int16ul, Int32ul, Int64ul, Struct, this
from dfdatetime import filetime as dfdatetime_filetime

from sandtrace.core import sandbox_names
from sandtrace.core.events import EventData
from sandtrace.engine.collection import FileTarget
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "fs:ntfs:usn_change"
FILE_CREATE, FILE_DELETE, RENAME_OLD, RENAME_NEW = 0x100, 0x200, 0x1000, 0x2000

USN_RECORD_V2 = Struct(
    "size" / Int32ul,
    "major_version" / Int16ul,
    "minor_version" / Int16ul,
    "file_reference" / Int64ul,
    "parent_file_reference" / Int64ul,
    "update_sequence_number" / Int64ul,
    "update_date_time" / Int64ul,
    "update_reason_flags" / Int32ul,
    "update_source_flags" / Int32ul,
    "security_descriptor_identifier" / Int32ul,
    "file_attribute_flags" / Int32ul,
    "name_size" / Int16ul,
    "name_offset" / Int16ul,
    "name" / Bytes(this.size - 60),
)

@lru_cache(maxsize=1)
def _sandbox_name() -> re.Pattern:
    """A sandbox file's name: a .wsb, a sandbox disk or storage folder, or the Prefetch file of
    a sandbox or Hyper-V binary (data/sandbox_names.yaml: every binary not marked ``prefetch: false``)."""
    binaries = "|".join(name.pattern() for name in sandbox_names.select(kind="binary", prefetch=True))
    return re.compile(
        r"(\.wsb$|^sandbox\.(vhdx|vmgs)$|^baselayer(\.vhdx)?$|^(snapshotsandbox|systemtemplate)\.vhdx$"
        rf"|^(containerstorages|baseimages)$|^({binaries})-[0-9a-f]{{8}}\.pf$)",
        re.IGNORECASE,
    )
_CONTAINERS = "\\programdata\\microsoft\\windows\\containers"


def decode(record: bytes, offset: int = 0) -> dict:
    """One USN_RECORD_V2 as plaso's attributes; raises ValueError when malformed."""
    if len(record) < 60:
        raise ValueError(f"USN record at {offset:#x} is {len(record)} bytes")
    parsed = USN_RECORD_V2.parse(record)
    if parsed.major_version != 2:
        raise ValueError(f"USN record at {offset:#x} has version {parsed.major_version}")
    start = parsed.name_offset - 60  # per MSDN, locate the name by its offset
    name = parsed.name[start : start + parsed.name_size].decode("utf-16-le", errors="backslashreplace")
    return {
        "file_attribute_flags": parsed.file_attribute_flags,
        "file_reference": parsed.file_reference,
        "filename": name,
        "offset": offset,
        "parent_file_reference": parsed.parent_file_reference,
        "update_reason_flags": parsed.update_reason_flags,
        "update_sequence_number": parsed.update_sequence_number,
        "update_source_flags": parsed.update_source_flags,
        "update_time": dfdatetime_filetime.Filetime(timestamp=parsed.update_date_time)
        if parsed.update_date_time
        else None,
    }


def iter_stream(data: bytes, base_offset: int = 0) -> Iterator[dict]:
    """Records of a raw $J stream (an extract): zero runs are skipped, junk is stepped over."""
    offset = 0
    while offset + 60 <= len(data):
        size = Int32ul.parse(data[offset : offset + 4])
        if size == 0:
            offset += 8
            continue
        if size < 60 or size % 8 or offset + size > len(data):
            offset += 8
            continue
        try:
            yield decode(data[offset : offset + size], base_offset + offset)
        except ValueError:
            offset += 8
            continue
        offset += size


def is_sandbox_record(values: dict, parent_path: str | None) -> bool:
    if _sandbox_name().search(values["filename"] or ""):
        return True
    return bool(parent_path) and parent_path.lower().startswith(_CONTAINERS)


def tags_for(values: dict) -> list[str]:
    name = (values["filename"] or "").lower()
    reasons = values["update_reason_flags"]
    tags = []
    if name == "sandbox.vhdx":
        if reasons & FILE_CREATE:
            tags.append("sandbox_disk_created")
        if reasons & FILE_DELETE:
            tags.append("sandbox_disk_deleted")
    if name.endswith(".wsb") and reasons & (FILE_CREATE | FILE_DELETE | RENAME_NEW):
        tags.append("wsb_file_change")
    return tags


class UsnJrnlParser(BaseParser):
    NAME = "usnjrnl"
    DATA_FORMAT = "NTFS USN change journal ($UsnJrnl:$J), sandbox-related records"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = ("\\$Extend\\$UsnJrnl",)
    WANTS_DELETED = False

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        if target.volume.type_indicator != "NTFS":
            return
        volume = pyfsntfs.volume()
        volume.open_file_object(target.volume_file_object())
        journal = volume.get_usn_change_journal()
        if journal is None:
            return
        everything = self.options.get("usn_scope") == "all"
        paths = _PathCache(volume)
        while True:
            record = journal.read_usn_record()
            if not record:
                break
            values = decode(record, journal.get_offset() - len(record))
            parent = paths.path(values["parent_file_reference"])
            if not everything and not is_sandbox_record(values, parent):
                continue
            values["parent_path_hint"] = parent
            yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None}, tags=tags_for(values))


class _PathCache:
    """Parent folder paths by file reference, from the MFT (sequence numbers checked)."""

    def __init__(self, volume) -> None:
        self._volume = volume

    @lru_cache(maxsize=65536)  # noqa: B019 - one cache per parse, the volume dies with it
    def path(self, reference: int) -> str | None:
        entry_number, sequence = reference & 0xFFFFFFFFFFFF, reference >> 48
        try:
            entry = self._volume.get_file_entry(entry_number)
            if entry.file_reference >> 48 != sequence:
                return None  # the folder's record was reused since
            return entry.get_path_hint(entry.name_attribute_index) if entry.name else "\\"
        except (OSError, TypeError):
            return None
