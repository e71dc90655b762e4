"""Open evidence: a disk image, a folder or a single file, down to its file systems.

dfVFS does the opening (EWF, raw, VHD/VHDX, VMDK, QCOW, partitions, VSS); this
module turns what its volume scanner finds into ``Volume`` objects with stable
labels, and checks the source first so that a broken one fails with one plain
line ("missing segment case.E02") instead of a libyal error chain.

A folder is either a Windows file-system layout (a triage collection: the
parsers' path rules apply, as on an image) or any other folder (every file is
offered to the parsers that recognise it by signature, as plaso does); a file
that is no disk image can be opened as a source of its own (``open_file``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from dfvfs.helpers import volume_scanner
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.path.path_spec import PathSpec

from sandtrace.engine import folder, vhdi_parents  # noqa: F401 - folder: dfVFS reads non-UTF-8 names
from sandtrace.core import display
from sandtrace.core.errors import SourceError  # also sources.SourceError, as callers have long named it

_PARTITION_TYPES = {
    dfvfs_definitions.TYPE_INDICATOR_GPT,
    dfvfs_definitions.TYPE_INDICATOR_TSK_PARTITION,
    dfvfs_definitions.TYPE_INDICATOR_APM,
    dfvfs_definitions.TYPE_INDICATOR_LVM,
    dfvfs_definitions.TYPE_INDICATOR_APFS_CONTAINER,
    dfvfs_definitions.TYPE_INDICATOR_CS,
}
_IMAGE_TYPES = {
    dfvfs_definitions.TYPE_INDICATOR_EWF: "EWF",
    dfvfs_definitions.TYPE_INDICATOR_RAW: "RAW",
    dfvfs_definitions.TYPE_INDICATOR_VHDI: "VHD/VHDX",
    dfvfs_definitions.TYPE_INDICATOR_VMDK: "VMDK",
    dfvfs_definitions.TYPE_INDICATOR_QCOW: "QCOW",
    dfvfs_definitions.TYPE_INDICATOR_PHDI: "PHDI",
    dfvfs_definitions.TYPE_INDICATOR_MODI: "MODI",
}
_EWF_SUFFIX = re.compile(r"\.(e|ex|s|l|lx)01$", re.IGNORECASE)

# What at the root of a folder makes it a Windows file-system layout (case-insensitive):
# the top folders of a system volume, NTFS metadata files a triage tool copies
# (KAPE's $MFT, $Extend).
WINDOWS_LAYOUT_NAMES = ("Windows", "Users", "ProgramData", "Program Files", "Program Files (x86)",
                        "Documents and Settings", "$MFT", "$Extend")


@dataclass(slots=True)
class Volume:
    """One file system to collect from: a partition, a VSS store or a folder."""

    label: str  # stable: "p1", "p1/vss2", "volume", "directory"
    path_spec: PathSpec  # root of the file system
    type_indicator: str  # NTFS, EXT, FAT, OS, ...
    partition: str | None = None  # dfVFS partition location, e.g. "/p2"
    vss_store: int | None = None  # 0-based store index
    vss_creation_time: int | None = None  # FILETIME

    @property
    def display_prefix(self) -> str:
        """What plaso puts before a path on this volume, e.g. ``VSS2:NTFS:``."""
        prefix = f"{self.type_indicator}:"
        if self.vss_store is not None:
            prefix = f"VSS{self.vss_store + 1}:{prefix}"
        return prefix

    @property
    def is_snapshot(self) -> bool:
        return self.vss_store is not None


@dataclass(slots=True)
class Source:
    """An opened piece of evidence and everything found in it."""

    path: str
    kind: str  # EWF, RAW, VHD/VHDX, VMDK, QCOW, directory
    path_spec: PathSpec
    volumes: list[Volume] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the files the source is made of
    ewf: dict[str, Any] | None = None  # header values and stored hashes
    partitions: list[dict[str, Any]] = field(default_factory=list)
    nesting: tuple[str, ...] = ()  # display names of the disk files this source sits in
    container: dict[str, str] | None = None  # sandbox container GUID and path, when nested
    depth: int = 0
    all_template: bool = False  # a base layer: everything in it is pristine template content
    tags: list[str] = field(default_factory=list)  # labels for every event from this source (e.g. carved)
    comparers: dict[str, Any] = field(default_factory=dict)  # volume label -> MftComparer with the parent disk
    layout: str | None = None  # a folder: the root entry that makes it a Windows layout (``Windows``)
    by_signature: bool = False  # a folder with no Windows layout, or a single file: parsers take what they recognise

    @property
    def size(self) -> int:
        return sum(os.path.getsize(name) for name in self.files)


class _Scanner(volume_scanner.VolumeScanner):
    """The volume scanner, fed a path spec: lets nested disks be scanned too."""

    def ScanPathSpec(self, path_spec: PathSpec, options) -> list[PathSpec]:
        scan_context = self._ScanSourcePathSpec(path_spec)
        return self._GetBasePathSpecs(scan_context, options)


def scanner_options(vss: bool = True) -> volume_scanner.VolumeScannerOptions:
    options = volume_scanner.VolumeScannerOptions()
    options.partitions = ["all"]
    options.snapshots = ["all"] if vss else ["none"]
    options.volumes = ["all"]
    options.scan_mode = options.SCAN_MODE_ALL
    options.snapshots_only = False
    return options


class NotADiskImage(SourceError):
    """A file in which dfVFS finds no partition, volume or file system (it may still be a log, a hive ...)."""


def open_source(path: str, vss: bool = True) -> Source:
    """Opens the evidence at ``path`` and finds its volumes.

    Raises SourceError with a one-line reason when nothing can be read
    (NotADiskImage for a readable file that holds no file system).
    """
    if not os.path.exists(path):
        raise SourceError(f"no such file or directory: {path}")
    path = os.path.abspath(path)
    if os.path.isdir(path):
        os_spec = path_spec_factory.Factory.NewPathSpec(
            dfvfs_definitions.TYPE_INDICATOR_OS, location=path
        )
        volume = Volume("directory", os_spec, dfvfs_definitions.TYPE_INDICATOR_OS)
        vhdi_parents.register_triage_root(path)
        layout = windows_layout(path)
        return Source(path, "directory", os_spec, volumes=[volume], layout=layout, by_signature=layout is None)
    if not os.access(path, os.R_OK):
        raise SourceError(f"cannot read {path}: permission denied")

    ewf_info = None
    if _EWF_SUFFIX.search(path):
        from sandtrace.engine import ewf

        ewf_info = ewf.check(path)

    try:
        base_path_specs = _Scanner().GetBasePathSpecs(path, options=scanner_options(vss))
    except (dfvfs_errors.ScannerError, dfvfs_errors.BackEndError, OSError, RuntimeError) as exception:
        raise SourceError(_explain(path, exception)) from None

    volumes = [volume_from_path_spec(spec) for spec in base_path_specs]
    volumes = [volume for volume in volumes if volume is not None]
    os_spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_OS, location=path
    )
    if not volumes:
        raise NotADiskImage(
            f"not a disk image: {path} (no partition, volume or file system recognised)"
        )
    kind = image_kind(volumes[0].path_spec)
    files = ewf_info["segments"] if ewf_info else _image_files(path)
    source = Source(path, kind, os_spec, volumes=order_volumes(volumes), files=files, ewf=ewf_info)
    return source


def windows_layout(path: str) -> str | None:
    """The entry at the root of folder ``path`` that makes it a Windows layout, or None.

    One of ``WINDOWS_LAYOUT_NAMES``, whatever its case; the first in name order.
    """
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return None
    wanted = {name.lower() for name in WINDOWS_LAYOUT_NAMES}
    return next((name for name in names if name.lower() in wanted), None)


def layout_below(path: str) -> str | None:
    """A folder directly under ``path`` that is a Windows layout (KAPE's ``C``), or None."""
    try:
        entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    except OSError:
        return None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and windows_layout(entry.path):
            return entry.name
    return None


def open_file(path: str) -> Source:
    """A single file that is no disk image, as a source: a folder of one.

    Its volume is the folder it lies in, so that its location is ``\\name``
    and its display name plaso's (``OS:/abs/path/name``); only the file itself
    is ever collected from it (engine/collection.py).
    """
    path = os.path.abspath(path)
    os_spec = path_spec_factory.Factory.NewPathSpec(dfvfs_definitions.TYPE_INDICATOR_OS, location=path)
    folder_spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_OS, location=os.path.dirname(path)
    )
    volume = Volume("file", folder_spec, dfvfs_definitions.TYPE_INDICATOR_OS)
    return Source(path, "file", os_spec, volumes=[volume], files=[path], by_signature=True)


def volume_from_path_spec(path_spec: PathSpec) -> Volume | None:
    """Describes a file-system base path spec from the volume scanner."""
    if path_spec.type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS and not path_spec.HasParent():
        return None
    partition = None
    vss_store = None
    parts: list[str] = []
    spec = path_spec.parent
    while spec is not None:
        if spec.type_indicator == dfvfs_definitions.TYPE_INDICATOR_VSHADOW:
            vss_store = getattr(spec, "store_index", None)
            if vss_store is not None:
                parts.append(f"vss{vss_store + 1}")
        elif spec.type_indicator in _PARTITION_TYPES:
            location = getattr(spec, "location", None) or ""
            partition = location or partition
            if location.strip("/"):
                parts.append(location.strip("/"))
        elif spec.type_indicator in _IMAGE_TYPES or spec.type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS:
            break
        spec = spec.parent
    label = "/".join(reversed(parts)) or "volume"
    return Volume(
        label=label,
        path_spec=path_spec,
        type_indicator=path_spec.type_indicator,
        partition=partition,
        vss_store=vss_store,
        vss_creation_time=_vss_creation_time(path_spec) if vss_store is not None else None,
    )


def order_volumes(volumes: list[Volume]) -> list[Volume]:
    """Partition order, each current volume before its shadow copies (oldest first)."""

    def key(volume: Volume) -> tuple:
        return (
            _natural(volume.partition or ""),
            volume.vss_store is not None,
            volume.vss_store or 0,
        )

    return sorted(volumes, key=key)


def image_kind(path_spec: PathSpec) -> str:
    """The outermost storage media image type in a path spec chain."""
    kind = "file"
    spec = path_spec
    while spec is not None:
        if spec.type_indicator in _IMAGE_TYPES:
            kind = _IMAGE_TYPES[spec.type_indicator]
        spec = spec.parent
    return kind


def _vss_creation_time(path_spec: PathSpec) -> int | None:
    """The FILETIME a VSS store was created, read through dfVFS."""
    from dfvfs.resolver import resolver

    spec = path_spec.parent
    while spec is not None and spec.type_indicator != dfvfs_definitions.TYPE_INDICATOR_VSHADOW:
        spec = spec.parent
    if spec is None:
        return None
    try:
        file_entry = resolver.Resolver.OpenFileEntry(spec)
        store = file_entry.GetVShadowStore()
        return store.get_creation_time_as_integer() if store else None
    except (dfvfs_errors.Error, OSError):
        return None


def _image_files(path: str) -> list[str]:
    """The files a (possibly split) raw or single-file image is made of."""
    match = re.search(r"\.(\d{3})$", path)
    if not match:
        return [path]
    stem = path[: match.start()]
    width = len(match.group(1))
    start = int(match.group(1))
    files = []
    number = start
    while os.path.exists(f"{stem}.{number:0{width}d}"):
        files.append(f"{stem}.{number:0{width}d}")
        number += 1
    return files or [path]


def _natural(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _explain(path: str, exception: BaseException) -> str:
    """One plain line for a failed scan; known libyal failures get their meaning."""
    text = str(exception)
    if "missing parent" in text:
        parent = _vhd_parent_name(path)
        named = f" {parent}" if parent else ""
        return (
            f"differencing disk {os.path.basename(path)}: missing parent image{named} "
            "(place the parent beside it under its own name)"
        )
    return f"cannot open {path}: {_first_reason(exception)}"


def _vhd_parent_name(path: str) -> str | None:
    try:
        import pyvhdi

        vhd = pyvhdi.file()
        vhd.open(path)
        try:
            return vhd.parent_filename
        finally:
            vhd.close()
    except (ImportError, OSError):
        return None


def _first_reason(exception: BaseException) -> str:
    """The useful start of a libyal error chain: the first clause, no stack of callers."""
    text = str(exception).strip()
    text = re.sub(r"^Unable to (scan source|process source path specification) with error: ", "", text)
    text = re.sub(r"^Unable to open file object with error: ", "", text)
    text = text.split(". ")[0]
    return text[:300]


def describe(source: Source) -> list[str]:
    """Short human description of a source's volumes, for progress and errors."""
    return [f"{volume.label}: {volume.display_prefix}" for volume in source.volumes]


display_name = display.display_name_for_path_spec


def partitions(path: str) -> list[dict[str, Any]]:
    """Every partition dfVFS sees, file system or not: for ``sandtrace info``."""
    from dfvfs.helpers import source_scanner
    from dfvfs.volume import factory as volume_factory

    context = source_scanner.SourceScannerContext()
    try:
        context.OpenSourcePath(path)
        source_scanner.SourceScanner().Scan(context)
    except (dfvfs_errors.Error, OSError, RuntimeError):
        return []
    found: list[dict[str, Any]] = []
    stack = [context.GetRootScanNode()]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if node.type_indicator in _PARTITION_TYPES and (getattr(node.path_spec, "location", "/") in (None, "/")):
            volume_system = volume_factory.Factory.NewVolumeSystem(node.type_indicator)
            try:
                volume_system.Open(node.path_spec)
            except (dfvfs_errors.Error, OSError, RuntimeError, AttributeError):
                continue
            for volume in volume_system.volumes:
                extents = list(volume.extents)
                found.append(
                    {
                        "scheme": node.type_indicator,
                        "identifier": volume.identifier,
                        "offset": extents[0].offset if extents else None,
                        "size": sum(extent.size for extent in extents),
                    }
                )
            continue
        stack.extend(node.sub_nodes)
    return found


def open_nested(
    disk_path_spec: PathSpec,
    *,
    outer: Source,
    outer_label: str,
    outer_display_name: str,
    container: dict[str, str] | None,
    vss: bool = True,
    wrap_vhdi: bool = True,
) -> Source:
    """Opens a virtual disk file found inside a source as a source of its own.

    Nesting is just a longer path spec chain (``… NTFS \\x.vhdx | VHDI | NTFS``):
    the same collector and parsers then run inside it. Raises SourceError.
    """
    spec = (
        path_spec_factory.Factory.NewPathSpec(dfvfs_definitions.TYPE_INDICATOR_VHDI, parent=disk_path_spec)
        if wrap_vhdi
        else disk_path_spec
    )
    try:
        base_path_specs = _Scanner().ScanPathSpec(spec, scanner_options(vss))
    except (dfvfs_errors.Error, OSError, RuntimeError) as exception:
        text = str(exception)
        if "missing parent" in text:
            raise SourceError(f"differencing disk {outer_display_name}: its parent image was not found on this volume") from None
        if "maximum recursion depth" in text:  # a disk that is its own (grand)parent (docs/reliability.md)
            raise SourceError(f"cannot open the virtual disk {outer_display_name}: parent cycle or parent chain too deep "
                              f"({_first_reason(exception)})") from None
        raise SourceError(f"cannot open the virtual disk {outer_display_name}: {_first_reason(exception)}") from None
    volumes = [volume_from_path_spec(base) for base in base_path_specs]
    # A blank or damaged disk: the scanner hands back the disk itself (VHDI), no file system.
    found = [volume for volume in volumes if volume is not None]
    volumes = [volume for volume in found if volume.type_indicator in dfvfs_definitions.FILE_SYSTEM_TYPE_INDICATORS]
    for volume in volumes:
        volume.label = f"{outer_label}>{volume.label}"
    if not volumes:
        seen = ", ".join(sorted({volume.type_indicator for volume in found})) or "nothing"
        raise SourceError(f"no file system found in the virtual disk {outer_display_name} (blank, unformatted or "
                          f"damaged; the volume scanner found {seen}): its contents are not read, the disk file "
                          "itself is timelined")
    return Source(
        path=outer.path,
        kind="VHD/VHDX",
        path_spec=spec,
        volumes=order_volumes(volumes),
        nesting=(*outer.nesting, _own_name(outer, outer_display_name)),
        container=container,
        depth=outer.depth + 1,
    )


def _own_name(outer: Source, display_name: str) -> str:
    """The disk file's display name without the outer disks' prefix it already carries.

    A file found inside a nested disk is named ``outer>inner``; nesting it again
    must add ``inner`` only, or a disk three deep repeats its chain
    (tests/test_hardening_limits.py).
    """
    prefix = ">".join(outer.nesting) + ">" if outer.nesting else ""
    return display_name[len(prefix):] if prefix and display_name.startswith(prefix) else display_name
