r"""The files a sandbox wrote inside its own disk: the dropped tool, the guest's documents.

Inside a sandbox disk (live, deleted, in a shadow copy or carved) every file
is collected (``**``, deleted MFT records too), and each one the sandbox
wrote gets its ``fs:stat`` events, the SHA-256 of its content when it can be
read, and the label ``sandbox_written_file``. A file the sandbox did not
write is left out: base-layer template content (a differencing disk's file
whose MFT record is the parent's, ``FileTarget.template``), NTFS's own
metadata files ($MFT, $Extend\$UsnJrnl ...) and Windows Container
Isolation placeholders (an empty file with a WCI reparse point that names
the base layer's copy). Such a file keeps the plain ``fs:stat`` another
parser's pattern asked for (template content tagged ``sandbox_template``),
as before.

The extractor asks for this sweep only in disks that hold a sandbox's
activity: a sandbox disk or a carved disk, not a base layer or a template
(``ACTIVITY_DISKS_ONLY``); filestat leaves the files it collected to this
parser, so each file's events are written once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.core.events import EventData
from sandtrace.engine.collection import FileTarget
from sandtrace.parsers import wci_placeholder
from sandtrace.parsers.filestat import FileStatParser

WRITTEN_TAG = "sandbox_written_file"
HASH_LIMIT = 4 << 30  # bytes: a larger file is timelined without its hash (said in ``sha256_note``)
_REPARSE_POINT = 0x400
_CHUNK = 1 << 20


class SandboxFilesParser(FileStatParser):
    NAME = "sandbox_files"
    DATA_FORMAT = "Files written by the sandbox inside its disk (fs:stat with SHA-256)"
    DATA_TYPES = ("fs:stat:ntfs", "fs:stat")
    PATTERNS = ("**",)
    ALL_TARGETS = False
    NESTED_ONLY = True
    ACTIVITY_DISKS_ONLY = True
    WANTS_DELETED = True

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        if target.is_directory:
            return
        written = not target.template and not _file_system_metadata(target) and not is_placeholder(target)
        if not written:
            if target.parsers - {self.NAME}:  # another parser's pattern asked for it: its plain fs:stat
                yield from self._stat(target)
            return
        values = content_hash(target)
        for data in self._stat(target):
            data.values.update(values)
            data.tags.append(WRITTEN_TAG)
            yield data


def _file_system_metadata(target: FileTarget) -> bool:
    r"""NTFS's own files ($MFT, $LogFile, $Extend\...): the file system's, not the sandbox's."""
    return target.location.startswith("\\$") or (target.mft_entry is not None and target.mft_entry < 16)


def is_placeholder(target: FileTarget) -> bool:
    """Whether the file is a WCI placeholder: a reparse point whose tag is WCI's."""
    entry = target.open_file_entry()
    ntfs = entry.GetNTFSFileEntry() if entry is not None and entry.type_indicator == "NTFS" else None
    if ntfs is None or not (ntfs.file_attribute_flags or 0) & _REPARSE_POINT or target.mft_entry is None:
        return False
    try:
        tag = wci_placeholder.decode_reparse(wci_placeholder.reparse_data(target, target.mft_entry))["reparse_tag"]
    except (OSError, ValueError):
        return False
    return tag in wci_placeholder.WCI_TAGS


def content_hash(target: FileTarget) -> dict[str, object]:
    """``sha256_hash`` of the file's data, or ``sha256_note`` saying why there is none."""
    try:
        size = target.open_file_entry().size or 0
        if size > HASH_LIMIT:
            return {"file_size": size, "sha256_note": f"not hashed: {size} bytes, over the {HASH_LIMIT} byte limit"}
        digest = hashlib.sha256()
        file_object = target.open_file_object()
        read = 0
        while read < size:
            chunk = file_object.read(min(_CHUNK, size - read))
            if not chunk:
                break
            digest.update(chunk)
            read += len(chunk)
    except (dfvfs_errors.Error, OSError, ValueError) as exception:
        return {"sha256_note": f"content not readable: {exception}"[:200]}
    if read < size:
        return {"file_size": size, "sha256_note": f"content cut short at {read} of {size} bytes"}
    return {"file_size": size, "sha256_hash": digest.hexdigest()}
