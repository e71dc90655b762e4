"""The selected parsers on one file target: which of them it gets, each run under the timeout.

The one rule here: a parser failing on one file costs that file only. Its
exception becomes a ``sandtrace:warning`` record (path, parser, error) in the
event stream, and the run goes on with everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.core.events import EventData, warning
from sandtrace.engine.collection import FileTarget, PathPattern
from sandtrace.engine.sources import Source
from sandtrace.parsers.interface import BaseParser
from sandtrace.pipeline.file_timeout import time_limited
from sandtrace.pipeline.handout import SourceContext

_SIGNATURE_HEAD = 4096


class TargetParsing:
    """The run's parser instances, and how one file target goes through them."""

    def __init__(self, parsers: dict[str, BaseParser], file_timeout: float) -> None:
        self.parsers = parsers
        self.file_timeout = file_timeout  # seconds per parser and file (0: no limit)
        self.all_targets = [n for n, p in parsers.items() if p.ALL_TARGETS]
        self.by_signature = [n for n, p in parsers.items() if p.SIGNATURES]
        # What recognises a file wherever it lies: a signature, or a format's own file name
        # (not parsers that read only inside disks found in the evidence).
        anywhere = {n: p for n, p in parsers.items() if not (p.NESTED_ONLY or p.ACTIVITY_DISKS_ONLY)}
        self.by_name = {n: [PathPattern(name) for name in p.NAMES] for n, p in anywhere.items() if p.NAMES}
        self.recognising = sorted({n for n, p in anywhere.items() if p.SIGNATURES} | set(self.by_name))

    def names(self, target: FileTarget) -> set[str]:
        """The parsers for ``target``: those that take every file, those whose patterns
        the collector matched, those whose signature its first bytes carry."""
        names = set(self.all_targets)
        if not target.is_directory:
            names |= target.parsers & set(self.parsers)
            names |= self._signature_matches(target)
        else:
            names |= {n for n in target.parsers & set(self.parsers) if self.parsers[n].WANTS_DIRECTORIES}
        return names

    def recognise(self, target: FileTarget) -> set[str]:
        """The parsers that recognise a file by its first bytes (SIGNATURES) or by its
        format's file name (NAMES), whatever folder it lies in."""
        name = target.location.rsplit("\\", 1)[-1]
        named = {n for n, patterns in self.by_name.items() if any(p.last_segment_matches(name) for p in patterns)}
        signed = {n for n in self._signature_matches(target) if n in self.recognising}
        return named | signed

    def parse(self, target: FileTarget, source: Source | SourceContext | None, names: Iterable[str]) -> Iterator[EventData]:
        """The named parsers' event data, in the order named; a parser's failure as a warning."""
        for name in names:
            parser = self.parsers[name]
            try:
                for data in time_limited(parser.parse(target), self.file_timeout):
                    yield finish(data, name, target, source)
            except Exception as exception:  # noqa: BLE001 - one file must not stop the run
                yield finish(
                    warning(f"{type(exception).__name__}: {_one_line(exception)}", parser=name, provenance=target.provenance),
                    name,
                    target,
                    source,
                )

    def _signature_matches(self, target: FileTarget) -> set[str]:
        wanting = [n for n in self.by_signature if n not in target.parsers]
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


def finish(data: EventData, name: str, target: FileTarget, source: Source | SourceContext | None) -> EventData:
    """A parser's event data completed: the parser chain (``winreg/bam``), the file's
    provenance when the parser gave none, the source's container values and tags."""
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


def _one_line(exception: BaseException) -> str:
    text = " ".join(str(exception).split())
    return text[:400]
