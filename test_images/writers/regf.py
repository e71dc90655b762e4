"""Windows NT registry hive (REGF) writer for sandtrace's test evidence.

Why: tests need hives whose every key, value and timestamp is known, with the
on-disk shapes Windows really produces (ri->lh index trees, db big data, sk
security cells, UTF-16 names). Layout follows libyal's "Windows NT Registry
File (REGF) format". Each construct ``Struct`` below both parses and builds
one structure; all cell offsets are relative to the hive bins data (file
offset 4096). Output is deterministic: the same calls give the same bytes.

    hive = Hive(root_name="ROOT", last_written=ft, file_name="\\\\??\\\\C:\\\\...\\\\SOFTWARE")
    run = hive.key("Microsoft\\\\Windows\\\\CurrentVersion\\\\Run", last_written=ft)
    run.set_value("Name", REG_SZ, "text")
    data = hive.to_bytes()
"""

from __future__ import annotations

import struct
from functools import reduce
from typing import Optional, Sequence, Union

from construct import (
    Array, Bytes, Checksum, Const, Int16ul, Int32sl, Int32ul, Int64ul, OneOf,
    PaddedString, RawCopy, Rebuild, Struct, len_, this,
)

REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY = 0, 1, 2, 3
REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_LINK, REG_MULTI_SZ = 4, 5, 6, 7
REG_QWORD = 11

KEY_HIVE_ENTRY, KEY_NO_DELETE, KEY_COMP_NAME = 0x0004, 0x0008, 0x0020
VALUE_COMP_NAME = 0x0001
NO_OFFSET = 0xFFFFFFFF
RESIDENT = 0x80000000          # vk data size flag: data lives in the offset field
BIG_DATA_SEGMENT = 16344       # max bytes per db segment (and per plain data cell)
BASE_BLOCK_SIZE = 4096
HBIN_HEADER_SIZE = 32
NK_FIXED = 76                  # nk cell payload before the name
VK_FIXED = 20

ValueData = Union[str, int, bytes, Sequence[str]]


def xor32(data: bytes) -> int:
    """Base-block checksum: XOR of the first 127 little-endian dwords (0/-1 avoided)."""
    value = reduce(lambda a, b: a ^ b, struct.unpack("<127I", data[:508]), 0)
    return {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(value, value)


# --- on-disk structures (each parses and builds) -------------------------------

BASE_BLOCK_HEADER = Struct(
    "signature" / Const(b"regf"),
    "primary_sequence" / Int32ul,
    "secondary_sequence" / Int32ul,
    "last_written" / Int64ul,
    "major_version" / Int32ul,
    "minor_version" / Int32ul,
    "file_type" / Int32ul,
    "file_format" / Int32ul,
    "root_cell_offset" / Int32ul,
    "hive_bins_data_size" / Int32ul,
    "clustering_factor" / Int32ul,
    "file_name" / PaddedString(64, "utf-16-le"),
    "reserved1" / Bytes(396),
)
BASE_BLOCK = Struct(
    "header" / RawCopy(BASE_BLOCK_HEADER),
    "checksum" / Checksum(Int32ul, xor32, this.header.data),
    "reserved2" / Bytes(3576),
    "boot_type" / Int32ul,
    "boot_recover" / Int32ul,
)
HBIN_HEADER = Struct(
    "signature" / Const(b"hbin"),
    "offset" / Int32ul,             # of this bin, relative to hive bins data
    "size" / Int32ul,
    "reserved" / Bytes(8),
    "timestamp" / Int64ul,
    "spare" / Int32ul,
)
CELL = Struct(
    "size" / Int32sl,               # negative: allocated; always a multiple of 8
    "data" / Bytes(lambda ctx: abs(ctx.size) - 4),
)
NK = Struct(
    "signature" / Const(b"nk"),
    "flags" / Int16ul,
    "last_written" / Int64ul,
    "access_bits" / Int32ul,
    "parent_offset" / Int32ul,
    "number_of_subkeys" / Int32ul,
    "number_of_volatile_subkeys" / Int32ul,
    "subkeys_list_offset" / Int32ul,
    "volatile_subkeys_list_offset" / Int32ul,
    "number_of_values" / Int32ul,
    "values_list_offset" / Int32ul,
    "security_offset" / Int32ul,
    "class_name_offset" / Int32ul,
    "largest_subkey_name_length" / Int32ul,
    "largest_subkey_class_name_length" / Int32ul,
    "largest_value_name_length" / Int32ul,
    "largest_value_data_size" / Int32ul,
    "work_var" / Int32ul,
    "name_size" / Rebuild(Int16ul, len_(this.name)),
    "class_name_size" / Int16ul,
    "name" / Bytes(this.name_size),
)
VK = Struct(
    "signature" / Const(b"vk"),
    "name_size" / Rebuild(Int16ul, len_(this.name)),
    "data_size" / Int32ul,
    "data_offset" / Int32ul,
    "data_type" / Int32ul,
    "flags" / Int16ul,
    "spare" / Int16ul,
    "name" / Bytes(this.name_size),
)
HASH_LEAF = Struct(                 # "lf": hint = first 4 name chars, "lh": hash
    "signature" / OneOf(Bytes(2), [b"lf", b"lh"]),
    "number_of_elements" / Rebuild(Int16ul, len_(this.elements)),
    "elements" / Array(this.number_of_elements,
                       Struct("key_offset" / Int32ul, "hash" / Int32ul)),
)
INDEX_LEAF = Struct(
    "signature" / Const(b"li"),
    "number_of_elements" / Rebuild(Int16ul, len_(this.elements)),
    "elements" / Array(this.number_of_elements, Int32ul),
)
INDEX_ROOT = Struct(                # elements point to lf/lh/li leaves
    "signature" / Const(b"ri"),
    "number_of_elements" / Rebuild(Int16ul, len_(this.elements)),
    "elements" / Array(this.number_of_elements, Int32ul),
)
SK = Struct(
    "signature" / Const(b"sk"),
    "reserved" / Int16ul,
    "flink" / Int32ul,
    "blink" / Int32ul,
    "reference_count" / Int32ul,
    "descriptor_size" / Rebuild(Int32ul, len_(this.descriptor)),
    "descriptor" / Bytes(this.descriptor_size),
)
DB = Struct(
    "signature" / Const(b"db"),
    "number_of_segments" / Int16ul,
    "segments_list_offset" / Int32ul,
)


# --- security descriptors -------------------------------------------------------

def sid_bytes(sid: str) -> bytes:
    """Binary SID from its string form, e.g. "S-1-5-32-544"."""
    parts = sid.split("-")
    authority, subs = int(parts[2]), [int(p) for p in parts[3:]]
    return (struct.pack("<BB", int(parts[1]), len(subs)) + authority.to_bytes(6, "big")
            + struct.pack(f"<{len(subs)}I", *subs))


def security_descriptor(owner: str = "S-1-5-32-544", group: str = "S-1-5-18",
                        aces: Sequence[tuple[int, int, int, str]] = (
                            (0, 0x02, 0x000F003F, "S-1-5-18"),       # SY: KEY_ALL_ACCESS
                            (0, 0x02, 0x000F003F, "S-1-5-32-544"),   # BA: KEY_ALL_ACCESS
                            (0, 0x02, 0x00020019, "S-1-5-32-545"),   # BU: KEY_READ
                        )) -> bytes:
    """Self-relative SD (O:BAG:SYD:(A;CI;KA;;;SY)(A;CI;KA;;;BA)(A;CI;KR;;;BU) by default).

    aces are (type, flags, access mask, SID) tuples; type 0 = ACCESS_ALLOWED.
    """
    body = b"".join(struct.pack("<BBHI", t, f, 8 + len(sid_bytes(s)), m) + sid_bytes(s)
                    for t, f, m, s in aces)
    dacl = struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body
    own, grp = sid_bytes(owner), sid_bytes(group)
    off_owner = 20
    off_group = off_owner + len(own)
    off_dacl = off_group + len(grp)
    header = struct.pack("<BBHIIII", 1, 0, 0x8004, off_owner, off_group, 0, off_dacl)
    return header + own + grp + dacl      # control: SE_SELF_RELATIVE | SE_DACL_PRESENT


# --- helpers ----------------------------------------------------------------------

def _upcase(name: str) -> str:
    """Windows-style upcase: char by char, keeping chars with no 1-char uppercase (ß)."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in name)


def sort_key(name: str) -> bytes:
    """Windows orders subkeys by upcased UTF-16 code units."""
    return _upcase(name).encode("utf-16-be")


def lh_hash(name: str) -> int:
    """lh leaf hash: h = h*37 + upcase(code unit), modulo 2**32."""
    units = struct.unpack(f"<{len(name.encode('utf-16-le')) // 2}H",
                          _upcase(name).encode("utf-16-le"))
    return reduce(lambda h, c: (h * 37 + c) & 0xFFFFFFFF, units, 0)


def lf_hint(name: str) -> int:
    """lf leaf hint: the first 4 name characters as bytes (0 for non-Latin-1)."""
    raw = bytes(ord(c) if ord(c) < 256 else 0 for c in name[:4])
    return int.from_bytes(raw.ljust(4, b"\0"), "little")


def encode_name(name: str) -> tuple[bytes, bool]:
    """ASCII names are stored compressed (1 byte/char), others as UTF-16LE."""
    if name.isascii():
        return name.encode("ascii"), True
    return name.encode("utf-16-le"), False


def encode_data(value_type: int, data: ValueData) -> bytes:
    """Serialize Python data the way RegSetValueEx stores it; bytes pass through."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if value_type in (REG_SZ, REG_EXPAND_SZ, REG_LINK) and isinstance(data, str):
        return (data + "\0").encode("utf-16-le")
    if value_type == REG_MULTI_SZ and not isinstance(data, (str, int)):
        return "".join(s + "\0" for s in data).encode("utf-16-le") + b"\0\0"
    if value_type == REG_DWORD and isinstance(data, int):
        return struct.pack("<I", data)
    if value_type == REG_DWORD_BIG_ENDIAN and isinstance(data, int):
        return struct.pack(">I", data)
    if value_type == REG_QWORD and isinstance(data, int):
        return struct.pack("<Q", data)
    raise TypeError(f"cannot encode {type(data).__name__} as registry type {value_type}")


def _u16(text: str) -> int:
    """Length in bytes as UTF-16: the unit of the nk "largest name" fields."""
    return len(text.encode("utf-16-le"))


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


class _Bins:
    """Cell allocator: appends 8-aligned cells, opening 4096-multiple hbins as needed."""

    def __init__(self, timestamp: int) -> None:
        self.buf = bytearray()
        self.bin_start = self.bin_end = self.cursor = 0
        self.timestamp = timestamp

    def alloc(self, payload: int) -> int:
        size = _align(payload + 4, 8)
        if self.cursor + size > self.bin_end:
            self._close_bin()
            self.bin_start = len(self.buf)
            self.bin_end = self.bin_start + _align(size + HBIN_HEADER_SIZE, 4096)
            self.buf += bytes(self.bin_end - self.bin_start)
            self.cursor = self.bin_start + HBIN_HEADER_SIZE
            ts = self.timestamp if self.bin_start == 0 else 0
            self.buf[self.bin_start:self.cursor] = HBIN_HEADER.build(dict(
                offset=self.bin_start, size=self.bin_end - self.bin_start,
                reserved=bytes(8), timestamp=ts, spare=0))
        offset, self.cursor = self.cursor, self.cursor + size
        self.buf[offset:offset + 4] = struct.pack("<i", -size)
        return offset

    def put(self, payload: bytes) -> int:
        """Allocate a cell holding payload; returns its offset."""
        offset = self.alloc(len(payload))
        self.buf[offset + 4:offset + 4 + len(payload)] = payload
        return offset

    def write(self, offset: int, payload: bytes) -> None:
        size = -struct.unpack_from("<i", self.buf, offset)[0]
        assert len(payload) <= size - 4, "payload overflows its cell"
        self.buf[offset + 4:offset + 4 + len(payload)] = payload

    def _close_bin(self) -> None:
        if self.bin_end > self.cursor:      # unused tail becomes one free cell
            struct.pack_into("<i", self.buf, self.cursor, self.bin_end - self.cursor)
        self.cursor = self.bin_end

    def finish(self) -> bytes:
        self._close_bin()
        return bytes(self.buf)


# --- builder API --------------------------------------------------------------------

class Value:
    """One registry value: name ("" = default value), type and stored bytes."""

    def __init__(self, name: str, value_type: int, data: bytes) -> None:
        self.name, self.type, self.data = name, value_type, data


class Key:
    """A key node; create via Hive.key() or Key.key()."""

    def __init__(self, hive: "Hive", name: str, last_written: int,
                 class_name: Optional[str] = None, security: Optional[bytes] = None) -> None:
        self.hive, self.name, self.last_written = hive, name, last_written
        self.class_name, self.security = class_name, security
        self.subkeys: dict[str, Key] = {}        # upcased name -> key
        self.values: dict[str, Value] = {}       # upcased name -> value (insertion order)

    def key(self, path: str, last_written: Optional[int] = None,
            class_name: Optional[str] = None, security: Optional[bytes] = None) -> "Key":
        """Get or create a descendant; intermediate keys get the hive's default time."""
        node = self
        parts = [p for p in path.split("\\") if p]
        for part in parts:
            child = node.subkeys.get(_upcase(part))
            if child is None:
                child = Key(self.hive, part, self.hive.default_time)
                node.subkeys[_upcase(part)] = child
            node = child
        if last_written is not None:
            node.last_written = last_written
        if class_name is not None:
            node.class_name = class_name
        if security is not None:
            node.security = security
        return node

    def set_value(self, name: str, value_type: int, data: ValueData) -> "Key":
        """Add or replace a value (names are case-insensitive). Returns self."""
        self.values[_upcase(name)] = Value(name, value_type, encode_data(value_type, data))
        return self

    def sorted_subkeys(self) -> list["Key"]:
        return sorted(self.subkeys.values(), key=lambda k: sort_key(k.name))


class Hive:
    """A whole hive; to_bytes() lays it out as a base block plus hive bins."""

    def __init__(self, root_name: str = "ROOT", last_written: int = 0,
                 file_name: str = "", default_time: Optional[int] = None,
                 minor_version: int = 5, sequence: int = 1, dirty: bool = False,
                 security: Optional[bytes] = None, max_leaf_entries: int = 512,
                 root_class_name: Optional[str] = None) -> None:
        """minor_version 5 writes lh leaves and db big data; 3 writes lf and plain cells.

        dirty=True makes the primary sequence number one ahead of the secondary,
        as left by an interrupted write. max_leaf_entries bounds each leaf list;
        more subkeys than that produce an ri index root over several leaves.
        file_name keeps only its last 31 characters, as Windows does in the base block.
        """
        self.last_written = last_written
        self.default_time = last_written if default_time is None else default_time
        self.file_name, self.minor_version = file_name, minor_version
        self.sequence, self.dirty = sequence, dirty
        self.max_leaf_entries = max_leaf_entries
        self.root = Key(self, root_name, last_written, root_class_name,
                        security if security is not None else security_descriptor())

    def key(self, path: str, last_written: Optional[int] = None,
            class_name: Optional[str] = None, security: Optional[bytes] = None) -> Key:
        """Get or create the key at path (backslash-separated, relative to the root)."""
        return self.root.key(path, last_written, class_name, security)

    # layout ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        bins = _Bins(self.last_written)
        root_name, _ = encode_name(self.root.name)
        root_offset = bins.alloc(NK_FIXED + len(root_name))   # root is the first cell (0x20)
        sk_offsets = self._write_security(bins)
        stack = [(self.root, root_offset, NO_OFFSET, self.root.security)]
        while stack:
            key, offset, parent, sd = stack.pop()
            children = self._write_key(bins, key, offset, parent, sk_offsets[sd])
            stack.extend(reversed([(c, o, offset, c.security or sd) for c, o in children]))
        data = bins.finish()
        base = BASE_BLOCK.build(dict(
            header=dict(value=dict(
                primary_sequence=self.sequence + int(self.dirty),
                secondary_sequence=self.sequence, last_written=self.last_written,
                major_version=1, minor_version=self.minor_version, file_type=0,
                file_format=1, root_cell_offset=root_offset, hive_bins_data_size=len(data),
                clustering_factor=1, file_name=self.file_name[-31:], reserved1=bytes(396))),
            reserved2=bytes(3576), boot_type=0, boot_recover=0))
        return base + data

    def _write_security(self, bins: _Bins) -> dict[bytes, int]:
        """One sk cell per distinct descriptor, linked in a circular list, refcounted."""
        counts: dict[bytes, int] = {}
        stack: list[tuple[Key, bytes]] = [(self.root, self.root.security or b"")]
        while stack:
            key, sd = stack.pop()
            counts[sd] = counts.get(sd, 0) + 1
            stack.extend((c, c.security or sd) for c in reversed(key.sorted_subkeys()))
        order = list(counts)
        offsets = [bins.alloc(20 + len(sd)) for sd in order]
        for i, sd in enumerate(order):
            bins.write(offsets[i], SK.build(dict(
                reserved=0, flink=offsets[(i + 1) % len(order)], blink=offsets[i - 1],
                reference_count=counts[sd], descriptor=sd)))
        return dict(zip(order, offsets))

    def _write_data(self, bins: _Bins, data: bytes) -> tuple[int, int]:
        """Returns the vk (data size, data offset) pair for data."""
        if len(data) <= 4:
            return RESIDENT | len(data), int.from_bytes(data.ljust(4, b"\0"), "little")
        if len(data) <= BIG_DATA_SEGMENT or self.minor_version < 4:
            return len(data), bins.put(data)
        # Each segment cell gets 4 spare bytes (a full one is then exactly 16352 bytes,
        # as Windows writes it); libregf takes a segment's length as cell size - 8.
        segments = [bins.put(data[i:i + BIG_DATA_SEGMENT] + bytes(4))
                    for i in range(0, len(data), BIG_DATA_SEGMENT)]
        seg_list = bins.put(struct.pack(f"<{len(segments)}I", *segments))
        db = bins.put(DB.build(dict(number_of_segments=len(segments),
                                    segments_list_offset=seg_list)))
        return len(data), db

    def _write_subkey_list(self, bins: _Bins, children: list[tuple[Key, int]]) -> int:
        sig = b"lh" if self.minor_version >= 5 else b"lf"
        digest = lh_hash if sig == b"lh" else lf_hint

        def leaf(chunk: list[tuple[Key, int]]) -> int:
            return bins.put(HASH_LEAF.build(dict(signature=sig, elements=[
                dict(key_offset=o, hash=digest(k.name)) for k, o in chunk])))

        n = self.max_leaf_entries
        if len(children) <= n:
            return leaf(children)
        leaves = [leaf(children[i:i + n]) for i in range(0, len(children), n)]
        return bins.put(INDEX_ROOT.build(dict(elements=leaves)))

    def _write_key(self, bins: _Bins, key: Key, offset: int, parent: int,
                   security: int) -> list[tuple[Key, int]]:
        """Writes key's own cells; allocates (but does not fill) its children's nk cells."""
        name, compressed = encode_name(key.name)
        class_offset, class_raw = NO_OFFSET, b""
        if key.class_name is not None:
            class_raw = key.class_name.encode("utf-16-le")
            class_offset = bins.put(class_raw)
        vk_offsets = []
        for value in key.values.values():
            vname, vcomp = encode_name(value.name)   # Windows: default ("") name not flagged
            size, data_offset = self._write_data(bins, value.data)
            vk_offsets.append(bins.put(VK.build(dict(
                data_size=size, data_offset=data_offset, data_type=value.type,
                flags=VALUE_COMP_NAME if vcomp and vname else 0, spare=0, name=vname))))
        values_list = (bins.put(struct.pack(f"<{len(vk_offsets)}I", *vk_offsets))
                       if vk_offsets else NO_OFFSET)
        subkeys = key.sorted_subkeys()
        children = [(c, bins.alloc(NK_FIXED + len(encode_name(c.name)[0]))) for c in subkeys]
        subkey_list = self._write_subkey_list(bins, children) if children else NO_OFFSET
        flags = (KEY_COMP_NAME if compressed else 0)
        if key is self.root:
            flags |= KEY_HIVE_ENTRY | KEY_NO_DELETE
        bins.write(offset, NK.build(dict(
            flags=flags, last_written=key.last_written, access_bits=0, parent_offset=parent,
            number_of_subkeys=len(subkeys), number_of_volatile_subkeys=0,
            subkeys_list_offset=subkey_list, volatile_subkeys_list_offset=NO_OFFSET,
            number_of_values=len(vk_offsets), values_list_offset=values_list,
            security_offset=security, class_name_offset=class_offset,
            largest_subkey_name_length=max((_u16(c.name) for c in subkeys), default=0),
            largest_subkey_class_name_length=max(
                (_u16(c.class_name or "") for c in subkeys), default=0),
            largest_value_name_length=max((_u16(v.name) for v in key.values.values()), default=0),
            largest_value_data_size=max((len(v.data) for v in key.values.values()), default=0),
            work_var=0, class_name_size=len(class_raw), name=name)))
        return children
