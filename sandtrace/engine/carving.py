"""Sandbox disks that survive only as blocks in unallocated clusters.

When a sandbox closes its ``sandbox.vhdx`` is deleted; once its MFT record is
reused nothing names it any more, but its clusters may still hold it. This
scans a host NTFS volume's free clusters (from ``$Bitmap``) for the VHDX file
identifier ``vhdxfile`` at cluster boundaries, reads the header, region
table, metadata and BAT with the package's construct structures, and
rebuilds the virtual disk from the payload blocks whose clusters are still
free. Blocks whose clusters were reallocated count as missing (zeros in the
rebuilt disk). The rebuilt disk is a sparse temporary file, opened like any
nested disk; the evidence is only read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyfsntfs
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

from sandtrace.engine import vhdx
from sandtrace.engine.sources import Volume

_READ = 4 * 1024 * 1024
_PRESENT = (6, 7)  # PAYLOAD_BLOCK_FULLY_PRESENT, PARTIALLY_PRESENT


@dataclass
class CarvedDisk:
    """A VHDX found in unallocated space, and how much of it came back."""

    volume_offset: int  # byte offset of the ``vhdxfile`` identifier in the volume
    info: dict
    blocks_total: int = 0
    blocks_present: list[int] = field(default_factory=list)
    blocks_missing: list[int] = field(default_factory=list)  # allocated to something else since
    blocks_absent: int = 0  # never written (sparse), not a loss
    raw_path: str | None = None  # the rebuilt virtual disk (a temporary file)


class FreeSpace:
    """Free clusters of an NTFS volume, from its $Bitmap."""

    def __init__(self, volume: Volume) -> None:
        self.file_object = resolver.Resolver.OpenFileObject(volume.path_spec.parent)
        ntfs = pyfsntfs.volume()
        ntfs.open_file_object(self.file_object)
        self.cluster_size = ntfs.cluster_block_size
        spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_NTFS, location="\\$Bitmap", parent=volume.path_spec.parent
        )
        bitmap_object = resolver.Resolver.OpenFileObject(spec)
        bitmap_object.seek(0)
        self.bitmap = bitmap_object.read(bitmap_object.get_size())
        self.clusters = min(len(self.bitmap) * 8, self.file_object.get_size() // self.cluster_size)

    def is_free(self, cluster: int) -> bool:
        if cluster >= self.clusters:
            return False
        return not (self.bitmap[cluster >> 3] >> (cluster & 7)) & 1

    def range_free(self, offset: int, size: int) -> bool:
        first, last = offset // self.cluster_size, (offset + size - 1) // self.cluster_size
        return all(self.is_free(cluster) for cluster in range(first, last + 1))

    def runs(self) -> Iterator[tuple[int, int]]:
        """(first cluster, count) of stretches holding free clusters, 8-cluster grained.

        Found with a regular expression over the bitmap bytes (not bit by bit:
        a large volume has hundreds of millions of clusters); a stretch may
        hold a few allocated clusters, which the callers check per cluster.
        """
        for match in re.finditer(rb"[^\xff]+", self.bitmap):
            first = match.start() * 8
            count = min((match.end() - match.start()) * 8, self.clusters - first)
            if count > 0:
                yield first, count

    def read(self, offset: int, size: int) -> bytes:
        self.file_object.seek(offset)
        return self.file_object.read(size)


def find_vhdx(space: FreeSpace) -> Iterator[int]:
    """Volume offsets of ``vhdxfile`` identifiers at free cluster boundaries."""
    signature = vhdx.FILE_TYPE_SIGNATURE
    for first, count in space.runs():
        start, end = first * space.cluster_size, (first + count) * space.cluster_size
        offset = start
        while offset < end:
            data = space.read(offset, min(_READ, end - offset))
            position = data.find(signature)
            while position != -1:
                found = offset + position
                if found % space.cluster_size == 0 and space.is_free(found // space.cluster_size):
                    yield found
                position = data.find(signature, position + 1)
            offset += len(data)


def carve(space: FreeSpace, offset: int, directory: str) -> CarvedDisk:
    """Rebuilds the disk whose identifier sits at ``offset``; raises vhdx.VhdxError.

    The rebuilt file is named by its offset (``carved-<offset>.raw``): its
    path is in every path spec inside it, hence in the output and in psort's
    values hash, so a random name made two runs order ties differently.
    """
    info = vhdx.describe(lambda at, size: space.read(offset + at, size))
    carved = CarvedDisk(volume_offset=offset, info=info)
    block_size = info["block_size"]
    carved.raw_path = os.path.join(directory, f"carved-{offset:x}.raw")
    handle = os.open(carved.raw_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    used: set[int] = set()  # file offsets already taken: two blocks never share one in a real disk
    with os.fdopen(handle, "wb") as raw:
        raw.truncate(info["virtual_size"])
        for block, state, file_offset in vhdx.payload_blocks(info):
            carved.blocks_total += 1
            if state not in _PRESENT:
                carved.blocks_absent += 1
                continue
            where = offset + file_offset
            size = min(block_size, info["virtual_size"] - block * block_size)
            # A damaged or hostile BAT pointing many blocks at one place would
            # make us write the same bytes terabytes over: such a block is missing.
            if file_offset in used or not space.range_free(where, size):
                carved.blocks_missing.append(block)
                continue
            used.add(file_offset)
            raw.seek(block * block_size)
            raw.write(space.read(where, size))
            carved.blocks_present.append(block)
    return carved


def carve_volume(volume: Volume, directory: str) -> Iterator[CarvedDisk | str]:
    """Every VHDX recoverable from one NTFS volume's free space; problems as strings."""
    try:
        space = FreeSpace(volume)
    except (dfvfs_errors.Error, OSError) as exception:
        yield f"cannot read the free-space bitmap of volume {volume.label}: {exception}"
        return
    for offset in find_vhdx(space):
        try:
            yield carve(space, offset, directory)
        except (vhdx.VhdxError, ValueError, OSError) as exception:
            yield f"VHDX identifier at volume offset {offset:#x} cannot be rebuilt: {exception}"
