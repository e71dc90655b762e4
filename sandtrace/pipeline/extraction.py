"""One run's extraction: the selected parsers over what the collector finds on
every volume of a source, disks inside the evidence too.

The ``Extractor`` drives the passes and counts what they give; each step is
told in its own module:

- what the collector is asked for, the .wsb second pass: pipeline/collection_requests.py;
- one file through its parsers, under the time limit: pipeline/parsing.py, pipeline/file_timeout.py;
- disks inside the evidence, copies of one disk: pipeline/nested_disks.py, pipeline/disk_copies.py;
- ``--carve``: pipeline/carved_disks.py;
- files and disks handed to other processes: pipeline/handout_rules.py, pipeline/handout.py.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from sandtrace.core.errors import SourceError
from sandtrace.core.events import WARNING_DATA_TYPE, EventData, warning
from sandtrace.engine import carving, layers
from sandtrace.engine.collection import Collector, FileTarget, Request
from sandtrace.engine.sources import Source, Volume
from sandtrace.engine.templates import TEMPLATE_TAG
from sandtrace.parsers import carved_records, manager
from sandtrace.parsers.interface import BaseParser
from sandtrace.pipeline import handout_rules, nested_disks, recognition
from sandtrace.pipeline.carved_disks import CARVED_DISK, CarveScratch, FreeSpaceRecords, carve, unreadable, worth_noting
from sandtrace.pipeline.collection_requests import (
    is_layer, mapped_folders_request, mapped_host_folders, parser_requests, rooted_in_layer,
)
from sandtrace.pipeline.disk_copies import DISK_COPY, DiskCopies
from sandtrace.pipeline.handout import HandedOutDisk, HandedOutFile, SourceContext, outer_context
from sandtrace.pipeline.parsing import TargetParsing

# Data types the extraction itself makes (not a parser): timelined and
# formatted like any parser's (tests/test_data_types.py).
ENGINE_DATA_TYPES = (CARVED_DISK, DISK_COPY, nested_disks.EXPECTED_ABSENCE, *carved_records.DATA_TYPES)


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
    carve: bool = False  # search NTFS free space for deleted VHDX disks, event log chunks, hive bins (reads all free clusters)
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
    notes: Counter = field(default_factory=Counter)  # "name: value" of EventData.notes -> event data
    started: float = field(default_factory=time.time)

    def count(self, data: EventData) -> None:
        """One event data made: by data type, and as a warning or by its parser."""
        self.event_data += 1
        self.per_data_type[data.data_type] += 1
        if data.data_type == WARNING_DATA_TYPE:
            self.warnings += 1
        else:
            self.per_parser[data.parser] += 1
        if data.notes:
            self.notes.update(f"{name}: {value}" for name, value in data.notes.items())

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
    """Source in, event data out: drives the passes over every volume and counts what they give."""

    def __init__(self, options: ExtractionOptions, progress: ProgressCallback | None = None) -> None:
        self.options = options
        self.parser_names = manager.select(options.parsers)
        self.parsers: dict[str, BaseParser] = manager.create(self.parser_names, options.parser_options, options.parsers)
        self.parsing = TargetParsing(self.parsers, options.file_timeout)
        self.stats = ExtractionStats()
        self._progress = progress
        self._requests = parser_requests(self.parsers, options.extra_patterns, options.nested)
        self._copies = DiskCopies()  # disks parsed in the current source
        self._carved = CarveScratch()  # where --carve's rebuilt disks are
        # Warnings about a whole source found before extraction (damaged E01 chunks), by source path.
        self.source_notes: dict[str, list[EventData]] = {}
        # Folder sources: source path -> {path on the machine: relative path} of every
        # file collected, for the sidecar (engine/provenance.py, ``add_folder_files``).
        self.folder_files: dict[str, dict[str, str]] = {}
        # Sources read by signature (a folder with no Windows layout, a single file): what
        # recognition found, by source path (pipeline/recognition.py), for stderr and the sidecar.
        self.surveys: dict[str, recognition.Survey] = {}
        # pipeline/handout_rules.py: event logs of at least this many bytes are
        # yielded as HandedOutFile markers for another process to parse (0: none),
        # and nested disk files of at least hand_out_disk_bytes bytes that can run
        # alone as HandedOutDisk markers (0: none).
        self.hand_out_bytes: int = 0
        self.hand_out_disk_bytes: int = 0
        layers.clear()

    def run(self, source: Source) -> Iterator[EventData]:
        """Event data of every volume of ``source``, warnings included, nested disks too."""
        if source.depth == 0:  # copies are deduplicated, and layers resolved, within one source
            yield from self._count(iter(self.source_notes.pop(source.path, [])))
            self._copies.clear()
            layers.clear()
        activity = nested_disks.holds_activity(source)
        requests = [r for r in self._requests if (source.depth > 0 or not r.nested_only)
                    and (activity or not getattr(self.parsers.get(r.parser), "ACTIVITY_DISKS_ONLY", False))]
        records = self._free_space_records(source)
        survey = None
        if source.depth == 0 and source.by_signature:
            survey = self.surveys[source.path] = recognition.Survey()
            requests = [*requests, recognition.survey_request()]
        for volume in source.volumes:
            volume_requests = rooted_in_layer(requests) if source.depth and is_layer(volume) else requests
            nested: list[FileTarget] = []
            seen: set[int] = set()
            mapped: set[str] = set()
            carved_here = self.options.carve and volume.type_indicator == "NTFS" and (source.depth == 0 or records)
            collected: list[FileTarget] | None = [] if carved_here and records else None
            yield from recognition.counted(
                self._collect(source, volume, volume_requests, nested, seen, mapped, collected=collected, survey=survey),
                survey)
            if mapped and "filestat" in self.parsers and volume.type_indicator != "OS":
                # Host folders a .wsb maps: what the sandbox wrote there persists on the host.
                second = [mapped_folders_request(mapped)]
                yield from self._collect(source, volume, second, nested, seen, set(), tag="wsb_mapped_folder",
                                         collected=collected)
            for target in sorted(nested, key=nested_disks.base_layers_first):
                yield from recognition.counted(self._nested(source, target), survey)
            if carved_here:
                yield from self._carve(source, volume, records, collected or [])
        if records:
            yield from self._count(records.records(source))
        if survey is not None:
            yield from self._count(iter(recognition.closing_notes(source, survey, self.parsing.recognising)))
        if self._progress and source.depth == 0:
            self._progress(self.stats, "")

    def _collect(self, source: Source, volume: Volume, requests: list[Request], nested: list[FileTarget], seen: set,
                 mapped: set[str], tag: str | None = None, collected: list[FileTarget] | None = None,
                 survey: recognition.Survey | None = None) -> Iterator[EventData]:
        """One collection pass over ``volume``: disk files found go to ``nested``, folders a
        .wsb maps to ``mapped``, the files free-space carving needs to know to ``collected``
        (when given); a second pass (``tag``) skips the files in ``seen``. A source read by
        signature (``survey``) passes on only the files a parser recognises."""
        collector = Collector(requests, deleted=self.options.deleted, report_corrupt=tag is None)
        for target in collector.collect(source, volume):
            if survey is not None and recognition.SURVEY in target.parsers and not recognition.take(
                    target, self.parsing, survey):
                continue
            key = target.mft_entry if target.mft_entry is not None else target.location
            if tag and key in seen:
                continue
            seen.add(key)
            if collected is not None and worth_noting(target):
                collected.append(target)
            self.stats.files += 1
            _note_folder_file(self.folder_files, source, target)
            self.stats.per_volume[volume.label] += 1
            handed_out = handout_rules.file_marker(target, source, tag, self.hand_out_bytes, self.parsing, self._carved)
            if handed_out is not None:
                yield handed_out
                continue
            for data in self._count(self.parse_target(target, source)):
                if tag and tag not in data.tags:
                    data.tags.append(tag)
                if data.data_type == "windows:sandbox:wsb_config":
                    mapped.update(mapped_host_folders(data))
                yield data
            if nested_disks.is_nested_disk(target, source, self.options.nested, self.options.max_depth):
                nested.append(target)
            if self._progress and self.stats.files % 25 == 0:
                self._progress(self.stats, target.provenance.display_name)
        self.stats.collector.update(collector.stats)
        yield from self._count(iter(collector.warnings))

    def parse_target(self, target: FileTarget, source: Source | None = None) -> Iterator[EventData]:
        """One file through its parsers; template content tagged, or left out (``templates`` off)."""
        template = target.template = source is not None and nested_disks.is_template(target, source)
        if template and not self.options.templates:
            self.stats.template_event_data_skipped += 1
            return
        for data in self.parsing.parse(target, source, sorted(self.parsing.names(target))):
            if template and TEMPLATE_TAG not in data.tags:
                data.tags.append(TEMPLATE_TAG)
            yield data

    def parse_names(self, target: FileTarget, names: list[str], context: SourceContext | None = None) -> Iterator[EventData]:
        """The named parsers on one file, as ``parse_target`` runs them, counted (a worker's job)."""
        yield from self._count(self.parsing.parse(target, context, names))

    def _nested(self, source: Source, target: FileTarget) -> Iterator[EventData | HandedOutDisk]:
        """A disk found in ``source``: a copy's note, or the disk opened, then handed out or run."""
        copy = self._copies.file_copy(target)
        if copy is not None:
            yield from self._count(iter([copy]))
            return
        label = nested_disks.disk_label(target)
        try:
            inner = nested_disks.open_disk(source, target, label, self.options.vss)
        except SourceError as exception:
            yield from self._count(iter([warning(str(exception), parser="nested_disk", provenance=target.provenance)]))
            return
        self.stats.nested_sources += 1
        if handout_rules.disk_goes_out(target, inner, self.hand_out_disk_bytes, self._carved,
                                       self.options.nested, self.options.max_depth):
            yield HandedOutDisk(target, label, outer_context(source), layers.snapshot())
            return
        yield from self._inside(target, inner)

    def run_disk(self, disk: HandedOutDisk) -> Iterator[EventData | HandedOutFile]:
        """A disk another extractor handed out, as that one would have run it: same
        outer source, same base layers registered. No copy state carries over from
        an earlier disk this (worker's) extractor ran."""
        self._copies.clear()
        layers.restore(disk.layers)
        outer = disk.outer.source()
        try:
            inner = nested_disks.open_disk(outer, disk.target, disk.label, self.options.vss, register=False)
        except SourceError as exception:
            yield from self._count(iter([warning(str(exception), parser="nested_disk", provenance=disk.target.provenance)]))
            return
        yield from self._inside(disk.target, inner)

    def _inside(self, target: FileTarget, inner: Source) -> Iterator[EventData]:
        """What an opened disk gives: the note on what the guest never records, then its volumes."""
        yield from self._count(iter(nested_disks.expected_absence(target, inner)))
        if not inner.all_template:
            inner.comparers = nested_disks.parent_comparers(target, inner)
        yield from self.run(inner)

    def _free_space_records(self, source: Source) -> FreeSpaceRecords | None:
        """What ``--carve`` decodes from a source's free space besides disks: event log
        chunks and hive bins, when their parsers run; not in a base layer (template content)."""
        if not self.options.carve or source.all_template:
            return None
        records = FreeSpaceRecords(self.parsers)
        return records if records.kinds else None

    def _carve(self, source: Source, volume: Volume, records: FreeSpaceRecords | None,
               collected: list[FileTarget]) -> Iterator[EventData]:
        """One pass over the volume's free clusters: sandbox disks rebuilt from them (on the
        evidence itself, not inside a disk) run as sources of their own; event log chunks and
        hive bins wait in ``records`` for the end of the source."""
        space = carving.open_space(volume)
        if isinstance(space, str):
            yield from self._count(iter([unreadable(source, volume, space)]))
            return
        directory = self._carved.new(source, volume.label) if source.depth == 0 else None
        pending = records.volume(source, volume, space, collected) if records else None
        for found in carve(source, volume, space, directory, self._copies, pending):
            if isinstance(found, Source):
                self.stats.nested_sources += 1
                yield from self.run(found)
            else:
                yield from self._count(iter([found]))

    def close(self) -> None:
        """Removes rebuilt disks; call once the events have been written."""
        self._carved.remove()

    def _count(self, stream: Iterator[EventData]) -> Iterator[EventData]:
        for data in stream:
            self.stats.count(data)
            yield data


def _note_folder_file(folder_files: dict[str, dict[str, str]], source: Source, target: FileTarget) -> None:
    """Remembers a file of a folder source (not of a disk in it) for the sidecar's file list."""
    if source.depth or source.kind != "directory" or target.is_directory:
        return
    path = getattr(target.path_spec, "location", None)
    if path:
        folder_files.setdefault(source.path, {})[path] = os.path.relpath(path, source.path)
