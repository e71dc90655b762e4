"""Sources as plaso takes them: a folder that is no Windows layout, a single file.

On an image or a triage folder laid out like a Windows volume, the parsers'
path rules say what is read (engine/collection.py). Any other folder, and a
file named as the source that holds no file system, is read as plaso's
log2timeline reads every source: each file is offered to the parsers that
recognise it, by its first bytes (``SIGNATURES``) or, for a format with no
magic bytes, by its format's file name (``NAMES``: ``*.wsb``). A run that
finds nothing says why, in the timeline and sidecar and on stderr.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandtrace.core.errors import SourceError
from sandtrace.core.events import WARNING_DATA_TYPE, EventData, Provenance, warning
from sandtrace.engine import sources
from sandtrace.engine.collection import Collector, FileTarget, PathPattern, Request
from sandtrace.engine.sources import Source
from sandtrace.pipeline.parsing import TargetParsing

# The request every file of a source read by signature answers: the collector
# hands each file on, recognition decides which parsers (if any) get it.
SURVEY = "(recognised by signature)"


_LAYOUT_HINT = "no Windows, Users, ProgramData or $MFT"


def survey_request() -> Request:
    return Request(SURVEY, [PathPattern("**")], deleted=False)


def _survey_collector(parsing: TargetParsing) -> Collector:
    """Every file, with the parsers whose unanchored patterns name it (``**\\*.wsb``)."""
    return Collector([survey_request(), *_pattern_requests(parsing)], deleted=False)


@dataclass
class Survey:
    """What recognition found in one source read by signature."""

    files: int = 0  # regular files looked at
    recognised: Counter = field(default_factory=Counter)  # parser -> files it recognised
    files_recognised: int = 0
    events: int = 0  # event data (not warnings) the source gave, and event logs handed to workers
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"by": "signature", "files": self.files, "files_recognised": self.files_recognised,
                "recognised_by_parser": dict(sorted(self.recognised.items())), "notes": list(self.notes)}


def take(target: FileTarget, parsing: TargetParsing, survey: Survey) -> bool:
    """Whether a file of a source read by signature goes to the parsers; its
    ``parsers`` become those that recognise it (and any whose pattern it matched:
    ``--paths``, ``--evtx-anywhere``, ``**\\*.wsb``)."""
    target.parsers.discard(SURVEY)
    if target.is_directory:
        return bool(target.parsers)
    survey.files += 1
    found = parsing.recognise(target)
    if found:
        survey.files_recognised += 1
        survey.recognised.update(found)
    target.parsers |= found
    return bool(target.parsers)


def counted(stream: Iterator, survey: Survey | None) -> Iterator:
    """The stream, each event data that is not a warning counted in ``survey``."""
    for data in stream:
        if survey is not None and getattr(data, "data_type", None) != WARNING_DATA_TYPE:
            survey.events += 1
        yield data


def closing_notes(source: Source, survey: Survey, recognising: list[str]) -> list[EventData]:
    """Warning records that say why a source read by signature gave nothing, or what
    more its folder holds (a Windows layout one level down, as KAPE writes ``C``)."""
    notes = []
    below = sources.layout_below(source.path) if source.kind == "directory" else None
    if below:
        notes.append(f"no Windows layout at the root of {source.path}, but its folder {below} is one (it holds "
                     f"{sources.windows_layout(f'{source.path}/{below}')}): name {source.path}/{below} as the source "
                     "for the parsers' path rules; here every file was offered to the parsers that recognise it")
    if not survey.events:
        recognised = ", ".join(f"{name} {count}" for name, count in sorted(survey.recognised.items()))
        nothing = f"by any of the parsers that read files by signature or name ({', '.join(recognising)})"
        if source.kind == "file":
            notes.append(f"{source.path}: a single file, recognised by {recognised or 'no parser'}: 0 events")
        elif not survey.files:
            notes.append(f"no Windows layout in {source.path} ({_LAYOUT_HINT} at its root) and no file in it: 0 events")
        else:
            found = f"{survey.files_recognised} recognised ({recognised})" if recognised else f"none recognised {nothing}"
            notes.append(f"no Windows layout in {source.path} ({_LAYOUT_HINT} at its root), so each file went to the "
                         f"parsers that recognise it: {survey.files} files, {found}; 0 events")
    survey.notes = notes
    provenance = Provenance(source=source.path, volume=source.volumes[0].label if source.volumes else "",
                            path_spec=source.path_spec, display_name=f"OS:{source.path}")
    return [warning(note, provenance=provenance) for note in notes]


def open_evidence(path: str, vss: bool, parsing: TargetParsing) -> Source:
    """The source at ``path``: an image, a folder, or a file no disk image that a parser
    recognises; a file neither is refused (SourceError, exit 3)."""
    try:
        return sources.open_source(path, vss=vss)
    except sources.NotADiskImage:
        source = sources.open_file(path)
    found = recognised_file(source, parsing)
    if not found:
        raise SourceError(f"not a disk image and no parser recognises it: {source.path} (no partition, volume or "
                          "file system, and no signature or file name of the selected parsers fits: "
                          f"{', '.join(parsing.recognising) or 'none reads files by signature or name'})")
    return source


def recognised_file(source: Source, parsing: TargetParsing) -> set[str]:
    """The parsers that recognise a single-file source (pattern, signature or name)."""
    for target in _survey_collector(parsing).collect(source, source.volumes[0]):
        pattern_matched = target.parsers - {SURVEY}
        return pattern_matched | parsing.recognise(target)
    return set()


def _pattern_requests(parsing: TargetParsing) -> list[Request]:
    """The unanchored patterns of the parsers (``**\\*.wsb``): they name a file anywhere."""
    requests = []
    for name, parser in parsing.parsers.items():
        patterns = [PathPattern(text) for text in parser.PATTERNS if "**" in text and text.strip("*\\")]
        if patterns and not parser.ALL_TARGETS:
            requests.append(Request(name, patterns, deleted=False))
    return requests


def every_parser() -> TargetParsing:
    """Every parser, to say what a source holds (``sandtrace info``)."""
    from sandtrace.parsers import manager

    names = manager.select(None)
    return TargetParsing(manager.create(names), file_timeout=0)


def describe(source: Source, parsing: TargetParsing) -> dict[str, Any]:
    """How a folder or file source is read, for ``sandtrace info``: the Windows layout it
    is, or what the parsers recognise in it (files looked at, recognised per parser)."""
    if not source.by_signature:
        return {"by": "paths", "layout": source.layout}
    survey = Survey()
    collector = _survey_collector(parsing)
    for volume in source.volumes:
        for target in collector.collect(source, volume):
            take(target, parsing, survey)
    description = survey.as_dict()
    description.pop("notes")
    description["formats"] = {name: parsing.parsers[name].DATA_FORMAT for name in sorted(survey.recognised)}
    if source.kind == "directory":
        description["layout_below"] = sources.layout_below(source.path)
    return description
