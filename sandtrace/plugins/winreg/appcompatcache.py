"""AppCompatCache (ShimCache): executables the shim engine looked at, in SYSTEM.

One binary value, ``Session Manager\\AppCompatCache\\AppCompatCache``, holds
the cache; its first 32 bits tell the format (libyal winreg-kb "Application
Compatibility Cache key", plaso ``appcompatcache.py``):

- Windows 10/11: header size 0x30 or 0x34, entry count at 36; entries ``10ts``,
  entry data size, then path size + UTF-16 path, FILETIME, data size + data.
- Windows 8.0/8.1: header 0x80; ``00ts``/``10ts`` entries with insertion and
  shim flags before the FILETIME (8.1 has 2 more bytes).
- Windows 7 (0xBADC0FEE, header 0x80) and 2003/Vista (0xBADC0FFE, header 8):
  fixed 32/64-bit records pointing at the path elsewhere in the value.

The FILETIME is the file's last modification time, not a run time; the
position (``entry_index``, 1 = most recent) is the insertion order. Windows XP
(0xDEADBEEF) is not read. An entry naming a sandbox binary is tagged
``sandbox_execution_trace`` (docs/domain.md §3); a corrupt value raises, which the
parser turns into a warning for this key, after the entries read before it.
An entry naming a Hyper-V or container host binary other VMs use too is
tagged ``hyperv_host_trace`` (``core/sandbox_names.py``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import event

_SESSION_MANAGER = "HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Control\\Session Manager"
# Legacy formats: signature -> (header size, count offset, {bits: entry size}, insertion flags offset or None).
_LEGACY = {
    0xBADC0FEE: (0x80, 4, {32: 32, 64: 48}, {32: 16, 64: 24}),  # Windows 7, 2008 R2
    0xBADC0FFE: (8, 4, {32: 24, 64: 32}, None),  # Windows 2003 (Vista shares it; read as plaso does)
}


def parse_cache(data: bytes) -> Iterator[tuple[int, int, str, int, int | None]]:
    """(offset, entry size, path, last modification FILETIME, insertion flags) per cached entry."""
    if len(data) < 4:
        raise ValueError(f"AppCompatCache value of {len(data)} bytes")
    signature, = struct.unpack_from("<I", data)
    if signature in (0x30, 0x34, 0x80):
        yield from _parse_ts(data, signature)
    elif signature in _LEGACY:
        yield from _parse_legacy(data, signature)
    else:
        raise ValueError(f"unsupported AppCompatCache signature 0x{signature:08x}")


def _parse_ts(data: bytes, header_size: int) -> Iterator[tuple]:
    """Windows 8.x (header 0x80) and 10/11 (0x30, 0x34): a chain of ``00ts``/``10ts`` entries."""
    windows10 = header_size != 0x80
    count = struct.unpack_from("<I", data, 36)[0] if windows10 and len(data) >= 40 else 0
    offset, index = header_size, 0
    while offset < len(data) and (not count or index < count):
        signature, _, size = _unpack("<4sII", data, offset)
        if signature not in (b"00ts", b"10ts") or (windows10 and signature != b"10ts"):
            raise ValueError(f"entry {index + 1} at offset {offset}: signature {signature!r}, not 10ts/00ts")
        body = data[offset + 12: offset + 12 + size]
        if len(body) < size:
            raise ValueError(f"entry {index + 1} at offset {offset}: {size} bytes announced, {len(body)} left")
        path_size, = _unpack("<H", body, 0)
        path = _utf16(body, 2, path_size, offset)
        position, flags = 2 + path_size, None
        if not windows10:
            flags, _ = _unpack("<II", body, position)
            position += 8 + (2 if signature == b"10ts" else 0)
        modified, = _unpack("<Q", body, position)
        yield offset, 12 + size, path, modified, flags
        offset, index = offset + 12 + size, index + 1


def _parse_legacy(data: bytes, signature: int) -> Iterator[tuple]:
    """Windows 7 and 2003: fixed records, 64-bit when the 32-bit path offset is 0."""
    header_size, count_offset, sizes, flag_offsets = _LEGACY[signature]
    count, = _unpack("<I", data, count_offset)
    if len(data) <= header_size or not count:
        return
    bits = 64 if _unpack("<I", data, header_size + 4)[0] == 0 and _unpack("<Q", data, header_size + 8)[0] else 32
    for index in range(count):
        offset = header_size + index * sizes[bits]
        if offset + sizes[bits] > len(data):
            raise ValueError(f"entry {index + 1} at offset {offset} lies past the end of the value")
        path_size, maximum = _unpack("<HH", data, offset)
        path_offset, modified = _unpack("<IQ" if bits == 32 else "<QQ", data, offset + (4 if bits == 32 else 8))
        if path_size > maximum:
            raise ValueError(f"entry {index + 1} at offset {offset}: path size {path_size} > maximum {maximum}")
        path = _utf16(data, path_offset, path_size, offset) if path_offset and path_size else None
        flags = _unpack("<I", data, offset + flag_offsets[bits])[0] if flag_offsets else None
        yield offset, sizes[bits], path, modified, flags


def _unpack(layout: str, data: bytes, offset: int) -> tuple:
    try:
        return struct.unpack_from(layout, data, offset)
    except struct.error:
        raise ValueError(f"value truncated at offset {offset} ({len(data)} bytes)") from None


def _utf16(data: bytes, start: int, size: int, entry_offset: int) -> str:
    raw = data[start: start + size]
    if len(raw) != size or size % 2:
        raise ValueError(f"entry at offset {entry_offset}: path of {size} bytes does not fit")
    return raw.decode("utf-16-le")  # UnicodeDecodeError is a ValueError too


class AppCompatCachePlugin(WinRegistryPlugin):
    NAME = "appcompatcache"
    DATA_FORMAT = "Application Compatibility Cache Registry data"
    DATA_TYPES = ("windows:registry:appcompatcache",)
    KEY_PATHS = (f"{_SESSION_MANAGER}\\AppCompatCache", f"{_SESSION_MANAGER}\\AppCompatibility")

    def parse_key(self, key, hive) -> Iterator[EventData]:
        data = key.value("AppCompatCache")
        if not isinstance(data, bytes) or not data:
            return
        control_set = re.search(r"\\ControlSet(\d+)\\", key.path, re.IGNORECASE)
        for index, (offset, _, path, modified, flags) in enumerate(parse_cache(data), 1):
            yield event(
                "windows:registry:appcompatcache",
                tags=trace_tags(path),
                key_path=key.path,
                entry_index=index,
                offset=offset,
                path=path,
                control_set=int(control_set.group(1)) if control_set else None,
                insertion_flags=flags,
                file_entry_modification_time=filetime(modified),
                registry_last_written_time=key.last_written_time,
            )
