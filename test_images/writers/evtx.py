"""Write Windows XML Event Log (EVTX) files the way Windows 10/11 writes them.

Test evidence for sandtrace must be realistic enough that every reader we
compare against (pyevtx-rs, python-evtx, libevtx) parses it exactly as it
parses a real log. So records are not "flat" BinXml: like the event log
service, each record is a TemplateInstance of the generic manifest-event
``<Event><System>…</System>[EventData]</Event>`` template (18 optional
substitutions, only ``<Computer>`` literal), whose last substitution is a
nested BinXml fragment holding the per-event ``<EventData>`` template.
Template definitions and element/attribute names are stored once per chunk
(inline at first use) and referenced by chunk offset afterwards, with the
chunk's common-string and template pointer tables chained like Windows does.

References: libyal "Windows XML Event Log (EVTX) format", MS-EVEN6 BinXml.

    log = EvtxLog(channel="Security", computer="WIN11-HOST")
    log.add(provider="Microsoft-Windows-Security-Auditing", event_id=4688,
            time_created=ft, data=[("SubjectUserSid", Sid("S-1-5-18"))])
    raw = log.to_bytes()
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import uuid
import zlib
from typing import Any, Callable, Optional, Sequence, Union

from construct import (
    Array, Bytes, Check, Checksum, Const, Int16ul, Int32ul, Int64ul, Padding,
    Pointer, RawCopy, Rebuild, Struct, Tell, this,
)

__all__ = [
    "EvtxLog", "Sid", "Guid", "HexInt32", "HexInt64", "UInt8", "UInt16",
    "UInt32", "UInt64", "SizeT", "FileTime", "Binary", "FILE_HEADER",
    "CHUNK_HEADER", "EVENT_RECORD", "name_hash", "chunk_header_crc",
]

CHUNK_SIZE = 0x10000
CHUNK_HEADER_SIZE = 512
FILE_HEADER_SIZE = 4096
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
FLAG_DIRTY, FLAG_FULL = 0x1, 0x2

# --------------------------------------------------------------- structures

FILE_HEADER = Struct(
    "header" / RawCopy(Struct(
        "signature" / Const(b"ElfFile\x00"),
        "first_chunk_number" / Int64ul,
        "last_chunk_number" / Int64ul,
        "next_record_id" / Int64ul,
        "header_size" / Const(128, Int32ul),
        "minor_version" / Const(1, Int16ul),
        "major_version" / Const(3, Int16ul),
        "header_block_size" / Const(4096, Int16ul),
        "number_of_chunks" / Int16ul,
        Padding(76),
    )),
    "flags" / Int32ul,  # not covered by the CRC
    "checksum" / Checksum(Int32ul, zlib.crc32, this.header.data),
    Padding(FILE_HEADER_SIZE - 128),
)
"""The 4096-byte file header; CRC32 covers its first 120 bytes."""


def chunk_header_crc(header: bytes) -> int:
    """CRC32 of chunk header bytes 0-120 and 128-512 (flags are excluded)."""
    return zlib.crc32(header[128:512], zlib.crc32(header[:120]))


def _chunk_header_bytes(ctx: Any) -> bytes:
    """Read the 512 header bytes back from the stream (parse or build)."""
    stream, here = ctx._io, ctx._io.tell()
    stream.seek(ctx._start)
    data = stream.read(CHUNK_HEADER_SIZE)
    stream.seek(here)
    return data


CHUNK_HEADER = Struct(
    "_start" / Tell,
    "signature" / Const(b"ElfChnk\x00"),
    "first_record_number" / Int64ul,
    "last_record_number" / Int64ul,
    "first_record_id" / Int64ul,
    "last_record_id" / Int64ul,
    "header_size" / Const(128, Int32ul),
    "last_record_offset" / Int32ul,
    "free_space_offset" / Int32ul,
    "records_checksum" / Int32ul,
    Padding(64),
    "flags" / Int32ul,
    Padding(4),  # header checksum, written by the Pointer below
    "string_offsets" / Array(64, Int32ul),
    "template_offsets" / Array(32, Int32ul),
    # The header CRC also covers the tables after it: computed last, then
    # seeked back to offset 124.
    "checksum" / Pointer(lambda ctx: ctx._start + 124, Checksum(
        Int32ul, chunk_header_crc, _chunk_header_bytes)),
)
"""The 512-byte chunk header (needs a seekable, readable stream)."""

EVENT_RECORD = Struct(
    "signature" / Const(b"\x2a\x2a\x00\x00"),
    "size" / Rebuild(Int32ul, lambda ctx: len(ctx.binxml) + 28),
    "record_id" / Int64ul,
    "written_time" / Int64ul,
    "binxml" / Bytes(this.size - 28),
    "size_copy" / Rebuild(Int32ul, this.size),
    Check(this.size_copy == this.size),
)
"""One event record: header, BinXml (zero-padded to 8 bytes), size copy."""

# ------------------------------------------------------------ value types


class Sid(str):
    """A SID ("S-1-5-18"), written as BinXml type 0x13."""


class Guid(str):
    """A GUID ("{…}"), written as type 0x0f."""


class HexInt32(int):
    """An integer Windows renders as hex (type 0x14), e.g. Status codes."""


class HexInt64(int):
    """A 64-bit integer rendered as hex (type 0x15), e.g. logon ids."""


class UInt8(int):
    """Type 0x04."""


class UInt16(int):
    """Type 0x06."""


class UInt32(int):
    """Type 0x08 (also what a plain ``int`` < 2**32 becomes)."""


class UInt64(int):
    """Type 0x0a."""


class SizeT(int):
    """A pointer-sized value (type 0x10, 8 bytes), e.g. 4625's ProcessId."""


class FileTime(int):
    """A FILETIME (100 ns ticks since 1601, type 0x11)."""


class Binary(bytes):
    """Raw bytes (type 0x0e); plain ``bytes`` are treated the same way."""


T_NULL, T_STR, T_U8, T_U16, T_U32, T_U64 = 0x00, 0x01, 0x04, 0x06, 0x08, 0x0A
T_BOOL, T_BIN, T_GUID, T_SIZET, T_FILETIME = 0x0D, 0x0E, 0x0F, 0x10, 0x11
T_SID, T_HEX32, T_HEX64, T_BINXML = 0x13, 0x14, 0x15, 0x21

_WRAPPERS: Sequence[tuple[type, int, str]] = (
    (UInt8, T_U8, "<B"), (UInt16, T_U16, "<H"), (UInt32, T_U32, "<I"),
    (UInt64, T_U64, "<Q"), (HexInt32, T_HEX32, "<I"), (HexInt64, T_HEX64, "<Q"),
    (SizeT, T_HEX64, "<Q"), (FileTime, T_FILETIME, "<Q"),
)
Value = Union[None, str, int, bool, bytes]


def _sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")
    if parts[0].upper() != "S" or len(parts) < 3:
        raise ValueError(f"not a SID: {sid!r}")
    subs = [int(p) for p in parts[3:]]
    return (struct.pack("<BB", int(parts[1]), len(subs))
            + int(parts[2]).to_bytes(6, "big")
            + b"".join(struct.pack("<I", s) for s in subs))


def encode_value(value: Value) -> tuple[int, bytes]:
    """Map a Python value to (BinXml value type, bytes) as in MS-EVEN6."""
    if value is None:
        return T_NULL, b""
    if isinstance(value, Sid):
        return T_SID, _sid_bytes(value)
    if isinstance(value, Guid):
        return T_GUID, uuid.UUID(value).bytes_le
    if isinstance(value, str):
        return T_STR, value.encode("utf-16-le")
    if isinstance(value, bool):
        return T_BOOL, struct.pack("<I", int(value))
    for cls, vtype, fmt in _WRAPPERS:
        if isinstance(value, cls):
            return vtype, struct.pack(fmt, value)
    if isinstance(value, int):
        return (T_U32, struct.pack("<I", value)) if 0 <= value < 2**32 \
            else (T_U64, struct.pack("<Q", value))
    if isinstance(value, (bytes, bytearray)):
        return T_BIN, bytes(value)
    raise TypeError(f"no BinXml type for {value!r}")


def _template_type(value: Value) -> int:
    """The type a template's substitution token declares for ``value``."""
    return T_SIZET if isinstance(value, SizeT) else encode_value(value)[0]


def name_hash(name: str) -> int:
    """The 16-bit UTF-16 name hash stored with each chunk string."""
    h = 0
    for ch in name:
        h = (h * 65599 + ord(ch)) & 0xFFFFFFFF
    return h & 0xFFFF

# ---------------------------------------------------------- BinXml encoder


@dataclasses.dataclass(frozen=True)
class Text:
    """A literal value (token 0x05, UTF-16 string)."""
    value: str


@dataclasses.dataclass(frozen=True)
class Sub:
    """A substitution token: optional (0x0e) or normal (0x0d)."""
    index: int
    vtype: int
    optional: bool = True


@dataclasses.dataclass(frozen=True)
class El:
    """An element of a template definition."""
    name: str
    attrs: tuple[tuple[str, Union[Text, Sub]], ...] = ()
    children: tuple[Union["El", Text, Sub], ...] = ()


# A substitution value: (type, bytes) or (T_BINXML, writer-callback).
SubValue = tuple[int, Union[bytes, Callable[["_BinXml"], None]]]


class _ChunkTables:
    """Names and templates already stored in a chunk, with bucket heads."""

    def __init__(self) -> None:
        self.strings: dict[str, int] = {}
        self.string_heads = [0] * 64
        self.templates: dict[Any, int] = {}
        self.template_heads = [0] * 32

    def copy(self) -> "_ChunkTables":
        new = _ChunkTables()
        new.strings, new.templates = dict(self.strings), dict(self.templates)
        new.string_heads = list(self.string_heads)
        new.template_heads = list(self.template_heads)
        return new


class _BinXml:
    """Encodes one record's BinXml at a known chunk offset.

    Offsets to names and templates are absolute within the chunk, so the
    encoder knows where its first byte lands (``base``). It works on a copy
    of the chunk tables that is kept only if the record fits the chunk.
    """

    def __init__(self, tables: _ChunkTables, base: int) -> None:
        self.tables, self.base, self.buf = tables.copy(), base, bytearray()

    @property
    def pos(self) -> int:
        return self.base + len(self.buf)

    def put(self, fmt: str, *values: int) -> None:
        self.buf += struct.pack(fmt, *values)

    def _size_slot(self) -> int:
        self.put("<I", 0)
        return len(self.buf)

    def _fill_size(self, end_of_slot: int) -> None:
        struct.pack_into("<I", self.buf, end_of_slot - 4, len(self.buf) - end_of_slot)

    def name(self, name: str) -> None:
        """Reference a stored name, or store it inline (chaining its bucket)."""
        offset = self.tables.strings.get(name)
        if offset is not None:
            self.put("<I", offset)
            return
        offset = self.pos + 4
        self.put("<I", offset)
        digest, bucket = name_hash(name), name_hash(name) % 64
        self.put("<IHH", self.tables.string_heads[bucket], digest, len(name))
        self.buf += name.encode("utf-16-le") + b"\x00\x00"
        self.tables.strings[name] = offset
        self.tables.string_heads[bucket] = offset

    def node(self, node: Union[El, Text, Sub]) -> None:
        if isinstance(node, Text):
            self.put("<BBH", 0x05, T_STR, len(node.value.encode("utf-16-le")) // 2)
            self.buf += node.value.encode("utf-16-le")
        elif isinstance(node, Sub):
            self.put("<BHB", 0x0E if node.optional else 0x0D, node.index, node.vtype)
        else:
            self.element(node)

    def element(self, el: El) -> None:
        self.put("<BH", 0x41 if el.attrs else 0x01, 0xFFFF)
        element_size = self._size_slot()
        self.name(el.name)
        if el.attrs:
            attr_size = self._size_slot()
            for i, (attr, value) in enumerate(el.attrs):
                self.put("<B", 0x46 if i + 1 < len(el.attrs) else 0x06)
                self.name(attr)
                self.node(value)
            self._fill_size(attr_size)
        if el.children:
            self.put("<B", 0x02)
            for child in el.children:
                self.node(child)
            self.put("<B", 0x04)
        else:
            self.put("<B", 0x03)
        self._fill_size(element_size)

    def fragment(self, key: Any, tree: El, values: Sequence[SubValue]) -> None:
        """Fragment header, TemplateInstance, substitution array, EOF."""
        self.buf += b"\x0f\x01\x01\x00\x0c\x01"
        guid = hashlib.md5(repr(key).encode()).digest()
        template_id = int.from_bytes(guid[:4], "little")
        offset = self.tables.templates.get(key)
        if offset is not None:
            self.put("<II", template_id, offset)
        else:  # first use in this chunk: the definition follows inline
            offset = self.pos + 8
            self.put("<II", template_id, offset)
            bucket = template_id % 32
            self.put("<I", self.tables.template_heads[bucket])
            self.buf += guid
            data_size = self._size_slot()
            self.buf += b"\x0f\x01\x01\x00"
            self.element(tree)
            self.put("<B", 0x00)
            self._fill_size(data_size)
            self.tables.templates[key] = offset
            self.tables.template_heads[bucket] = offset
        self.put("<I", len(values))
        descriptors = len(self.buf)
        self.buf += bytes(4 * len(values))
        for i, (vtype, data) in enumerate(values):
            start = len(self.buf)
            if callable(data):
                data(self)  # a nested fragment, written in place
            else:
                self.buf += data
            size = len(self.buf) - start
            struct.pack_into("<HBB", self.buf, descriptors + 4 * i, size, vtype, 0)
        self.put("<B", 0x00)

# ------------------------------------------------------------ event layout


def _system_template(computer: str) -> El:
    """The generic Windows 10/11 manifest-event template (18 substitutions)."""
    def sub(index: int, vtype: int) -> Sub:
        return Sub(index, vtype)
    return El("Event", (("xmlns", Text(EVENT_NS)),), (
        El("System", (), (
            El("Provider", (("Name", sub(14, T_STR)), ("Guid", sub(15, T_GUID)))),
            El("EventID", (("Qualifiers", sub(4, T_U16)),), (sub(3, T_U16),)),
            El("Version", (), (sub(11, T_U8),)),
            El("Level", (), (sub(0, T_U8),)),
            El("Task", (), (sub(2, T_U16),)),
            El("Opcode", (), (sub(1, T_U8),)),
            El("Keywords", (), (sub(5, T_HEX64),)),
            El("TimeCreated", (("SystemTime", sub(6, T_FILETIME)),)),
            El("EventRecordID", (), (sub(10, T_U64),)),
            El("Correlation", (("ActivityID", sub(7, T_GUID)),
                               ("RelatedActivityID", sub(13, T_GUID)))),
            El("Execution", (("ProcessID", sub(8, T_U32)), ("ThreadID", sub(9, T_U32)))),
            El("Channel", (), (sub(16, T_STR),)),
            El("Computer", (), (Text(computer),)),
            El("Security", (("UserID", sub(12, T_SID)),)),
        )),
        sub(17, T_BINXML),
    ))


def _payload_template(fields: Sequence[tuple[str, int]],
                      user_data: Optional[tuple[str, str]] = None) -> El:
    """``<EventData><Data Name="…">%n</Data>…</EventData>``, or for
    ``user_data=(element, xmlns)`` ``<UserData><element xmlns=…><name>%n…``.
    Normal substitutions, optional ones only for None values (libevtx
    rejects a null value in a normal substitution)."""
    def sub(i: int, vtype: int) -> Sub:
        return Sub(i, vtype or T_STR, optional=vtype == T_NULL)
    if user_data is None:
        return El("EventData", (), tuple(
            El("Data", (("Name", Text(name)),), (sub(i, vtype),))
            for i, (name, vtype) in enumerate(fields)))
    element, xmlns = user_data
    return El("UserData", (), (El(element, (("xmlns", Text(xmlns)),), tuple(
        El(name, (), (sub(i, vtype),)) for i, (name, vtype) in enumerate(fields))),))


@dataclasses.dataclass
class Event:
    """One event as given to :meth:`EvtxLog.add` (kept for ground truth)."""
    record_id: int
    provider: str
    event_id: int
    time_created: int
    written_time: int
    provider_guid: Optional[str] = None
    qualifiers: Optional[int] = None
    version: int = 0
    level: int = 0
    task: int = 0
    opcode: int = 0
    keywords: int = 0
    process_id: int = 0
    thread_id: int = 0
    channel: str = ""
    user_sid: Optional[str] = None
    activity_id: Optional[str] = None
    data: Optional[list[tuple[str, Value]]] = None
    user_data: Optional[tuple[str, str]] = None  # (element, xmlns) for UserData


def encode_event(ev: Event, computer: str, tables: _ChunkTables, base: int) -> _BinXml:
    """Encode one event's BinXml as Windows does, at chunk offset ``base``."""
    def opt(value: Value) -> SubValue:
        return encode_value(value)

    def as_type(cls: type, value: Optional[int]) -> SubValue:
        return encode_value(None if value is None else cls(value))

    event_data: SubValue = (T_NULL, b"")
    if ev.data is not None:
        encoded = [(name, encode_value(v)) for name, v in ev.data]
        # Windows puts the manifest type in the template and the written
        # type in the value descriptor: they differ for SizeT (hex64 value).
        fields = tuple((name, _template_type(v)) for name, v in ev.data)

        def write_event_data(w: _BinXml) -> None:
            w.fragment(("Payload", ev.user_data, fields),
                       _payload_template(fields, ev.user_data),
                       [val for _, val in encoded])
        event_data = (T_BINXML, write_event_data)
    values: list[SubValue] = [
        as_type(UInt8, ev.level), as_type(UInt8, ev.opcode),
        as_type(UInt16, ev.task), as_type(UInt16, ev.event_id),
        as_type(UInt16, ev.qualifiers), as_type(HexInt64, ev.keywords),
        as_type(FileTime, ev.time_created),
        opt(None if ev.activity_id is None else Guid(ev.activity_id)),
        as_type(UInt32, ev.process_id), as_type(UInt32, ev.thread_id),
        as_type(UInt64, ev.record_id), as_type(UInt8, ev.version),
        opt(None if ev.user_sid is None else Sid(ev.user_sid)), opt(None),
        opt(ev.provider),
        opt(None if ev.provider_guid is None else Guid(ev.provider_guid)),
        opt(ev.channel), event_data,
    ]
    w = _BinXml(tables, base)
    w.fragment(("System", computer), _system_template(computer), values)
    w.buf += bytes(-(len(w.buf) + 28) % 8)  # records are 8-byte aligned
    return w

# ------------------------------------------------------- chunk/file layout


class _Chunk:
    """A 64 KiB chunk being filled with records."""

    def __init__(self) -> None:
        self.tables = _ChunkTables()
        self.body = bytearray()  # records, starting at chunk offset 512
        self.record_ids: list[int] = []
        self.last_record_offset = 0

    @property
    def free_offset(self) -> int:
        return CHUNK_HEADER_SIZE + len(self.body)

    def try_add(self, ev: Event, computer: str) -> bool:
        """Append the record if it fits; names/templates commit only then."""
        w = encode_event(ev, computer, self.tables, self.free_offset + 24)
        record = EVENT_RECORD.build(dict(record_id=ev.record_id,
                                         written_time=ev.written_time, binxml=bytes(w.buf)))
        if self.free_offset + len(record) > CHUNK_SIZE:
            return False
        self.last_record_offset = self.free_offset
        self.body += record
        self.tables = w.tables
        self.record_ids.append(ev.record_id)
        return True

    def to_bytes(self) -> bytes:
        header = CHUNK_HEADER.build(dict(
            first_record_number=self.record_ids[0], last_record_number=self.record_ids[-1],
            first_record_id=self.record_ids[0], last_record_id=self.record_ids[-1],
            last_record_offset=self.last_record_offset, free_space_offset=self.free_offset,
            records_checksum=zlib.crc32(self.body), flags=1,
            string_offsets=self.tables.string_heads,
            template_offsets=self.tables.template_heads))
        return (header + self.body).ljust(CHUNK_SIZE, b"\x00")


class EvtxLog:
    """An event log of one channel on one computer, built in memory.

    Records get sequential ids from ``first_record_id``; output is a pure
    function of the inputs (template GUIDs are hashes of their shape).
    """

    def __init__(self, channel: str, computer: str, first_record_id: int = 1) -> None:
        self.channel, self.computer = channel, computer
        self.events: list[Event] = []
        self._next_id = first_record_id

    def add(self, provider: str, event_id: int, time_created: int, *,
            provider_guid: Optional[str] = None, qualifiers: Optional[int] = None,
            version: int = 0, level: int = 4, task: int = 0, opcode: int = 0,
            keywords: int = 0, process_id: int = 0, thread_id: int = 0,
            user_sid: Optional[str] = None, activity_id: Optional[str] = None,
            data: Optional[Sequence[tuple[str, Value]]] = None,
            user_data: Optional[tuple[str, str]] = None,
            written_time: Optional[int] = None, channel: Optional[str] = None) -> Event:
        """Append an event; ``data=[]`` writes an empty ``<EventData/>`` (what
        Windows does for payload-less events), ``data=None`` a null payload
        substitution (no EventData; libevtx cannot read such a record). With ``user_data=(element, xmlns)`` the
        ``data`` pairs become ``<UserData><element xmlns=…><name>value…``
        instead. Returns the event (with its record id)."""
        ev = Event(
            record_id=self._next_id, provider=provider, event_id=event_id,
            time_created=time_created,
            written_time=time_created if written_time is None else written_time,
            provider_guid=provider_guid, qualifiers=qualifiers, version=version,
            level=level, task=task, opcode=opcode, keywords=keywords,
            process_id=process_id, thread_id=thread_id,
            channel=self.channel if channel is None else channel,
            user_sid=user_sid, activity_id=activity_id,
            data=None if data is None else list(data), user_data=user_data)
        self._next_id += 1
        self.events.append(ev)
        return ev

    def chunks(self) -> list[_Chunk]:
        """Lay the records out; a record that does not fit opens a new chunk."""
        chunks = [_Chunk()]
        for ev in self.events:
            if not chunks[-1].try_add(ev, self.computer):
                chunks.append(_Chunk())
                if not chunks[-1].try_add(ev, self.computer):
                    raise ValueError(f"record {ev.record_id} exceeds a chunk")
        return chunks if self.events else []

    def to_bytes(self, *, dirty: bool = False, full: bool = False,
                 header_chunks: Optional[int] = None) -> bytes:
        """The file. ``header_chunks`` makes the header claim fewer chunks
        than are written (as after an unclean shutdown); ``dirty``/``full``
        set the header flags."""
        chunks = [c.to_bytes() for c in self.chunks()]
        claimed = len(chunks) if header_chunks is None else header_chunks
        last_id = (int.from_bytes(chunks[claimed - 1][32:40], "little")
                   if claimed else self._next_id - len(self.events) - 1)
        header = FILE_HEADER.build(dict(header=dict(value=dict(
            first_chunk_number=0, last_chunk_number=max(claimed - 1, 0),
            next_record_id=last_id + 1, number_of_chunks=claimed)),
            flags=(FLAG_DIRTY if dirty else 0) | (FLAG_FULL if full else 0)))
        return header + b"".join(chunks)

    def write(self, path: str, **kwargs: Any) -> None:
        """Write :meth:`to_bytes` to ``path``."""
        with open(path, "wb") as f:
            f.write(self.to_bytes(**kwargs))
