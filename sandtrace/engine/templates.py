"""Template or activity? What a sandbox disk holds that it did not write itself.

A base layer's content (its ``ntuser.dat``, its template event logs) is the
pristine OS, never evidence of what ran. A block-level differencing
``sandbox.vhdx`` shows the base layer's files too, through its parent; only
files whose MFT record the sandbox rewrote are its own. So a file inside a
differencing disk whose MFT record is byte-identical in the parent is
template content [I: a record rewritten in place with identical bytes would
pass for unchanged, which only happens when nothing about the file changed].
"""

from __future__ import annotations

from functools import lru_cache

import pyfsntfs
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.path.path_spec import PathSpec
from dfvfs.resolver import resolver

TEMPLATE_TAG = "sandbox_template"


class MftComparer:
    """Compares MFT records of a child volume with those of its parent's volume."""

    def __init__(self, child_volume: PathSpec, parent_volume: PathSpec) -> None:
        self._child = _MftReader(child_volume)
        self._parent = _MftReader(parent_volume)

    def unchanged(self, mft_entry: int | None) -> bool:
        if mft_entry is None:
            return False
        child = self._child.record(mft_entry)
        return child is not None and child == self._parent.record(mft_entry)


class _MftReader:
    """Raw MFT records of one NTFS volume, read through the $MFT file."""

    def __init__(self, volume: PathSpec) -> None:
        self._file_object = None
        self._record_size = 1024
        try:
            volume_file = resolver.Resolver.OpenFileObject(volume.parent)
            ntfs = pyfsntfs.volume()
            ntfs.open_file_object(volume_file)
            self._record_size = ntfs.mft_entry_size or 1024
            spec = path_spec_factory.Factory.NewPathSpec(
                dfvfs_definitions.TYPE_INDICATOR_NTFS, location="\\$MFT", parent=volume.parent
            )
            self._file_object = resolver.Resolver.OpenFileObject(spec)
        except (dfvfs_errors.Error, OSError):
            self._file_object = None

    @lru_cache(maxsize=4096)
    def record(self, mft_entry: int) -> bytes | None:
        if self._file_object is None:
            return None
        offset = mft_entry * self._record_size
        try:
            if offset + self._record_size > self._file_object.get_size():
                return None
            self._file_object.seek(offset)
            return self._file_object.read(self._record_size)
        except (dfvfs_errors.Error, OSError):
            return None
