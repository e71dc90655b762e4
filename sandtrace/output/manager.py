"""The output formats by name: what the CLI's ``--format`` chooses from."""

from __future__ import annotations

from sandtrace.output.base import OutputOptions, Writer
from sandtrace.output.dynamic import DynamicWriter
from sandtrace.output.json_line import JSONLineWriter
from sandtrace.output.l2tcsv import L2TCSVWriter
from sandtrace.output.plaso_store import PlasoStoreWriter
from sandtrace.output.timesketch import TimesketchWriter

_WRITERS: dict[str, type[Writer]] = {
    writer.name: writer
    for writer in (DynamicWriter, JSONLineWriter, L2TCSVWriter, PlasoStoreWriter, TimesketchWriter)
}


def names() -> list[str]:
    return sorted(_WRITERS)


def describe() -> dict[str, str]:
    return {name: _WRITERS[name].description for name in names()}


def create_writer(name: str, path: str, options: OutputOptions | None = None) -> Writer:
    """Opens a writer for ``path``; raises ValueError for an unknown format."""
    try:
        writer_class = _WRITERS[name]
    except KeyError:
        raise ValueError(f"unknown output format {name!r}; choose from {', '.join(names())}")
    return writer_class(path, options or OutputOptions())
