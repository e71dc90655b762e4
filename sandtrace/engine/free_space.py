"""Free clusters of an NTFS volume, and the structures found in them in one pass.

Deleted files keep their bytes until the clusters are reused, and a file
rewritten in place of another (an event log that grows, a hive that is
flushed) leaves older copies of its pieces behind. One pass over the
volume's free clusters (from ``$Bitmap``) looks for three signatures:

- ``vhdxfile`` at a cluster boundary: a deleted VHDX (engine/carving.py
  rebuilds the disk);
- ``ElfChnk\\0`` at a 512-byte boundary: a 64 KiB EVTX chunk;
- ``hbin`` at a 512-byte boundary: a registry hive bin.

A file starts on a cluster, and chunks and bins lie at multiples of 4096
bytes inside theirs, so whatever the cluster size they start on a sector.
Bytes read for a candidate come back with the clusters allocated since (now
another file's) and the ranges already read as files (``Exclusions``)
zeroed: they are not the structure's any more.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyfsntfs
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

from sandtrace.engine.sources import Volume

VHDX = "vhdx"
EVTX_CHUNK = "evtx_chunk"
HIVE_BIN = "hive_bin"
SIGNATURES = {VHDX: b"vhdxfile", EVTX_CHUNK: b"ElfChnk\x00", HIVE_BIN: b"hbin"}
SECTOR = 512
_READ = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Candidate:
    """A signature at a volume offset, in a free cluster."""

    kind: str
    offset: int


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


class Exclusions:
    """Volume byte ranges whose content the run reads as files (a rebuilt disk's
    blocks, a deleted log, hive or disk opened from its MFT record): what lies
    there is not carved again from free space."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, offset: int, size: int) -> None:
        if size <= 0:
            return
        index = bisect.bisect_left(self._starts, offset)
        self._starts.insert(index, offset)
        self._ends.insert(index, offset + size)

    def overlapping(self, offset: int, size: int) -> Iterator[tuple[int, int]]:
        """The excluded ranges that meet [offset, offset + size)."""
        index = bisect.bisect_right(self._starts, offset + size - 1)
        for start, end in zip(reversed(self._starts[:index]), reversed(self._ends[:index])):
            if end > offset:
                yield max(start, offset), min(end, offset + size)

    def holds(self, offset: int) -> bool:
        return any(True for _ in self.overlapping(offset, 1))


def scan(space: FreeSpace, kinds: Iterable[str]) -> Iterator[Candidate]:
    """The candidates of ``kinds`` in the free clusters, in volume order (one read of each run)."""
    wanted = [(kind, SIGNATURES[kind], space.cluster_size if kind == VHDX else SECTOR) for kind in kinds]
    for first, count in space.runs():
        start, end = first * space.cluster_size, (first + count) * space.cluster_size
        offset = start
        while offset < end:
            data = space.read(offset, min(_READ, end - offset))
            if not data:
                break
            found = []
            for kind, signature, alignment in wanted:
                position = data.find(signature)
                while position != -1:
                    at = offset + position
                    if at % alignment == 0 and space.is_free(at // space.cluster_size):
                        found.append((at, kind))
                    position = data.find(signature, position + 1)
            for at, kind in sorted(found):
                yield Candidate(kind, at)
            offset += len(data)


def read_free(space: FreeSpace, offset: int, size: int, exclusions: Exclusions | None = None) -> bytes:
    """``size`` bytes at ``offset``; allocated clusters and excluded ranges read as zeros."""
    data = bytearray(space.read(offset, size).ljust(size, b"\x00"))
    cluster = space.cluster_size
    for number in range(offset // cluster, (offset + size - 1) // cluster + 1):
        if not space.is_free(number):
            low, high = max(number * cluster, offset) - offset, min((number + 1) * cluster, offset + size) - offset
            data[low:high] = bytes(high - low)
    for low, high in (exclusions.overlapping(offset, size) if exclusions else ()):
        data[low - offset:high - offset] = bytes(high - low)
    return bytes(data)
