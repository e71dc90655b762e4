"""Targeted collection: find the files parsers asked for, live and deleted.

Parsers declare case-insensitive Windows path patterns (``\\Windows\\System32\\
config\\SYSTEM``, ``\\Users\\*\\NTUSER.DAT``, ``**\\*.wsb``). Anchored patterns
are resolved directory by directory, so they never walk the whole volume; a
pattern with ``**`` needs a full name search, which on NTFS is one pass over
the MFT. That same pass yields the *deleted* records whose names match: the
directory listings of dfVFS and TSK skip them, the MFT does not. A single
file named as the source (``sources.open_file``) is its only target.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyfsntfs
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.path.path_spec import PathSpec
from dfvfs.resolver import resolver

from sandtrace.core import display
from sandtrace.core.events import EventData, Provenance, warning
from sandtrace.engine.sources import Source, Volume

_NTFS = dfvfs_definitions.TYPE_INDICATOR_NTFS
_OS = dfvfs_definitions.TYPE_INDICATOR_OS
_ATTRIBUTE_LIST = 0x20
_ATTRIBUTE_FILE_NAME = 0x30
_NAMESPACE_DOS = 2
_WILDCARD = re.compile(r"[*?\[]")


class PathPattern:
    """One case-insensitive path pattern; ``**`` matches any number of folders."""

    def __init__(self, text: str) -> None:
        self.text = text
        parts = [part for part in re.split(r"[\\/]+", text.strip()) if part]
        if not parts:
            raise ValueError(f"empty path pattern: {text!r}")
        self.segments: list[str] = parts
        self._regexes = [
            None if part == "**" else re.compile(fnmatch.translate(part), re.IGNORECASE)
            for part in parts
        ]
        self.anchored = "**" not in parts

    def __repr__(self) -> str:
        return f"PathPattern({self.text!r})"

    def is_literal(self, index: int) -> bool:
        return index < len(self.segments) and not _WILDCARD.search(self.segments[index])

    def step(self, index: int, name: str) -> set[int]:
        """Positions reachable after matching one more path segment ``name``."""
        if index >= len(self.segments):
            return set()
        regex = self._regexes[index]
        if regex is None:  # "**": consume the name and stay, or match nothing here
            return {index} | self.step(index + 1, name)
        return {index + 1} if regex.match(name) else set()

    def accepts(self, index: int) -> bool:
        """Whether a path that reached ``index`` is a full match."""
        return all(part == "**" for part in self.segments[index:])

    def last_segment_matches(self, name: str) -> bool:
        regex = self._regexes[-1]
        if regex is None:
            return True
        return bool(regex.match(name))

    def matches(self, path: str) -> bool:
        """Full-path match of a backslash path such as ``\\Users\\a\\x.wsb``."""
        states = {0}
        for name in (part for part in path.split("\\") if part):
            states = set().union(*(self.step(i, name) for i in states)) if states else set()
            if not states:
                return False
        return any(self.accepts(i) for i in states)


@dataclass(slots=True)
class FileTarget:
    """A file to parse: how to open it, where it came from, who asked for it."""

    volume: Volume
    path_spec: PathSpec
    location: str  # backslash path inside the volume (a path hint when deleted)
    is_allocated: bool = True
    is_directory: bool = False
    mft_entry: int | None = None
    parsers: set[str] = field(default_factory=set)
    provenance: Provenance = field(default_factory=Provenance)
    template: bool = False  # base-layer content, not written by the sandbox (set by the extractor before parsing)

    def open_file_entry(self):
        return resolver.Resolver.OpenFileEntry(self.path_spec)

    def open_file_object(self):
        """The file's data, positioned at 0.

        dfVFS caches file objects per path spec, so an object another reader
        left mid-file comes back as it was: always rewind.
        """
        file_object = resolver.Resolver.OpenFileObject(self.path_spec)
        file_object.seek(0)
        return file_object

    def read_limited(self, limit: int, what: str) -> bytes:
        """The whole file when it is at most ``limit`` bytes; a larger one is refused, not read."""
        size = self.open_file_entry().size or 0
        if size > limit:
            raise ValueError(f"too large for {what} ({size} bytes, limit {limit}); not parsed")
        return self.read(limit + 1)

    def file_record(self, data: bytes | None = None) -> dict:
        """The attributes every file-backed event data carries: path, allocation, $SI times, hash."""
        import hashlib

        file_entry = self.open_file_entry()
        return {
            "filename": self.location,
            "is_allocated": self.is_allocated,
            "sha256_hash": hashlib.sha256(data).hexdigest() if data is not None else None,
            "creation_time": file_entry.creation_time,
            "modification_time": file_entry.modification_time,
            "access_time": file_entry.access_time,
            "entry_modification_time": getattr(file_entry, "change_time", None),
        }

    def volume_file_object(self):
        """The bytes of the volume the file lies on (for parsers that read file-system metadata)."""
        return resolver.Resolver.OpenFileObject(self.volume.path_spec.parent)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes from the start of the file."""
        return self.open_file_object().read(size)


@dataclass(slots=True)
class Request:
    """What one parser wants collected."""

    parser: str
    patterns: list[PathPattern]
    deleted: bool = True
    nested_only: bool = False


class Collector:
    """Finds the targets of a set of requests on one volume."""

    def __init__(self, requests: Iterable[Request], deleted: bool = True, report_corrupt: bool = True) -> None:
        self.requests = list(requests)
        self.deleted = deleted
        self.report_corrupt = report_corrupt  # False on a second pass over a volume: said once already
        self.warnings: list[EventData] = []
        self.stats = {"directories_listed": 0, "mft_entries_scanned": 0, "mft_entries_never_used": 0}
        self._corrupt_entries: set[int] = set()
        self._flat: list[tuple[str, PathPattern]] = [
            (request.parser, pattern) for request in self.requests for pattern in request.patterns
        ]

    def collect(self, source: Source, volume: Volume) -> Iterator[FileTarget]:
        if source.kind == "file":
            yield from self._single_file(source, volume)
            return
        seen: set[int] = set()
        unanchored = [(parser, pattern) for parser, pattern in self._flat if not pattern.anchored]
        for target in self._walk(source, volume):
            if target.mft_entry is not None:
                seen.add(target.mft_entry)
                # The MFT pass skips what the walk found: a "**" pattern that also matches is added here.
                target.parsers |= {parser for parser, pattern in unanchored
                                   if parser not in target.parsers and pattern.matches(target.location)}
            yield target
        need_mft = any(not pattern.anchored for _, pattern in self._flat) or self.deleted
        if volume.type_indicator == _NTFS and need_mft:
            yield from self._scan_mft(source, volume, seen)

    def _single_file(self, source: Source, volume: Volume) -> Iterator[FileTarget]:
        """A file named as the source (``sources.open_file``): itself, for the requests
        whose patterns match ``\\name``; nothing else in its folder is looked at."""
        name = "\\" + os.path.basename(source.path)
        wanted = {parser for parser, pattern in self._flat if pattern.matches(name)}
        if not wanted:
            return
        try:
            file_entry = resolver.Resolver.OpenFileEntry(source.path_spec)
        except (dfvfs_errors.Error, OSError) as exception:
            file_entry, reason = None, _short(exception)
        else:
            reason = "not found"
        if file_entry is None:
            self.warnings.append(warning(f"cannot open {display.display_location(source.path)}: {reason}",
                                         provenance=_provenance(source, volume, source.path_spec)))
            return
        yield self._target(source, volume, file_entry, wanted, False)

    # -- anchored and generic walks -------------------------------------------

    def _walk(self, source: Source, volume: Volume) -> Iterator[FileTarget]:
        """Breadth of the walk follows the patterns: only live branches are listed."""
        # On NTFS, "**" patterns are answered by the MFT scan, not by listing.
        patterns = [
            (parser, pattern)
            for parser, pattern in self._flat
            if pattern.anchored or volume.type_indicator != _NTFS
        ]
        if not patterns:
            return
        try:
            root = resolver.Resolver.OpenFileEntry(volume.path_spec)
        except (dfvfs_errors.Error, OSError) as exception:
            self.warnings.append(
                warning(f"cannot open the root of volume {volume.label}: {exception}", provenance=_volume_provenance(source, volume))
            )
            return
        states = {(n, 0) for n in range(len(patterns))}
        stack = [(root, states)]
        while stack:
            directory, states = stack.pop()
            for child, name in self._children(source, volume, directory, states, patterns):
                child_states = set()
                for n, i in states:
                    child_states |= {(n, j) for j in patterns[n][1].step(i, name)}
                if not child_states:
                    continue
                if volume.type_indicator == _OS and self._not_read(source, volume, child):
                    continue
                wanted_by = {patterns[n][0] for n, j in child_states if patterns[n][1].accepts(j)}
                try:
                    is_directory = child.IsDirectory()
                except (dfvfs_errors.Error, OSError):
                    is_directory = False
                if wanted_by:
                    yield self._target(source, volume, child, wanted_by, is_directory)
                if is_directory:
                    live = {(n, j) for n, j in child_states if j < len(patterns[n][1].segments)}
                    if live:
                        stack.append((child, live))

    def _not_read(self, source: Source, volume: Volume, child) -> bool:
        """Whether a folder source's entry is a symbolic link or a special file: reported, never opened.

        A link can point anywhere on the examiner's machine (``Security.evtx ->
        /elsewhere/...``); what it points at is not the evidence. Links that
        stay inside the folder are not followed either: the file they name is
        collected under its own name, and an examiner sees the link as it is.
        A named pipe would block the reader for ever; a device is not evidence.
        """
        kind = _SPECIAL_KINDS.get(getattr(child, "entry_type", None))
        if kind is None:
            return False
        location = child.path_spec.location
        relative = display.display_location(location[len(volume.path_spec.location):]).lstrip("/")
        if kind == "link":
            message = f"symbolic link not followed: {relative} -> {_link_target(volume, location)}"
        else:
            message = f"not a regular file ({kind}): {relative}: not read"
        self.warnings.append(warning(message, provenance=_provenance(source, volume, child.path_spec)))
        self.stats["special_files_not_read"] = self.stats.get("special_files_not_read", 0) + 1
        return True

    def _children(self, source, volume, directory, states, patterns):
        """Sub entries of a directory; literal names are opened directly on NTFS."""
        literal_only = volume.type_indicator == _NTFS and all(
            patterns[n][1].is_literal(i) for n, i in states
        )
        if literal_only:
            base = getattr(directory.path_spec, "location", "\\") or "\\"
            for name in sorted({patterns[n][1].segments[i] for n, i in states}):
                location = base.rstrip("\\") + "\\" + name
                spec = path_spec_factory.Factory.NewPathSpec(_NTFS, location=location, parent=volume.path_spec.parent)
                try:
                    child = resolver.Resolver.OpenFileEntry(spec)
                except (dfvfs_errors.Error, OSError) as exception:
                    self.warnings.append(warning(f"cannot open {location}: {exception}", provenance=_provenance(source, volume, spec)))
                    continue
                if child is not None:
                    yield self._as_named_on_disk(child, base, volume), child.name
            return
        self.stats["directories_listed"] += 1
        if volume.type_indicator == _NTFS:
            yield from self._ntfs_children(source, volume, directory)
            return
        try:
            for child in directory.sub_file_entries:
                yield child, child.name or ""
        except (dfvfs_errors.Error, OSError) as exception:
            location = getattr(directory.path_spec, "location", "?")
            self.warnings.append(
                warning(f"cannot list directory {location}: {_short(exception)}", provenance=_provenance(source, volume, directory.path_spec))
            )

    @staticmethod
    def _as_named_on_disk(child, base: str, volume: Volume):
        """The entry under its name as stored, not as the pattern spelled it.

        NTFS looks names up without regard to case, so a pattern's ``NTUSER.DAT``
        opens ``ntuser.dat``; the path spec (and so the display name) must
        carry the name on disk.
        """
        try:
            fsntfs_entry = child.GetNTFSFileEntry()
            name = fsntfs_entry.name
            if not name or child.path_spec.location.rsplit("\\", 1)[-1] == name:
                return child
            spec = path_spec_factory.Factory.NewPathSpec(
                _NTFS,
                location=base.rstrip("\\") + "\\" + name,
                mft_entry=fsntfs_entry.file_reference & 0xFFFFFFFFFFFF,
                mft_attribute=fsntfs_entry.name_attribute_index,
                parent=volume.path_spec.parent,
            )
            return resolver.Resolver.OpenFileEntry(spec) or child
        except (dfvfs_errors.Error, OSError, AttributeError, TypeError):
            return child

    def _ntfs_children(self, source, volume, directory):
        """Children one index entry at a time: a corrupt child costs only itself.

        dfVFS's NTFS listing stops at the first child whose MFT record cannot
        be read, losing its healthy siblings; here each is opened on its own,
        and a failed one is named from the directory index through TSK.
        """
        base = (getattr(directory.path_spec, "location", "\\") or "\\").rstrip("\\")
        try:
            fsntfs_directory = directory.GetNTFSFileEntry()
            count = fsntfs_directory.number_of_sub_file_entries
        except (dfvfs_errors.Error, OSError) as exception:
            shown = base or "\\"
            self.warnings.append(
                warning(f"cannot list directory {shown}: {_short(exception)}", provenance=_provenance(source, volume, directory.path_spec))
            )
            return
        readable: set[str] = set()
        failed = 0
        for index in range(count):
            try:
                sub = fsntfs_directory.get_sub_file_entry(index)
                name = sub.name
                spec = path_spec_factory.Factory.NewPathSpec(
                    _NTFS,
                    location=f"{base}\\{name}",
                    mft_entry=sub.file_reference & 0xFFFFFFFFFFFF,
                    mft_attribute=sub.name_attribute_index,
                    parent=volume.path_spec.parent,
                )
                child = resolver.Resolver.OpenFileEntry(spec)
            except (dfvfs_errors.Error, OSError):
                failed += 1
                continue
            if child is not None:
                readable.add(name.lower())
                yield child, name
        if failed:
            self._report_unreadable_children(source, volume, base, readable, failed)

    def _report_unreadable_children(self, source, volume, base, readable, failed) -> None:
        named = 0
        for name, mft_entry in _tsk_directory_names(volume, base):
            if name.lower() in readable or name in (".", ".."):
                continue
            named += 1
            self._corrupt_entries.add(mft_entry)
            location = f"{base}\\{name}"
            spec = path_spec_factory.Factory.NewPathSpec(_NTFS, location=location, parent=volume.path_spec.parent)
            self.warnings.append(
                warning(
                    f"MFT entry {mft_entry} ({location}) is corrupt and cannot be read",
                    provenance=_provenance(source, volume, spec, mft_entry),
                    mft_entry=mft_entry,
                )
            )
        if named < failed:
            shown = base or "\\"
            self.warnings.append(
                warning(
                    f"{failed - named} entries of directory {shown} cannot be read",
                    provenance=_volume_provenance(source, volume),
                )
            )

    def _target(self, source, volume, file_entry, parsers, is_directory) -> FileTarget:
        spec = file_entry.path_spec
        location = getattr(spec, "location", "") or ""
        if volume.type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS:
            root = getattr(volume.path_spec, "location", "")
            location = "\\" + display.display_location(location[len(root):]).lstrip("/").replace("/", "\\")
        elif "/" in location and "\\" not in location:
            location = location.replace("/", "\\")
        mft_entry = getattr(spec, "mft_entry", None)
        if mft_entry is None and volume.type_indicator == _NTFS:
            try:
                mft_entry = file_entry.GetNTFSFileEntry().file_reference & 0xFFFFFFFFFFFF
            except (dfvfs_errors.Error, OSError, AttributeError):
                mft_entry = None
        return FileTarget(
            volume=volume,
            path_spec=spec,
            location=location,
            is_allocated=True,
            is_directory=is_directory,
            mft_entry=mft_entry,
            parsers=set(parsers),
            provenance=_provenance(source, volume, spec, mft_entry),
        )

    # -- NTFS: one pass over the MFT for "**" patterns and deleted records -----

    def _scan_mft(self, source: Source, volume: Volume, seen: set[int]) -> Iterator[FileTarget]:
        unanchored = [(parser, pattern) for parser, pattern in self._flat if not pattern.anchored]
        deleted_requests = [(parser, pattern) for parser, pattern in self._flat if self._wants_deleted(parser)]
        try:
            file_object = resolver.Resolver.OpenFileObject(volume.path_spec.parent)
            ntfs = pyfsntfs.volume()
            ntfs.open_file_object(file_object)
        except (dfvfs_errors.Error, OSError) as exception:
            self.warnings.append(
                warning(f"cannot read the MFT of volume {volume.label}: {exception}", provenance=_volume_provenance(source, volume))
            )
            return
        for index in range(ntfs.number_of_file_entries):
            if index in seen:
                continue
            self.stats["mft_entries_scanned"] += 1
            try:
                entry = ntfs.get_file_entry(index)
                allocated = entry.is_allocated()
            except OSError as exception:
                if _never_used(ntfs, index):
                    # All zero bytes: a record the MFT has room for but never held a file
                    # (libfsntfs: "missing header"). Not damage; counted, not a warning.
                    self.stats["mft_entries_never_used"] += 1
                    continue
                if self.report_corrupt and index not in self._corrupt_entries:
                    self.warnings.append(
                        warning(
                            f"MFT entry {index} is corrupt: {_short(exception)}",
                            provenance=_volume_provenance(source, volume, "\\$MFT"),
                            mft_entry=index,
                        )
                    )
                continue
            candidates = unanchored if allocated else deleted_requests
            if not candidates or _is_extension_record(entry, index):
                continue  # an extension record holds attributes of its base file, which is timelined as one
            try:
                target = self._match_entry(source, volume, entry, index, allocated, candidates)
            except OSError as exception:
                self.warnings.append(
                    warning(f"MFT entry {index} cannot be read: {_short(exception)}", provenance=_volume_provenance(source, volume), mft_entry=index)
                )
                continue
            if target is not None:
                yield target

    def _wants_deleted(self, parser: str) -> bool:
        return self.deleted and any(r.deleted for r in self.requests if r.parser == parser)

    def _match_entry(self, source, volume, entry, index, allocated, candidates) -> FileTarget | None:
        named = has_list = False
        for attribute_index in range(entry.number_of_attributes):
            attribute = entry.get_attribute(attribute_index)
            has_list = has_list or attribute.attribute_type == _ATTRIBUTE_LIST
            if attribute.attribute_type != _ATTRIBUTE_FILE_NAME or attribute.name_space == _NAMESPACE_DOS:
                continue
            named = True
            name = attribute.name or ""
            hopeful = [(p, pat) for p, pat in candidates if pat.last_segment_matches(name)]
            if not hopeful:
                continue
            path = entry.get_path_hint(attribute_index) or ("\\" + name)
            if not path.startswith("\\"):
                path = "\\" + path
            parsers = {parser for parser, pattern in hopeful if pattern.matches(path)}
            if not parsers:
                continue
            spec = path_spec_factory.Factory.NewPathSpec(
                _NTFS,
                location=path,
                mft_entry=index,
                mft_attribute=attribute_index,
                parent=volume.path_spec.parent,
            )
            return FileTarget(
                volume=volume,
                path_spec=spec,
                location=path,
                is_allocated=allocated,
                is_directory=entry.has_directory_entries_index(),
                mft_entry=index,
                parsers=parsers,
                provenance=_provenance(source, volume, spec, index),
            )
        if has_list and not named and allocated:
            # The list names where the file's attributes live; a damaged or
            # looping one can hide its $FILE_NAME: say so instead of losing it.
            self.warnings.append(warning(
                f"MFT entry {index} is in use but no $FILE_NAME is readable through its "
                "$ATTRIBUTE_LIST (damaged, or naming the wrong records): not timelined",
                provenance=_volume_provenance(source, volume, "\\$MFT"), mft_entry=index))
        return None


_SPECIAL_KINDS = {
    dfvfs_definitions.FILE_ENTRY_TYPE_LINK: "link",
    dfvfs_definitions.FILE_ENTRY_TYPE_PIPE: "named pipe",
    dfvfs_definitions.FILE_ENTRY_TYPE_SOCKET: "socket",
    dfvfs_definitions.FILE_ENTRY_TYPE_CHARACTER_DEVICE: "character device",
    dfvfs_definitions.FILE_ENTRY_TYPE_BLOCK_DEVICE: "block device",
    dfvfs_definitions.FILE_ENTRY_TYPE_DEVICE: "device",
}


def _link_target(volume: Volume, location: str) -> str:
    """Where a folder source's link points, as written, and whether that is inside the folder."""
    try:
        target = os.readlink(location)
    except OSError as exception:
        return f"? (unreadable link: {exception.strerror})"
    root = os.path.realpath(volume.path_spec.location)
    resolved = os.path.realpath(location)
    where = "inside" if resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep) else "outside"
    return f"{display.display_location(target)} (points {where} the folder source)"


def _is_extension_record(entry, index: int) -> bool:
    try:
        base = entry.base_record_file_reference & 0xFFFFFFFFFFFF
    except (OSError, AttributeError):
        return False
    return base not in (0, index)


def _provenance(source: Source, volume: Volume, spec: PathSpec, inode: int | None = None) -> Provenance:
    return Provenance(
        source=source.path,
        volume=volume.label,
        path_spec=spec,
        display_name=display.nested_display_name(source.nesting, display.display_name_for_path_spec(spec) or ""),
        inode=inode,
        nesting=source.nesting,
    )


def _volume_provenance(source: Source, volume: Volume, location: str = "\\") -> Provenance:
    return Provenance(
        source=source.path,
        volume=volume.label,
        path_spec=volume.path_spec,
        display_name=display.nested_display_name(source.nesting, volume.display_prefix + location),
        nesting=source.nesting,
    )


def _tsk_directory_names(volume: Volume, location: str) -> list[tuple[str, int]]:
    """(name, MFT entry) of every index entry of a directory, as TSK reads them.

    TSK lists a name even when its MFT record is unreadable, which is how a
    corrupt file gets named in its warning.
    """
    spec = path_spec_factory.Factory.NewPathSpec(
        dfvfs_definitions.TYPE_INDICATOR_TSK, location=location.replace("\\", "/") or "/", parent=volume.path_spec.parent
    )
    try:
        file_system = resolver.Resolver.OpenFileSystem(spec)
        directory = file_system.GetFsInfo().open_dir(path=location.replace("\\", "/") or "/")
        found = []
        for entry in directory:
            name = entry.info.name.name.decode("utf-8", "replace")
            found.append((name, int(entry.info.name.meta_addr)))
        return found
    except (dfvfs_errors.Error, OSError, IOError, AttributeError):
        return []


def _short(exception: BaseException) -> str:
    text = str(exception)
    return text.split(". ")[0][:200]


def _never_used(ntfs, index: int) -> bool:
    """Whether MFT record ``index`` is all zero bytes, as read through the $MFT's own data."""
    try:
        size = ntfs.get_mft_entry_size()
        mft = ntfs.get_file_entry(0)
        record = mft.read_buffer_at_offset(size, index * size)
    except (OSError, AttributeError):
        return False
    return len(record) == size and not record.strip(b"\0")

