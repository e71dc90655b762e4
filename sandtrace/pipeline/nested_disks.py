"""Virtual disks inside the evidence: which files are disks to open, and each opened as a source.

``--nested-disks sandbox`` (the default) opens the disks under the sandbox's
Containers tree, ``all`` every .vhd/.vhdx, to ``--max-depth``. An opened disk
keeps its container (path, GUID); all its content is template when it is a
base layer or a snapshot template, and a differencing disk's files it did not
rewrite are template too (compared with its parent). Base layers are
registered (engine/layers.py) so that WCI placeholders in later disks resolve.
"""

from __future__ import annotations

import re

import pyvhdi
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

from sandtrace.core.errors import SourceError
from sandtrace.core.events import EventData
from sandtrace.engine import layers, vhdi_parents
from sandtrace.engine.collection import FileTarget
from sandtrace.engine.sources import Source, open_nested
from sandtrace.engine.templates import MftComparer
from sandtrace.parsers.container_inventory import classify

EXPECTED_ABSENCE = "windows:sandbox:expected_absence"
_VIRTUAL_DISK_SIGNATURES = (b"vhdxfile", b"conectix")
_CONTAINERS = "\\programdata\\microsoft\\windows\\containers\\"
_CONTAINER_GUID = re.compile(
    r"\\(BaseImages|ContainerStorages|Layers|Snapshots)\\\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?(\\|$)",
    re.IGNORECASE,
)
_TEMPLATE_ROLES = ("base_layer", "snapshot_template")


def is_nested_disk(target: FileTarget, source: Source, nested: str, max_depth: int) -> bool:
    """Whether ``target`` is a virtual disk to open (``--nested-disks``, ``--max-depth``)."""
    if nested == "none" or target.is_directory or source.depth >= max_depth:
        return False
    location = target.location.lower()
    if nested == "sandbox" and not location.startswith(_CONTAINERS):
        return False
    if not location.endswith((".vhdx", ".vhd", ".avhdx")):
        return False
    try:
        head = target.read(8)
    except (dfvfs_errors.Error, OSError):
        return False
    return head.startswith(_VIRTUAL_DISK_SIGNATURES)


def base_layers_first(target: FileTarget) -> bool:
    """Sort key that puts base layers first: placeholders in sandbox disks resolve against them."""
    return (classify(target.location) or ("",))[0] != "base_layer"


def disk_label(target: FileTarget) -> str:
    """A volume label for a disk file: unique per file, readable (``p2>sandbox.vhdx@95``)."""
    name = target.location.rsplit("\\", 1)[-1]
    where = f"@{target.mft_entry}" if target.mft_entry is not None else ""
    return f"{target.volume.label}>{name}{where}"


def open_disk(source: Source, target: FileTarget, label: str, vss: bool, register: bool = True) -> Source:
    """The disk file ``target`` opened as a source inside ``source``; base layers
    registered (``register``) so that later placeholders resolve against them."""
    match = _CONTAINER_GUID.search(target.location)
    container = {"container_path": target.location}
    if match:
        container["container_guid"] = match.group(2).lower()
    inner = open_nested(
        target.path_spec,
        outer=source,
        outer_label=label,
        outer_display_name=target.provenance.display_name,
        container=source.container or container,  # a disk inside a sandbox disk keeps the sandbox's
        vss=vss,
    )
    found = classify(target.location)
    inner.all_template = bool(source.all_template or (found and found[0] in _TEMPLATE_ROLES))
    if register and found and found[0] == "base_layer" and found[2]:
        for volume in inner.volumes:
            layers.register(found[2], volume)
    if not target.is_allocated:
        inner.tags = ["recovered_deleted"]
    return inner


def expected_absence(target: FileTarget, inner: Source) -> list[EventData]:
    """The note said once per sandbox disk (none for another disk): what the guest
    never records is not a finding."""
    found = classify(target.location)
    if not found or found[0] != "sandbox_disk":
        return []
    return [EventData(
        EXPECTED_ABSENCE,
        {
            "absent_artifacts": ["Prefetch", "SRUM"],
            "explanation": "Windows Sandbox guests keep no Prefetch and no SRUM (ITOCHU, docs/domain.md §5 [S]); "
            "their absence inside this disk is expected, not a finding",
            **(inner.container or {}),
        },
        parser="nested_disk",
        provenance=target.provenance,
        tags=list(inner.tags),
    )]


def holds_activity(source: Source) -> bool:
    """Whether a disk holds a sandbox's own activity: a sandbox disk (live, deleted, in a
    shadow copy) or a disk carved from free space, not a base layer or a template."""
    if source.depth == 0 or source.all_template:
        return False
    if "carved" in source.tags:
        return True
    found = classify((source.container or {}).get("container_path", ""))
    return bool(found) and found[0] == "sandbox_disk"


def is_template(target: FileTarget, source: Source) -> bool:
    """Whether a file is template content: in a template disk, or not rewritten by a differencing disk."""
    if source.all_template:
        return True
    comparer = source.comparers.get(target.volume.label)
    return comparer is not None and comparer.unchanged(target.mft_entry)


def parent_comparers(target: FileTarget, inner: Source) -> dict:
    """For a differencing disk: per inner volume, a comparer with the parent's volume."""
    try:
        disk = pyvhdi.file()
        disk.open_file_object(target.open_file_object())
        parent_filename = disk.parent_filename if disk.parent_identifier else None
        disk.close()
        if not parent_filename:
            return {}
        file_system = resolver.Resolver.OpenFileSystem(target.path_spec)
        parent_spec = vhdi_parents.find_parent(file_system, target.path_spec, parent_filename)
        if parent_spec is None:
            return {}
        parent = open_nested(parent_spec, outer=inner, outer_label="parent", outer_display_name="parent", container=None, vss=False)
    except (SourceError, dfvfs_errors.Error, OSError):
        return {}
    parents = {volume.label.rsplit(">", 1)[-1]: volume for volume in parent.volumes}
    comparers = {}
    for volume in inner.volumes:
        match = parents.get(volume.label.rsplit(">", 1)[-1])
        if match is not None and volume.type_indicator == match.type_indicator == "NTFS":
            comparers[volume.label] = MftComparer(volume.path_spec, match.path_spec)
    return comparers


def self_contained(inner: Source, nested: str, max_depth: int) -> bool:
    """Whether no disk inside ``inner`` would be opened, so that another process can
    run it alone: copy de-duplication and base-layer registration, the state one
    extractor shares between disks, are then not touched (pipeline/handout.py).

    With ``--nested-disks sandbox`` a disk must lie under
    ``\\ProgramData\\Microsoft\\Windows\\Containers``: a disk none of whose NTFS
    volumes has that folder has none. ``all`` may find a disk anywhere: never.
    """
    if nested == "none" or inner.depth >= max_depth:
        return True
    if nested != "sandbox":
        return False
    for volume in inner.volumes:
        if volume.type_indicator != dfvfs_definitions.TYPE_INDICATOR_NTFS:
            return False
        spec = path_spec_factory.Factory.NewPathSpec(
            volume.type_indicator, location=_CONTAINERS.rstrip("\\"), parent=volume.path_spec.parent)
        try:
            if resolver.Resolver.OpenFileEntry(spec) is not None:
                return False
        except (dfvfs_errors.Error, OSError):
            return False
    return True
