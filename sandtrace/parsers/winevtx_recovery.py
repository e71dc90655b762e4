"""EVTX chunk layout, record carving, and the pure-Python (python-evtx) decoder.

A chunk is 64 KiB: a 512-byte header, records from offset 512 up to the
header's free-space offset, then slack. Records are 8-byte aligned and start
with ``**\\x00\\x00``, a 32-bit size, the record id and the written FILETIME;
the size is repeated in the last 4 bytes. That repetition makes carving
reliable: a signature whose size copy matches is a record boundary.

A carved record cannot be decoded on its own: its BinXml refers to template
definitions and names by *chunk offset*. So carved records are decoded in
place, inside a copy of their chunk, with python-evtx: it decodes one record
at any offset, and a template it has not seen is loaded on demand from the
offset the record names (libevtx and pyevtx-rs only know the templates the
chunk header's table lists, which is why they lose most slack records). A
decode is kept only when the record's own ``EventRecordID`` equals the id in
its header: a template that was overwritten decodes to something else, and
that is rejected rather than reported.
"""

from __future__ import annotations

import functools
import logging
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

CHUNK_SIZE = 0x10000
CHUNK_HEADER_SIZE = 512
FILE_HEADER_SIZE = 4096
CHUNK_SIGNATURE = b"ElfChnk\x00"
RECORD_SIGNATURE = b"**\x00\x00"
_RECORD_HEADER = struct.Struct("<4sIQQ")
_UINT32 = struct.Struct("<I")
_UINT64 = struct.Struct("<Q")
_EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
_PADDED_HEX = re.compile(r"^0x(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{16})$")
_BRACED_GUID = re.compile(r"^\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}$")
_SPACED_TIME = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d{6})?(?:\+00:00)?$")


@dataclass(slots=True)
class RecordSlot:
    """Where one record sits in its chunk (offsets relative to the chunk)."""

    offset: int
    size: int
    record_id: int
    written: int  # FILETIME from the record header


def walk_records(chunk: bytes, start: int, end: int) -> list[RecordSlot]:
    """The record chain from ``start`` while headers are sane (what a reader iterates)."""
    slots = []
    offset = start
    end = min(end, CHUNK_SIZE)
    while offset + 28 <= end:
        signature, size, record_id, written = _RECORD_HEADER.unpack_from(chunk, offset)
        if signature != RECORD_SIGNATURE or size < 28 or offset + size > CHUNK_SIZE:
            break
        slots.append(RecordSlot(offset, size, record_id, written))
        offset += size
    return slots


def carve_records(chunk: bytes, start: int = CHUNK_HEADER_SIZE) -> list[RecordSlot]:
    """Every 8-byte aligned record signature from ``start`` whose size copy matches."""
    found = []
    offset = start
    find = chunk.find
    while True:
        offset = find(RECORD_SIGNATURE, offset)
        if offset < 0 or offset + 28 > CHUNK_SIZE:
            break
        if offset % 8 == 0:
            _, size, record_id, written = _RECORD_HEADER.unpack_from(chunk, offset)
            if 32 <= size <= CHUNK_SIZE - offset and _UINT32.unpack_from(chunk, offset + size - 4)[0] == size:
                found.append(RecordSlot(offset, size, record_id, written))
                offset += size
                continue
        offset += 4
    return found


def creation_filetime(chunk: bytes, offset: int) -> int | None:
    """TimeCreated as a raw FILETIME, read from the record's substitution array.

    Windows writes every record as an instance of the System template whose
    only FILETIME substitution is ``TimeCreated``; reading it here keeps the
    100 ns precision that text renderings (µs) drop.
    """
    try:
        position = offset + 24
        if chunk[position] != 0x0F or chunk[position + 4] != 0x0C:
            return None
        definition = _UINT32.unpack_from(chunk, position + 10)[0]
        position += 14
        if definition == position:  # the template is defined inline
            position += 24 + _UINT32.unpack_from(chunk, position + 20)[0]
        count = _UINT32.unpack_from(chunk, position)[0]
        if count > 64:
            return None
        position += 4
        value = position + 4 * count
        for index in range(count):
            size = chunk[position] | chunk[position + 1] << 8
            if chunk[position + 2] == 0x11 and size == 8:
                return _UINT64.unpack_from(chunk, value)[0]
            value += size
            position += 4
    except (IndexError, struct.error):
        return None
    return None


def repaired_chunk(chunk: bytes) -> bytes:
    """A chunk python-evtx can open: a damaged header gets a signature and empty tables."""
    if chunk[:8] == CHUNK_SIGNATURE:
        return chunk
    data = bytearray(chunk)
    data[:8] = CHUNK_SIGNATURE
    data[128:512] = bytes(384)
    return bytes(data)


# -- python-evtx decoding ---------------------------------------------------------


class PythonEvtxChunk:
    """One chunk opened with python-evtx; decodes records at given offsets."""

    def __init__(self, chunk: bytes) -> None:
        from Evtx import Evtx as python_evtx

        logging.getLogger("Evtx").setLevel(logging.CRITICAL)
        self._module = python_evtx
        self.data = repaired_chunk(chunk)
        self._chunk = python_evtx.ChunkHeader(self.data, 0)
        # python-evtx follows the string and template hash chains until an
        # offset of 0: a chain that loops (damaged, or crafted) never ends.
        # Found by fuzzing (tests/fuzz/test_fuzz_evtx.py); these stop at a revisit.
        self._chunk._load_strings = functools.partial(_load_strings, self._chunk)
        self._chunk._load_templates = functools.partial(_load_templates, self._chunk)
        try:
            self._chunk.templates()
        except Exception:  # noqa: BLE001 - a damaged table: load templates on demand
            self._chunk._templates = {}

    def xml(self, slot: RecordSlot) -> str:
        """The record's XML; raises on anything python-evtx cannot decode."""
        for _ in range(8):
            try:
                return self._module.Record(self.data, slot.offset, self._chunk).xml()
            except KeyError as missing:  # a template not in the header table
                offset = missing.args[0] if missing.args else None
                if not isinstance(offset, int) or not 0 < offset < CHUNK_SIZE:
                    raise
                self._chunk.add_template(offset)
        raise ValueError("template chain too deep")


def _chains(chunk, table: int, buckets: int):
    """The offsets on each hash chain of a chunk table, each once (a loop ends the chain)."""
    for bucket in range(buckets):
        offset = chunk.unpack_dword(table + bucket * 4)
        seen: set[int] = set()
        while 0 < offset < CHUNK_SIZE and offset not in seen:
            seen.add(offset)
            offset = yield offset


def _load_strings(chunk) -> None:
    if chunk._strings is None:
        chunk._strings = {}
    chains = _chains(chunk, 0x80, 64)
    offset = next(chains, None)
    while offset is not None:
        node = chunk.add_string(offset)
        offset = _send(chains, node.next_offset())


def _load_templates(chunk) -> None:
    if chunk._templates is None:
        chunk._templates = {}
    chains = _chains(chunk, 0x180, 32)
    offset = next(chains, None)
    while offset is not None:
        # python-evtx's check: a template is preceded by its token and a pointer to itself
        if offset < 10 or chunk.unpack_byte(offset - 10) != 0x0C or chunk.unpack_dword(offset - 4) != offset:
            offset = _send(chains, 0)
            continue
        offset = _send(chains, chunk.add_template(offset).next_offset())


def _send(chains, value: int) -> int | None:
    try:
        return chains.send(value)
    except StopIteration:
        return None


def canonical_from_xml(xml: str) -> dict:
    """python-evtx XML -> the structure pyevtx-rs's JSON has (``{"Event": …}``).

    Values are normalised to pyevtx-rs's rendering (unpadded hex) so that both
    backends give the same event data.
    """
    root = ElementTree.fromstring(xml.replace("\r", "&#13;"))  # keep CR: XML parsing drops it
    event: dict = {}
    for child in root:
        name = _local(child.tag)
        if name == "System":
            event["System"] = _system_from_xml(child)
        elif name == "EventData":
            event["EventData"] = _payload_from_xml(child, event_data=True)
        elif name == "UserData":
            inner = next(iter(child), None)
            event["UserData"] = {_local(inner.tag): _payload_from_xml(inner)} if inner is not None else None
        else:
            event[name] = _payload_from_xml(child)
    return {"Event": event}


def _system_from_xml(element) -> dict:
    system: dict = {}
    for child in element:
        name = _local(child.tag)
        attributes = {key: _value(value) for key, value in child.attrib.items() if value != ""}
        text = _value(child.text)
        if attributes and text is not None:
            system[name] = {"#attributes": attributes, "#text": text}
        elif attributes:
            system[name] = {"#attributes": attributes}
        else:
            system[name] = text
    return system


def _payload_from_xml(element, event_data: bool = False) -> dict | None:
    payload: dict = {}
    unnamed: list = []
    for child in element:
        tag = _local(child.tag)
        name = child.attrib.get("Name") if event_data and tag == "Data" else None
        text = _value(child.text) if len(child) == 0 else _payload_from_xml(child)
        if tag == "Binary" and isinstance(text, str):
            text = _base64_to_hex(text)
        if event_data and tag == "Data" and name is not None and text is None:
            text = ""  # python-evtx writes an empty string as an empty element
        if event_data and tag == "Data" and name is None:
            unnamed.append(text if text is not None else "")
            continue
        key = name or tag
        unique, index = key, 0
        while unique in payload:
            index += 1
            unique = f"{key}_{index}"
        payload[unique] = text
    if unnamed:
        payload = {"Data": {"#text": unnamed if len(unnamed) > 1 else unnamed[0]}, **payload}
    return payload or None


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    if _PADDED_HEX.match(text):
        return "0x" + (text[2:].lstrip("0").lower() or "0")
    if _BRACED_GUID.match(text):
        return text[1:-1].upper()  # pyevtx-rs renders GUID values bare, upper case
    if text in ("True", "False"):
        return text.lower()
    match = _SPACED_TIME.match(text)
    if match:
        return f"{match.group(1)}T{match.group(2)}{match.group(3) or '.000000'}Z"
    return text


def _base64_to_hex(text: str) -> str:
    """python-evtx renders binary values as base64, pyevtx-rs as upper-case hex."""
    import base64
    import binascii

    try:
        return base64.b64decode(text, validate=True).hex().upper()
    except (binascii.Error, ValueError):
        return text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def chunks_of(file_object) -> Iterator[tuple[int, bytes, bool]]:
    """(index, 64 KiB chunk, truncated) for every chunk after the file header,
    whatever the header claims; a short last chunk is zero-padded."""
    index = 0
    while True:
        data = file_object.read(CHUNK_SIZE)
        if not data:
            return
        truncated = len(data) < CHUNK_SIZE
        if truncated:
            data = data.ljust(CHUNK_SIZE, b"\x00")
        yield index, data, truncated
        index += 1
        if truncated:
            return


def _template_reference(chunk: bytes, slot: RecordSlot) -> tuple[int, int] | None:
    """(where the record's TemplateInstance sits, the chunk offset of the
    template definition it names), or None when the record does not start
    with a fragment header and a TemplateInstance."""
    position = slot.offset + 24
    if position + 14 > CHUNK_SIZE or chunk[position] != 0x0F or chunk[position + 4] != 0x0C:
        return None
    return position, _UINT32.unpack_from(chunk, position + 10)[0]


def template_intact(chunk: bytes, slot: RecordSlot) -> bool:
    """Whether the template the record instantiates is still where it points.

    A template defined elsewhere in the chunk is preceded by its
    TemplateInstance token (0x0c) 10 bytes before, and the 4 bytes before it
    repeat its offset. When the defining record was overwritten this no
    longer holds, and no reader can decode the record: skip the slow attempt.
    """
    reference = _template_reference(chunk, slot)
    if reference is None:
        return False
    position, definition = reference
    if definition == position + 14:
        return True
    if not CHUNK_HEADER_SIZE + 10 <= definition < CHUNK_SIZE - 24:
        return False
    return chunk[definition - 10] == 0x0C and _UINT32.unpack_from(chunk, definition - 4)[0] == definition


def foreign_template(chunk: bytes, slot: RecordSlot) -> bool:
    """Whether the template the record points to is another template's now.

    The TemplateInstance repeats the first 4 bytes of its template's GUID
    (true of every record in a chain in the corpus); when the definition at
    that offset starts with other bytes, the record's own template was
    overwritten by another's. A reader still decodes it with that one: the
    substitution values (ids, times, names, command lines) are the record's
    own, the static parts (provider name, element names) are the other
    template's. libevtx does the same.
    """
    reference = _template_reference(chunk, slot)
    if reference is None:
        return False
    position, definition = reference
    if definition == position + 14 or not 0 < definition <= CHUNK_SIZE - 8:
        return False
    return chunk[definition + 4:definition + 8] != chunk[position + 6:position + 10]


def in_place_chunk(chunk: bytes, chain: list[RecordSlot]) -> tuple[bytes, dict[int, RecordSlot]]:
    """A copy of the chunk whose record chain from offset 512 reaches every slot.

    pyevtx-rs reads a chunk as a chain of records from offset 512 to the free
    space offset. Gaps between the wanted records (the tail of an overwritten
    record, a record a reader stops at) are covered by filler records, every
    record gets a unique id in its header (so results map back to slots), and
    the header is rewritten to cover the chain. Records stay at their offsets,
    so their template and name references still resolve. Returns the chunk and
    synthetic id -> slot.
    """
    data = bytearray(repaired_chunk(chunk))
    position = CHUNK_HEADER_SIZE
    slots: dict[int, RecordSlot] = {}
    filler_id = 1 << 40
    next_id = 1
    last = CHUNK_HEADER_SIZE
    for slot in sorted(chain, key=lambda s: s.offset):
        if slot.offset < position:
            continue
        gap = slot.offset - position
        if gap:
            if gap < 32:
                continue  # no room for a filler: left to python-evtx
            struct.pack_into("<4sIQQ", data, position, RECORD_SIGNATURE, gap, filler_id, 0)
            struct.pack_into("<I", data, position + gap - 4, gap)
            data[position + 24] = 0  # an empty fragment: the reader skips it with a warning
            filler_id += 1
        struct.pack_into("<Q", data, slot.offset + 8, next_id)
        slots[next_id] = slot
        next_id += 1
        last = slot.offset
        position = slot.offset + slot.size
    struct.pack_into("<QQQQ", data, 8, 1, filler_id, 1, filler_id)
    struct.pack_into("<II", data, 44, last, position)
    struct.pack_into("<I", data, 124, _crc_chunk_header(data))
    return bytes(data), slots


def _crc_chunk_header(data) -> int:
    import zlib

    return zlib.crc32(bytes(data[128:512]), zlib.crc32(bytes(data[:120])))


def chain_break(chunk: bytes, slots: list[RecordSlot], free_space: int) -> str | None:
    """Where and why the record chain stops short of the chunk's free space (None: it does not)."""
    end = slots[-1].offset + slots[-1].size if slots else CHUNK_HEADER_SIZE
    if end >= min(free_space, CHUNK_SIZE) or end + 28 > CHUNK_SIZE:
        return None
    signature, size, record_id, _ = _RECORD_HEADER.unpack_from(chunk, end)
    if signature != RECORD_SIGNATURE:
        why = "no record signature"
    elif size < 28 or end + size > CHUNK_SIZE:
        why = f"record {record_id} has an impossible size of {size} bytes"
    else:
        return None
    return (f"the record chain breaks at chunk offset {end} ({why}); "
            f"records behind it are carved and marked recovered")


def checksum_problems(chunk: bytes, free_space: int) -> list[str]:
    """Chunk header and record data CRC32s that do not match (the records are read anyway)."""
    import zlib

    problems = []
    stored_header, = _UINT32.unpack_from(chunk, 124)
    if stored_header != _crc_chunk_header(chunk):
        problems.append(f"chunk header checksum mismatch (stored 0x{stored_header:08x}, "
                        f"computed 0x{_crc_chunk_header(chunk):08x}); read anyway")
    stored_data, = _UINT32.unpack_from(chunk, 52)
    computed = zlib.crc32(chunk[CHUNK_HEADER_SIZE:min(free_space, CHUNK_SIZE)])
    if free_space > CHUNK_HEADER_SIZE and stored_data != computed:
        problems.append(f"record data checksum mismatch (stored 0x{stored_data:08x}, "
                        f"computed 0x{computed:08x}): records changed after they were written, or damaged; read anyway")
    return problems


# -- chunks carved from free space -------------------------------------------------


def header_checksum_ok(chunk: bytes) -> bool:
    """Whether the chunk header's CRC32 (bytes 0-120 and 128-512) is the one stored."""
    return chunk[:8] == CHUNK_SIGNATURE and _UINT32.unpack_from(chunk, 124)[0] == _crc_chunk_header(chunk)


def record_keys(chunk: bytes) -> dict[int, tuple[int, int, int]]:
    """Chunk offset -> (record id, written FILETIME, CRC32 of the record's bytes) of
    every record a reader or the carver can find in the chunk: its chain and its
    slack. The same record in two copies of a chunk has the same key, whichever
    copy is a live log's; another record sharing an id and a time does not."""
    import zlib

    free_space = _UINT32.unpack_from(chunk, 48)[0] if chunk[:8] == CHUNK_SIGNATURE else CHUNK_HEADER_SIZE
    slots = walk_records(chunk, CHUNK_HEADER_SIZE, free_space) + carve_records(chunk)
    return {slot.offset: (slot.record_id, slot.written, zlib.crc32(chunk[slot.offset:slot.offset + slot.size]))
            for slot in slots}


def worth_reading(chunk: bytes) -> bool:
    """Whether a chunk found by its signature can give records: its header checksum
    holds, or a record can be carved from it. A stray ``ElfChnk`` (the string in a
    program, a chunk whose clusters were reused) is skipped without a word."""
    return header_checksum_ok(chunk) or bool(carve_records(chunk))
