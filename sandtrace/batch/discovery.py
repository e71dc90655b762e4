"""Which entries of an evidence store are sources, and what to call them.

One source per piece of evidence: an E01 set by its first segment only, a
split raw image by its ``.001``, a single raw/dd, VHD/VHDX, VMDK (descriptor,
not its extents) or QCOW2 file, and a folder that holds the marker file
``.sandtrace-triage`` (a triage collection such as KAPE output; the folder is
not searched further). Hidden folders and the batch's own output folder are
skipped; symbolic links to folders are not followed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

TRIAGE_MARKER = ".sandtrace-triage"

_EWF_FIRST = re.compile(r"\.(e|ex|s|l|lx)01$", re.IGNORECASE)
_SPLIT_FIRST = re.compile(r"\.0*1$")  # disk.001 (also .0001); .002 and later are parts of it
_SPLIT_LATER = re.compile(r"\.\d{3,4}$")
_VMDK_EXTENT = re.compile(r"-(flat|delta|ctk|s\d{3}|f\d{3})\.vmdk$", re.IGNORECASE)
_KINDS = {
    ".raw": "RAW", ".dd": "RAW", ".img": "RAW",
    ".vhd": "VHD/VHDX", ".vhdx": "VHD/VHDX", ".avhdx": "VHD/VHDX",
    ".vmdk": "VMDK",
    ".qcow2": "QCOW", ".qcow": "QCOW",
}


@dataclass(frozen=True)
class Found:
    path: str  # absolute
    kind: str  # EWF, RAW, VHD/VHDX, VMDK, QCOW, directory


def classify(path: str) -> str | None:
    """The kind of source ``path`` is, or None when it is not the first file of one."""
    if os.path.isdir(path):
        return "directory" if os.path.isfile(os.path.join(path, TRIAGE_MARKER)) else None
    name = os.path.basename(path)
    if _EWF_FIRST.search(name):
        return "EWF"
    if _SPLIT_FIRST.search(name) and _SPLIT_LATER.search(name):
        return "RAW"
    if _SPLIT_LATER.search(name):
        return None
    if _VMDK_EXTENT.search(name):
        return None
    return _KINDS.get(os.path.splitext(name)[1].lower())


def discover(roots: list[str], exclude: list[str] = ()) -> list[Found]:
    """Every source under ``roots`` (files or folders), sorted by path, each once."""
    excluded = {os.path.realpath(path) for path in exclude}
    found: dict[str, Found] = {}

    def add(path: str, kind: str) -> None:
        found.setdefault(os.path.realpath(path), Found(os.path.abspath(path), kind))

    for root in roots:
        root = os.path.abspath(root)
        if not os.path.exists(root):
            raise FileNotFoundError(f"no such file or directory: {root}")
        if not os.path.isdir(root):
            kind = classify(root)
            if kind:
                add(root, kind)
            continue
        for directory, folders, files in os.walk(root):
            if os.path.realpath(directory) in excluded:
                folders[:] = []
                continue
            if TRIAGE_MARKER in files:
                add(directory, "directory")
                folders[:] = []
                continue
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                kind = classify(os.path.join(directory, name))
                if kind:
                    add(os.path.join(directory, name), kind)
    return sorted(found.values(), key=lambda item: item.path)


def source_name(path: str, taken: set[str]) -> str:
    """A short folder name for a source's outputs: its file name without extension."""
    base = os.path.basename(path.rstrip(os.sep))
    stem = base if os.path.isdir(path) else os.path.splitext(base)[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "source"
    if stem in taken:
        stem = f"{stem}-{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}"
    return stem


def fingerprint(path: str, files: list[str]) -> list[list]:
    """Size and modification time of what a source is made of: has it changed?"""
    if os.path.isdir(path):
        entries = []
        for directory, folders, names in os.walk(path):
            folders.sort()
            for name in sorted(names):
                full = os.path.join(directory, name)
                try:
                    status = os.stat(full)
                except OSError:
                    continue
                entries.append([os.path.relpath(full, path), status.st_size, status.st_mtime_ns])
        return entries
    entries = []
    for name in files or [path]:
        try:
            status = os.stat(name)
            entries.append([name, status.st_size, status.st_mtime_ns])
        except OSError:
            entries.append([name, None, None])
    return entries
