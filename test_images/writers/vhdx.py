"""A small VHDX (Virtual Hard Disk v2) writer and reader for test evidence.

Windows Sandbox keeps its disks as VHDX files: a dynamic ``BaseLayer.vhdx``
and a per-sandbox differencing ``sandbox.vhdx``. Sandtrace must read both, so
the tests need such files built from known raw bytes. This module writes
dynamic and differencing images laid out the way [MS-VHDX] and libyal's
"VHDX image format" notes describe, and parses them back (``read_info``,
``read_raw``) with the same construct definitions, for later carving work.

Output is deterministic: every GUID is passed in or derived from ``seed``,
nothing depends on time or randomness. It is a test tool, not a general
VHDX library: no log replay, no fixed disks, no in-place updates.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, BinaryIO, Union

from construct import (
    Adapter,
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    ByteSwapped,
    Const,
    Enum,
    FlagsEnum,
    GreedyBytes,
    Int16ul,
    Int32ul,
    Int64ul,
    PaddedString,
    Padding,
    Struct,
    this,
)

from sandtrace.engine.vhdx import *  # noqa: F401,F403 (one definition for parse and build)
from sandtrace.engine.vhdx import _ITEM_FLAGS, _CRC32C_TABLE  # noqa: F401

# Fixed layout: everything a reader locates by offset lives in the first MiBs.
LOG_OFFSET, LOG_LENGTH = 1 * MiB, 1 * MiB
METADATA_OFFSET, METADATA_LENGTH = 2 * MiB, 1 * MiB
BAT_OFFSET = 3 * MiB
SECTOR_BITMAP_SIZE = 1 * MiB
SANDBOX_BASE_IMAGES = "C:\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\"
# Namespace for seed-derived GUIDs, so a seed always gives the same file.
_SEED_NAMESPACE = uuid.UUID("6f1d8a52-2f5e-4c1b-9d0e-5a6e7c3b2a10")
RawSource = Union[bytes, bytearray, str, os.PathLike]

def derive_guid(seed: str, name: str) -> uuid.UUID:
    """A stable GUID for ``name`` under ``seed`` (no randomness in evidence)."""
    return uuid.uuid5(_SEED_NAMESPACE, f"{seed}:{name}")


def _load(raw: RawSource) -> bytes:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    with open(raw, "rb") as handle:
        return handle.read()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple

# ---------------------------------------------------------------- writer --

def _write_image(out_path: str | os.PathLike, *, virtual_size: int, block_size: int,
                 logical_sector_size: int, physical_sector_size: int,
                 blocks: dict[int, tuple[str, bytes]], bitmaps: dict[int, bytes],
                 locator: dict[str, str] | None, seed: str,
                 disk_id: uuid.UUID | None, file_write_guid: uuid.UUID | None,
                 data_write_guid: uuid.UUID | None, creator: str) -> None:
    """Lay out and write one VHDX file.

    ``blocks`` maps payload block number to (BAT state, block bytes);
    ``bitmaps`` maps chunk number to its 1 MiB sector bitmap. Blocks that are
    absent from ``blocks`` are PAYLOAD_BLOCK_NOT_PRESENT.
    """
    if block_size % MiB or block_size & (block_size - 1) or not MiB <= block_size <= 256 * MiB:
        raise ValueError("block size must be a power of two from 1 MiB to 256 MiB")
    if logical_sector_size not in (512, 4096) or physical_sector_size not in (512, 4096):
        raise ValueError("sector sizes must be 512 or 4096")
    if virtual_size <= 0 or virtual_size % logical_sector_size:
        raise ValueError("virtual size must be a positive multiple of the logical sector size")
    differencing = locator is not None
    ratio = chunk_ratio(block_size, logical_sector_size)
    entries = [{"state": 0, "file_offset_mb": 0}] * bat_entry_count(
        virtual_size, block_size, logical_sector_size, differencing)
    bat_length = _round_up(len(entries) * 8, MiB)
    next_offset = BAT_OFFSET + bat_length
    placed: list[tuple[int, bytes]] = []
    for chunk, bitmap in sorted(bitmaps.items()):
        entries[(chunk + 1) * (ratio + 1) - 1] = {
            "state": "PAYLOAD_BLOCK_FULLY_PRESENT", "file_offset_mb": next_offset // MiB}
        placed.append((next_offset, bitmap))
        next_offset += SECTOR_BITMAP_SIZE
    for block, (state, data) in sorted(blocks.items()):
        entries[bat_index(block, ratio)] = {"state": state, "file_offset_mb": next_offset // MiB}
        placed.append((next_offset, data))
        next_offset += block_size

    disk_id = disk_id or derive_guid(seed, "virtual_disk_id")
    file_write_guid = file_write_guid or derive_guid(seed, "file_write_guid")
    data_write_guid = data_write_guid or derive_guid(seed, "data_write_guid")
    items = [
        (FILE_PARAMETERS_GUID, FILE_PARAMETERS.build(
            {"block_size": block_size, "flags": {"has_parent": differencing}})),
        (VIRTUAL_DISK_SIZE_GUID, Int64ul.build(virtual_size)),
        (VIRTUAL_DISK_ID_GUID, Guid.build(disk_id)),
        (LOGICAL_SECTOR_SIZE_GUID, Int32ul.build(logical_sector_size)),
        (PHYSICAL_SECTOR_SIZE_GUID, Int32ul.build(physical_sector_size)),
    ]
    if differencing:
        items.append((PARENT_LOCATOR_GUID, PARENT_LOCATOR.build(
            {"locator_type": VHDX_PARENT_LOCATOR_TYPE, "entries": locator})))
    table_entries, item_data = [], b""
    for item_id, data in items:
        table_entries.append({"item_id": item_id, "offset": METADATA_TABLE_SIZE + len(item_data),
                              "length": len(data), "flags": _ITEM_FLAGS[item_id]})
        item_data += data
    metadata_table = METADATA_TABLE.build(
        {"entry_count": len(table_entries), "entries": table_entries})
    region_table = seal(REGION_TABLE.build({"checksum": 0, "entry_count": 2, "entries": [
        {"guid": BAT_REGION_GUID, "file_offset": BAT_OFFSET, "length": bat_length, "required": 1},
        {"guid": METADATA_REGION_GUID, "file_offset": METADATA_OFFSET,
         "length": METADATA_LENGTH, "required": 1},
    ]}).ljust(REGION_TABLE_SIZE, b"\0"))

    with open(out_path, "wb") as out:
        out.write(FILE_TYPE_IDENTIFIER.build({"creator": creator}))
        for sequence, offset in enumerate(HEADER_OFFSETS, start=1):
            # Both headers valid; the higher sequence number is current.
            out.seek(offset)
            out.write(seal(HEADER.build({
                "checksum": 0, "sequence_number": sequence,
                "file_write_guid": file_write_guid, "data_write_guid": data_write_guid,
                "log_guid": uuid.UUID(int=0), "log_version": 0, "version": 1,
                "log_length": LOG_LENGTH, "log_offset": LOG_OFFSET})))
        for offset in REGION_TABLE_OFFSETS:
            out.seek(offset)
            out.write(region_table)
        # The log region stays zero: a null log GUID means nothing to replay.
        out.seek(METADATA_OFFSET)
        out.write(metadata_table.ljust(METADATA_TABLE_SIZE, b"\0") + item_data)
        out.seek(BAT_OFFSET)
        out.write(b"".join(BAT_ENTRY.build(entry) for entry in entries))
        for offset, data in placed:
            out.seek(offset)
            out.write(data)
        out.truncate(next_offset)  # sparse holes read as zeros; size covers every block


def write_dynamic(raw: RawSource, out_path: str | os.PathLike, *, block_size: int = 1 * MiB,
                  logical_sector_size: int = 512, physical_sector_size: int = 4096,
                  disk_id: uuid.UUID | None = None, file_write_guid: uuid.UUID | None = None,
                  data_write_guid: uuid.UUID | None = None, seed: str = "sandtrace",
                  creator: str = "sandtrace test_images") -> None:
    """Write ``raw`` (bytes or a raw image path) as a dynamic VHDX.

    Only blocks holding a non-zero byte are allocated (FULLY_PRESENT); all
    others stay PAYLOAD_BLOCK_NOT_PRESENT and read as zeros.
    """
    data = _load(raw)
    blocks = {}
    for number in range(-(-len(data) // block_size)):
        block = data[number * block_size:(number + 1) * block_size]
        if block.count(0) != len(block):
            blocks[number] = ("PAYLOAD_BLOCK_FULLY_PRESENT", block.ljust(block_size, b"\0"))
    _write_image(out_path, virtual_size=len(data), block_size=block_size,
                 logical_sector_size=logical_sector_size,
                 physical_sector_size=physical_sector_size, blocks=blocks, bitmaps={},
                 locator=None, seed=seed, disk_id=disk_id, file_write_guid=file_write_guid,
                 data_write_guid=data_write_guid, creator=creator)


def write_differencing(child_raw: RawSource, parent_vhdx_path: str | os.PathLike,
                       out_path: str | os.PathLike, *,
                       parent_relative_path: str | None = None,
                       parent_absolute_path: str | None = None,
                       parent_volume_path: str | None = None,
                       parent_linkage2: uuid.UUID | None = None,
                       block_size: int = 1 * MiB, physical_sector_size: int = 4096,
                       disk_id: uuid.UUID | None = None,
                       file_write_guid: uuid.UUID | None = None,
                       data_write_guid: uuid.UUID | None = None,
                       seed: str = "sandtrace-child",
                       creator: str = "sandtrace test_images") -> None:
    """Write ``child_raw`` as a differencing VHDX over ``parent_vhdx_path``.

    Only logical sectors that differ from the parent are stored: a block with
    every sector changed is FULLY_PRESENT, one with some changed is
    PARTIALLY_PRESENT with its sector bitmap bits set (LSB first), an
    unchanged block is NOT_PRESENT (read from the parent). ``parent_linkage``
    is the parent's data write GUID, as [MS-VHDX] requires.

    relative_path defaults to ``.\\<parent file name>``. absolute_win32_path
    defaults to a Windows Sandbox style ``C:\\ProgramData\\...\\BaseImages``
    path ending in the parent's file name; pass "" to leave it out. It matters:
    libvhdi (so dfVFS) takes the parent name from absolute_win32_path, then
    volume_path, and never finds relative_path. volume_path and
    parent_linkage2 are written only when given.
    """
    data = _load(child_raw)
    parent_info = read_info(parent_vhdx_path)
    parent = read_raw(parent_vhdx_path)
    sector = parent_info["logical_sector_size"]
    if len(data) != len(parent):
        raise ValueError("a differencing disk must have its parent's virtual size")
    ratio = chunk_ratio(block_size, sector)
    sectors_per_block = block_size // sector
    blocks: dict[int, tuple[str, bytes]] = {}
    bitmaps: dict[int, bytearray] = {}
    for number in range(-(-len(data) // block_size)):
        start = number * block_size
        child_block = data[start:start + block_size]
        parent_block = parent[start:start + block_size]
        if child_block == parent_block:
            continue
        stored = bytearray(block_size)
        changed = []
        for index in range(len(child_block) // sector):
            span = slice(index * sector, (index + 1) * sector)
            if child_block[span] != parent_block[span]:
                stored[span] = child_block[span]
                changed.append(index)
        full = len(changed) == sectors_per_block
        blocks[number] = ("PAYLOAD_BLOCK_FULLY_PRESENT" if full
                          else "PAYLOAD_BLOCK_PARTIALLY_PRESENT", bytes(stored))
        bitmap = bitmaps.setdefault(number // ratio, bytearray(SECTOR_BITMAP_SIZE))
        for index in changed:
            bit = (number % ratio) * sectors_per_block + index
            bitmap[bit // 8] |= 1 << (bit % 8)
    locator = {"parent_linkage": "{%s}" % parent_info["header"]["data_write_guid"]}
    if parent_linkage2 is not None:
        locator["parent_linkage2"] = "{%s}" % parent_linkage2
    locator["relative_path"] = (parent_relative_path if parent_relative_path is not None
                                else ".\\" + os.path.basename(parent_vhdx_path))
    if parent_volume_path is not None:
        locator["volume_path"] = parent_volume_path
    if parent_absolute_path is None:
        parent_absolute_path = SANDBOX_BASE_IMAGES + "{%s}\\%s" % (
            str(parent_info["disk_id"]).upper(), os.path.basename(parent_vhdx_path))
    if parent_absolute_path:
        locator["absolute_win32_path"] = parent_absolute_path
    _write_image(out_path, virtual_size=len(data), block_size=block_size,
                 logical_sector_size=sector, physical_sector_size=physical_sector_size,
                 blocks=blocks, bitmaps={k: bytes(v) for k, v in bitmaps.items()},
                 locator=locator, seed=seed, disk_id=disk_id,
                 file_write_guid=file_write_guid, data_write_guid=data_write_guid,
                 creator=creator)

# ---------------------------------------------------------------- reader --

def _read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size).ljust(size, b"\0")


def read_info(path: str | os.PathLike) -> dict:
    """Parse the structures of a VHDX file (not its data) into a dict.

    Keys: creator, headers (both, with ``checksum_ok``), header (current),
    region_tables, regions (by GUID), metadata_entries, the metadata values
    (block_size, has_parent, leave_block_allocated, virtual_disk_size,
    disk_id, logical/physical_sector_size, parent_locator), chunk_ratio and
    bat (list of {state, file_offset_mb}).
    """
    with open(path, "rb") as handle:
        info: dict[str, Any] = {
            "creator": FILE_TYPE_IDENTIFIER.parse(_read_at(handle, 0, 520)).creator}
        headers = []
        for offset in HEADER_OFFSETS:
            raw = _read_at(handle, offset, HEADER_SIZE)
            header = dict(HEADER.parse(raw))
            header.pop("_io", None)
            header["checksum_ok"] = checksum_ok(raw)
            headers.append(header)
        info["headers"] = headers
        valid = [h for h in headers if h["checksum_ok"]] or headers
        info["header"] = max(valid, key=lambda h: h["sequence_number"])
        tables = []
        for offset in REGION_TABLE_OFFSETS:
            raw = _read_at(handle, offset, REGION_TABLE_SIZE)
            table = REGION_TABLE.parse(raw)
            tables.append({"checksum_ok": checksum_ok(raw), "checksum": table.checksum,
                           "entries": [dict(guid=e.guid, file_offset=e.file_offset,
                                            length=e.length, required=e.required)
                                       for e in table.entries]})
        info["region_tables"] = tables
        info["regions"] = {e["guid"]: e for e in tables[0]["entries"]}
        metadata_offset = info["regions"][METADATA_REGION_GUID]["file_offset"]
        table = METADATA_TABLE.parse(_read_at(handle, metadata_offset, METADATA_TABLE_SIZE))
        info["metadata_entries"] = [
            dict(item_id=e.item_id, offset=e.offset, length=e.length,
                 flags={k: v for k, v in e.flags.items() if not k.startswith("_")})
            for e in table.entries]
        items = {e.item_id: _read_at(handle, metadata_offset + e.offset, e.length)
                 for e in table.entries}
        params = FILE_PARAMETERS.parse(items[FILE_PARAMETERS_GUID])
        info.update(
            block_size=params.block_size, has_parent=params.flags.has_parent,
            leave_block_allocated=params.flags.leave_block_allocated,
            virtual_disk_size=Int64ul.parse(items[VIRTUAL_DISK_SIZE_GUID]),
            disk_id=Guid.parse(items[VIRTUAL_DISK_ID_GUID]),
            logical_sector_size=Int32ul.parse(items[LOGICAL_SECTOR_SIZE_GUID]),
            physical_sector_size=Int32ul.parse(items[PHYSICAL_SECTOR_SIZE_GUID]),
            parent_locator=(PARENT_LOCATOR.parse(items[PARENT_LOCATOR_GUID])
                            if PARENT_LOCATOR_GUID in items else None))
        info["chunk_ratio"] = chunk_ratio(info["block_size"], info["logical_sector_size"])
        count = bat_entry_count(info["virtual_disk_size"], info["block_size"],
                                info["logical_sector_size"], info["has_parent"])
        bat_raw = _read_at(handle, info["regions"][BAT_REGION_GUID]["file_offset"], count * 8)
        info["bat"] = [{"state": str(e.state), "file_offset_mb": e.file_offset_mb}
                       for e in Array(count, BAT_ENTRY).parse(bat_raw)]
    return info


def read_raw(path: str | os.PathLike, parent_raw: bytes | None = None) -> bytes:
    """Rebuild the virtual disk contents of a VHDX file.

    For a differencing disk the parent is ``parent_raw`` or, failing that,
    the locator's relative_path resolved from this file's directory.
    """
    info = read_info(path)
    size, block_size = info["virtual_disk_size"], info["block_size"]
    sector, ratio = info["logical_sector_size"], info["chunk_ratio"]
    if info["has_parent"] and parent_raw is None:
        relative = info["parent_locator"]["entries"]["relative_path"].replace("\\", os.sep)
        parent_raw = read_raw(os.path.join(os.path.dirname(os.path.abspath(path)), relative))
    base = parent_raw if info["has_parent"] else bytes(size)
    out = bytearray(base[:size].ljust(size, b"\0"))
    sectors_per_block = block_size // sector
    with open(path, "rb") as handle:
        for number in range(-(-size // block_size)):
            entry = info["bat"][bat_index(number, ratio)]
            start, end = number * block_size, min(size, (number + 1) * block_size)
            if entry["state"] in ("PAYLOAD_BLOCK_ZERO", "PAYLOAD_BLOCK_UNMAPPED"):
                out[start:end] = bytes(end - start)
            elif entry["state"] == "PAYLOAD_BLOCK_FULLY_PRESENT":
                out[start:end] = _read_at(handle, entry["file_offset_mb"] * MiB, end - start)
            elif entry["state"] == "PAYLOAD_BLOCK_PARTIALLY_PRESENT":
                block = _read_at(handle, entry["file_offset_mb"] * MiB, block_size)
                chunk = number // ratio
                sb = info["bat"][(chunk + 1) * (ratio + 1) - 1]
                first = (number % ratio) * sectors_per_block
                bitmap = _read_at(handle, sb["file_offset_mb"] * MiB + first // 8,
                                  sectors_per_block // 8)
                for index in range((end - start) // sector):
                    if bitmap[index // 8] >> (index % 8) & 1:
                        out[start + index * sector:start + (index + 1) * sector] = \
                            block[index * sector:(index + 1) * sector]
    return bytes(out)
