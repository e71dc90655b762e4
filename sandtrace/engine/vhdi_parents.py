"""Find the parent of a differencing VHD/VHDX where Windows Sandbox puts it.

dfVFS looks for a parent only beside the child. A sandbox's ``sandbox.vhdx``
lives in ``ContainerStorages\\<GUID>\\`` while its parent records an absolute
host path (``C:\\ProgramData\\...\\BaseLayer.vhdx``) that, on a seized image,
means "this same volume". This module swaps dfVFS's VHDI resolver helper for
one that first maps the absolute path onto the child's own file system
(the drive letter dropped), then falls back to dfVFS's beside-the-child rule.
The change is strictly additive: anything dfVFS opened before still opens.
"""

from __future__ import annotations

import pyvhdi
from dfvfs.file_io import vhdi_file_io
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver
from dfvfs.resolver_helpers import manager as helper_manager
from dfvfs.resolver_helpers import vhdi_resolver_helper

_MAPPABLE = {
    dfvfs_definitions.TYPE_INDICATOR_NTFS,
    dfvfs_definitions.TYPE_INDICATOR_TSK,
    dfvfs_definitions.TYPE_INDICATOR_FAT,
    dfvfs_definitions.TYPE_INDICATOR_EXT,
}


_TRIAGE_ROOTS: set[str] = set()


def register_triage_root(path: str) -> None:
    """A folder source stands for a Windows volume: map ``C:\\...`` paths into it."""
    _TRIAGE_ROOTS.add(path.rstrip("/"))


def triage_roots() -> list[str]:
    """The folders registered so far (handed to worker processes)."""
    return sorted(_TRIAGE_ROOTS)


def parent_candidates(
    child_location: str, parent_filename: str, type_indicator: str, relative_path: str | None = None
) -> list[str]:
    """Locations to try for a parent, most specific first."""
    separator = "\\" if type_indicator in (dfvfs_definitions.TYPE_INDICATOR_NTFS,) else "/"
    candidates = []
    name = parent_filename.replace("/", "\\")
    absolute = len(name) > 2 and name[1] == ":"
    if type_indicator in _MAPPABLE and absolute:
        mapped = name[2:]
        candidates.append(mapped if separator == "\\" else mapped.replace("\\", "/"))
    if type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS and absolute:
        for root in sorted(_TRIAGE_ROOTS):
            if child_location.startswith(root + "/"):
                candidates.append(root + name[2:].replace("\\", "/"))
    directory = child_location.rsplit(separator, 1)[0] if separator in child_location else ""
    if relative_path:
        candidates.append(_join(directory, relative_path, separator))
    if name:
        candidates.append(f"{directory}{separator}{name.rsplit(chr(92), 1)[-1]}")
    return list(dict.fromkeys(candidates))


def _join(directory: str, relative: str, separator: str) -> str:
    """``directory`` + a Windows relative path with ``.`` and ``..`` resolved."""
    parts = [p for p in directory.split(separator) if p]
    for part in relative.replace("/", "\\").split("\\"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return separator + separator.join(parts)


def relative_parent_path(file_object) -> str | None:
    """The parent locator's relative_path, which libvhdi does not read."""
    from sandtrace.engine import vhdx

    try:
        return vhdx.describe_file(file_object)["parent_locator"].get("relative_path")
    except (vhdx.VhdxError, OSError, ValueError, Exception):  # noqa: BLE001 - a hint, never fatal
        return None


def find_parent(file_system, path_spec, parent_filename: str | None, relative_path: str | None = None):
    """The path spec of an existing parent for the VHDI file at ``path_spec``, or None."""
    location = getattr(path_spec, "location", None)
    if not location or not (parent_filename or relative_path):
        return None
    for candidate in parent_candidates(location, parent_filename or "", path_spec.type_indicator, relative_path):
        kwargs = path_spec_factory.Factory.GetProperties(path_spec)
        for key in ("mft_entry", "mft_attribute", "inode"):
            kwargs.pop(key, None)  # those name the child's record, not the parent's
        kwargs["location"] = candidate
        if path_spec.parent is not None:
            kwargs["parent"] = path_spec.parent
        spec = path_spec_factory.Factory.NewPathSpec(path_spec.type_indicator, **kwargs)
        try:
            if file_system.FileEntryExistsByPathSpec(spec):
                return spec
        except (dfvfs_errors.Error, OSError):
            continue
    return None


class SandboxAwareVHDIFile(vhdi_file_io.VHDIFile):
    """dfVFS's VHDI file object with sandbox-aware parent resolution."""

    def _OpenParentFile(self, file_system, path_spec, vhdi_file):
        relative = None
        if not vhdi_file.parent_filename:
            relative = relative_parent_path(resolver.Resolver.OpenFileObject(path_spec, resolver_context=self._resolver_context))
        parent_spec = find_parent(file_system, path_spec, vhdi_file.parent_filename, relative)
        if parent_spec is None:
            return
        file_object = resolver.Resolver.OpenFileObject(parent_spec, resolver_context=self._resolver_context)
        parent = pyvhdi.file()
        parent.open_file_object(file_object)
        if parent.parent_identifier:
            self._OpenParentFile(file_system, parent_spec, parent)
        vhdi_file.set_parent(parent)
        self._parent_vhdi_files.append(parent)
        self._sub_file_objects.append(file_object)


class SandboxAwareVHDIResolverHelper(vhdi_resolver_helper.VHDIResolverHelper):
    def NewFileObject(self, resolver_context, path_spec):
        return SandboxAwareVHDIFile(resolver_context, path_spec)


def install() -> None:
    """Replaces dfVFS's VHDI resolver helper (idempotent)."""
    current = helper_manager.ResolverHelperManager._resolver_helpers.get(dfvfs_definitions.TYPE_INDICATOR_VHDI)
    if isinstance(current, SandboxAwareVHDIResolverHelper):
        return
    if current is not None:
        helper_manager.ResolverHelperManager.DeregisterHelper(current)
    helper_manager.ResolverHelperManager.RegisterHelper(SandboxAwareVHDIResolverHelper())


install()
