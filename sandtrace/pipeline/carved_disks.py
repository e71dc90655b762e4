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

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory

from sandtrace.core import display
from sandtrace.core.errors import SourceError
from sandtrace.core.events import EventData, Provenance, warning
from sandtrace.engine import carving, scratch
from sandtrace.engine.collection import FileTarget
from sandtrace.engine.sources import Source, Volume, open_nested
from sandtrace.output.sanitize import safe_file_name
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


def carve(source: Source, volume: Volume, directory: str, copies: DiskCopies) -> Iterator[EventData | Source]:
    """Per disk rebuilt into ``directory``: its note (or a warning), then a copy's note,
    or the disk opened as a source (tagged ``carved``) for the extractor to run."""
    for found in carving.carve_volume(volume, directory):
        location = volume.display_prefix + "\\$Unallocated"
        provenance = Provenance(source=source.path, volume=volume.label, path_spec=volume.path_spec,
                                display_name=display.nested_display_name(source.nesting, location))
        if isinstance(found, str):
            yield warning(found, parser="carve_vhdx", provenance=provenance)
            continue
        name = f"{location}@{found.volume_offset:#x}"
        provenance.display_name = display.nested_display_name(source.nesting, name)
        yield _carved_disk_data(found, provenance)
        copy = copies.carved_copy((str(found.info["disk_id"]), str(found.info["data_write_guid"])), provenance)
        if copy is not None:
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
        yield inner


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
