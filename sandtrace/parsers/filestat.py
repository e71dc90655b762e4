"""File system metadata of every collected file: NTFS $SI and $FN times.

On NTFS one ``fs:stat:ntfs`` event data per $STANDARD_INFORMATION and per
$FILE_NAME attribute, with the attribute names plaso's ``mft`` parser uses,
so that a $FN time that disagrees with its $SI twin (timestomping) shows.
Other file systems get plaso's generic ``fs:stat``. Deleted records arrive
here from the collector's MFT pass and read the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

from dfdatetime import filetime as dfdatetime_filetime
from dfvfs.lib import definitions as dfvfs_definitions

from sandtrace.core import display
from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.parsers.interface import BaseParser

_STANDARD_INFORMATION = 0x10
_FILE_NAME = 0x30
_DATA = 0x80
_NAMESPACE_DOS = 2


def _filetime(value: int | None) -> dfdatetime_filetime.Filetime | None:
    return dfdatetime_filetime.Filetime(timestamp=value) if value else None


class FileStatParser(BaseParser):
    NAME = "filestat"
    DATA_FORMAT = "File system metadata ($STANDARD_INFORMATION, $FILE_NAME, stat)"
    DATA_TYPES = ("fs:stat:ntfs", "fs:stat")
    ALL_TARGETS = True
    # Sandbox-relevant places, timelined even when no content parser wants them.
    PATTERNS = (
        "**\\*.wsb",
        "\\ProgramData\\Microsoft\\Windows\\Containers\\**",
        "\\Windows\\System32\\WindowsSandbox*.exe",
        "\\Windows\\System32\\wsb.exe",
        "\\Users\\*\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe",
        "\\Program Files\\WindowsApps\\MicrosoftWindows.WindowsSandbox_*\\*.exe",
        "\\Users\\WDAGUtilityAccount",
        "\\Windows\\System32\\winevt\\Logs\\*.evtx",
        "\\Windows\\System32\\config\\SYSTEM",
        "\\Windows\\System32\\config\\SOFTWARE",
        "\\Windows\\System32\\config\\SAM",
        "\\Users\\*\\NTUSER.DAT",
    )

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        if "sandbox_files" in target.parsers and (not target.is_directory or len(target.parsers) == 1):
            # Inside a sandbox disk every file is the sweep's (parsers/sandbox_files.py);
            # a folder only the sweep found is not timelined.
            return
        yield from self._stat(target)

    def _stat(self, target: FileTarget) -> Iterator[EventData]:
        file_entry = target.open_file_entry()
        if file_entry is None:
            raise OSError(f"no file entry at {target.location}")
        if file_entry.type_indicator == dfvfs_definitions.TYPE_INDICATOR_NTFS:
            yield from self._parse_ntfs(target, file_entry.GetNTFSFileEntry())
        else:
            yield self._parse_generic(target, file_entry)

    def _parse_ntfs(self, target: FileTarget, entry) -> Iterator[EventData]:
        common = {
            "display_name": target.provenance.display_name,
            "file_reference": entry.file_reference,
            "filename": display.relative_path(target.path_spec),
            "is_allocated": entry.is_allocated(),
            "symbolic_link_target": entry.get_symbolic_link_target(),
        }
        path_hints: list[str] = []
        stream_names: list[str] = []
        standard_information = None
        for index in range(entry.number_of_attributes):
            attribute = entry.get_attribute(index)
            kind = attribute.attribute_type
            if kind == _STANDARD_INFORMATION:
                standard_information = attribute
            elif kind == _FILE_NAME:
                hint = entry.get_path_hint(index)
                yield self._ntfs_event(common, attribute, [hint], file_name=True)
                if attribute.name_space != _NAMESPACE_DOS:
                    path_hints.append(hint)
            elif kind == _DATA:
                stream_names.append(attribute.attribute_name)
        if standard_information is not None:
            hints = []
            for hint in path_hints:
                hint = hint or "\\"
                if not stream_names:
                    hints.append(hint)
                hints.extend(f"{hint}:{name}" if name else hint for name in stream_names)
            yield self._ntfs_event(common, standard_information, hints, file_name=False)

    @staticmethod
    def _ntfs_event(common: dict, attribute, path_hints: list[str], file_name: bool) -> EventData:
        values = dict(common)
        values["attribute_type"] = attribute.attribute_type
        values["path_hints"] = path_hints or None
        values["file_system_type"] = "NTFS"
        if file_name:
            values["file_attribute_flags"] = attribute.file_attribute_flags
            values["name"] = attribute.name
            values["parent_file_reference"] = attribute.parent_file_reference
        values["access_time"] = _filetime(attribute.get_access_time_as_integer())
        values["creation_time"] = _filetime(attribute.get_creation_time_as_integer())
        values["entry_modification_time"] = _filetime(attribute.get_entry_modification_time_as_integer())
        values["modification_time"] = _filetime(attribute.get_modification_time_as_integer())
        return EventData(
            "fs:stat:ntfs", {k: v for k, v in values.items() if v is not None}
        )

    @staticmethod
    def _parse_generic(target: FileTarget, file_entry) -> EventData:
        stat = file_entry.GetStatAttribute()
        values = {
            "access_time": file_entry.access_time,
            "added_time": file_entry.added_time,
            "backup_time": file_entry.backup_time,
            "change_time": file_entry.change_time,
            "creation_time": file_entry.creation_time,
            "deletion_time": file_entry.deletion_time,
            "modification_time": file_entry.modification_time,
            "display_name": target.provenance.display_name,
            "file_entry_type": file_entry.entry_type,
            "file_size": file_entry.size,
            "file_system_type": file_entry.type_indicator,
            "filename": display.relative_path(target.path_spec),
            "is_allocated": file_entry.IsAllocated(),
        }
        if stat is not None:
            values["group_identifier"] = stat.group_identifier
            values["inode"] = stat.inode_number
            if stat.mode is not None:
                values["mode"] = stat.mode & 0x0FFF
            values["number_of_links"] = stat.number_of_links
            values["owner_identifier"] = stat.owner_identifier
        return EventData("fs:stat", {k: v for k, v in values.items() if v is not None})
