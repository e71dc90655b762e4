"""The ``<output>.meta.json`` sidecar: how a timeline was made, from what.

An examiner must be able to say in court which tool versions read which
evidence (by hash), what was seen, what was counted and what could not be
read. Every warning is listed here as well as in the timeline.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from sandtrace import __version__
from sandtrace.engine import display
from sandtrace.engine.events import WARNING_DATA_TYPE, EventData

_DEPENDENCIES = (
    "dfvfs", "dfdatetime", "pytsk3", "libfsntfs-python", "libewf-python", "libvhdi-python",
    "libqcow-python", "libvmdk-python", "libvshadow-python", "libvsgpt-python",
    "libregf-python", "evtx", "python-evtx", "construct", "defusedxml", "rich", "PyYAML",
    "plaso", "dask",
)
_HASH_BLOCK = 8 * 1024 * 1024


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    found = {"sandtrace": __version__, "python": platform.python_version()}
    for name in _DEPENDENCIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def hash_file(path: str) -> dict[str, str]:
    """MD5 and SHA-256 of one file, read once, in blocks (memory stays flat)."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            md5.update(block)
            sha256.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


@dataclass
class RunRecord:
    command_line: list[str]
    started: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    finished: str = ""

    @classmethod
    def start(cls, argv: list[str]) -> RunRecord:
        return cls(command_line=list(argv), started=_now())

    def add_source(self, source, hash_files: bool = True) -> None:
        files = []
        for name in source.files:
            entry: dict[str, Any] = {"path": name, "size": os.path.getsize(name)}
            if hash_files:
                entry.update(hash_file(name))
            files.append(entry)
        self.sources.append(
            {
                "path": source.path,
                "kind": source.kind,
                "files": files,
                "ewf": source.ewf,
                "volumes": [
                    {
                        "label": volume.label,
                        "file_system": volume.type_indicator,
                        "display_prefix": volume.display_prefix,
                        "vss_store": volume.vss_store,
                        "vss_creation_time": volume.vss_creation_time,
                    }
                    for volume in source.volumes
                ],
            }
        )

    def note(self, data: EventData) -> None:
        """Keeps every warning for the sidecar."""
        if data.data_type != WARNING_DATA_TYPE:
            return
        values = data.plain_values()
        self.warnings.append(
            {
                "source": data.provenance.source,
                "volume": data.provenance.volume,
                "path": values.get("path") or display.display_name_for_path_spec(data.provenance.path_spec),
                "parser": values.get("parser_name", ""),
                "error": values.get("error", ""),
            }
        )

    def finish(self, stats, timeliner, writer, output: str, output_format: str) -> None:
        self.finished = _now()
        self.summary = {
            "output": output,
            "format": output_format,
            "events_written": writer.events_written,
            "events_dropped": getattr(writer, "events_dropped", 0),
            "files_collected": stats.files,
            "event_data": stats.event_data,
            "warnings": stats.warnings,
            "event_data_per_parser": dict(sorted(stats.per_parser.items())),
            "event_data_per_data_type": dict(sorted(stats.per_data_type.items())),
            "files_per_volume": dict(sorted(stats.per_volume.items())),
            "events_per_data_type": dict(sorted(timeliner.counter.items())),
            "collector": dict(stats.collector),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "sandtrace": versions(),
            "command_line": self.command_line,
            "started": self.started,
            "finished": self.finished,
            "sources": self.sources,
            "summary": self.summary,
            "warnings": self.warnings,
        }

    def write(self, path: str) -> None:
        write_atomically(path, json.dumps(self.as_dict(), indent=2, sort_keys=True, default=str) + "\n")


def write_atomically(path: str, text: str) -> None:
    """Temporary file in the same folder, then rename: never a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".sandtrace-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
