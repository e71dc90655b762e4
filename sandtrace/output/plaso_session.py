"""What a ``.plaso`` store says about the run that made it, as log2timeline writes it.

pinfo reads a session (tool, command line, parsers, start and completion
times), a source configuration per source, the system configuration
preprocessing found (hostname, operating system, time zone), event sources
and the counters of events per parser, data type and label. ``RunSession``
is what the command line knows of a run (plain data, no plaso import);
``preprocess`` runs plaso's own preprocessing plugins on the sources' file
systems, so the hostname and time zone are those log2timeline would find.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from sandtrace import __version__

log = logging.getLogger(__name__)

# dfVFS source types (dfvfs.lib.definitions.SOURCE_TYPE_*), as log2timeline records them.
SOURCE_TYPE_DIRECTORY = "directory"
SOURCE_TYPE_FILE = "file"
SOURCE_TYPE_IMAGE = "storage media image"

# Preprocessing containers left out of the store, and why:
# - user_account: psort then names the user of an event by its user_sid, but
#   only for the first event per SID (OutputMediator.GetUsername caches the SID
#   and returns "-" on later hits), so psort's rows would differ from sandtrace's
#   own, which do no SID lookup (docs/output-formats.md).
# - windows_eventlog_provider: with providers in a store psort resolves EVTX
#   messages from the store only, never from its bundled database; providers go
#   in together with their message files and strings, or not at all.
NOT_STORED = frozenset({"user_account", "windows_eventlog_provider"})


def now_microseconds() -> int:
    return int(time.time() * 1_000_000)


@dataclass
class StoreSource:
    """One source as log2timeline's source configuration names it, with its file systems."""

    path: str
    source_type: str  # SOURCE_TYPE_*
    file_systems: list[Any] = field(default_factory=list)  # dfVFS path specs of file system roots


@dataclass
class RunSession:
    """The run a store comes from: plaso's ``Session`` attributes that sandtrace knows."""

    command_line: str | None = None
    parser_filter_expression: str | None = None  # --parsers as given
    enabled_parser_names: list[str] = field(default_factory=list)
    sources: list[StoreSource] = field(default_factory=list)
    start_time: int = field(default_factory=now_microseconds)  # µs since 1970
    preferred_time_zone: str = "UTC"  # sandtrace reads every date as UTC (log2timeline's -z default)


def source_type(kind: str) -> str:
    """The dfVFS source type of a sandtrace source kind (engine/sources.py)."""
    if kind == "directory":
        return SOURCE_TYPE_DIRECTORY
    if kind == "file":
        return SOURCE_TYPE_FILE
    return SOURCE_TYPE_IMAGE


def enabled_parser_names(parsers: dict[str, Any]) -> list[str]:
    """plaso's ``enabled_parser_names``: ``parser/plugin`` for a parser with plugins, else the parser."""
    names: list[str] = []
    for name, parser in parsers.items():
        plugins = parser.plugin_classes() if parser.PLUGIN_PACKAGE else []
        names += [f"{name}/{plugin.NAME.lower()}" for plugin in plugins] or [name]
    return sorted(names)


def session_container(session: RunSession, completion_time: int | None = None) -> Any:
    from plaso.containers import sessions

    container = sessions.Session()
    container.command_line_arguments = session.command_line
    container.enabled_parser_names = list(session.enabled_parser_names) or None
    container.parser_filter_expression = session.parser_filter_expression
    container.preferred_encoding = "UTF-8"
    container.preferred_time_zone = session.preferred_time_zone
    container.product_name = "sandtrace"
    container.product_version = __version__
    container.start_time = session.start_time
    container.completion_time = completion_time
    return container


class _Filtered:
    """A storage writer that drops the container types in NOT_STORED (plaso's
    preprocess mediator only adds and updates)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def AddAttributeContainer(self, container: Any) -> None:  # noqa: N802 (plaso's API)
        if container.CONTAINER_TYPE not in NOT_STORED:
            self._storage.AddAttributeContainer(container)

    def UpdateAttributeContainer(self, container: Any) -> None:  # noqa: N802
        if container.CONTAINER_TYPE not in NOT_STORED:
            self._storage.UpdateAttributeContainer(container)


def _artifacts_path() -> str | None:
    import artifacts

    path = os.path.join(os.path.dirname(artifacts.__file__), "data")
    return path if os.path.isdir(path) else None


def preprocess(storage: Any, file_systems: list[Any]) -> list[Any]:
    """plaso's preprocessing of ``file_systems`` into ``storage``; the system configurations.

    Preprocessing only reads (the SYSTEM and SOFTWARE hives, the Windows
    folder); whatever fails costs the store its system configuration, never the run.
    """
    if not file_systems:
        return []
    try:
        from plaso.engine import engine

        path = _artifacts_path()
        if path is None:
            log.warning("plaso preprocessing skipped: no artifact definitions found")
            return []
        preprocessor = engine.BaseEngine()
        preprocessor.BuildArtifactsRegistry(path, None)
        return preprocessor.PreprocessSource(file_systems, _Filtered(storage))
    except Exception as exception:  # noqa: BLE001 - plaso's plugins raise many kinds; the store goes on without
        log.warning("plaso preprocessing failed: %s", exception)
        return []
