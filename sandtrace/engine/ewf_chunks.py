"""E01 chunks whose checksum fails, as sector ranges (what ``ewfverify`` lists).

libewf-python reads a damaged chunk without a word (this binding exposes no
checksum errors), so a parser downstream sees garbage and says "not an EVTX
file". Each chunk of an EWF 1 segment carries its own check: a compressed
chunk is a zlib stream (Adler-32 in its trailer), an uncompressed one ends in
the Adler-32 of its data. The chunk table of each segment (``table`` section:
a 24-byte header, then one 32-bit entry per chunk, the top bit meaning
compressed, the rest an offset from the table's base) says where each chunk
lies; the ``volume``/``disk`` section says how many sectors a chunk holds.
Reference: libyal's "Expert Witness Compression Format (EWF)" documentation.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

_EVF_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"
_DESCRIPTOR = struct.Struct("<16sQQ")
_DESCRIPTOR_SIZE = 76
_MAX_CHUNK = 64 << 20
_FILE_NAME = 0x30  # a chunk table entry claiming more is damage, not data


@dataclass(frozen=True, slots=True)
class BadRange:
    first_sector: int
    sectors: int
    segment: str

    def describe(self, bytes_per_sector: int) -> str:
        start = self.first_sector * bytes_per_sector
        end = start + self.sectors * bytes_per_sector - 1
        return (f"E01 chunk checksum error: sectors {self.first_sector} - {self.first_sector + self.sectors - 1} "
                f"({self.sectors} sectors, media bytes 0x{start:x}-0x{end:x}) in {os.path.basename(self.segment)}: "
                "the data there is damaged")


def _sections(handle, size: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset, size) of each section of one segment file."""
    offset = 13
    while offset + _DESCRIPTOR_SIZE <= size:
        handle.seek(offset)
        kind, following, length = _DESCRIPTOR.unpack(handle.read(_DESCRIPTOR.size))
        kind = kind.rstrip(b"\0")
        yield kind, offset, length
        if following <= offset or kind in (b"next", b"done"):
            return
        offset = following


def bad_ranges(segments: list[str]) -> tuple[list[BadRange], int]:
    """The damaged chunks of an EWF 1 segment set, merged into ranges; and bytes per sector."""
    sectors_per_chunk, bytes_per_sector = 64, 512
    chunk_index = 0
    bad: list[BadRange] = []
    for segment in segments:
        with open(segment, "rb") as handle:
            if handle.read(8) != _EVF_SIGNATURE:
                return [], bytes_per_sector
            size = os.path.getsize(segment)
            data_end = 0
            for kind, offset, length in list(_sections(handle, size)):
                body = offset + _DESCRIPTOR_SIZE
                if kind in (b"volume", b"disk"):
                    handle.seek(body + 8)
                    sectors_per_chunk, bytes_per_sector = struct.unpack("<II", handle.read(8))
                elif kind == b"sectors":
                    data_end = offset + length
                elif kind == b"table":
                    handle.seek(body)
                    count, _, base = struct.unpack("<IIQ", handle.read(16))
                    handle.seek(body + 24)
                    entries = struct.unpack(f"<{count}I", handle.read(4 * count))
                    end_of_data = data_end or offset
                    for number, entry in enumerate(entries):
                        start = base + (entry & 0x7FFFFFFF)
                        stop = base + (entries[number + 1] & 0x7FFFFFFF) if number + 1 < count else end_of_data
                        if not _chunk_ok(handle, start, stop, bool(entry & 0x80000000)):
                            first = (chunk_index + number) * sectors_per_chunk
                            if bad and bad[-1].first_sector + bad[-1].sectors == first and bad[-1].segment == segment:
                                bad[-1] = BadRange(bad[-1].first_sector, bad[-1].sectors + sectors_per_chunk, segment)
                            else:
                                bad.append(BadRange(first, sectors_per_chunk, segment))
                    chunk_index += count
    return bad, bytes_per_sector


def _chunk_ok(handle, start: int, stop: int, compressed: bool) -> bool:
    if not 0 < stop - start <= _MAX_CHUNK:
        return False
    handle.seek(start)
    data = handle.read(stop - start)
    if compressed:
        try:
            zlib.decompress(data)
        except zlib.error:
            return False
        return True
    return len(data) > 4 and zlib.adler32(data[:-4]) == struct.unpack("<I", data[-4:])[0]


def files_in(source, ranges: list[BadRange], bytes_per_sector: int, limit: int = 20) -> list[list[str]]:
    """For each range, the NTFS files whose data runs overlap it (display names, at most ``limit``).

    Only the volumes of the image itself (not shadow copies): an MFT pass over
    each NTFS volume, reading each file's extents, done only when there are errors.
    """
    import pyfsntfs
    from dfvfs.resolver import resolver

    found: list[list[str]] = [[] for _ in ranges]
    spans = [(r.first_sector * bytes_per_sector, (r.first_sector + r.sectors) * bytes_per_sector) for r in ranges]
    for volume in source.volumes:
        if volume.type_indicator != "NTFS" or volume.vss_store is not None:
            continue
        try:
            container = resolver.Resolver.OpenFileObject(volume.path_spec.parent)
            offset = _volume_offset(container, volume)
            ntfs = pyfsntfs.volume()
            ntfs.open_file_object(container)
        except Exception:  # noqa: BLE001 - naming files is a help; the ranges are said anyway
            continue
        names: dict[int, str] = {}
        for index in range(ntfs.number_of_file_entries):
            try:
                entry = ntfs.get_file_entry(index)
                extents = [entry.get_extent(number) for number in range(entry.number_of_extents)]
            except OSError:
                continue
            for start, size, _ in extents:
                for number, (low, high) in enumerate(spans):
                    if offset + start < high and low < offset + start + size and len(found[number]) < limit:
                        name = f"{volume.display_prefix}{_path(ntfs, index, names)}"
                        if name not in found[number]:
                            found[number].append(name)
    return found


def _volume_offset(container, volume) -> int:
    if volume.partition is None:
        return 0
    for attribute in ("_partition_offset", "_range_offset"):
        value = getattr(container, attribute, None)
        if isinstance(value, int):
            return value
    raise ValueError("partition offset unknown")


def _path(ntfs, index: int, names: dict[int, str], depth: int = 0) -> str:
    """``\\folder\\name`` of MFT entry ``index`` from its $FILE_NAME parents (cached)."""
    if index in names:
        return names[index]
    if index == 5 or depth > 64:
        return ""
    try:
        entry = ntfs.get_file_entry(index)
        file_names = [entry.get_attribute(number) for number in range(entry.number_of_attributes)]
        file_names = [a for a in file_names if a.attribute_type == _FILE_NAME]
        # The long name (POSIX, Win32, Win32+DOS), not the 8.3 one (DOS: name space 2).
        chosen = min(file_names, key=lambda a: a.name_space == 2)
        name, parent = chosen.name, chosen.parent_file_reference & 0xFFFFFFFFFFFF
    except (OSError, TypeError, ValueError):
        return f"\\(MFT entry {index})"
    path = ("" if parent == index else _path(ntfs, parent, names, depth + 1)) + "\\" + name
    names[index] = path
    return path
