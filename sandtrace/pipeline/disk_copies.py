"""The same disk found twice in one source: parsed once, every other copy noted.

A live sandbox disk and its shadow-copy twin, or a disk and a carved copy of
it, would otherwise give every event twice. A copy is told by the VHDX's
identity (virtual disk id, data write GUID) and, for disk files, confirmed by
a content hash; it becomes a ``windows:sandbox:disk_copy`` note instead.
"""

from __future__ import annotations

import hashlib

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.core.events import EventData, Provenance
from sandtrace.engine import vhdx
from sandtrace.engine.collection import FileTarget

DISK_COPY = "windows:sandbox:disk_copy"


class DiskCopies:
    """The disks parsed so far in one source, by identity."""

    def __init__(self) -> None:
        self.seen: dict[tuple, str] = {}  # VHDX identity -> display name of the copy parsed
        self._targets: dict[tuple, list[FileTarget]] = {}  # identity -> files parsed, for the content check
        self._hashes: dict[str, str | None] = {}  # display name -> SHA-256, computed on demand

    def clear(self) -> None:
        self.seen.clear()
        self._targets.clear()
        self._hashes.clear()

    def file_copy(self, target: FileTarget) -> EventData | None:
        """The note for a disk file that copies one parsed (same identity and bytes);
        None for a disk to parse, which is then remembered."""
        identity = disk_identity(target)
        if identity is None:
            return None
        parsed_as = self._parsed_copy(identity, target)
        if parsed_as is not None:
            return _disk_copy(target.provenance, parsed_as, identity)
        self.seen.setdefault(identity, target.provenance.display_name)
        self._targets.setdefault(identity, []).append(target)
        return None

    def carved_copy(self, identity: tuple, provenance: Provenance) -> EventData | None:
        """The note for a carved disk with the identity of one parsed (its bytes are
        partial: the identity decides); None for a disk to parse, which is then remembered."""
        if identity in self.seen:
            return _disk_copy(provenance, self.seen[identity], identity)
        self.seen[identity] = provenance.display_name
        return None

    def _parsed_copy(self, identity: tuple, target: FileTarget) -> str | None:
        """Display name of an already parsed disk with these identifiers and these bytes, if any."""
        candidates = self._targets.get(identity, [])
        if not candidates:
            return None
        digest = self._hash_of(target)
        for other in candidates:
            if digest is not None and self._hash_of(other) == digest:
                return other.provenance.display_name
        return None

    def _hash_of(self, target: FileTarget) -> str | None:
        """A disk file's content hash, read once however many copies it is compared with."""
        key = target.provenance.display_name
        if key not in self._hashes:
            self._hashes[key] = _content_hash(target)
        return self._hashes[key]


def disk_identity(target: FileTarget) -> tuple | None:
    """(virtual disk id, data write GUID) of a VHDX: equal pairs mean the same content [I].

    Windows changes the data write GUID before the first write after a disk
    is opened, so a live copy and its shadow-copy twin share it only when
    nothing was written in between. Cheaper than hashing gigabytes.
    """
    try:
        if target.read(8) != vhdx.FILE_TYPE_SIGNATURE:
            return None
        info = vhdx.describe_file(target.open_file_object())
    except Exception:  # noqa: BLE001 - identity is an optimisation, never a failure
        return None
    return (str(info["disk_id"]), str(info["data_write_guid"]))


def _content_hash(target: FileTarget) -> str | None:
    """SHA-256 of a disk file's content, read in blocks (only when two copies claim the same identity)."""
    digest = hashlib.sha256()
    try:
        file_object = target.open_file_object()
        while block := file_object.read(8 * 1024 * 1024):
            digest.update(block)
    except (dfvfs_errors.Error, OSError):
        return None
    return digest.hexdigest()


def _disk_copy(provenance: Provenance, parsed_as: str, identity: tuple) -> EventData:
    return EventData(
        DISK_COPY,
        {
            "parsed_as": parsed_as,
            "disk_identifier": identity[0],
            "data_write_identifier": identity[1],
            "explanation": "another copy of a disk already parsed (same identifiers and, for disk files, same content "
            "hash; a carved disk is matched by its identifiers); not parsed again",
        },
        parser="nested_disk",
        provenance=provenance,
    )
