"""``--carve`` in a run: the VHDX disks engine/carving.py rebuilds from an NTFS
volume's free clusters, each noted (``windows:sandbox:carved_disk``), checked
for being a copy of a disk already parsed, and opened for the extractor to run.

The rebuilt disks are files in a scratch folder of this run (``CarveScratch``),
removed once the events have been written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory

from sandtrace.core import display
from sandtrace.core.errors import SourceError
from sandtrace.core.events import EventData, Provenance, warning
from sandtrace.engine import carving, free_space, scratch, vhdx
from sandtrace.engine.collection import FileTarget
from sandtrace.engine.sources import Source, Volume, open_nested
from sandtrace.output.sanitize import safe_file_name
from sandtrace.parsers import carved_cells, carved_records
from sandtrace.parsers import winevtx_recovery as recovery
from sandtrace.parsers.interface import BaseParser
from sandtrace.pipeline import parsing
from sandtrace.pipeline.disk_copies import DiskCopies

CARVED_DISK = "windows:sandbox:carved_disk"


class CarveScratch:
    """The folders the rebuilt disks of one extractor are written to."""

    def __init__(self) -> None:
        self.folders: list[str] = []

    def new(self, source: Source, volume_label: str) -> str:
        """Where --carve writes one volume's rebuilt disks: ``sandtrace-carved-<hash of
        the source path>-<volume>`` in the temporary folder, so a second run writes the
        same paths into its output (a random folder when that one is taken, by a run
        beside this one). batch's parts carve other volumes of the source: other folders."""
        name = f"sandtrace-carved-{_path_digest(source.path)}-{safe_file_name(volume_label, default='volume')}"
        path = os.path.join(tempfile.gettempdir(), name)
        try:
            os.mkdir(path, 0o700)
            scratch.claim(path)
        except FileExistsError:
            path = scratch.make("sandtrace-carved-")
        self.folders.append(path)
        return path

    def holds(self, target: FileTarget) -> bool:
        """Whether the file is inside a disk rebuilt in one of these folders."""
        if not self.folders:
            return False
        spec = target.path_spec
        while spec is not None:
            location = getattr(spec, "location", None) or ""
            if spec.type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS and any(
                    location.startswith(path + os.sep) for path in self.folders):
                return True
            spec = spec.parent
        return False

    def remove(self) -> None:
        for path in self.folders:
            scratch.remove(path)
        self.folders = []


def carve(source: Source, volume: Volume, space: carving.FreeSpace, directory: str | None, copies: DiskCopies,
          pending: PendingVolume | None) -> Iterator[EventData | Source]:
    """One pass over the volume's free clusters. Per disk rebuilt into ``directory`` (None:
    none is looked for): its note (or a warning), then a copy's note, or the disk opened
    as a source (tagged ``carved``) for the extractor to run. Chunks and bins found go
    to ``pending``, decoded once the whole source is read (``FreeSpaceRecords``)."""
    kinds = ((free_space.VHDX,) if directory else ()) + (pending.kinds if pending else ())
    for candidate in free_space.scan(space, kinds):
        if candidate.kind != free_space.VHDX:
            pending.candidates.append(candidate)
            continue
        found = carving.carve_at(space, candidate.offset, directory)
        provenance = _unallocated(source, volume, None)
        if isinstance(found, str):
            yield warning(found, parser="carve_vhdx", provenance=provenance)
            continue
        provenance = _unallocated(source, volume, found.volume_offset)
        yield _carved_disk_data(found, provenance)
        copy = copies.carved_copy((str(found.info["disk_id"]), str(found.info["data_write_guid"])), provenance)
        if copy is not None:
            _read_as_disk(pending, found)
            yield copy
            continue
        if not found.blocks_present:
            continue
        spec = path_spec_factory.Factory.NewPathSpec(dfvfs_definitions.TYPE_INDICATOR_OS, location=found.raw_path)
        try:
            inner = open_nested(spec, outer=source, outer_label=f"{volume.label}@{found.volume_offset:#x}",
                                outer_display_name=provenance.display_name, container=None,
                                vss=False, wrap_vhdi=False)
        except SourceError as exception:
            yield warning(str(exception), parser="carve_vhdx", provenance=provenance)
            continue
        inner.tags = ["carved"]
        _read_as_disk(pending, found)
        yield inner


def unreadable(source: Source, volume: Volume, problem: str) -> EventData:
    """The warning for a volume whose free clusters cannot be read."""
    return warning(problem, parser="carve_vhdx", provenance=_unallocated(source, volume, None))


def _read_as_disk(pending: PendingVolume | None, found: carving.CarvedDisk) -> None:
    """A rebuilt disk's blocks are read as that disk: not carved again as loose chunks and bins."""
    for offset, size in found.read_ranges if pending else ():
        pending.exclusions.add(offset, size)


def _unallocated(source: Source, volume: Volume, offset: int | None) -> Provenance:
    """Provenance of what lies in the volume's free clusters (at ``offset``, when one is named)."""
    location = volume.display_prefix + "\\$Unallocated"
    name = location if offset is None else f"{location}@{offset:#x}"
    return Provenance(source=source.path, volume=volume.label, path_spec=volume.path_spec,
                      display_name=display.nested_display_name(source.nesting, name))


@dataclass
class PendingVolume:
    """A volume whose chunks and bins wait for the whole source to be read."""

    source: Source
    volume: Volume
    space: carving.FreeSpace
    kinds: tuple[str, ...]
    collected: list[FileTarget]
    exclusions: free_space.Exclusions = field(default_factory=free_space.Exclusions)
    candidates: list[free_space.Candidate] = field(default_factory=list)

    def provenance_at(self, offset: int) -> Provenance:
        """A carved record's: the chunk or bin it lies in, inside the disks the source sits in."""
        provenance = _unallocated(self.source, self.volume, offset)
        provenance.nesting = self.source.nesting
        return provenance


class FreeSpaceRecords:
    """One source's event log records and registry keys carved from free space.

    The extractor notes, per volume, the files it collected that matter here
    (``worth_noting``): the live event logs and hives fill the ledger, and a
    deleted one (or a deleted disk) opened from its MFT record is read as a
    file, so its clusters are not carved again. The chunks and bins a volume's
    scan finds are decoded last (``records``), once every volume of the source
    and every disk in it has been read: a record or key is then compared with
    all the source's live files, whatever the order of its volumes.
    """

    def __init__(self, parsers: dict[str, BaseParser]) -> None:
        self.event_logs = parsers.get("winevtx")
        self.registry = parsers.get("winreg")
        self.ledger = carved_records.Ledger()
        self._pending: list[PendingVolume] = []

    @property
    def kinds(self) -> tuple[str, ...]:
        return ((free_space.EVTX_CHUNK,) if self.event_logs else ()) + ((free_space.HIVE_BIN,) if self.registry else ())

    def volume(self, source: Source, volume: Volume, space: carving.FreeSpace,
               collected: list[FileTarget]) -> PendingVolume:
        """A volume to carve, with the files collected on it (read when something was
        found in the source's free space: ``_read_collected``)."""
        pending = PendingVolume(source, volume, space, self.kinds, collected)
        self._pending.append(pending)
        return pending

    def records(self, source: Source) -> Iterator[EventData]:
        """Every volume's carved records, in volume order, completed as a parser's are."""
        found = {candidate.kind for pending in self._pending for candidate in pending.candidates}
        if found:
            self._read_collected(free_space.EVTX_CHUNK in found, free_space.HIVE_BIN in found)
        for pending in self._pending:
            wanted = [c for c in pending.candidates if not pending.exclusions.holds(c.offset)]
            if self.event_logs:
                chunks = ((c.offset, free_space.read_free(pending.space, c.offset, recovery.CHUNK_SIZE,
                                                          pending.exclusions))
                          for c in wanted if c.kind == free_space.EVTX_CHUNK)
                yield from self._completed(source, "winevtx", pending, lambda: carved_records.event_log_records(
                    self.event_logs, chunks, self.ledger, pending.provenance_at))
            if self.registry:
                for copy in _hive_copies(pending, [c for c in wanted if c.kind == free_space.HIVE_BIN]):
                    yield from self._completed(source, "winreg", pending, lambda: carved_records.hive_records(
                        self.registry, copy, self.ledger, pending.provenance_at))
        self._pending = []

    def _read_collected(self, logs: bool, hives: bool) -> None:
        """The live logs and hives into the ledger; a deleted file read as a log, hive or
        disk left out of its volume's carving (its clusters are read as that file)."""
        for pending in self._pending:
            for target in pending.collected:
                carved_records.read_live_file(self.ledger, target, logs, hives)
                if not target.is_allocated and _read_as_file(target):
                    for offset, size in _extents(target):
                        pending.exclusions.add(offset, size)
            pending.collected = []

    @staticmethod
    def _completed(source: Source, name: str, pending: PendingVolume, make) -> Iterator[EventData]:
        try:
            for data in make():
                yield parsing.finish(data, name, None, source)
        except Exception as exception:  # noqa: BLE001 - a decoder's failure costs that volume's records of the kind
            yield warning(f"{type(exception).__name__}: {exception}"[:400], parser=f"carve_{name}",
                          provenance=_unallocated(source, pending.volume, None))


def worth_noting(target: FileTarget) -> bool:
    """Whether a collected file matters to free-space carving: a live log or hive (the
    ledger), or a deleted file (whose clusters may be read as a file)."""
    if target.is_directory:
        return False
    return not target.is_allocated or bool(target.parsers & {"winevtx", "winreg"}) or _read_as_file(target)


def _read_as_file(target: FileTarget) -> bool:
    """Whether a file is read as an event log, a hive or a disk, by its first bytes
    (the winevtx and winreg parsers take any file by its signature)."""
    try:
        head = target.read(8)
    except (dfvfs_errors.Error, OSError):
        return False
    return head.startswith((b"ElfFile\x00", b"regf", vhdx.FILE_TYPE_SIGNATURE))


def _extents(target: FileTarget) -> list[tuple[int, int]]:
    """(volume offset, size) of the clusters a file's MFT record names."""
    try:
        entry = target.open_file_entry()
        return [(extent.offset, extent.size) for extent in entry.GetExtents()
                if extent.extent_type == dfvfs_definitions.EXTENT_TYPE_DATA]
    except (dfvfs_errors.Error, OSError, AttributeError):
        return []


def _hive_copies(pending: PendingVolume, candidates: list[free_space.Candidate]) -> Iterator[carved_cells.HiveCopy]:
    """The bins found, read and put together by hive copy, one copy at a time (in memory then)."""
    by_base: dict[int, list[tuple[int, int, int]]] = {}
    for candidate in candidates:
        header = carved_cells.read_bin_header(free_space.read_free(pending.space, candidate.offset, 32,
                                                                   pending.exclusions))
        if header is not None and candidate.offset >= header[0]:
            by_base.setdefault(candidate.offset - header[0], []).append((candidate.offset, *header))
    for base, bins in by_base.items():
        copy = carved_cells.HiveCopy(base=base)
        for offset, start, size in bins:
            copy.add(start, free_space.read_free(pending.space, offset, size, pending.exclusions))
        yield copy


def _carved_disk_data(found: carving.CarvedDisk, provenance: Provenance) -> EventData:
    info = found.info
    recoverable = len(found.blocks_present) + len(found.blocks_missing)
    values = {
        "volume_offset": found.volume_offset,
        "virtual_size": info["virtual_size"],
        "block_size": info["block_size"],
        "disk_identifier": str(info["disk_id"]) if info["disk_id"] else None,
        "data_write_identifier": str(info["data_write_guid"]),
        "has_parent": info["has_parent"],
        "parent_locator": dict(info["parent_locator"]) or None,
        "blocks_total": found.blocks_total,
        "blocks_written": recoverable,
        "blocks_present": len(found.blocks_present),
        "blocks_missing": found.blocks_missing or None,
        "recovered_fraction": round(len(found.blocks_present) / recoverable, 4) if recoverable else 0.0,
    }
    return EventData(CARVED_DISK, {k: v for k, v in values.items() if v is not None},
                     parser="carve_vhdx", provenance=provenance, tags=["carved"])


def _path_digest(path: str) -> str:
    return hashlib.sha256(os.path.abspath(path).encode("utf-8")).hexdigest()[:16]
