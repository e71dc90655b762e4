"""VHDX (Virtual Hard Disk v2) on-disk structures, with construct.

One definition serves both directions: sandtrace parses with it (carving
sandbox disks out of unallocated space, describing disks), and the test
tooling (``test_images/writers/vhdx.py``) builds its evidence with it.
Layout per [MS-VHDX] and libyal's VHDX format notes.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from construct import (
    Adapter,
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    ByteSwapped,
    Const,
    ConstructError,
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

KiB = 1024
MiB = 1024 * KiB

FILE_TYPE_OFFSET = 0
HEADER_OFFSETS = (64 * KiB, 128 * KiB)
REGION_TABLE_OFFSETS = (192 * KiB, 256 * KiB)
HEADER_SIZE = 4 * KiB  # the checksummed part of each 64 KiB header slot
REGION_TABLE_SIZE = 64 * KiB
METADATA_TABLE_SIZE = 64 * KiB

BAT_REGION_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_REGION_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS_GUID = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE_GUID = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID_GUID = uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE_GUID = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE_GUID = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")
# [MS-VHDX] 2.6.2.6 and every reader (libvhdi, qemu) use ...2D; "A8D35F2B" is a typo.
PARENT_LOCATOR_GUID = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
VHDX_PARENT_LOCATOR_TYPE = uuid.UUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")



# ---------------------------------------------------------------- CRC32C --

def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli, reflected 0x82F63B78), as VHDX checksums use.

    Table-driven pure Python: no CRC32C package is installed and the checked
    spans (4 KiB headers, 64 KiB tables) are small.
    """
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def seal(data: bytes) -> bytes:
    """Fill the checksum field (bytes 4-8) with the CRC32C of ``data`` taken
    with that field zeroed, as [MS-VHDX] defines for headers and tables."""
    blank = data[:4] + b"\0\0\0\0" + data[8:]
    return blank[:4] + Int32ul.build(crc32c(blank)) + blank[8:]


def checksum_ok(data: bytes) -> bool:
    """Whether a header or table span carries a correct CRC32C."""
    return seal(data) == data

# ------------------------------------------------------------ structures --

class _GuidAdapter(Adapter):
    """16 on-disk bytes (mixed-endian, as Windows stores GUIDs) <-> uuid.UUID."""

    def _decode(self, obj: bytes, context: Any, path: str) -> uuid.UUID:
        return uuid.UUID(bytes_le=obj)

    def _encode(self, obj: uuid.UUID, context: Any, path: str) -> bytes:
        return obj.bytes_le


Guid = _GuidAdapter(Bytes(16))

FILE_TYPE_IDENTIFIER = Struct(
    "signature" / Const(b"vhdxfile"),
    "creator" / PaddedString(512, "utf-16-le"),
)

HEADER = Struct(
    "signature" / Const(b"head"),
    "checksum" / Int32ul,
    "sequence_number" / Int64ul,
    "file_write_guid" / Guid,
    "data_write_guid" / Guid,
    "log_guid" / Guid,
    "log_version" / Int16ul,
    "version" / Int16ul,
    "log_length" / Int32ul,
    "log_offset" / Int64ul,
    Padding(4016),
)

REGION_TABLE_ENTRY = Struct(
    "guid" / Guid,
    "file_offset" / Int64ul,
    "length" / Int32ul,
    "required" / Int32ul,  # bit 0; other bits reserved
)

REGION_TABLE = Struct(
    "signature" / Const(b"regi"),
    "checksum" / Int32ul,
    "entry_count" / Int32ul,
    Padding(4),
    "entries" / Array(this.entry_count, REGION_TABLE_ENTRY),
)

METADATA_ENTRY_FLAGS = FlagsEnum(Int32ul, is_user=1, is_virtual_disk=2, is_required=4)

METADATA_TABLE_ENTRY = Struct(
    "item_id" / Guid,
    "offset" / Int32ul,  # relative to the metadata region, >= 64 KiB
    "length" / Int32ul,
    "flags" / METADATA_ENTRY_FLAGS,
    Padding(4),
)

METADATA_TABLE = Struct(
    "signature" / Const(b"metadata"),
    Padding(2),
    "entry_count" / Int16ul,
    Padding(20),
    "entries" / Array(this.entry_count, METADATA_TABLE_ENTRY),
)

FILE_PARAMETERS = Struct(
    "block_size" / Int32ul,
    "flags" / FlagsEnum(Int32ul, leave_block_allocated=1, has_parent=2),
)

PARENT_LOCATOR_ENTRY = Struct(
    "key_offset" / Int32ul,  # relative to the start of the locator item
    "value_offset" / Int32ul,
    "key_length" / Int16ul,  # in bytes, UTF-16LE, no terminator
    "value_length" / Int16ul,
)

_PARENT_LOCATOR_RAW = Struct(
    "locator_type" / Guid,
    Padding(2),
    "key_value_count" / Int16ul,
    "entries" / Array(this.key_value_count, PARENT_LOCATOR_ENTRY),
    "data" / GreedyBytes,
)


class _ParentLocatorAdapter(Adapter):
    """Parent locator item <-> {"locator_type": UUID, "entries": {key: value}}.

    Keys and values are UTF-16LE strings addressed by offsets from the start
    of the item (libvhdi reads them that way), stored after the entry array.
    """

    def _decode(self, obj: Any, context: Any, path: str) -> dict:
        base = 20 + 12 * obj.key_value_count
        data = obj.data

        def text(offset: int, length: int) -> str:
            return data[offset - base:offset - base + length].decode("utf-16-le")

        entries = {text(e.key_offset, e.key_length): text(e.value_offset, e.value_length)
                   for e in obj.entries}
        return {"locator_type": obj.locator_type, "entries": entries}

    def _encode(self, obj: dict, context: Any, path: str) -> dict:
        items = list(obj["entries"].items())
        offset = 20 + 12 * len(items)
        entries, data = [], b""
        for key, value in items:
            key_bytes, value_bytes = key.encode("utf-16-le"), value.encode("utf-16-le")
            entries.append({"key_offset": offset + len(data), "key_length": len(key_bytes),
                            "value_offset": offset + len(data) + len(key_bytes),
                            "value_length": len(value_bytes)})
            data += key_bytes + value_bytes
        return {"locator_type": obj["locator_type"], "key_value_count": len(items),
                "entries": entries, "data": data}


PARENT_LOCATOR = _ParentLocatorAdapter(_PARENT_LOCATOR_RAW)

BLOCK_STATES = {
    "PAYLOAD_BLOCK_NOT_PRESENT": 0,  # also SB_BLOCK_NOT_PRESENT
    "PAYLOAD_BLOCK_UNDEFINED": 1,
    "PAYLOAD_BLOCK_ZERO": 2,
    "PAYLOAD_BLOCK_UNMAPPED": 3,
    "PAYLOAD_BLOCK_FULLY_PRESENT": 6,  # also SB_BLOCK_PRESENT
    "PAYLOAD_BLOCK_PARTIALLY_PRESENT": 7,
}

# The 64-bit little-endian entry, most significant bit first after the swap.
BAT_ENTRY = ByteSwapped(BitStruct(
    "file_offset_mb" / BitsInteger(44),
    Padding(17),
    "state" / Enum(BitsInteger(3), **BLOCK_STATES),
))

# Metadata items, in the order (and with the flags) qemu-img and Hyper-V use.
_ITEM_FLAGS = {
    FILE_PARAMETERS_GUID: {"is_required": True},
    VIRTUAL_DISK_SIZE_GUID: {"is_required": True, "is_virtual_disk": True},
    VIRTUAL_DISK_ID_GUID: {"is_required": True, "is_virtual_disk": True},
    LOGICAL_SECTOR_SIZE_GUID: {"is_required": True, "is_virtual_disk": True},
    PHYSICAL_SECTOR_SIZE_GUID: {"is_required": True, "is_virtual_disk": True},
    PARENT_LOCATOR_GUID: {"is_required": True},
}

# ---------------------------------------------------------------- layout --



def chunk_ratio(block_size: int, logical_sector_size: int) -> int:
    """Payload blocks covered by one 1 MiB sector bitmap block."""
    return (2**23 * logical_sector_size) // block_size


def bat_index(block: int, ratio: int) -> int:
    """BAT index of payload block ``block``: a sector bitmap entry follows
    every ``ratio`` payload entries."""
    return block + block // ratio


def bat_entry_count(virtual_size: int, block_size: int, logical_sector_size: int,
                    differencing: bool) -> int:
    """Number of BAT entries per [MS-VHDX] 2.5 (differencing disks carry a
    sector bitmap entry for every chunk, dynamic ones only between chunks)."""
    ratio = chunk_ratio(block_size, logical_sector_size)
    data_blocks = -(-virtual_size // block_size)
    if differencing:
        return -(-data_blocks // ratio) * (ratio + 1)
    return data_blocks + (data_blocks - 1) // ratio


# ----------------------------------------------------------------- reading --

FILE_TYPE_SIGNATURE = b"vhdxfile"
_HEADER_OFFSETS = (64 * KiB, 128 * KiB)
_REGION_TABLE_OFFSETS = (192 * KiB, 256 * KiB)


class VhdxError(ValueError):
    """Not a readable VHDX (bad signature, checksums, or tables)."""


MAX_VIRTUAL_SIZE = 64 * 1024**4  # [MS-VHDX]: 64 TiB


def describe(read_at) -> dict[str, Any]:
    """Headers, regions, metadata and BAT of a VHDX, read via ``read_at(offset, size)``.

    Tolerant where a carver needs it: the copy with a good checksum wins, and
    a damaged first region table falls back to the second. Anything that is
    not a valid VHDX, including structures construct cannot parse and values
    outside [MS-VHDX]'s limits (docs/reliability.md), is a VhdxError.
    """
    try:
        return _describe(read_at)
    except ConstructError as exception:
        raise VhdxError(f"damaged VHDX structure: {' '.join(str(exception).split())[:200]}") from None


def _describe(read_at) -> dict[str, Any]:
    if read_at(0, 8) != FILE_TYPE_SIGNATURE:
        raise VhdxError("no vhdxfile signature")
    headers = []
    for offset in _HEADER_OFFSETS:
        raw = read_at(offset, 4 * KiB)
        if raw[:4] == b"head" and checksum_ok(raw):
            headers.append(HEADER.parse(raw))
    if not headers:
        raise VhdxError("both VHDX headers are damaged")
    header = max(headers, key=lambda h: h.sequence_number)
    regions = None
    for offset in _REGION_TABLE_OFFSETS:
        raw = read_at(offset, 64 * KiB)
        if raw[:4] == b"regi" and checksum_ok(raw):
            regions = {entry.guid: entry for entry in REGION_TABLE.parse(raw).entries}
            break
    if not regions or BAT_REGION_GUID not in regions or METADATA_REGION_GUID not in regions:
        raise VhdxError("both VHDX region tables are damaged")
    metadata_offset = regions[METADATA_REGION_GUID].file_offset
    table = METADATA_TABLE.parse(read_at(metadata_offset, 64 * KiB))
    for entry in table.entries:
        if entry.length > MiB:  # [MS-VHDX] 2.6.1.2: at most 1 MB; never read a 4 GiB "item"
            raise VhdxError(f"VHDX metadata item of {entry.length} bytes (limit 1 MiB)")
    items = {entry.item_id: read_at(metadata_offset + entry.offset, entry.length) for entry in table.entries}
    try:
        params = FILE_PARAMETERS.parse(items[FILE_PARAMETERS_GUID])
        virtual_size = Int64ul.parse(items[VIRTUAL_DISK_SIZE_GUID])
        sector_size = Int32ul.parse(items[LOGICAL_SECTOR_SIZE_GUID])
    except KeyError as missing:
        raise VhdxError(f"VHDX metadata item missing: {missing}") from None
    block_size = params.block_size
    if block_size % MiB or block_size & (block_size - 1) or not MiB <= block_size <= 256 * MiB:
        raise VhdxError(f"VHDX block size {block_size} is not a power of two from 1 MiB to 256 MiB")
    if sector_size not in (512, 4096):
        raise VhdxError(f"VHDX logical sector size {sector_size} is not 512 or 4096")
    if not 0 < virtual_size <= MAX_VIRTUAL_SIZE:
        raise VhdxError(f"absurd VHDX virtual size {virtual_size} (limit {MAX_VIRTUAL_SIZE}, 64 TiB)")
    locator = PARENT_LOCATOR.parse(items[PARENT_LOCATOR_GUID]) if PARENT_LOCATOR_GUID in items else None
    has_parent = bool(params.flags.has_parent)
    count = bat_entry_count(virtual_size, params.block_size, sector_size, has_parent)
    bat_bytes = read_at(regions[BAT_REGION_GUID].file_offset, count * 8)
    if len(bat_bytes) < count * 8:
        raise VhdxError(f"VHDX BAT cut short ({len(bat_bytes) // 8} of {count} entries readable)")
    return {
        "data_write_guid": header.data_write_guid,
        "block_size": params.block_size,
        "has_parent": has_parent,
        "virtual_size": virtual_size,
        "logical_sector_size": sector_size,
        "disk_id": Guid.parse(items[VIRTUAL_DISK_ID_GUID]) if VIRTUAL_DISK_ID_GUID in items else None,
        "parent_locator": locator["entries"] if locator else {},
        "chunk_ratio": chunk_ratio(params.block_size, sector_size),
        "bat": BatEntries(bat_bytes[:count * 8]),
    }


_UINT64 = struct.Struct("<Q")


class BatEntries(Sequence):
    """The BAT as (state, file offset in MiB) pairs, decoded on access from its bytes.

    A 64 TiB disk of 1 MiB blocks has 64 million entries: as construct
    containers (or tuples) that is tens of GiB; as bytes, the 512 MiB the BAT
    takes in the file (found by fuzzing: make fuzz ran out of memory).
    Each entry is BAT_ENTRY's 64-bit value: state in bits 0-2, offset in 20-63.
    """

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw) // 8

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("BAT entry out of range")
        (value,) = _UINT64.unpack_from(self._raw, index * 8)
        return value & 7, value >> 20

    def __iter__(self):
        for (value,) in _UINT64.iter_unpack(self._raw):
            yield value & 7, value >> 20


def describe_file(file_object) -> dict[str, Any]:
    """``describe`` over a seekable file object (a dfVFS file, an open file)."""

    def read_at(offset: int, size: int) -> bytes:
        file_object.seek(offset)
        return file_object.read(size)

    return describe(read_at)


def payload_blocks(info: dict[str, Any]) -> Iterator[tuple[int, int, int]]:
    """(block number, BAT state, file offset) of every payload block entry, one at a time."""
    ratio = info["chunk_ratio"]
    total = -(-info["virtual_size"] // info["block_size"])
    for index, (state, offset_mb) in enumerate(info["bat"]):
        if (index + 1) % (ratio + 1) == 0:
            continue  # a sector bitmap entry
        block = index - index // (ratio + 1)
        if block < total:
            yield block, state, offset_mb * MiB
