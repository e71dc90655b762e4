"""Runs the selected parsers over what the collector finds on every volume.

The one rule here: a parser failing on one file costs that file only. Its
exception becomes a ``sandtrace:warning`` record (path, parser, error) in the
event stream, and the run goes on with everything else.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory

from sandtrace.core import display
from sandtrace.core.errors import SourceError
from sandtrace.core.events import WARNING_DATA_TYPE, EventData, Provenance, warning
from sandtrace.engine import carving, layers, scratch, vhdi_parents
from sandtrace.engine.collection import Collector, FileTarget, PathPattern, Request
from sandtrace.engine.sources import Source, open_nested
from sandtrace.engine.templates import TEMPLATE_TAG, MftComparer
from sandtrace.output.sanitize import safe_file_name
from sandtrace.parsers import manager
from sandtrace.parsers.container_inventory import classify
from sandtrace.parsers.interface import BaseParser
from sandtrace.pipeline.handout import (
    HAND_OUT_PARSERS, HandedOutDisk, HandedOutFile, SourceContext, outer_context, source_context,
)

_SIGNATURE_HEAD = 4096
_VIRTUAL_DISK_SIGNATURES = (b"vhdxfile", b"conectix")
_CONTAINERS = "\\programdata\\microsoft\\windows\\containers\\"
_CONTAINER_GUID = re.compile(
    r"\\(BaseImages|ContainerStorages|Layers|Snapshots)\\\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?(\\|$)",
    re.IGNORECASE,
)
NESTED_MODES = ("sandbox", "all", "none")


# Data types the engine itself makes (not a parser): declared here, timelined and
# formatted like any parser's (tests/test_data_types.py).
CARVED_DISK = "windows:sandbox:carved_disk"
DISK_COPY = "windows:sandbox:disk_copy"
EXPECTED_ABSENCE = "windows:sandbox:expected_absence"
ENGINE_DATA_TYPES = (CARVED_DISK, DISK_COPY, EXPECTED_ABSENCE)

@dataclass
class ExtractionOptions:
    parsers: str | None = None  # --parsers expression
    vss: bool = True
    deleted: bool = True
    extra_patterns: list[str] = field(default_factory=list)  # --paths, for filestat
    parser_options: dict = field(default_factory=dict)
    nested: str = "sandbox"  # which virtual disks to open: sandbox (Containers tree), all, none
    max_depth: int = 3  # disks inside disks inside disks
    templates: bool = True  # keep base-layer template content (tagged sandbox_template)
    carve: bool = False  # search NTFS free space for deleted VHDX disks (reads all free clusters)
    file_timeout: float = 900.0  # --file-timeout: seconds one parser may spend on one file (0 = no limit)


@dataclass
class ExtractionStats:
    files: int = 0
    event_data: int = 0
    warnings: int = 0
    bytes_sources: int = 0
    per_parser: Counter = field(default_factory=Counter)
    per_data_type: Counter = field(default_factory=Counter)
    per_volume: Counter = field(default_factory=Counter)
    nested_sources: int = 0
    template_event_data_skipped: int = 0
    collector: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.time)

    def merge(self, other: ExtractionStats | dict) -> None:
        """Adds another process's counts (or their ``as_dict``): every count and counter but ``started``."""
        values = other if isinstance(other, dict) else other.as_dict()
        for item in fields(self):
            if item.name == "started" or item.name not in values:
                continue
            mine = getattr(self, item.name)
            if isinstance(mine, Counter):
                mine.update(values[item.name])
            else:
                setattr(self, item.name, mine + values[item.name])

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON (a batch task's result); counters as plain dicts."""
        return {item.name: dict(value) if isinstance(value := getattr(self, item.name), Counter) else value
                for item in fields(self) if item.name != "started"}


ProgressCallback = Callable[[ExtractionStats, str], None]


class Extractor:
    """Source in, event data out; counts everything it does."""

    def __init__(self, options: ExtractionOptions, progress: ProgressCallback | None = None) -> None:
        self.options = options
        self.parser_names = manager.select(options.parsers)
        self.parsers: dict[str, BaseParser] = manager.create(self.parser_names, options.parser_options, options.parsers)
        self.stats = ExtractionStats()
        self._progress = progress
        self._requests = self._build_requests()
        self._all_targets = [n for n, p in self.parsers.items() if p.ALL_TARGETS]
        self._by_signature = [n for n, p in self.parsers.items() if p.SIGNATURES]
        self._scratch_directories: list[str] = []  # --carve's rebuilt disks (``_scratch``)
        # Warnings about a whole source found before extraction (damaged E01 chunks), by source path.
        self.source_notes: dict[str, list[EventData]] = {}
        self._disks_seen: dict[tuple, str] = {}  # VHDX identity -> display name of the copy parsed
        self._disk_targets: dict[tuple, list[FileTarget]] = {}  # identity -> files parsed, for the content check
        self._disk_hashes: dict[str, str | None] = {}  # display name -> SHA-256, computed on demand
        # Folder sources: source path -> {path on the machine: relative path} of every
        # file collected, for the sidecar (engine/provenance.py, ``add_folder_files``).
        self.folder_files: dict[str, dict[str, str]] = {}
        # pipeline/handout.py: event logs of at least this many bytes are
        # yielded as HandedOutFile markers for another process to parse (0: none),
        # and nested disk files of at least hand_out_disk_bytes bytes that can run
        # alone as HandedOutDisk markers (0: none).
        self.hand_out_bytes: int = 0
        self.hand_out_disk_bytes: int = 0
        layers.clear()

    def _build_requests(self) -> list[Request]:
        requests = []
        if self.options.nested == "all":
            requests.append(Request("nested_disk", [PathPattern("**\\*.vhdx"), PathPattern("**\\*.vhd")]))
        for name, parser in self.parsers.items():
            texts = list(parser.PATTERNS)
            if parser.ALL_TARGETS:
                texts += self.options.extra_patterns
            if texts:
                requests.append(
                    Request(name, [PathPattern(t) for t in texts], deleted=parser.WANTS_DELETED, nested_only=parser.NESTED_ONLY)
                )
        return requests

    def run(self, source: Source) -> Iterator[EventData]:
        """Event data of every volume of ``source``, warnings included, nested disks too."""
        if source.depth == 0:  # copies are deduplicated, and layers resolved, within one source
            yield from self._count(iter(self.source_notes.pop(source.path, [])))
            self._disks_seen.clear()
            self._disk_targets.clear()
            self._disk_hashes.clear()
            layers.clear()
        requests = [r for r in self._requests if source.depth > 0 or not r.nested_only]
        for volume in source.volumes:
            volume_requests = _rooted_in_layer(requests) if source.depth and _is_layer(volume) else requests
            nested: list[FileTarget] = []
            seen: set[int] = set()
            mapped: set[str] = set()
            yield from self._collect(source, volume, volume_requests, nested, seen, mapped)
            if mapped and "filestat" in self.parsers and volume.type_indicator != "OS":
                # Host folders a .wsb maps: what the sandbox wrote there persists on the host.
                patterns = [PathPattern(folder) for folder in sorted(mapped)]
                patterns += [PathPattern(folder + "\\**") for folder in sorted(mapped)]
                second = [Request("filestat", patterns, deleted=True)]
                yield from self._collect(source, volume, second, nested, seen, set(), tag="wsb_mapped_folder")
            # Base layers first: placeholders in sandbox disks resolve against them.
            for target in sorted(nested, key=lambda t: (classify(t.location) or ("",))[0] != "base_layer"):
                yield from self._run_nested(source, target)
            if self.options.carve and volume.type_indicator == "NTFS" and source.depth == 0:
                yield from self._carve(source, volume)
        if self._progress and source.depth == 0:
            self._progress(self.stats, "")

    def _collect(self, source, volume, requests, nested, seen, mapped, tag: str | None = None) -> Iterator[EventData]:
        collector = Collector(requests, deleted=self.options.deleted, report_corrupt=tag is None)
        for target in collector.collect(source, volume):
            key = target.mft_entry if target.mft_entry is not None else target.location
            if tag and key in seen:
                continue
            seen.add(key)
            self.stats.files += 1
            self._note_folder_file(source, target)
            self.stats.per_volume[volume.label] += 1
            handed_out = self._hand_out_file(target, source, tag)
            if handed_out is not None:
                yield handed_out
                continue
            for data in self._count(self.parse_target(target, source)):
                if tag and tag not in data.tags:
                    data.tags.append(tag)
                if data.data_type == "windows:sandbox:wsb_config":
                    mapped.update(_mapped_host_folders(data))
                yield data
            if self._is_nested_disk(target, source):
                nested.append(target)
            if self._progress and self.stats.files % 25 == 0:
                self._progress(self.stats, target.provenance.display_name)
        self.stats.collector.update(collector.stats)
        yield from self._count(iter(collector.warnings))

    def _note_folder_file(self, source: Source, target: FileTarget) -> None:
        """Remembers a file of a folder source (not of a disk in it) for the sidecar's file list."""
        if source.depth or source.kind != "directory" or target.is_directory:
            return
        path = getattr(target.path_spec, "location", None)
        if path:
            self.folder_files.setdefault(source.path, {})[path] = os.path.relpath(path, source.path)

    def parse_target(self, target: FileTarget, source: Source | None = None) -> Iterator[EventData]:
        template = source is not None and _is_template(target, source)
        if template and not self.options.templates:
            self.stats.template_event_data_skipped += 1
            return
        for data in self._parse_target(target, source):
            if template and TEMPLATE_TAG not in data.tags:
                data.tags.append(TEMPLATE_TAG)
            yield data

    def _parser_names(self, target: FileTarget) -> set[str]:
        names = set(self._all_targets)
        if not target.is_directory:
            names |= target.parsers & set(self.parsers)
            names |= self._signature_matches(target)
        else:
            names |= {n for n in target.parsers & set(self.parsers) if self.parsers[n].WANTS_DIRECTORIES}
        return names

    def _hand_out_file(self, target: FileTarget, source: Source, tag: str | None):
        """A HandedOutFile marker when this file goes to a worker process (pipeline/handout.py).

        Files inside nested disks go too (a sandbox disk's event logs): the
        worker opens the same path spec chain and gives the event data what
        the disk would (its container and tags, ``source_context``). Not:
        template content (compared with the parent disk here), files of a
        second collection pass, and disks rebuilt by --carve (their scratch
        copy lives with this extractor).
        """
        if not self.hand_out_bytes or tag is not None or target.is_directory:
            return None
        if "winevtx" not in target.parsers or _is_template(target, source) or self._in_scratch(target):
            return None
        names = self._parser_names(target)
        if "winevtx" not in names or not names <= HAND_OUT_PARSERS:
            return None
        try:
            size = target.open_file_entry().size or 0
        except (dfvfs_errors.Error, OSError):
            return None
        if size < self.hand_out_bytes:
            return None
        return HandedOutFile(target, sorted(names), source_context(source))

    def _in_scratch(self, target: FileTarget) -> bool:
        """Whether the file is inside a disk --carve rebuilt in this extractor's scratch folder."""
        if not self._scratch_directories:
            return False
        spec = target.path_spec
        while spec is not None:
            location = getattr(spec, "location", None) or ""
            if spec.type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS and any(
                    location.startswith(path + os.sep) for path in self._scratch_directories):
                return True
            spec = spec.parent
        return False

    def parse_names(self, target: FileTarget, names: list[str], context: SourceContext | None = None) -> Iterator[EventData]:
        """The named parsers on one file, as ``_parse_target`` runs them, counted (a worker's job)."""
        yield from self._count(self._run_parsers(target, context, names))

    def _parse_target(self, target: FileTarget, source: Source | None) -> Iterator[EventData]:
        yield from self._run_parsers(target, source, sorted(self._parser_names(target)))

    def _run_parsers(self, target: FileTarget, source: Source | SourceContext | None, names) -> Iterator[EventData]:
        for name in names:
            parser = self.parsers[name]
            try:
                for data in _time_limited(parser.parse(target), self.options.file_timeout):
                    yield self._finish(data, name, target, source)
            except Exception as exception:  # noqa: BLE001 - one file must not stop the run
                yield self._finish(
                    warning(f"{type(exception).__name__}: {_one_line(exception)}", parser=name, provenance=target.provenance),
                    name,
                    target,
                    source,
                )

    # -- nested disks -------------------------------------------------------------

    def _is_nested_disk(self, target: FileTarget, source: Source) -> bool:
        if self.options.nested == "none" or target.is_directory or source.depth >= self.options.max_depth:
            return False
        location = target.location.lower()
        if self.options.nested == "sandbox" and not location.startswith(_CONTAINERS):
            return False
        if not location.endswith((".vhdx", ".vhd", ".avhdx")):
            return False
        try:
            head = target.read(8)
        except (dfvfs_errors.Error, OSError):
            return False
        return head.startswith(_VIRTUAL_DISK_SIGNATURES)

    def _run_nested(self, source: Source, target: FileTarget) -> Iterator[EventData]:
        identity = _disk_identity(target)
        if identity is not None:
            parsed_as = self._parsed_copy(identity, target)
            if parsed_as is not None:
                yield from self._count(iter([_disk_copy(target.provenance, parsed_as, identity)]))
                return
            self._disks_seen.setdefault(identity, target.provenance.display_name)
            self._disk_targets.setdefault(identity, []).append(target)
        label = _disk_label(target)
        try:
            inner = self._open_disk(source, target, label)
        except SourceError as exception:
            yield from self._count(iter([warning(str(exception), parser="nested_disk", provenance=target.provenance)]))
            return
        self.stats.nested_sources += 1
        if self._hand_out_disk(target, inner):
            yield HandedOutDisk(target, label, outer_context(source), layers.snapshot())
            return
        yield from self._inside(target, inner)

    def _open_disk(self, source: Source, target: FileTarget, label: str, register: bool = True) -> Source:
        """The disk file ``target`` opened as a source inside ``source``; base layers
        registered (``register``) so that later placeholders resolve against them."""
        match = _CONTAINER_GUID.search(target.location)
        container = {"container_path": target.location}
        if match:
            container["container_guid"] = match.group(2).lower()
        inner = open_nested(
            target.path_spec,
            outer=source,
            outer_label=label,
            outer_display_name=target.provenance.display_name,
            container=source.container or container,  # a disk inside a sandbox disk keeps the sandbox's
            vss=self.options.vss,
        )
        found = classify(target.location)
        inner.all_template = bool(source.all_template or (found and found[0] in _TEMPLATE_ROLES))
        if register and found and found[0] == "base_layer" and found[2]:
            for volume in inner.volumes:
                layers.register(found[2], volume)
        if not target.is_allocated:
            inner.tags = ["recovered_deleted"]
        return inner

    def _inside(self, target: FileTarget, inner: Source) -> Iterator[EventData]:
        """What an opened disk gives: the note on what the guest never records, then its volumes."""
        found = classify(target.location)
        if found and found[0] == "sandbox_disk":
            yield from self._count(iter([_expected_absence(target, inner)]))
        if not inner.all_template:
            inner.comparers = _parent_comparers(target, inner, self.options.vss)
        yield from self.run(inner)

    def _hand_out_disk(self, target: FileTarget, inner: Source) -> bool:
        if not self.hand_out_disk_bytes or self._in_scratch(target):
            return False
        try:
            size = target.open_file_entry().size or 0
        except (dfvfs_errors.Error, OSError):
            return False
        return size >= self.hand_out_disk_bytes and self._self_contained(inner)

    def _self_contained(self, inner: Source) -> bool:
        """Whether no disk inside ``inner`` would be opened, so that another process can
        run it alone: copy de-duplication and base-layer registration, the state one
        extractor shares between disks, are then not touched (pipeline/handout.py).

        With ``--nested-disks sandbox`` a disk must lie under
        ``\\ProgramData\\Microsoft\\Windows\\Containers``: a disk none of whose NTFS
        volumes has that folder has none. ``all`` may find a disk anywhere: never.
        """
        if self.options.nested == "none" or inner.depth >= self.options.max_depth:
            return True
        if self.options.nested != "sandbox":
            return False
        from dfvfs.resolver import resolver

        for volume in inner.volumes:
            if volume.type_indicator != dfvfs_definitions.TYPE_INDICATOR_NTFS:
                return False
            spec = path_spec_factory.Factory.NewPathSpec(
                volume.type_indicator, location=_CONTAINERS.rstrip("\\"), parent=volume.path_spec.parent)
            try:
                if resolver.Resolver.OpenFileEntry(spec) is not None:
                    return False
            except (dfvfs_errors.Error, OSError):
                return False
        return True

    def run_disk(self, disk) -> Iterator[EventData]:
        """A disk another extractor handed out (``handout.HandedOutDisk``), as that one
        would have run it: same outer source, same base layers registered. No copy
        state carries over from an earlier disk this (worker's) extractor ran."""
        self._disks_seen.clear()
        self._disk_targets.clear()
        self._disk_hashes.clear()
        layers.restore(disk.layers)
        outer = disk.outer.source()
        try:
            inner = self._open_disk(outer, disk.target, disk.label, register=False)
        except SourceError as exception:
            yield from self._count(iter([warning(str(exception), parser="nested_disk", provenance=disk.target.provenance)]))
            return
        yield from self._inside(disk.target, inner)

    def _signature_matches(self, target: FileTarget) -> set[str]:
        wanting = [n for n in self._by_signature if n not in target.parsers]
        if not wanting:
            return set()
        try:
            head = target.read(_SIGNATURE_HEAD)
        except (dfvfs_errors.Error, OSError):
            return set()
        return {
            name
            for name in wanting
            for signature in self.parsers[name].SIGNATURES
            if head[signature.offset : signature.offset + len(signature.data)] == signature.data
        }

    @staticmethod
    def _finish(data: EventData, name: str, target: FileTarget, source: Source | SourceContext | None) -> EventData:
        if not data.parser:
            data.parser = name
        elif not data.parser.startswith(name):
            data.parser = f"{name}/{data.parser}"
        if not data.provenance.display_name and data.provenance.path_spec is None:
            data.provenance = target.provenance
        if source is not None and source.container:
            for key, value in source.container.items():
                data.values.setdefault(key, value)
        if source is not None:
            data.tags.extend(tag for tag in source.tags if tag not in data.tags)
        return data

    # -- carving -------------------------------------------------------------------

    def _carve(self, source: Source, volume) -> Iterator[EventData]:
        """Sandbox disks rebuilt from the volume's free clusters, then parsed."""
        directory = self._scratch(source, volume.label)
        for found in carving.carve_volume(volume, directory):
            location = volume.display_prefix + "\\$Unallocated"
            provenance = Provenance(source=source.path, volume=volume.label, path_spec=volume.path_spec,
                                    display_name=display.nested_display_name(source.nesting, location))
            if isinstance(found, str):
                yield from self._count(iter([warning(found, parser="carve_vhdx", provenance=provenance)]))
                continue
            name = f"{location}@{found.volume_offset:#x}"
            provenance.display_name = display.nested_display_name(source.nesting, name)
            yield from self._count(iter([_carved_disk_data(found, provenance)]))
            identity = (str(found.info["disk_id"]), str(found.info["data_write_guid"]))
            if identity in self._disks_seen:
                yield from self._count(iter([_disk_copy(provenance, self._disks_seen[identity], identity)]))
                continue
            self._disks_seen[identity] = provenance.display_name
            if not found.blocks_present:
                continue
            spec = path_spec_factory.Factory.NewPathSpec(dfvfs_definitions.TYPE_INDICATOR_OS, location=found.raw_path)
            try:
                inner = open_nested(spec, outer=source, outer_label=f"{volume.label}@{found.volume_offset:#x}",
                                    outer_display_name=provenance.display_name, container=None,
                                    vss=False, wrap_vhdi=False)
            except SourceError as exception:
                yield from self._count(iter([warning(str(exception), parser="carve_vhdx", provenance=provenance)]))
                continue
            inner.tags = ["carved"]
            self.stats.nested_sources += 1
            yield from self.run(inner)

    def _parsed_copy(self, identity: tuple, target: FileTarget) -> str | None:
        """Display name of an already parsed disk with these identifiers and these bytes, if any."""
        candidates = self._disk_targets.get(identity, [])
        if not candidates:
            return None
        digest = self._hash_of(target)
        for other in candidates:
            if digest is not None and self._hash_of(other) == digest:
                return other.provenance.display_name
        return None

    def _hash_of(self, target: FileTarget) -> str | None:
        """A disk file's content hash, read once however many copies it is compared with."""
        key = target.provenance.display_name
        if key not in self._disk_hashes:
            self._disk_hashes[key] = _content_hash(target)
        return self._disk_hashes[key]

    def _scratch(self, source: Source, volume_label: str) -> str:
        """Where --carve writes one volume's rebuilt disks: ``sandtrace-carved-<hash of
        the source path>-<volume>`` in the temporary folder, so a second run writes the
        same paths into its output (a random folder when that one is taken, by a run
        beside this one). batch's parts carve other volumes of the source: other folders."""
        name = f"sandtrace-carved-{_path_digest(source.path)}-{safe_file_name(volume_label, default='volume')}"
        path = os.path.join(tempfile.gettempdir(), name)
        try:
            os.mkdir(path, 0o700)
            scratch.claim(path)
        except FileExistsError:
            path = scratch.make("sandtrace-carved-")
        self._scratch_directories.append(path)
        return path

    def close(self) -> None:
        """Removes rebuilt disks; call once the events have been written."""
        for path in self._scratch_directories:
            scratch.remove(path)
        self._scratch_directories = []

    def _count(self, stream: Iterator[EventData]) -> Iterator[EventData]:
        for data in stream:
            self.stats.event_data += 1
            self.stats.per_data_type[data.data_type] += 1
            if data.data_type == WARNING_DATA_TYPE:
                self.stats.warnings += 1
            else:
                self.stats.per_parser[data.parser] += 1
            yield data


_TEMPLATE_ROLES = ("base_layer", "snapshot_template")


def _carved_disk_data(found: carving.CarvedDisk, provenance: Provenance) -> EventData:
    info = found.info
    recoverable = len(found.blocks_present) + len(found.blocks_missing)
    values = {
        "volume_offset": found.volume_offset,
        "virtual_size": info["virtual_size"],
        "block_size": info["block_size"],
        "disk_identifier": str(info["disk_id"]) if info["disk_id"] else None,
        "data_write_identifier": str(info["data_write_guid"]),
        "has_parent": info["has_parent"],
        "parent_locator": dict(info["parent_locator"]) or None,
        "blocks_total": found.blocks_total,
        "blocks_written": recoverable,
        "blocks_present": len(found.blocks_present),
        "blocks_missing": found.blocks_missing or None,
        "recovered_fraction": round(len(found.blocks_present) / recoverable, 4) if recoverable else 0.0,
    }
    return EventData(CARVED_DISK, {k: v for k, v in values.items() if v is not None},
                     parser="carve_vhdx", provenance=provenance, tags=["carved"])


def _mapped_host_folders(data: EventData) -> set[str]:
    """Volume paths of the host folders a configuration maps (``C:\\x`` -> ``\\x``).

    Environment variables become wildcards; relative paths are left out [I].
    """
    folders = set()
    for folder in data.values.get("mapped_folders") or []:
        host = (folder.get("host_folder") or "").replace("/", "\\").rstrip("\\")
        if len(host) > 2 and host[1] == ":":
            path = re.sub(r"%[^%\\]+%", "*", host[2:])
            if path.strip("\\*"):
                folders.add(path)
    return folders


def _is_layer(volume) -> bool:
    """A container layer keeps the OS under ``\\Files`` and its hives under ``\\Hives``."""
    from dfvfs.resolver import resolver

    for name in ("\\Files", "\\Hives"):
        spec = path_spec_factory.Factory.NewPathSpec(volume.type_indicator, location=name, parent=volume.path_spec.parent)
        try:
            if resolver.Resolver.OpenFileEntry(spec) is None:
                return False
        except (dfvfs_errors.Error, OSError):
            return False
    return True


def _rooted_in_layer(requests: list[Request]) -> list[Request]:
    """The same requests, each anchored pattern also looked for under ``\\Files``."""
    rooted = []
    for request in requests:
        patterns = list(request.patterns)
        patterns += [PathPattern("\\Files" + p.text) for p in request.patterns if p.anchored]
        rooted.append(Request(request.parser, patterns, deleted=request.deleted, nested_only=request.nested_only))
    return rooted


def _expected_absence(target: FileTarget, inner: Source) -> EventData:
    """Said once per sandbox disk: what the guest never records is not a finding."""
    return EventData(
        EXPECTED_ABSENCE,
        {
            "absent_artifacts": ["Prefetch", "SRUM"],
            "explanation": "Windows Sandbox guests keep no Prefetch and no SRUM (ITOCHU, docs/domain.md §5 [S]); "
            "their absence inside this disk is expected, not a finding",
            **(inner.container or {}),
        },
        parser="nested_disk",
        provenance=target.provenance,
        tags=list(inner.tags),
    )


def _disk_identity(target: FileTarget) -> tuple | None:
    """(virtual disk id, data write GUID) of a VHDX: equal pairs mean the same content [I].

    Windows changes the data write GUID before the first write after a disk
    is opened, so a live copy and its shadow-copy twin share it only when
    nothing was written in between. Cheaper than hashing gigabytes.
    """
    from sandtrace.engine import vhdx

    try:
        if target.read(8) != vhdx.FILE_TYPE_SIGNATURE:
            return None
        info = vhdx.describe_file(target.open_file_object())
    except Exception:  # noqa: BLE001 - identity is an optimisation, never a failure
        return None
    return (str(info["disk_id"]), str(info["data_write_guid"]))


def _content_hash(target: FileTarget) -> str | None:
    """SHA-256 of a disk file's content, read in blocks (only when two copies claim the same identity)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        file_object = target.open_file_object()
        while block := file_object.read(8 * 1024 * 1024):
            digest.update(block)
    except (dfvfs_errors.Error, OSError):
        return None
    return digest.hexdigest()


def _disk_copy(provenance: Provenance, parsed_as: str, identity: tuple) -> EventData:
    return EventData(
        DISK_COPY,
        {
            "parsed_as": parsed_as,
            "disk_identifier": identity[0],
            "data_write_identifier": identity[1],
            "explanation": "another copy of a disk already parsed (same identifiers and, for disk files, same content "
            "hash; a carved disk is matched by its identifiers); not parsed again",
        },
        parser="nested_disk",
        provenance=provenance,
    )


def _disk_label(target: FileTarget) -> str:
    """A volume label for a disk file: unique per file, readable (``p2>sandbox.vhdx@95``)."""
    name = target.location.rsplit("\\", 1)[-1]
    where = f"@{target.mft_entry}" if target.mft_entry is not None else ""
    return f"{target.volume.label}>{name}{where}"


def _is_template(target: FileTarget, source: Source) -> bool:
    if source.all_template:
        return True
    comparer = source.comparers.get(target.volume.label)
    return comparer is not None and comparer.unchanged(target.mft_entry)


def _parent_comparers(target: FileTarget, inner: Source, vss: bool) -> dict:
    """For a differencing disk: per inner volume, a comparer with the parent's volume."""
    import pyvhdi
    from dfvfs.resolver import resolver

    try:
        disk = pyvhdi.file()
        disk.open_file_object(target.open_file_object())
        parent_filename = disk.parent_filename if disk.parent_identifier else None
        disk.close()
        if not parent_filename:
            return {}
        file_system = resolver.Resolver.OpenFileSystem(target.path_spec)
        parent_spec = vhdi_parents.find_parent(file_system, target.path_spec, parent_filename)
        if parent_spec is None:
            return {}
        parent = open_nested(parent_spec, outer=inner, outer_label="parent", outer_display_name="parent", container=None, vss=False)
    except (SourceError, dfvfs_errors.Error, OSError):
        return {}
    parents = {volume.label.rsplit(">", 1)[-1]: volume for volume in parent.volumes}
    comparers = {}
    for volume in inner.volumes:
        match = parents.get(volume.label.rsplit(">", 1)[-1])
        if match is not None and volume.type_indicator == match.type_indicator == "NTFS":
            comparers[volume.label] = MftComparer(volume.path_spec, match.path_spec)
    return comparers



def _path_digest(path: str) -> str:
    return hashlib.sha256(os.path.abspath(path).encode("utf-8")).hexdigest()[:16]


class FileTimeout(Exception):
    """One parser spent longer than ``--file-timeout`` on one file (becomes a warning)."""


def _time_limited(stream: Iterator[EventData], seconds: float) -> Iterator[EventData]:
    """``stream`` with a budget of ``seconds`` of its own time (not the consumer's).

    The parser's time is counted with the clock while it computes its next
    item; a SIGALRM timer, set for what is left of the budget, stops it inside
    the item that uses the budget up. A parser blocked inside one C call is
    interrupted when that call returns. Off the main thread (the Extractor used
    from a thread) or without SIGALRM (Windows) the budget is checked between
    items instead: a parser is stopped at the first item it yields late.
    (Batch tasks, also on Dask, run in child processes: the timer applies.)
    """
    import signal
    import threading

    if not seconds or seconds <= 0:
        yield from stream
        return
    left = float(seconds)
    message = f"parsing stopped after {seconds:g}s (--file-timeout); what was read before is kept"
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        while True:
            started = time.monotonic()
            try:
                data = next(stream)
            except StopIteration:
                return
            left -= time.monotonic() - started
            yield data
            if left < 0:
                raise FileTimeout(message)

    # One timer for the whole stream, not armed and stopped around every item
    # (two system calls per record were 5% of a worker's time, more in a VM):
    # when it goes off, the parser's own time so far is worked out from the
    # clock, and the timer is set again for what is left of the budget.
    used = 0.0  # the parser's time over the items it has finished
    entered: float | None = None  # when the parser was last resumed; None while the consumer runs

    def expired(signum, frame):
        spent = used if entered is None else used + time.monotonic() - entered
        if spent < seconds:
            signal.setitimer(signal.ITIMER_REAL, max(seconds - spent, 0.001))
        elif entered is not None:
            raise FileTimeout(message)
        # else: over while the consumer runs; the next resume stops the parser

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    clock = time.monotonic
    try:
        while True:
            if used >= seconds:
                raise FileTimeout(message)
            entered = clock()
            try:
                data = next(stream)
            except StopIteration:
                return
            finally:
                started, entered = entered, None  # the handler must never count this item twice
                used += clock() - started
            yield data
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(exception: BaseException) -> str:
    text = " ".join(str(exception).split())
    return text[:400]
