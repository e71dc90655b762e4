"""When the extractor hands a file or a nested disk to another process (pipeline/handout.py).

Only what another process can do exactly as this one would goes: an event
log whose parsers read it through its path spec alone, and a disk inside
which no disk would be opened (``nested_disks.self_contained``). Both must
be large enough to be worth a task: ``min_bytes``, 0 for never.
"""

from __future__ import annotations

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.engine.collection import FileTarget
from sandtrace.engine.sources import Source
from sandtrace.pipeline.carved_disks import CarveScratch
from sandtrace.pipeline.handout import HAND_OUT_PARSERS, HandedOutFile, source_context
from sandtrace.pipeline.nested_disks import is_template, self_contained
from sandtrace.pipeline.parsing import TargetParsing


def file_marker(target: FileTarget, source: Source, tag: str | None, min_bytes: int,
                parsing: TargetParsing, carved: CarveScratch) -> HandedOutFile | None:
    """A HandedOutFile marker when this file goes to a worker process.

    Files inside nested disks go too (a sandbox disk's event logs): the
    worker opens the same path spec chain and gives the event data what
    the disk would (its container and tags, ``source_context``). Not:
    template content (compared with the parent disk here), files of a
    second collection pass (``tag``), and disks rebuilt by --carve (their
    scratch copy lives with this extractor).
    """
    if not min_bytes or tag is not None or target.is_directory:
        return None
    if "winevtx" not in target.parsers or is_template(target, source) or carved.holds(target):
        return None
    names = parsing.names(target)
    if "winevtx" not in names or not names <= HAND_OUT_PARSERS:
        return None
    size = _size(target)
    if size is None or size < min_bytes:
        return None
    return HandedOutFile(target, sorted(names), source_context(source))


def disk_goes_out(target: FileTarget, inner: Source, min_bytes: int, carved: CarveScratch,
                  nested: str, max_depth: int) -> bool:
    """Whether the opened disk ``inner`` (the file ``target``) runs in another process."""
    if not min_bytes or carved.holds(target):
        return False
    size = _size(target)
    return size is not None and size >= min_bytes and self_contained(inner, nested, max_depth)


def _size(target: FileTarget) -> int | None:
    try:
        return target.open_file_entry().size or 0
    except (dfvfs_errors.Error, OSError):
        return None
