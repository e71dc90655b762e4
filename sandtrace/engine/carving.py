"""Sandbox disks that survive only as blocks in unallocated clusters.

When a sandbox closes its ``sandbox.vhdx`` is deleted; once its MFT record is
reused nothing names it any more, but its clusters may still hold it. The
scan of a host NTFS volume's free clusters (engine/free_space.py) finds the
VHDX file identifier ``vhdxfile`` at cluster boundaries; this reads the header, region
table, metadata and BAT with the package's construct structures, and
rebuilds the virtual disk from the payload blocks whose clusters are still
free. Blocks whose clusters were reallocated count as missing (zeros in the
rebuilt disk). The rebuilt disk is a sparse temporary file, opened like any
nested disk; the evidence is only read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.engine import free_space, vhdx
from sandtrace.engine.free_space import FreeSpace
from sandtrace.engine.sources import Volume

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
    read_ranges: list[tuple[int, int]] = field(default_factory=list)  # (volume offset, size) of the blocks read


def find_vhdx(space: FreeSpace) -> Iterator[int]:
    """Volume offsets of ``vhdxfile`` identifiers at free cluster boundaries."""
    return (candidate.offset for candidate in free_space.scan(space, (free_space.VHDX,)))


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
            carved.read_ranges.append((where, size))
    return carved


def open_space(volume: Volume) -> FreeSpace | str:
    """The volume's free clusters, or why they cannot be read."""
    try:
        return FreeSpace(volume)
    except (dfvfs_errors.Error, OSError) as exception:
        return f"cannot read the free-space bitmap of volume {volume.label}: {exception}"


def carve_at(space: FreeSpace, offset: int, directory: str) -> CarvedDisk | str:
    """The disk whose identifier sits at ``offset``, or why it cannot be rebuilt."""
    try:
        return carve(space, offset, directory)
    except (vhdx.VhdxError, ValueError, OSError) as exception:
        return f"VHDX identifier at volume offset {offset:#x} cannot be rebuilt: {exception}"
