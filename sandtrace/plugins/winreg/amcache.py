"""Amcache.hve: programs and files the Application Experience inventory saw.

``\\Windows\\AppCompat\\Programs\\Amcache.hve`` is a hive of its own (root
sub key ``Root``; mounted here as ``HKEY_LOCAL_MACHINE\\Amcache``). Read as
plaso's ``amcache`` plugin does (winreg_plugins/amcache.py):

- ``Root\\InventoryApplicationFile\\<name>|<hash>`` (Windows 10+): named values
  (``LowerCaseLongPath``, ``FileId`` = "0000" + SHA-1 of the first 30 MiB,
  ``LinkDate`` "MM/DD/YYYY hh:mm:ss" = the PE link time, …) and the key's last
  written time (≈ when the inventory recorded the file).
- ``Root\\File\\<volume GUID>\\<file reference>`` (Windows 8 - 10 1607): numbered
  values (15 path, 101 SHA-1, 17 entry written, 11/12 file times, f link time).
- ``Root\\Programs\\<id>``: installed programs (``windows:registry:amcache:programs``).

A file entry naming a sandbox binary is tagged ``sandbox_execution_trace``
(docs/domain.md §3; ITOCHU: Amcache updates may be missing inside the sandbox).
One naming a Hyper-V or container host binary other VMs use too is tagged
``hyperv_host_trace`` (``core/sandbox_names.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dfdatetime import posix_time, time_elements

from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import event

ROOT = "HKEY_LOCAL_MACHINE\\Amcache\\Root"
# value name -> plaso attribute
_INVENTORY = {
    "FileId": "file_identifier", "LowerCaseLongPath": "full_path", "Name": "filename",
    "ProductName": "product_name", "ProductVersion": "file_version", "ProgramId": "program_identifier",
    "Publisher": "company_name", "Size": "file_size",
}
_INVENTORY_DATES = {"LinkDate": "link_time", "InstallDate": "installation_time", "InstallDateMsi": "msi_installation_time"}
_FILE = {
    "0": "product_name", "1": "company_name", "3": "language_code", "5": "file_version", "6": "file_size",
    "c": "file_description", "15": "full_path", "100": "program_identifier", "101": "sha1",
}
_FILE_TIMES = {"17": "last_written_time", "12": "file_creation_time", "11": "file_modification_time"}
_PROGRAM = {
    "0": "name", "1": "version", "2": "publisher", "3": "language_code", "6": "entry_type", "7": "uninstall_key",
    "d": "file_paths", "f": "product_code", "10": "package_code", "11": "msi_product_code", "12": "msi_package_code",
}
_DATE = re.compile(r"(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)")


class AmcachePlugin(WinRegistryPlugin):
    NAME = "amcache"
    DATA_FORMAT = "AMCache (AMCache.hve)"
    DATA_TYPES = ("windows:registry:amcache", "windows:registry:amcache:programs")
    KEY_PATHS = (f"{ROOT}\\InventoryApplicationFile\\*", f"{ROOT}\\File\\*\\*", f"{ROOT}\\Programs\\*")

    def parse_key(self, key, hive) -> Iterator[EventData]:
        section = key.path[len(ROOT) + 1:].split("\\", 1)[0].lower()
        values = key.values()
        if section == "programs":
            yield event(
                "windows:registry:amcache:programs",
                installation_time=_posix(values.get("a")),
                **_mapped(values, _PROGRAM),
            )
            return
        if section == "inventoryapplicationfile":
            found = _mapped(values, _INVENTORY)
            file_id = found.get("file_identifier")
            found["sha1"] = file_id[4:] if isinstance(file_id, str) and len(file_id) == 44 else None
            for name, attribute in _INVENTORY_DATES.items():
                found[attribute] = _date(values.get(name), name, key)
            found["application_key_last_written_time"] = key.last_written_time
        else:
            found = _mapped(values, _FILE)
            sha1 = found.get("sha1")
            if isinstance(sha1, str) and sha1.startswith("0000"):
                found["sha1"] = sha1[4:]
            found["file_reference"] = _file_reference(key.name)
            found.update({attribute: _filetime(values.get(name)) for name, attribute in _FILE_TIMES.items()})
            found["link_time"] = _posix(values.get("f"))
        yield event(
            "windows:registry:amcache",
            tags=trace_tags(found.get("full_path"), found.get("filename")),
            key_path=key.path,
            **found,
        )


def _mapped(values: dict, names: dict[str, str]) -> dict:
    return {attribute: values[name] for name, attribute in names.items() if name in values}


def _filetime(value):
    return filetime(value) if isinstance(value, int) else None


def _posix(value):
    return posix_time.PosixTime(timestamp=value) if isinstance(value, int) and value else None


def _date(text, name: str, key):
    """``MM/DD/YYYY hh:mm:ss`` (plaso's reading; the locale is not known) as time elements."""
    if not text:
        return None
    match = _DATE.match(text) if isinstance(text, str) else None
    try:
        month, day, year, hours, minutes, seconds = (int(part) for part in match.groups())
        return time_elements.TimeElements(time_elements_tuple=(year, month, day, hours, minutes, seconds))
    except (AttributeError, ValueError):
        key.errors.append(f"{key.path}: unsupported {name} value {text!r}")
        return None


def _file_reference(name: str) -> str | None:
    """NTFS ``<sequence>0000<MFT entry>`` as "entry-sequence"; FAT: the directory entry offset."""
    try:
        if "0000" in name:
            sequence, entry = name.split("0000")  # as plaso: more than one "0000" is no reference
            return f"{int(entry, 16)}-{int(sequence, 16)}"
        return str(int(name, 16))
    except ValueError:
        return None
