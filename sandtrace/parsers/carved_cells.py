"""Registry hive bins carved from free space: their key (nk) and value (vk) cells.

libregf opens a hive, not a lone hive bin, and a hive flushed to disk leaves
older copies of its bins behind. A bin's header names its own offset in its
hive's bins data, so the bins of one hive copy found in free space are put
back together (``HiveCopy``: the bins whose bins data starts at the same
volume offset). Cells name each other by that offset (a key its parent, its
value list; a value its data), so a key whose ancestors all survive gets its
full path, and one whose chain breaks gets the path below the break and says
so. The cells are read with construct structures (libyal, "Windows NT
Registry File format"); when the copy holds its root key it is also wrapped
in a base block (``wrapped``) for libregf and the winreg plugins. Only
allocated cells are read: a free cell in an old bin is older still.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from construct import Bytes, Const, ConstructError, Int16ul, Int32ul, Int64ul, Padding, Struct, this

from sandtrace.parsers.winreg_hive import BASE_BLOCK_SIZE, REG_DWORD, REG_DWORD_BE, REG_EXPAND_SZ, REG_LINK
from sandtrace.parsers.winreg_hive import REG_MULTI_SZ, REG_QWORD, REG_SZ, TYPE_NAMES, hive_type, rebuild_base_block

BIN_ALIGNMENT = 4096
MAX_BIN_SIZE = 16 * 1024 * 1024  # a bin holds one cell at most this large (a big value is split in segments)
MAX_WRAPPED = 512 * 1024 * 1024  # a copy spanning more is not wrapped for libregf (it is built in memory)
# Only the fields read here; the rest is padding (libyal's names in the comments).
HBIN = Struct("signature" / Const(b"hbin"), "offset" / Int32ul, "size" / Int32ul, Padding(20))  # reserved, time, spare
_HBIN_HEADER_SIZE = 32
NK = Struct(
    "signature" / Const(b"nk"),
    "flags" / Int16ul,
    "last_written" / Int64ul,
    Padding(4),  # access bits
    "parent_offset" / Int32ul,
    Padding(16),  # sub key counts and lists
    "number_of_values" / Int32ul,
    "values_list_offset" / Int32ul,
    Padding(28),  # security, class name, largest sizes, work variable
    "name_size" / Int16ul,
    Padding(2),  # class name size
    "name" / Bytes(this.name_size),
)
VK = Struct("signature" / Const(b"vk"), "name_size" / Int16ul, "data_size" / Int32ul, "data_offset" / Int32ul,
            "data_type" / Int32ul, "flags" / Int16ul, Padding(2), "name" / Bytes(this.name_size))
_NK_PARSER = NK.compile()  # the same structure, parsed many times faster
_VK_PARSER = VK.compile()
_ROOT = 0x0004  # nk flag: the hive's root key
_COMPRESSED_KEY_NAME = 0x0020
_COMPRESSED_VALUE_NAME = 0x0001
_RESIDENT = 0x80000000  # vk data size flag: the data is in the offset field
_MAX_DEPTH = 512
_MAX_VALUES = 65536


@dataclass(slots=True)
class CarvedKey:
    """One key cell and what its copy of the hive tells about it."""

    cell_offset: int  # in the hive's bins data
    volume_offset: int
    name: str
    last_written: int
    path: list[str]  # names from the root's child (complete) or from the first key below a break
    complete: bool
    is_root: bool
    values: list[tuple[str, str, str | None]] | None  # plaso's (name, type, data as text)
    values_missing: bool = False  # the key has values whose list or cells are gone


@dataclass
class HiveCopy:
    """The bins of one hive copy in free space, by their offset in its bins data."""

    base: int  # volume offset of the bins data (a bin's volume offset minus its own offset)
    bins: dict[int, bytes] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list)
    _parsed: dict | None = None

    def add(self, bin_offset: int, data: bytes) -> None:
        if bin_offset not in self.bins:
            bisect.insort(self._starts, bin_offset)
        self.bins[bin_offset] = data
        self._parsed = None

    def bin_of(self, offset: int) -> int:
        """The offset of the bin holding ``offset`` (bins data offsets)."""
        index = bisect.bisect_right(self._starts, offset) - 1
        return self._starts[index] if index >= 0 else 0

    def cell(self, offset: int) -> bytes | None:
        """The data of the allocated cell at ``offset`` (bins data offset), None when absent or free."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index < 0 or offset < 8:
            return None
        start = self._starts[index]
        data = self.bins[start]
        at = offset - start
        if at < _HBIN_HEADER_SIZE or at + 4 > len(data):
            return None
        size = struct.unpack_from("<i", data, at)[0]
        if size >= 0 or -size < 8 or at - size > len(data):
            return None
        return data[at + 4:at - size]

    def cells(self) -> Iterator[tuple[int, bytes]]:
        """(offset, data) of every allocated cell, bin by bin; a broken cell size ends its bin."""
        for start in self._starts:
            data = self.bins[start]
            at = _HBIN_HEADER_SIZE
            while at + 4 <= len(data):
                size = struct.unpack_from("<i", data, at)[0]
                length = abs(size)
                if length < 8 or length % 8 or at + length > len(data):
                    break
                if size < 0:
                    yield start + at, data[at + 4:at + length]
                at += length

    def keys(self, with_values: bool = True) -> Iterator[CarvedKey]:
        """Every key cell of the copy, with its path as far as the copy rebuilds it (and its values)."""
        nodes = self._nodes()
        paths: dict[int, tuple[tuple[str, ...], bool]] = {}
        for offset, node in nodes.items():
            path, complete = self._path(offset, nodes, paths)
            values, missing = self._values(node) if with_values else (None, False)
            yield CarvedKey(offset, self.base + offset, _name(node, _COMPRESSED_KEY_NAME), node.last_written,
                            list(path), complete, bool(node.flags & _ROOT), values, missing)

    def root_offset(self) -> int | None:
        return next((offset for offset, node in self._nodes().items() if node.flags & _ROOT), None)

    def hive_type(self) -> str:
        """SYSTEM, SOFTWARE, ... by the root's sub keys (winreg_hive.hive_type); UNKNOWN without the root."""
        root = self.root_offset()
        if root is None:
            return "UNKNOWN"
        nodes = self._nodes()
        children = [_Named(_name(node, _COMPRESSED_KEY_NAME)) for node in nodes.values()
                    if node.parent_offset == root and not node.flags & _ROOT]
        return hive_type(_Named(_name(nodes[root], _COMPRESSED_KEY_NAME), children), "", _Named(""))

    def wrapped(self) -> bytes | None:
        """The copy as a hive libregf opens: a rebuilt base block, the bins at their
        offsets, empty bins where bins are missing; None without a root key, or when
        the bins would span more than ``MAX_WRAPPED`` bytes."""
        if not self.bins or self.root_offset() is None:
            return None
        end = max(start + len(data) for start, data in self.bins.items())
        if end > MAX_WRAPPED:
            return None
        data = bytearray(end)
        for start in range(0, end, BIN_ALIGNMENT):
            data[start:start + _HBIN_HEADER_SIZE] = HBIN.build(dict(offset=start, size=BIN_ALIGNMENT))
            struct.pack_into("<i", data, start + _HBIN_HEADER_SIZE, BIN_ALIGNMENT - _HBIN_HEADER_SIZE)
        for start, bin_data in self.bins.items():
            data[start:start + len(bin_data)] = bin_data
        return rebuild_base_block(bytes(BASE_BLOCK_SIZE) + bytes(data))

    def _nodes(self) -> dict:
        """Offset -> parsed key cell, each parsed once (a copy of a large hive has a million cells)."""
        if self._parsed is None:
            self._parsed = {offset: node for offset, cell in self.cells() if (node := _nk(cell)) is not None}
        return self._parsed

    @staticmethod
    def _path(offset: int, nodes: dict, paths: dict) -> tuple[tuple[str, ...], bool]:
        """(names below the root, complete) of a key: up its parents until the root, a key
        already resolved, a missing parent or a loop; every key on the way is resolved too."""
        chain, at, seen = [], offset, set()
        found: tuple[tuple[str, ...], bool] = ((), False)
        while len(chain) < _MAX_DEPTH:
            if at in paths:
                found = paths[at]
                break
            node = nodes.get(at)
            if node is None or at in seen:
                break
            if node.flags & _ROOT:
                found = ((), True)
                paths[at] = found
                break
            seen.add(at)
            chain.append((at, _name(node, _COMPRESSED_KEY_NAME)))
            at = node.parent_offset
        names, complete = found
        for at, name in reversed(chain):
            names = (*names, name)
            paths[at] = (names, complete)
        return paths.get(offset, found)

    def _values(self, node) -> tuple[list | None, bool]:
        count = node.number_of_values
        if not count:
            return None, False
        listing = self.cell(node.values_list_offset)
        if listing is None or count > _MAX_VALUES:
            return None, True
        found, missing = [], False
        for (vk_offset,) in struct.iter_unpack("<I", listing[:4 * min(count, len(listing) // 4)]):
            value = self._value(vk_offset)
            if value is None:
                missing = True
            else:
                found.append(value)
        return found or None, missing or len(found) < count

    def _value(self, offset: int) -> tuple[str, str, str | None] | None:
        cell = self.cell(offset)
        if cell is None or cell[:2] != b"vk":
            return None
        try:
            node = _VK_PARSER.parse(cell)
        except (ConstructError, ValueError):
            return None
        name = _name(node, _COMPRESSED_VALUE_NAME)
        size = node.data_size & ~_RESIDENT
        if node.data_size & _RESIDENT:
            data = struct.pack("<I", node.data_offset)[:min(size, 4)]
        else:
            stored = self.cell(node.data_offset) if size else b""
            data = stored[:size] if stored is not None and len(stored) >= size else None
        return name, TYPE_NAMES.get(node.data_type, "UNKNOWN"), _text(node.data_type, data, size)


def read_bin_header(data: bytes) -> tuple[int, int] | None:
    """(offset in the bins data, size) of a bin header that could be real, else None."""
    try:
        header = HBIN.parse(data)
    except (ConstructError, ValueError):
        return None
    if header.offset % BIN_ALIGNMENT or not BIN_ALIGNMENT <= header.size <= MAX_BIN_SIZE or header.size % BIN_ALIGNMENT:
        return None
    return header.offset, header.size


def _nk(cell: bytes | None):
    if cell is None or cell[:2] != b"nk":
        return None
    try:
        return _NK_PARSER.parse(cell)
    except (ConstructError, ValueError):
        return None


def _name(node, compressed_flag: int) -> str:
    if node.flags & compressed_flag:
        return node.name.decode("latin-1")
    return node.name.decode("utf-16-le", "replace")


def _text(data_type: int, data: bytes | None, size: int) -> str | None:
    """A value's data as plaso's ``values`` writes it (winreg_hive.Key.plaso_values)."""
    if data is None:
        return f"({size} bytes, not recovered)" if size else None
    if not data:
        return None
    if data_type in (REG_SZ, REG_EXPAND_SZ, REG_LINK):
        return data.decode("utf-16-le", "replace").split("\x00", 1)[0]
    if data_type == REG_DWORD and len(data) == 4:
        return str(struct.unpack("<I", data)[0])
    if data_type == REG_DWORD_BE and len(data) == 4:
        return str(struct.unpack(">I", data)[0])
    if data_type == REG_QWORD and len(data) == 8:
        return str(struct.unpack("<Q", data)[0])
    if data_type == REG_MULTI_SZ:
        return f"[{', '.join(part for part in data.decode('utf-16-le', 'replace').split(chr(0)) if part)}]"
    return f"({len(data)} bytes)"


class _Named:
    """What winreg_hive.hive_type asks of a key and of a base block: a name, sub keys."""

    def __init__(self, name: str, children: list[_Named] | None = None) -> None:
        self.name = self.file_name = name
        self._children = children or []

    def subkeys(self) -> list[_Named]:
        return self._children

