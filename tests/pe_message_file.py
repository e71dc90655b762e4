"""A minimal PE message DLL for the tests: one .rsrc section holding a MESSAGETABLE.

No library writes PE resources; this writes only what libexe and libwrc read
(Microsoft PE/COFF specification: MS-DOS stub pointer, COFF header, PE32
optional header with the resource data directory, one section; resource
directory type 11 -> name 1 -> language -> data entry; MESSAGE_RESOURCE_DATA).
"""

from __future__ import annotations

import struct

_SECTION_RVA = 0x1000
_FILE_OFFSET = 0x200


def _message_table(messages: dict[int, str]) -> bytes:
    """MESSAGE_RESOURCE_DATA: one block per message, Unicode entries padded to 4 bytes."""
    identifiers = sorted(messages)
    header = struct.pack("<I", len(identifiers))
    blocks_size = 12 * len(identifiers)
    blocks, entries = b"", b""
    offset = 4 + blocks_size
    for identifier in identifiers:
        text = messages[identifier].encode("utf-16-le") + b"\x00\x00"
        text += b"\x00" * (-(4 + len(text)) % 4)
        entry = struct.pack("<HH", 4 + len(text), 1) + text
        blocks += struct.pack("<III", identifier, identifier, offset + len(entries))
        entries += entry
    return header + blocks + entries


def message_dll(messages: dict[int, str], lcid: int = 0x0409) -> bytes:
    """The bytes of a DLL whose MESSAGETABLE (language ``lcid``) holds ``messages``."""
    table = _message_table(messages)
    directory = b"".join([
        struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1), struct.pack("<II", 11, 0x80000000 | 0x18),     # types
        struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1), struct.pack("<II", 1, 0x80000000 | 0x30),      # names
        struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1), struct.pack("<II", lcid, 0x48),                # languages
        struct.pack("<IIII", _SECTION_RVA + 0x58, len(table), 0, 0),                             # data entry
    ])
    section = directory + table
    section += b"\x00" * (-len(section) % 0x200)
    optional = bytearray(0xE0)
    struct.pack_into("<H", optional, 0, 0x10B)  # PE32
    struct.pack_into("<III", optional, 28, 0x10000000, 0x1000, 0x200)  # image base, alignments
    struct.pack_into("<II", optional, 56, _SECTION_RVA + len(section), _FILE_OFFSET)  # image size, headers size
    struct.pack_into("<I", optional, 92, 16)  # data directories
    struct.pack_into("<II", optional, 96 + 2 * 8, _SECTION_RVA, len(directory) + len(table))  # resources
    headers = bytearray(_FILE_OFFSET)
    headers[0:2] = b"MZ"
    struct.pack_into("<H", headers, 0x18, 0x40)  # relocation table offset: a new (PE) executable
    struct.pack_into("<I", headers, 0x3C, 0x40)
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, len(optional), 0x2102)
    section_header = struct.pack("<8sIIIIIIHHI", b".rsrc", len(section), _SECTION_RVA, len(section), _FILE_OFFSET,
                                 0, 0, 0, 0, 0x40000040)
    body = coff + bytes(optional) + section_header
    headers[0x40:0x40 + len(body)] = body
    return bytes(headers) + section
