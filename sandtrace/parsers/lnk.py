"""Windows Shortcut (LNK) files: what a user opened, and from where.

Explorer writes a shortcut to ``Recent`` for every document a user opens,
a .wsb double-click included (docs/domain.md §3 [I]). plaso's
``windows:lnk:link`` with plaso's attribute names, read by liblnk; the
target's own times (creation, modification, access) are timelined as plaso
does. A shortcut whose target or arguments name a .wsb or
a sandbox binary is tagged ``sandbox_execution_trace``, one that names only a
Hyper-V or container host binary ``hyperv_host_trace``
(``core/sandbox_names.py``); the rest are kept untagged. ``lnk_event_data`` also reads the shortcuts inside jump lists
(``jumplist.py``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pylnk
from dfdatetime import filetime as dfdatetime_filetime

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.parsers.interface import BaseParser, Signature

DATA_TYPE = "windows:lnk:link"
LNK_CLSID = b"\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
MAX_SIZE = 4 * 1024 * 1024  # shortcuts are a few KiB; the format has no reason to be larger


def _filetime(value: int | None) -> dfdatetime_filetime.Filetime | None:
    return dfdatetime_filetime.Filetime(timestamp=value) if value else None


def _text(value: str | None) -> str | None:
    """Non-printable characters escaped (plaso also doubles backslashes; sandtrace keeps paths as written)."""
    if not value:
        return None
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)


def read_lnk(file_object) -> dict:
    """plaso's windows:lnk:link attributes of one shortcut, from a file-like object."""
    lnk = pylnk.file()
    lnk.open_file_object(file_object)
    try:
        values = {
            "access_time": _filetime(lnk.get_file_access_time_as_integer()),
            "birth_droid_file_identifier": lnk.birth_droid_file_identifier,
            "birth_droid_volume_identifier": lnk.birth_droid_volume_identifier,
            "command_line_arguments": _text(lnk.command_line_arguments),
            "creation_time": _filetime(lnk.get_file_creation_time_as_integer()),
            "description": _text(lnk.description),
            "drive_serial_number": lnk.drive_serial_number,
            "drive_type": lnk.drive_type,
            "droid_file_identifier": lnk.droid_file_identifier,
            "droid_volume_identifier": lnk.droid_volume_identifier,
            "env_var_location": _text(lnk.environment_variables_location),
            "file_attribute_flags": lnk.file_attribute_flags,
            "file_size": lnk.file_size,
            "icon_location": _text(lnk.icon_location),
            "local_path": _text(lnk.local_path),
            "machine_identifier": _text(lnk.machine_identifier),
            "modification_time": _filetime(lnk.get_file_modification_time_as_integer()),
            "network_path": _text(lnk.network_path),
            "relative_path": _text(lnk.relative_path),
            "volume_label": _text(lnk.volume_label),
            "working_directory": _text(lnk.working_directory),
        }
    finally:
        lnk.close()
    return {name: value for name, value in values.items() if value is not None}


def sandbox_tags(values: dict) -> list[str]:
    """The tags of what the target or its arguments name (``core/sandbox_names``)."""
    return trace_tags(*(values.get(name) for name in (
        "local_path", "network_path", "relative_path", "env_var_location", "command_line_arguments", "path")))


def lnk_event_data(data: bytes, display_name: str | None = None) -> tuple[EventData, int]:
    """The event data of a shortcut at the start of ``data``, and how many bytes it used."""
    file_object = io.BytesIO(data)
    values = read_lnk(file_object)
    if display_name:
        values["display_name"] = display_name
    tags = sandbox_tags(values)
    return EventData(DATA_TYPE, values, parser="lnk", tags=tags), file_object.tell()


class LnkParser(BaseParser):
    NAME = "lnk"
    DATA_FORMAT = "Windows Shortcut (LNK) file"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = (
        "\\Users\\*\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\*.lnk",
        "\\Users\\*\\Desktop\\**\\*.lnk",
        "\\Users\\Public\\Desktop\\*.lnk",
    )
    SIGNATURES = (Signature(b"\x4c\x00\x00\x00" + LNK_CLSID),)

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        size = target.open_file_entry().size or 0
        if size > MAX_SIZE:
            raise ValueError(f"too large for a shortcut ({size} bytes, limit {MAX_SIZE})")
        values = read_lnk(target.open_file_object())
        tags = sandbox_tags(values)
        yield EventData(DATA_TYPE, values, tags=tags)
