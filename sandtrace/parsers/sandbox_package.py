r"""The Windows Sandbox Store package folder (Windows 11 24H2 and later).

From 24H2 the sandbox is a Store-serviced package, installed like every
packaged app in ``\Program Files\WindowsApps\<package full name>``
(docs/domain.md §2, §3 [C]): ``MicrosoftWindows.WindowsSandbox_<version>_x64__
cw5n1h2txyewy``, holding WindowsSandboxServer.exe, WindowsSandboxRemoteSession.exe
and the wsb.exe its execution alias starts. The folder's version says which
release of the Store app the host ran, and so that the feature was in use in
its Store form; a host can keep more than one version's folder [I].

One ``windows:sandbox:package_folder`` per folder the collector gives (live,
deleted from the MFT, in a shadow copy): the package identity read from the
folder name (and from its AppxManifest.xml when readable), the binaries it
holds, and the folder's times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from dfvfs.lib import errors as dfvfs_errors

from sandtrace.core import sandbox_names
from sandtrace.core.events import EventData
from sandtrace.engine.collection import FileTarget
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:package_folder"
PACKAGE_TAG = "sandbox_store_package"
MAX_LISTED = 200
MANIFEST = "appxmanifest.xml"
MANIFEST_LIMIT = 1 << 20
# <name>_<version>_<architecture>_<resource id>_<publisher id> (Microsoft Learn, package identity)
_FULL_NAME = re.compile(r"(?P<name>[^_\\]+)_(?P<version>\d+(?:\.\d+){0,3})_(?P<architecture>[^_\\]*)_"
                        r"(?P<resource_id>[^_\\]*)_(?P<publisher_id>[a-z0-9]{13})", re.IGNORECASE)


def packages() -> tuple[str, ...]:
    """The Store package names of data/sandbox_names.yaml."""
    return tuple(name.name for name in sandbox_names.select(kind="package"))


def parse_full_name(text: str | None) -> dict[str, str]:
    """Name, version, architecture, resource id and publisher id of the first package
    full name in a text (a folder name, a path), with the full and family names."""
    found = _FULL_NAME.search(text or "")
    if not found:
        return {}
    parts = found.groupdict()
    parts["package_full_name"] = found.group(0)
    parts["package_family_name"] = f"{parts['name']}_{parts['publisher_id']}"
    return parts


class SandboxPackageParser(BaseParser):
    NAME = "sandbox_package"
    DATA_FORMAT = "Windows Sandbox Store package folder (Program Files\\WindowsApps)"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = tuple(f"\\Program Files\\WindowsApps\\{package}_*" for package in packages())
    WANTS_DIRECTORIES = True

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        if not target.is_directory:
            return
        folder = target.location.rstrip("\\").rsplit("\\", 1)[-1]
        identity = parse_full_name(folder)
        file_entry = target.open_file_entry()
        names, manifest, listing_error = _listing(file_entry)
        binaries = sorted((name for name in names if name.lower().endswith(".exe")), key=str.lower)
        values = {
            "filename": target.location,
            "is_allocated": target.is_allocated,
            "package_full_name": identity.get("package_full_name") or folder,
            "package_family_name": identity.get("package_family_name"),
            "version": identity.get("version"),
            "architecture": identity.get("architecture"),
            "resource_id": identity.get("resource_id") or None,
            "publisher_id": identity.get("publisher_id"),
            "binaries": binaries or None,
            "sandbox_binaries": [name for name in binaries if sandbox_names.file_verdict(name)] or None,
            "number_of_top_level_entries": len(names),
            "has_manifest": manifest is not None,
            "listing_error": listing_error,
        }
        if file_entry is not None:
            values.update(target.file_record())  # the folder's times
        if manifest is not None:
            values.update(_manifest(manifest))
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None}, tags=[PACKAGE_TAG])


def _listing(file_entry) -> tuple[list[str], object, str | None]:
    """The folder's top-level names (at most MAX_LISTED), its manifest's entry, and why
    listing stopped when it did (a deleted folder's index may be gone)."""
    names: list[str] = []
    manifest = None
    if file_entry is None:
        return names, None, "the folder cannot be opened"
    try:
        for child in file_entry.sub_file_entries:
            names.append(child.name)
            if child.name.lower() == MANIFEST:
                manifest = child
            if len(names) >= MAX_LISTED:
                break
    except (dfvfs_errors.Error, OSError) as exception:
        return names, manifest, f"cannot list the folder: {exception}"[:200]
    return names, manifest, None


def _manifest(entry) -> dict[str, object]:
    """The identity, applications and execution aliases an AppxManifest.xml declares."""
    try:
        if (entry.size or 0) > MANIFEST_LIMIT:
            return {"manifest_problem": f"AppxManifest.xml over {MANIFEST_LIMIT} bytes: not read"}
        file_object = entry.GetFileObject()
        root = SafeElementTree.fromstring(file_object.read(MANIFEST_LIMIT))
    except (dfvfs_errors.Error, OSError, ParseError, DefusedXmlException, ValueError) as exception:
        return {"manifest_problem": f"AppxManifest.xml not readable: {exception}"[:200]}
    found: dict[str, object] = {}
    aliases: list[str] = []
    applications: list[str] = []
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local == "Identity" and "manifest_version" not in found:
            found.update(manifest_name=element.get("Name"), manifest_version=element.get("Version"),
                         manifest_publisher=element.get("Publisher"),
                         manifest_architecture=element.get("ProcessorArchitecture"))
        elif local == "Application" and element.get("Executable"):
            applications.append(element.get("Executable"))
        elif local == "ExecutionAlias" and element.get("Alias"):
            aliases.append(element.get("Alias"))
    found["manifest_applications"] = applications or None
    found["execution_aliases"] = aliases or None
    return {k: v for k, v in found.items() if v is not None}
