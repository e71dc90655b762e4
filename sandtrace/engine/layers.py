"""Base layers opened during a run, by GUID, so placeholders can be resolved.

A WCI placeholder in a sandbox disk names its layer by GUID and the file's
path inside that layer; the layer is another disk (``BaseLayer.vhdx``) that
the same run opens. The extractor registers each base-layer volume here.
"""

from __future__ import annotations

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

_LAYERS: dict[str, list] = {}


def clear() -> None:
    _LAYERS.clear()


def register(guid: str, volume) -> None:
    _LAYERS.setdefault(guid.lower(), []).append(volume)


def snapshot() -> list[tuple[str, object]]:
    """The layers registered so far, in order: what a disk handed to another process resolves against."""
    return [(guid, volume) for guid, volumes in _LAYERS.items() for volume in volumes]


def restore(registered: list[tuple[str, object]]) -> None:
    """The registry as ``snapshot`` left it (in a worker, before it runs a handed-out disk)."""
    clear()
    for guid, volume in registered:
        register(guid, volume)


def find(guid: str | None, relative_path: str) -> str | None:
    """Display name of the layer's copy of ``relative_path`` (under ``Files\\``), if present."""
    candidates = _LAYERS.get((guid or "").lower()) or [v for vs in _LAYERS.values() for v in vs]
    relative = relative_path.lstrip("\\")
    for volume in candidates:
        for location in (f"\\Files\\{relative}", f"\\{relative}"):
            spec = path_spec_factory.Factory.NewPathSpec(
                dfvfs_definitions.TYPE_INDICATOR_NTFS, location=location, parent=volume.path_spec.parent
            )
            try:
                if resolver.Resolver.OpenFileEntry(spec) is not None:
                    return location.lstrip("\\")
            except (dfvfs_errors.Error, OSError):
                continue
    return None
