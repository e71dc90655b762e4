"""Folder sources: names that are not UTF-8, symbolic links, and the files read.

A triage folder copied from a Windows disk onto Linux can hold names whose
bytes are not UTF-8 (a file system mounted with another code page, a name
carved from a damaged disk). Python hands such names on with each bad byte as
a lone surrogate (``os.fsdecode``); dfVFS's OS file object passes the name to
libsmdev, which cannot encode it and raises. ``install`` puts a resolver
helper in dfVFS's place whose file object opens those names with Python's
``open``, so the file is parsed like any other. Such a name is shown with each
bad byte as ``\\xNN`` (``display.display_location``), as control characters are.
"""

from __future__ import annotations

import os
import stat

from dfvfs.file_io import os_file_io
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.resolver_helpers import manager as helper_manager
from dfvfs.resolver_helpers import os_resolver_helper

from sandtrace.core.display import display_location


def _encodable(location: str) -> bool:
    try:
        location.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _OSFile(os_file_io.OSFile):
    """dfVFS's OS file object, able to open a name that is not UTF-8.

    libsmdev (the device check) refuses such a name; a device never has one
    in a folder source, so a regular ``open`` is used instead.
    """

    def _Open(self) -> None:
        location = getattr(self._path_spec, "location", None)
        if location is None or self._path_spec.HasParent() or _encodable(location):
            super()._Open()
            return
        try:
            stat_info = os.stat(location)
        except OSError as exception:
            raise OSError(f"Unable to open file with error: {exception!s}") from None
        if not stat.S_ISREG(stat_info.st_mode):
            raise OSError(f"not a regular file: {display_location(location)}")
        self._file_object = open(location, mode="rb")  # noqa: SIM115 - closed by dfVFS's _Close
        self._size = stat_info.st_size


class _OSResolverHelper(os_resolver_helper.OSResolverHelper):
    def NewFileObject(self, resolver_context, path_spec):
        return _OSFile(resolver_context, path_spec)


def install() -> None:
    """Replaces dfVFS's OS resolver helper (idempotent)."""
    current = helper_manager.ResolverHelperManager._resolver_helpers.get(dfvfs_definitions.TYPE_INDICATOR_OS)
    if isinstance(current, _OSResolverHelper):
        return
    if current is not None:
        helper_manager.ResolverHelperManager.DeregisterHelper(current)
    helper_manager.ResolverHelperManager.RegisterHelper(_OSResolverHelper())


install()
