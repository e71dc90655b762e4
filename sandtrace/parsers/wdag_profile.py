"""The WDAGUtilityAccount profile folder, where it should and should not be.

WDAGUtilityAccount is the sandbox's default user; on the host it is a
disabled built-in account (RID 504) that never logs on, so its presence in
the SAM proves nothing, but a *profile folder* ``\\Users\\WDAGUtilityAccount``
on a host volume is anomalous (docs/domain.md §6 [I]). LilimRAT refuses to run
unless that folder exists (§6 [C]), so an attacker may create it. Pristine
copies sit in the base layer (``...\\Containers\\...\\Files\\Users\\
WDAGUtilityAccount``, §2 and §6 [C]) and the sandbox's own disk has the real
profile: neither is an anomaly.

One ``windows:sandbox:wdag_profile`` per folder found: its times, what it
holds at the top level, and ``location_kind``: ``host_profile`` (tagged
``wdag_anomaly``), ``container_template`` (in the Containers tree, tagged
``sandbox_template``) or ``inside_disk`` (inside a virtual disk opened from
the evidence, e.g. the sandbox's own disk).
"""

from __future__ import annotations

from collections.abc import Iterator

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.engine.templates import TEMPLATE_TAG
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:wdag_profile"
ANOMALY_TAG = "wdag_anomaly"
ACCOUNT = "wdagutilityaccount"
MAX_LISTED = 200
_CONTAINERS = "\\programdata\\microsoft\\windows\\containers\\"


def location_kind(location: str, nesting: tuple[str, ...]) -> str:
    if nesting:
        return "inside_disk"
    if _CONTAINERS in location.lower():
        return "container_template"
    return "host_profile"


class WdagProfileParser(BaseParser):
    NAME = "wdag_profile"
    DATA_FORMAT = "WDAGUtilityAccount profile folder"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = (
        "\\Users\\WDAGUtilityAccount",
        "\\ProgramData\\Microsoft\\Windows\\Containers\\**\\Users\\WDAGUtilityAccount",
    )
    WANTS_DIRECTORIES = True

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        if not target.is_directory or target.location.rstrip("\\").rsplit("\\", 1)[-1].lower() != ACCOUNT:
            return
        kind = location_kind(target.location, target.provenance.nesting)
        file_entry = target.open_file_entry()
        names, listing_error = [], None
        if file_entry is not None:
            try:
                for index, child in enumerate(file_entry.sub_file_entries):
                    names.append(child.name + ("\\" if child.IsDirectory() else ""))
                    if index + 1 >= MAX_LISTED:
                        break
            except (dfvfs_errors.Error, OSError) as exception:
                listing_error = f"cannot list the folder: {exception}"
        lowered = {name.lower() for name in names}
        values = {
            "filename": target.location,
            "is_allocated": target.is_allocated,
            "location_kind": kind,
            "top_level_entries": sorted(names, key=str.lower) or None,
            "number_of_top_level_entries": len(names),
            "has_ntuser_dat": "ntuser.dat" in lowered,
            "has_desktop": "desktop\\" in lowered,
            "listing_error": listing_error,
        }
        if file_entry is not None:
            values.update({
                "creation_time": file_entry.creation_time,
                "modification_time": file_entry.modification_time,
                "access_time": file_entry.access_time,
                "entry_modification_time": getattr(file_entry, "change_time", None),
            })
        tags = {"host_profile": [ANOMALY_TAG], "container_template": [TEMPLATE_TAG]}.get(kind, [])
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None}, tags=list(tags))
