"""Windows Sandbox storage under ``ProgramData\\Microsoft\\Windows\\Containers``.

One ``windows:sandbox:container`` event data per item the sandbox leaves:
base layers, per-sandbox disks, guest state, bindings, snapshots and dumps,
live or deleted, in both layouts docs/domain.md §2 describes (classic
``BaseImages\\<GUID>\\BaseLayer.vhdx``; Store-app ``ContainerStorages``,
``Layers``, ``Snapshots``, ``Dumps``). For a virtual disk it says which model
it follows: a block-level differencing disk (with its parent) or a
standalone disk (whose unchanged files would be WCI placeholders) [I].
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyvhdi

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:container"
_GUID = r"\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?"
_ROOT = r"\\programdata\\microsoft\\windows\\containers\\"
# (regex on the lower-case path, role, layout); first match wins.
_ITEMS = [
    (rf"{_ROOT}baseimages\\{_GUID}\\baselayer\.vhdx$", "base_layer", "classic"),
    (rf"{_ROOT}baseimages\\{_GUID}\\snapshot\\(snapshotsandbox|systemtemplate)\.vhdx$", "snapshot_template", "classic"),
    (rf"{_ROOT}baseimages\\{_GUID}$", "base_image_folder", "classic"),
    (rf"{_ROOT}containerstorages\\{_GUID}\\sandbox\.vhdx$", "sandbox_disk", "store_app"),
    (rf"{_ROOT}containerstorages\\{_GUID}\\sandbox\.vmgs$", "guest_state", "store_app"),
    (rf"{_ROOT}containerstorages\\{_GUID}\\bindings\\config\.json$", "bindings", "store_app"),
    (rf"{_ROOT}containerstorages\\{_GUID}$", "sandbox_storage_folder", "store_app"),
    (rf"{_ROOT}layers\\{_GUID}$", "layer_folder", "store_app"),
    (rf"{_ROOT}snapshots\\{_GUID}\\snapshotsavedstate\.vmrs$", "saved_state", "store_app"),
    (rf"{_ROOT}dumps\\{_GUID}\.(dmp|vmrs)$", "dump", "store_app"),
    (rf"{_ROOT}.*\.(vhdx|avhdx|vhd)$", "virtual_disk", "unknown"),
]
_COMPILED = [(re.compile(pattern), role, layout) for pattern, role, layout in _ITEMS]
_DISK_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}


def classify(location: str) -> tuple[str, str, str | None] | None:
    """(role, layout, GUID) of a path in the Containers tree, or None."""
    lowered = location.lower()
    for regex, role, layout in _COMPILED:
        match = regex.search(lowered)
        if match:
            guid = next((g for g in match.groups() if g and len(g) == 36), None)
            return role, layout, guid
    return None


class ContainerInventoryParser(BaseParser):
    NAME = "container_inventory"
    DATA_FORMAT = "Windows Sandbox storage (Containers tree)"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = ("\\ProgramData\\Microsoft\\Windows\\Containers\\**",)
    WANTS_DIRECTORIES = True

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        found = classify(target.location)
        if found is None:
            return
        role, layout, guid = found
        file_entry = target.open_file_entry()
        values = {
            "role": role,
            "layout": layout,
            "container_guid": guid,
            "filename": target.location,
            "is_allocated": target.is_allocated,
            "file_size": None if target.is_directory else file_entry.size,
            "creation_time": file_entry.creation_time,
            "modification_time": file_entry.modification_time,
            "access_time": file_entry.access_time,
            "entry_modification_time": getattr(file_entry, "change_time", None),
        }
        if not target.is_directory and target.location.lower().endswith((".vhdx", ".vhd", ".avhdx")):
            values.update(self._disk(target))
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None})

    @staticmethod
    def _disk(target: FileTarget) -> dict:
        """Disk model and parent, read from the VHD/VHDX headers with libvhdi."""
        disk = pyvhdi.file()
        is_vhdx = target.read(8) == b"vhdxfile"
        file_object = target.open_file_object()
        try:
            disk.open_file_object(file_object)
        except OSError as exception:
            return {"disk_model": "unreadable", "disk_error": str(exception).split(". ")[0]}
        try:
            kind = _DISK_TYPES.get(disk.disk_type, str(disk.disk_type))
            values = {
                "disk_type": kind,
                "disk_format": "VHDX" if is_vhdx else "VHD",
                "virtual_size": disk.media_size,
                "disk_identifier": str(disk.identifier) if disk.identifier else None,
            }
            if kind == "differencing":
                values["disk_model"] = "block-level differencing disk"
                values["parent_filename"] = disk.parent_filename
                values["parent_identifier"] = str(disk.parent_identifier) if disk.parent_identifier else None
            else:
                values["disk_model"] = "standalone disk"
            return values
        finally:
            disk.close()
