"""Jump lists: the Recent items Windows keeps per application.

``*.automaticDestinations-ms`` is an OLE compound file with a ``DestList``
stream (one entry per item: path, host name, last use, pin status) and one
shortcut stream per entry; ``*.customDestinations-ms`` is a list of
categories of shortcuts. Dest-list entries become plaso's
``olecf:dest_list:entry`` (plaso's attribute names and layout, from libyal's
jump list format description), the shortcuts ``windows:lnk:link`` through
``lnk.py``. Entries and shortcuts naming a .wsb or a sandbox binary are
tagged ``sandbox_execution_trace``, those naming only a Hyper-V or container
host binary ``hyperv_host_trace`` (``core/sandbox_names.py``).
"""

from __future__ import annotations

import io
import struct
import uuid
from collections.abc import Iterator

import pyolecf
from dfdatetime import filetime as dfdatetime_filetime

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData, warning
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.parsers.interface import BaseParser
from sandtrace.parsers.lnk import LNK_CLSID, lnk_event_data

DEST_LIST_DATA_TYPE = "olecf:dest_list:entry"
MAX_SIZE = 64 * 1024 * 1024
_RECENT = "\\Users\\*\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\"
_OLECF_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CATEGORY_FOOTER = b"\xab\xfb\xbf\xba"
_DEST_LIST_HEADER = struct.Struct("<3If3I4x")  # version, entries, pinned, ?, last entry, ?, last revision
_ENTRY_COMMON = struct.Struct("<Q16s16s16s16s16sIIfQi")  # up to and including the pin status
_ENTRY_V2_EXTRA = struct.Struct("<iIQ")


def _read_all(target: FileTarget) -> bytes:
    size = target.open_file_entry().size or 0
    if size > MAX_SIZE:
        raise ValueError(f"too large for a jump list ({size} bytes, limit {MAX_SIZE})")
    return target.read(MAX_SIZE)


def _guid(data: bytes) -> str:
    return f"{{{uuid.UUID(bytes_le=data)}}}"


def parse_dest_list(data: bytes) -> Iterator[dict]:
    """plaso's olecf:dest_list:entry attributes of every DestList entry."""
    if not data:
        return  # an empty jump list has an empty DestList
    version, *_ = _DEST_LIST_HEADER.unpack_from(data, 0)
    if version not in (1, 2, 3, 4):
        raise ValueError(f"unsupported DestList format version {version}")
    offset = _DEST_LIST_HEADER.size
    while offset + _ENTRY_COMMON.size <= len(data):
        start = offset
        (_, volume, file, birth_volume, birth_file, hostname, entry_number, _, _, modified, pin_status) = (
            _ENTRY_COMMON.unpack_from(data, offset)
        )
        offset += _ENTRY_COMMON.size
        if version > 1:
            offset += _ENTRY_V2_EXTRA.size
        (path_size,) = struct.unpack_from("<H", data, offset)
        offset += 2
        path_bytes = data[offset : offset + 2 * path_size]
        if len(path_bytes) < 2 * path_size:
            raise ValueError(f"DestList entry at offset {start} runs past the end of the stream")
        offset += 2 * path_size + (4 if version > 1 else 0)
        values = {
            "birth_droid_file_identifier": _guid(birth_file),
            "birth_droid_volume_identifier": _guid(birth_volume),
            "droid_file_identifier": _guid(file),
            "droid_volume_identifier": _guid(volume),
            "entry_number": entry_number,
            "hostname": hostname.split(b"\0", 1)[0].decode("ascii", "replace") or None,
            "modification_time": dfdatetime_filetime.Filetime(timestamp=modified) if modified else None,
            "offset": start,
            "path": path_bytes.decode("utf-16-le", "replace").rstrip("\0") or None,
            "pin_status": pin_status,
        }
        yield {name: value for name, value in values.items() if value is not None}


class AutomaticDestinationsParser(BaseParser):
    NAME = "automatic_destinations"
    DATA_FORMAT = "Automatic destinations jump list OLE compound file (.automaticDestinations-ms)"
    DATA_TYPES = (DEST_LIST_DATA_TYPE, "windows:lnk:link")
    PATTERNS = (_RECENT + "AutomaticDestinations\\*.automaticDestinations-ms",)
    NAMES = ("*.automaticDestinations-ms",)  # an OLE compound file, as many formats are: the extension says which

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        data = _read_all(target)
        if not data.startswith(_OLECF_SIGNATURE):
            raise ValueError("not an OLE compound file")
        olecf = pyolecf.file()
        olecf.open_file_object(io.BytesIO(data))
        try:
            root = olecf.root_item
            for index in range(root.number_of_sub_items if root is not None else 0):
                item = root.get_sub_item(index)
                name = item.name or ""
                stream = item.read_buffer(item.size) if item.size else b""
                if name == "DestList":
                    for values in parse_dest_list(stream):
                        tags = trace_tags(values.get("path"))
                        yield EventData(DEST_LIST_DATA_TYPE, values, tags=tags)
                elif _is_hex(name):
                    display_name = f"{target.provenance.display_name} # {name}"
                    try:
                        event_data, _ = lnk_event_data(stream, display_name)
                    except OSError as exception:
                        yield warning(f"shortcut stream {name} cannot be read: {exception}", parser="lnk", provenance=target.provenance)
                        continue
                    yield event_data
        finally:
            olecf.close()


def _is_hex(name: str) -> bool:
    return bool(name) and name[0] != "0" and all(c in "0123456789abcdefABCDEF" for c in name)


class CustomDestinationsParser(BaseParser):
    NAME = "custom_destinations"
    DATA_FORMAT = "Custom destinations jump list (.customDestinations-ms) file"
    DATA_TYPES = ("windows:lnk:link",)
    PATTERNS = (_RECENT + "CustomDestinations\\*.customDestinations-ms",)
    NAMES = ("*.customDestinations-ms",)  # no header magic (its marker is in the footer)

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        data = _read_all(target)
        if len(data) < 12:
            raise ValueError("too short for a custom destinations file")
        version, categories, _ = struct.unpack_from("<3I", data, 0)
        if version != 2:
            raise ValueError(f"unsupported custom destinations format version {version}")
        offset = 12
        for _ in range(categories):
            offset, entries = _category_header(data, offset)
            for _ in range(entries):
                if len(data) - offset < 16:
                    break
                guid = data[offset : offset + 16]
                if guid != LNK_CLSID:
                    if guid[:4] != _CATEGORY_FOOTER:
                        yield warning(f"unsupported entry at offset {offset:#x}", parser=self.NAME, provenance=target.provenance)
                    break
                offset += 16
                display_name = f"{target.provenance.display_name} # {offset:#010x}"
                try:
                    event_data, used = lnk_event_data(data[offset:], display_name)
                except OSError as exception:
                    yield warning(f"shortcut at offset {offset:#x} cannot be read: {exception}", parser="lnk", provenance=target.provenance)
                    return
                yield event_data
                if used <= 0:
                    return
                offset += used
            if data[offset : offset + 4] != _CATEGORY_FOOTER:
                raise ValueError(f"category footer missing at offset {offset:#x}")
            offset += 4


def _category_header(data: bytes, offset: int) -> tuple[int, int]:
    """Offset after a category header, and its number of entries (0 for a known-folder category)."""
    (kind,) = struct.unpack_from("<I", data, offset)
    offset += 4
    if kind == 0:  # custom category: name, then entries
        (characters,) = struct.unpack_from("<H", data, offset)
        offset += 2 + 2 * characters
        (entries,) = struct.unpack_from("<I", data, offset)
        return offset + 4, entries
    if kind == 1:  # known category (frequent, recent): an identifier, no entries here
        return offset + 4, 0
    if kind == 2:  # tasks
        (entries,) = struct.unpack_from("<I", data, offset)
        return offset + 4, entries
    raise ValueError(f"unsupported category type {kind}")
