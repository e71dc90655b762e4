"""One opened registry hive: its type, its control set, its health, its keys.

The winreg parser and its plugins see hives only through this module:
``open_hive`` reads the base block (is it a primary file, is it dirty), finds
the transaction logs beside it, replays them with regipy's recovery on a
private in-memory/temporary copy (never on the evidence), opens the result
with libregf and tells which hive it is, by content first, then by path and
by the name Windows wrote into the base block. ``Key`` wraps a libregf key
with its full ``HKEY_...`` path (as plaso shows it) and typed value access.
"""

from __future__ import annotations

import fnmatch
import io
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pyregf
from dfdatetime import filetime as dfdatetime_filetime

BASE_BLOCK_SIZE = 4096
_PRIMARY_FILE = 0  # base block file type; transaction logs have 1, 2 or 6
_LOG_MAGICS = (b"HvLE", b"DIRT")
_MAX_LOG_SIZE = 512 * 1024 * 1024

REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_DWORD_BE, REG_LINK, REG_MULTI_SZ, REG_QWORD = 1, 2, 3, 4, 5, 6, 7, 11
TYPE_NAMES = {
    0: "REG_NONE", 1: "REG_SZ", 2: "REG_EXPAND_SZ", 3: "REG_BINARY", 4: "REG_DWORD_LE",
    5: "REG_DWORD_BE", 6: "REG_LINK", 7: "REG_MULTI_SZ", 8: "REG_RESOURCE_LIST",
    9: "REG_FULL_RESOURCE_DESCRIPTOR", 10: "REG_RESOURCE_REQUIREMENT_LIST", 11: "REG_QWORD",
}

# Where each hive is mounted in the live registry; plugins name keys by these
# prefixes (plaso's key paths), the parser strips them to walk the hive.
MOUNT_POINTS = {
    "SYSTEM": "HKEY_LOCAL_MACHINE\\System",
    "SOFTWARE": "HKEY_LOCAL_MACHINE\\Software",
    "SAM": "HKEY_LOCAL_MACHINE\\SAM",
    "SECURITY": "HKEY_LOCAL_MACHINE\\Security",
    "NTUSER": "HKEY_CURRENT_USER",
    "USRCLASS": "HKEY_CURRENT_USER\\Software\\Classes",
    "AMCACHE": "HKEY_LOCAL_MACHINE\\Amcache",
    "UNKNOWN": "HKEY_UNKNOWN",
}
_FILE_NAMES = {
    "system": "SYSTEM", "software": "SOFTWARE", "sam": "SAM", "security": "SECURITY",
    "ntuser.dat": "NTUSER", "usrclass.dat": "USRCLASS", "amcache.hve": "AMCACHE", "default": "NTUSER",
}
_CONTROL_SET = re.compile(r"^controlset\d{3}$", re.IGNORECASE)


class HiveError(ValueError):
    """The file is not a readable hive; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class BaseBlock:
    primary_sequence: int
    secondary_sequence: int
    last_written: int
    file_type: int
    hive_bins_data_size: int
    file_name: str  # last 31 characters of the path Windows loaded it from

    @classmethod
    def read(cls, data: bytes) -> BaseBlock:
        if len(data) < 512 or data[:4] != b"regf":
            raise HiveError("not a registry hive (no regf signature)")
        primary, secondary, last_written = struct.unpack_from("<IIQ", data, 4)
        file_type, = struct.unpack_from("<I", data, 28)
        bins_size, = struct.unpack_from("<I", data, 40)
        name = data[48:112].decode("utf-16-le", "replace").split("\x00", 1)[0]
        return cls(primary, secondary, last_written, file_type, bins_size, name)

    @property
    def is_primary(self) -> bool:
        return self.file_type == _PRIMARY_FILE


@dataclass(slots=True)
class TransactionLog:
    name: str
    data: bytes
    base_block: BaseBlock


@dataclass(slots=True)
class Health:
    """What a hive's base block and its logs say about unflushed changes."""

    primary_sequence: int
    secondary_sequence: int
    logs: list[str] = field(default_factory=list)  # logs holding newer entries
    stale_logs: list[str] = field(default_factory=list)
    recovered_pages: int | None = None  # None: no recovery attempted
    recovery_error: str | None = None

    @property
    def dirty(self) -> bool:
        return self.primary_sequence != self.secondary_sequence or bool(self.logs)

    def describe(self) -> str:
        text = (
            f"dirty hive: sequence numbers {self.primary_sequence}/{self.secondary_sequence}"
            + (f", newer entries in {', '.join(self.logs)}" if self.logs else ", no usable transaction log beside it")
        )
        if self.recovered_pages is not None:
            return text + f"; {self.recovered_pages} pages replayed from the logs on a private copy, keys read from the recovered hive"
        if self.recovery_error:
            return text + f"; log replay failed ({self.recovery_error}), keys read from the primary file only"
        return text + "; keys read from the primary file only, recent changes may be missing"


def filetime(value: int | None) -> dfdatetime_filetime.Filetime | None:
    """A FILETIME as dfdatetime, None for 0 and 'never' (0x7FFF...)."""
    if not value or value >= 0x7FFFFFFFFFFFFFFF:
        return None
    return dfdatetime_filetime.Filetime(timestamp=value)


def checksum(data: bytes) -> int:
    value = reduce(lambda a, b: a ^ b, struct.unpack_from("<127I", data, 0), 0)
    return {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(value, value)


def pending_logs(base_block: BaseBlock, logs: list[TransactionLog]) -> tuple[list[TransactionLog], list[TransactionLog]]:
    """(logs with entries at or after the hive's secondary sequence number, stale logs).

    Windows writes log entries with the sequence number the hive is going to
    get; entries older than the hive's secondary sequence number are already
    in the primary file (libyal "Windows NT Registry File format", logs).
    """
    fresh, stale = [], []
    for log in logs:
        has_entries = log.data[512:516] in _LOG_MAGICS
        target = fresh if has_entries and log.base_block.secondary_sequence >= base_block.secondary_sequence else stale
        target.append(log)
    fresh.sort(key=lambda log: log.base_block.secondary_sequence)
    return fresh, stale


def replay_logs(hive_data: bytes, logs: list[TransactionLog]) -> tuple[bytes, int]:
    """The hive with the logs' dirty pages applied (regipy), checksum fixed for libregf.

    regipy works on paths, so the hive and logs are copied into a private
    temporary folder; the evidence is only ever read.
    """
    from regipy.recovery import apply_transaction_logs

    with tempfile.TemporaryDirectory(prefix="sandtrace-regf-") as folder:
        hive_path = os.path.join(folder, "hive")
        with open(hive_path, "wb") as stream:
            stream.write(hive_data)
        paths = []
        for index, log in enumerate(logs):
            path = os.path.join(folder, f"log{index}")
            with open(path, "wb") as stream:
                stream.write(log.data)
            paths.append(path)
        # regipy applies its "secondary" log first, then the "primary" one.
        newest, older = paths[-1], (paths[-2] if len(paths) > 1 else None)
        restored, pages = apply_transaction_logs(
            hive_path, newest, secondary_log_path=older, restored_hive_path=os.path.join(folder, "restored")
        )
        with open(restored, "rb") as stream:
            data = bytearray(stream.read())
    struct.pack_into("<I", data, 508, checksum(bytes(data)))
    return bytes(data), pages


_HIVE_ENTRY = 0x0004  # nk flag of the root key (libyal "Windows NT Registry File format")


def rebuild_base_block(data: bytes) -> bytes | None:
    """The hive with a primary-file base block rebuilt over a damaged one, or None.

    What the base block holds that libregf needs can be recovered from the
    hive bins behind it: their size (walking the ``hbin`` headers) and the root
    key (the original's root cell offset when it names a root ``nk`` cell, else
    the first ``nk`` cell flagged as the hive's entry). Sequence numbers, time
    and name are kept when the original still has its signature. Nothing is
    written anywhere but memory.
    """
    if len(data) < 2 * BASE_BLOCK_SIZE or data[BASE_BLOCK_SIZE:BASE_BLOCK_SIZE + 4] != b"hbin":
        return None
    end = BASE_BLOCK_SIZE
    while data[end:end + 4] == b"hbin" and end + 12 <= len(data):
        size, = struct.unpack_from("<I", data, end + 8)
        if size < 4096 or size % 4096 or end + size > len(data):
            break
        end += size
    bins_size = end - BASE_BLOCK_SIZE
    original = data[:BASE_BLOCK_SIZE] if data[:4] == b"regf" else None
    root = struct.unpack_from("<I", original, 36)[0] if original else None
    if root is None or not _is_root_cell(data, BASE_BLOCK_SIZE + root, end):
        root = _find_root_cell(data, end)
    if root is None:
        return None
    block = bytearray(original or BASE_BLOCK_SIZE)
    sequence = struct.unpack_from("<I", block, 4)[0] if original else 1
    last_written = struct.unpack_from("<Q", block, 12)[0] if original else 0
    struct.pack_into("<4sIIQIIIIIII", block, 0, b"regf", sequence, sequence, last_written,
                     1, 5, _PRIMARY_FILE, 1, root, bins_size, 1)
    struct.pack_into("<I", block, 508, checksum(bytes(block)))
    return bytes(block) + data[BASE_BLOCK_SIZE:end]


def _is_root_cell(data: bytes, at: int, end: int) -> bool:
    if not BASE_BLOCK_SIZE < at <= end - 8:
        return False
    size, = struct.unpack_from("<i", data, at)
    return size < 0 and data[at + 4:at + 6] == b"nk" and bool(struct.unpack_from("<H", data, at + 6)[0] & _HIVE_ENTRY)


def _find_root_cell(data: bytes, end: int) -> int | None:
    at = data.find(b"nk", BASE_BLOCK_SIZE, end)
    while at != -1:
        cell = at - 4
        if (cell - BASE_BLOCK_SIZE) % 8 == 0 and _is_root_cell(data, cell, end):
            return cell - BASE_BLOCK_SIZE
        at = data.find(b"nk", at + 1, end)
    return None


def open_regf(data_or_file: Any) -> pyregf.file:
    regf = pyregf.file()
    if isinstance(data_or_file, bytes):
        data_or_file = io.BytesIO(data_or_file)
    regf.open_file_object(data_or_file)
    return regf


def hive_type(root: Key, location: str, base_block: BaseBlock) -> str:
    """SYSTEM, SOFTWARE, SAM, SECURITY, NTUSER, USRCLASS, AMCACHE or UNKNOWN.

    Content decides (a renamed or carved hive keeps its type); the file name
    and then the base block's own file name are the fallbacks. Unreadable
    sub keys of the root are noted in ``root.errors``.
    """
    names = {child.name.lower() for child in root.subkeys()}
    if "select" in names and any(_CONTROL_SET.match(name) for name in names):
        return "SYSTEM"
    if "policy" in names and ("rxact" in names or "cache" in names or "sam" in names):
        return "SECURITY"
    if "sam" in names and len(names) <= 2:
        return "SAM"
    if "microsoft" in names and ({"classes", "policies", "clients"} & names) and "control panel" not in names:
        return "SOFTWARE"
    if "control panel" in names or {"software", "environment"} <= names:
        return "NTUSER"
    if names == {"root"}:
        return "AMCACHE"
    if root.name.lower().endswith("_classes") or "local settings" in names:
        return "USRCLASS"
    for hint in (location, base_block.file_name):
        base = re.split(r"[\\/]", hint or "")[-1].lower()
        if base in _FILE_NAMES:
            return _FILE_NAMES[base]
    return "UNKNOWN"


class Key:
    """A libregf key with its full registry path and typed value access.

    A sub key that cannot be read (corrupt cell, truncated hive) is skipped
    and its error noted in ``errors``, shared by all keys of one hive, so
    that one bad cell costs that key only and the parser can report it.
    """

    __slots__ = ("raw", "path", "errors")

    def __init__(self, raw: pyregf.key, path: str, errors: list[str] | None = None) -> None:
        self.raw = raw
        self.path = path
        self.errors = [] if errors is None else errors

    @property
    def name(self) -> str:
        return self.raw.name or ""

    @property
    def last_written_time(self) -> dfdatetime_filetime.Filetime | None:
        return filetime(self.raw.get_last_written_time_as_integer())

    def subkey(self, path: str) -> Key | None:
        node: Key | None = self
        for part in (p for p in path.split("\\") if p):
            try:
                raw = node.raw.get_sub_key_by_name(part)
            except OSError as exception:
                self.errors.append(f"cannot read sub key {node.path}\\{part}: {_short(exception)}")
                return None
            if raw is None:
                return None
            node = Key(raw, f"{node.path}\\{raw.name}", self.errors)
        return node

    def subkeys(self) -> Iterator[Key]:
        try:
            count = self.raw.number_of_sub_keys
        except OSError as exception:
            self.errors.append(f"cannot list sub keys of {self.path}: {_short(exception)}")
            return
        for index in range(count):
            try:
                raw = self.raw.get_sub_key(index)
            except OSError as exception:
                self.errors.append(f"cannot read sub key {index} of {self.path}: {_short(exception)}")
                continue
            yield Key(raw, f"{self.path}\\{raw.name}", self.errors)

    def raw_values(self) -> Iterator[pyregf.value]:
        for index in range(self.raw.number_of_values):
            yield self.raw.get_value(index)

    def value(self, name: str, default: Any = None) -> Any:
        """The data of value ``name`` ("" = default value) as str, int, list or bytes."""
        raw = self.raw.get_value_by_name(name)
        return default if raw is None else value_data(raw)

    def values(self) -> dict[str, Any]:
        return {raw.name or "": value_data(raw) for raw in self.raw_values()}

    def plaso_values(self, skip: tuple[str, ...] = ()) -> list[tuple[str, str, str | None]] | None:
        """plaso's ``values`` attribute: (name, data type, data as text) per value."""
        skipped = {name.lower() for name in skip}
        found = []
        for raw in self.raw_values():
            name = raw.name or ""
            if name.lower() in skipped:
                continue
            data = value_data(raw)
            if data is None or data == b"":
                text = None
            elif isinstance(data, list):
                text = f"[{', '.join(data)}]"
            elif isinstance(data, bytes):
                text = f"({len(data)} bytes)"
            else:
                text = str(data)
            found.append((name, TYPE_NAMES.get(raw.type, "UNKNOWN"), text))
        return found or None


def value_data(raw: pyregf.value) -> Any:
    kind = raw.type
    try:
        if kind in (REG_SZ, REG_EXPAND_SZ, REG_LINK):
            return raw.get_data_as_string()
        if kind in (REG_DWORD, REG_DWORD_BE):
            return raw.get_data_as_integer() & 0xFFFFFFFF  # libregf returns it signed
        if kind == REG_QWORD:
            return raw.get_data_as_integer() & 0xFFFFFFFFFFFFFFFF
        if kind == REG_MULTI_SZ:
            return list(raw.get_data_as_multi_string() or [])
    except (OSError, ValueError, UnicodeError):
        pass  # malformed for its declared type: the bytes are what there is
    return raw.data or b""


@dataclass(slots=True)
class Hive:
    """A hive opened for the plugins."""

    regf: pyregf.file
    hive_type: str
    location: str
    in_sandbox: bool = False  # lies inside a sandbox disk or base layer
    control_set: str | None = None  # e.g. "ControlSet001", from Select\Current
    errors: list[str] = field(default_factory=list)  # unreadable keys met so far

    @property
    def mount_point(self) -> str:
        return MOUNT_POINTS[self.hive_type]

    def root(self) -> Key:
        return Key(self.regf.get_root_key(), self.mount_point, self.errors)

    def relative(self, key_path: str) -> list[str] | None:
        """Segments of ``key_path`` below this hive's mount point, or None if elsewhere."""
        prefix = self.mount_point.lower() + "\\"
        if not key_path.lower().startswith(prefix):
            return None
        segments = [part for part in key_path[len(prefix):].split("\\") if part]
        if self.hive_type == "SYSTEM" and segments and segments[0].lower() == "currentcontrolset":
            if not self.control_set:
                return None
            segments[0] = self.control_set
        return segments

    def find(self, key_path: str) -> Iterator[Key]:
        """Keys matching a path whose segments may hold ``*`` and ``?`` (case-insensitive).

        A corrupt sub key list raises OSError from here; the parser reports it
        for the key being walked.
        """
        segments = self.relative(key_path)
        if segments is None:
            return
        nodes = [self.root()]
        for segment in segments:
            following = []
            for node in nodes:
                if any(character in segment for character in "*?["):
                    pattern = re.compile(fnmatch.translate(segment), re.IGNORECASE)
                    following.extend(child for child in node.subkeys() if pattern.match(child.name))
                else:
                    child = node.subkey(segment)
                    if child is not None:
                        following.append(child)
            nodes = following
            if not nodes:
                return
        yield from nodes


def current_control_set(regf: pyregf.file) -> str | None:
    """``ControlSet00N`` named by ``Select\\Current`` (ControlSet001 when it is missing)."""
    select = regf.get_key_by_path("Select")
    current = None
    if select is not None:
        value = select.get_value_by_name("Current")
        if value is not None and value.type == REG_DWORD:
            current = value.get_data_as_integer() & 0xFFFFFFFF
    name = f"ControlSet{current or 1:03d}"
    return name if regf.get_key_by_path(name) is not None else None


def _short(exception: BaseException) -> str:
    """libregf's first complaint, not its whole call chain."""
    return " ".join(str(exception).split(". ")[0].split())[:200]
