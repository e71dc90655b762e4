r"""A user's app execution alias of Windows Sandbox: ``wsb.exe`` in WindowsApps.

A Store package that declares an execution alias gets, for each user it is
registered for, a file ``\Users\<user>\AppData\Local\Microsoft\WindowsApps\
<alias>`` (and a copy in the folder named after the package family [I]):
an empty file whose reparse point (IO_REPARSE_TAG_APPEXECLINK, 0x8000001B
[C]) names the package family, the application and the executable it
starts (docs/domain.md §2, §3). ``wsb.exe`` there [C] means the Store
sandbox was registered for that user, who could start it by typing ``wsb``;
its times say when.

One ``windows:sandbox:execution_alias`` per alias file (live or deleted):
the user (from the path), the alias, the file's times and, on NTFS, what the
reparse point names. The layout of its data (a count, then NUL-terminated
UTF-16 strings: package family, application user model id, target path,
application type) is public but not Microsoft's [S].
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.core import sandbox_names
from sandtrace.core.events import EventData
from sandtrace.engine.collection import FileTarget
from sandtrace.parsers import wci_placeholder
from sandtrace.parsers.interface import BaseParser
from sandtrace.parsers.sandbox_package import packages, parse_full_name

DATA_TYPE = "windows:sandbox:execution_alias"
ALIAS_TAG = "sandbox_execution_alias"
APPEXECLINK = 0x8000001B
_REPARSE_POINT = 0x400
_ALIASES = "\\Users\\*\\AppData\\Local\\Microsoft\\WindowsApps"
_STRINGS = ("package_family_name", "app_user_model_id", "target_path", "application_type")
_USER = re.compile(r"^\\users\\([^\\]+)\\", re.IGNORECASE)


def _patterns() -> tuple[str, ...]:
    """Each specific sandbox binary's alias in a user's WindowsApps, and the package
    family's own alias folder."""
    binaries = [name.name for name in sandbox_names.select(kind="binary", specificity="specific")
                if not name.is_pattern]
    return (tuple(f"{_ALIASES}\\{binary}" for binary in binaries)
            + tuple(f"{_ALIASES}\\{package}_*\\*" for package in packages()))


def decode_appexeclink(data: bytes) -> dict[str, object]:
    """Tag and strings of an app execution alias's reparse buffer."""
    if len(data) < 8:
        raise ValueError("reparse buffer shorter than its header")
    tag, length = struct.unpack_from("<IH", data)
    values: dict[str, object] = {"reparse_tag": f"{tag:#010x}"}
    if tag != APPEXECLINK:
        return values
    payload = data[8 : 8 + length]
    if len(payload) < 4:
        raise ValueError("app execution alias reparse data shorter than its string count")
    *strings, rest = payload[4:].decode("utf-16-le", "replace").split("\0")
    values.update({name: text for name, text in zip(_STRINGS, strings) if text})
    if rest:  # a string without its NUL: cut short, not kept
        values["reparse_problem"] = "reparse data cut short"
    return values


class ExecutionAliasParser(BaseParser):
    NAME = "execution_alias"
    DATA_FORMAT = "Windows Sandbox app execution alias (WindowsApps\\wsb.exe)"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = _patterns()

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        if target.is_directory:
            return
        user = _USER.match(target.location)
        file_entry = target.open_file_entry()
        values: dict[str, object] = {
            "filename": target.location,
            "is_allocated": target.is_allocated,
            "alias": target.location.rsplit("\\", 1)[-1],
            "user_name": user.group(1) if user else None,
            "in_package_family_folder": target.location.count("\\") > _ALIASES.count("\\") + 1,
        }
        if file_entry is not None:
            values.update(target.file_record(), file_size=file_entry.size)  # with the file's times
            values.update(_reparse_point(target, file_entry))
        target_package = parse_full_name(values.get("target_path"))  # ...\WindowsApps\<full name>\wsb.exe
        values["package_full_name"] = target_package.get("package_full_name")
        values["package_version"] = target_package.get("version")
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None}, tags=[ALIAS_TAG])


def _reparse_point(target: FileTarget, file_entry) -> dict[str, object]:
    """What the alias's reparse point says (NTFS only; a folder copy keeps no reparse point)."""
    try:
        ntfs = file_entry.GetNTFSFileEntry() if file_entry.type_indicator == "NTFS" else None
    except (dfvfs_errors.Error, OSError):
        ntfs = None
    if ntfs is None or target.mft_entry is None:
        return {}
    if not (ntfs.file_attribute_flags or 0) & _REPARSE_POINT:
        return {"is_reparse_point": False}
    try:
        found = decode_appexeclink(wci_placeholder.reparse_data(target, target.mft_entry))
    except (OSError, ValueError) as exception:
        return {"is_reparse_point": True, "reparse_problem": f"reparse data not readable: {exception}"[:200]}
    return {"is_reparse_point": True, **found}
