"""Windows Container Isolation placeholders inside sandbox disks.

A standalone sandbox disk does not copy the OS: an unchanged file is a
placeholder, an empty file with a reparse point (tag IO_REPARSE_TAG_WCI,
0x80000018 or 0x90001018) naming the layer and the file's path in it [I].
Only files that are *not* placeholders were written by the sandbox. This
parser scans the MFT of every volume inside a sandbox disk for reparse
points, reads the reparse data through The Sleuth Kit (libfsntfs does not
expose it), and resolves each placeholder to the layer's copy when the run
has opened that layer. The payload layout is inferred [I]: version u32,
flags u32, layer GUID, name length u16, UTF-16 name.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator

import pyfsntfs
from dfdatetime import filetime as dfdatetime_filetime
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

from sandtrace.engine import layers
from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:wci_placeholder"
SUMMARY_TYPE = "windows:sandbox:wci_summary"
WCI_TAGS = (0x80000018, 0x90001018)
_REPARSE_POINT_FLAG = 0x400
_TSK_REPARSE_ATTRIBUTE = 0xC0


def decode_reparse(data: bytes) -> dict:
    """Tag, layer GUID and layer-relative name of a WCI reparse buffer [I]."""
    if len(data) < 8:
        raise ValueError("reparse buffer shorter than its header")
    tag, length, _ = struct.unpack_from("<IHH", data)
    values = {"reparse_tag": tag, "reparse_tag_hex": f"{tag:#010x}"}
    payload = data[8 : 8 + length]
    if tag in WCI_TAGS and len(payload) >= 26:
        _version, _flags = struct.unpack_from("<II", payload)
        values["layer_guid"] = str(uuid.UUID(bytes_le=payload[8:24]))
        (name_length,) = struct.unpack_from("<H", payload, 24)
        values["layer_relative_name"] = payload[26 : 26 + name_length].decode("utf-16-le", "replace")
    return values


class WciPlaceholderParser(BaseParser):
    NAME = "wci_placeholder"
    DATA_FORMAT = "Windows Container Isolation placeholders (reparse points) in sandbox disks"
    DATA_TYPES = (DATA_TYPE, SUMMARY_TYPE)
    PATTERNS = ("\\$MFT",)
    NESTED_ONLY = True
    WANTS_DELETED = False

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        volume = pyfsntfs.volume()
        volume.open_file_object(target.volume_file_object())
        tsk = _tsk(target)
        placeholders = files = 0
        for index in range(volume.number_of_file_entries):
            try:
                entry = volume.get_file_entry(index)
                if not entry.is_allocated() or entry.has_directory_entries_index() or index < 24:
                    continue
                files += 1
                if not (entry.file_attribute_flags or 0) & _REPARSE_POINT_FLAG:
                    continue
                values = decode_reparse(_reparse_data(tsk, index))
            except (OSError, ValueError):
                continue
            if values["reparse_tag"] not in WCI_TAGS:
                continue
            placeholders += 1
            path = _path(entry)
            resolved = layers.find(values.get("layer_guid"), values.get("layer_relative_name", ""))
            values.update(
                path="C:" + path,
                resolves_to=resolved,
                resolved=resolved is not None,
                creation_time=_time(entry.get_creation_time_as_integer()),
                modification_time=_time(entry.get_modification_time_as_integer()),
            )
            yield EventData(
                DATA_TYPE, {k: v for k, v in values.items() if v is not None}, provenance=_placeholder_provenance(target, path, index)
            )
        yield EventData(SUMMARY_TYPE, {"placeholder_files": placeholders, "real_files": files - placeholders})


def _placeholder_provenance(target: FileTarget, path: str, mft_entry: int):
    """The placeholder file's own provenance, not that of the $MFT it was found in."""
    from sandtrace.core import display
    from sandtrace.core.events import Provenance

    spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_NTFS, location=path, mft_entry=mft_entry, parent=target.volume.path_spec.parent
    )
    inner = target.volume.display_prefix + path
    return Provenance(
        source=target.provenance.source,
        volume=target.volume.label,
        path_spec=spec,
        display_name=display.nested_display_name(target.provenance.nesting, inner),
        inode=mft_entry,
        nesting=target.provenance.nesting,
    )


def _path(entry) -> str:
    for index in range(entry.number_of_attributes):
        attribute = entry.get_attribute(index)
        if attribute.attribute_type == 0x30 and attribute.name_space != 2:
            return entry.get_path_hint(index) or "\\" + (attribute.name or "")
    return "\\" + (entry.name or f"<MFT entry {entry.file_reference & 0xFFFFFFFFFFFF}>")


def _time(filetime: int) -> dfdatetime_filetime.Filetime | None:
    return dfdatetime_filetime.Filetime(timestamp=filetime) if filetime else None


def _tsk(target: FileTarget):
    return _tsk_at(target.volume.path_spec.parent)


def _tsk_at(volume_parent):
    spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_TSK, location="/", parent=volume_parent
    )
    try:
        return resolver.Resolver.OpenFileSystem(spec).GetFsInfo()
    except (dfvfs_errors.Error, OSError):
        return None


def reparse_data(target: FileTarget, mft_entry: int) -> bytes:
    """The $REPARSE_POINT attribute's data of one MFT entry of the target's volume
    (found through the file's own path spec: a worker's target has no volume)."""
    return _reparse_data(_tsk_at(target.path_spec.parent), mft_entry)


def _reparse_data(tsk, mft_entry: int) -> bytes:
    if tsk is None:
        raise OSError("The Sleuth Kit cannot open this volume")
    file_object = tsk.open_meta(inode=mft_entry)
    for attribute in file_object:
        if int(attribute.info.type) == _TSK_REPARSE_ATTRIBUTE:
            return file_object.read_random(0, attribute.info.size, attribute.info.type, attribute.info.id)
    raise ValueError("no $REPARSE_POINT attribute")
