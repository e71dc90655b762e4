"""Outputs never land on or inside evidence.

``--overwrite`` replaces an existing output; it must never replace a source:
an E01 segment named as the timeline (``-o case.E02``), a file inside a
triage folder, or a batch output folder inside the evidence store. Paths are
compared resolved (symbolic links, ``..``) and by device and inode (hard
links, bind mounts), and an output named like a further segment of an E01
set is refused too: libewf would read it as part of the image next time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

# E01..E99, then EAA.., and the same for .s01 (SMART) and .L01 (logical); .Ex01 for EWF2.
_SEGMENT_EXTENSION = re.compile(r"\.(?:[EeLs]x?)(?:\d\d|[A-Za-z]{2})$")
_EWF_FIRST = re.compile(r"\.(?:[EeLs]x?)01$")


class OutputInsideEvidence(ValueError):
    """An output path that is, or is inside, a source."""


def source_paths(source: str) -> list[str]:
    """Every file or folder that makes up ``source`` (all segments of an E01 set)."""
    if os.path.isfile(source) and _EWF_FIRST.search(source):
        try:
            import pyewf

            return [source, *pyewf.glob(source)]
        except (ImportError, OSError, IOError):
            return [source]
    return [source]


def check(outputs: Iterable[str], sources: Iterable[str]) -> None:
    """Raises OutputInsideEvidence naming the first output that is or lies inside a source."""
    parts = [path for source in sources for path in source_paths(source) if os.path.exists(path)]
    for output in outputs:
        for part in parts:
            reason = _conflict(os.path.abspath(output), part)
            if reason:
                raise OutputInsideEvidence(
                    f"refusing to write {output}: it {reason} {part}; evidence is never written to "
                    "(choose an output outside the sources; --overwrite does not change this)")


def _conflict(output: str, part: str) -> str:
    real_output, real_part = os.path.realpath(output), os.path.realpath(part)
    if os.path.isdir(real_part):
        if real_output == real_part or real_output.startswith(real_part.rstrip(os.sep) + os.sep):
            return "is inside the source folder"
        if _identity(real_part) in _ancestor_identities(real_output):
            return "is inside (through a link or mount) the source folder"
        return ""
    if real_output == real_part or (os.path.exists(real_output) and _identity(real_output) == _identity(real_part)):
        return "is the source file"
    if _SEGMENT_EXTENSION.search(real_part) and _SEGMENT_EXTENSION.search(real_output):
        same_folder = os.path.dirname(real_output) == os.path.dirname(real_part)
        if same_folder and _stem(real_output) == _stem(real_part):
            return "would be read as a segment of the E01 set of"
    return ""


def _stem(path: str) -> str:
    return _SEGMENT_EXTENSION.sub("", os.path.basename(path)).lower()


def _identity(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


def _ancestor_identities(path: str) -> set[tuple[int, int]]:
    """(device, inode) of every existing folder above ``path``."""
    found = set()
    folder = os.path.dirname(path)
    while True:
        if os.path.isdir(folder):
            found.add(_identity(folder))
        parent = os.path.dirname(folder)
        if parent == folder:
            return found
        folder = parent
