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
import struct
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from sandtrace import __version__
from sandtrace.core import display
from sandtrace.core.atomic import write_atomically
from sandtrace.core.events import WARNING_DATA_TYPE, EventData

_DEPENDENCIES = (
    "dfvfs", "dfdatetime", "pytsk3", "libfsntfs-python", "libewf-python", "libvhdi-python",
    "libqcow-python", "libvmdk-python", "libvshadow-python", "libvsgpt-python",
    "libregf-python", "libexe-python", "libwrc-python", "libfwevt-python", "libevtx-python", "evtx", "python-evtx", "construct", "defusedxml", "rich", "PyYAML",
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


def verify_ewf(segments: list[str], stored: dict[str, str] | None = None) -> dict[str, Any]:
    """``--verify``: the E01's stored MD5/SHA1 against hashes of the media, read with pyewf.

    A mismatch or an unreadable chunk is reported, never raised: the result is
    ``{"md5": {"stored", "computed", "match"}, "sha1": {...}, "verified": bool,
    "error": str (only when a read failed)}``. Names with no stored hash are
    computed and reported with ``stored: None`` and ``match: None``.
    """
    import pyewf

    md5, sha1 = hashlib.md5(), hashlib.sha1()
    result: dict[str, Any] = {}
    handle = pyewf.handle()
    offset = 0
    try:
        handle.open(list(segments), "r")
        if stored is None:
            stored = {k.lower(): v for k, v in (handle.get_hash_values() or {}).items()}
        remaining = handle.get_media_size()
        while remaining > 0:
            size = min(_HASH_BLOCK, remaining)
            block = handle.read_buffer_at_offset(size, offset)
            if not block:
                raise OSError(f"short read at offset {offset}")
            md5.update(block)
            sha1.update(block)
            offset += len(block)
            remaining -= len(block)
    except (OSError, RuntimeError, ValueError) as exception:
        result["error"] = f"media unreadable at offset {offset}: {' '.join(str(exception).split())[:300]}"
    finally:
        try:
            handle.close()
        except (OSError, RuntimeError):
            pass
    stored = stored or {}
    computed = {"md5": md5.hexdigest(), "sha1": sha1.hexdigest()} if "error" not in result else {}
    for name in ("md5", "sha1"):
        expected = (stored.get(name) or "").lower() or None
        value = computed.get(name)
        result[name] = {
            "stored": expected,
            "computed": value,
            "match": None if expected is None or value is None else expected == value,
        }
    matches = [result[name]["match"] for name in ("md5", "sha1") if result[name]["match"] is not None]
    result["verified"] = bool(matches) and all(matches) and "error" not in result
    return result


def verify_warning(path: str, result: dict[str, Any]) -> str | None:
    """One line for a failed verification (None when it verified)."""
    if result.get("verified"):
        return None
    if result.get("error"):
        return f"verify: {os.path.basename(path)}: {result['error']}"
    wrong = [name.upper() for name in ("md5", "sha1") if result[name]["match"] is False]
    if wrong:
        details = "; ".join(f"{name} stored {result[name.lower()]['stored']} computed {result[name.lower()]['computed']}"
                            for name in wrong)
        return f"verify: {os.path.basename(path)}: stored hash does not match the media ({details})"
    return f"verify: {os.path.basename(path)}: no stored MD5/SHA1 to compare with"


def notes_by_name(notes: dict[str, int]) -> dict[str, dict[str, int]]:
    """``ExtractionStats.notes`` ("name: value" -> event data) grouped by name: e.g.
    ``message_source`` (each source's image, system or database; ``unresolved``) and
    ``message_files_missing`` (a system's provider whose message files could not be read)."""
    grouped: dict[str, dict[str, int]] = {}
    for key, count in sorted(notes.items()):
        name, _, value = key.partition(": ")
        grouped.setdefault(name, {})[value] = count
    return grouped


def warning_entry(data: EventData) -> dict[str, Any] | None:
    """A warning record as the sidecar lists it (None for other event data)."""
    if data.data_type != WARNING_DATA_TYPE:
        return None
    values = data.plain_values()
    return {
        "source": data.provenance.source,
        "volume": data.provenance.volume,
        "path": values.get("path") or display.display_name_for_path_spec(data.provenance.path_spec),
        "parser": values.get("parser_name", ""),
        "error": values.get("error", ""),
    }


@dataclass
class RunRecord:
    command_line: list[str]
    started: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    finished: str = ""
    # (source, message) of damaged E01 chunks: the caller puts them in the timeline as warnings.
    chunk_warnings: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def start(cls, argv: list[str]) -> RunRecord:
        return cls(command_line=list(argv), started=_now())

    def add_source(self, source, hash_files: bool = True, verify: bool = False) -> str | None:
        """Records one source; with ``verify``, an E01's stored hashes are checked (returns the warning line, if any)."""
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
        if source.ewf and (hash_files or verify):
            self._check_chunks(source)
        if not verify:
            return None
        if not source.ewf:
            self.sources[-1]["verify"] = {"verified": None, "error": "not an EWF image: nothing stored to verify"}
            return None
        result = verify_ewf(source.ewf["segments"], source.ewf.get("stored_hashes"))
        self.sources[-1]["verify"] = result
        message = verify_warning(source.path, result)
        if message:
            self.warnings.append({"source": source.path, "volume": "", "path": source.path, "parser": "verify", "error": message})
        return message

    def _check_chunks(self, source) -> None:
        """Damaged E01 chunks, named by sector range and by the files in them (engine/ewf_chunks.py)."""
        from sandtrace.engine import ewf_chunks

        try:
            ranges, bytes_per_sector = ewf_chunks.bad_ranges(source.ewf["segments"])
        except (OSError, struct.error) as exception:
            self.chunk_warnings.append((source.path, f"E01 chunks not checked: {exception}"))
            return
        files = ewf_chunks.files_in(source, ranges, bytes_per_sector) if ranges else []
        self.sources[-1]["chunk_errors"] = [
            {"first_sector": r.first_sector, "sectors": r.sectors, "segment": r.segment, "files": names}
            for r, names in zip(ranges, files)]
        for bad, names in zip(ranges, files):
            message = bad.describe(bytes_per_sector) + (
                f"; files with data there: {', '.join(names)}" if names else "; no file's data found there")
            self.chunk_warnings.append((source.path, message))

    def add_folder_files(self, source_path: str, files: dict[str, str], hash_files: bool = True) -> None:
        """Lists the files read from a folder source, as an image's segments are listed.

        ``files`` maps each file's path on this machine to its path relative to
        the folder; the sidecar shows the relative path (a byte that is not
        UTF-8 as ``\\xNN``), its size and, unless ``--no-hash``, MD5 and SHA-256,
        read in blocks. A file gone or unreadable since is listed with its error.
        """
        record = next((entry for entry in self.sources if entry["path"] == source_path), None)
        if record is None:
            return
        listed = []
        for path, relative in sorted(files.items(), key=lambda item: item[1]):
            entry: dict[str, Any] = {"path": display.display_location(relative)}
            try:
                entry["size"] = os.path.getsize(path)
                if hash_files:
                    entry.update(hash_file(path))
            except OSError as exception:
                entry["error"] = exception.strerror or str(exception)
            listed.append(entry)
        record["files"] = listed

    def add_collection(self, source_path: str, collection: dict[str, Any]) -> None:
        """How a source read by signature was read: files looked at, recognised per parser, notes."""
        record = next((entry for entry in self.sources if entry["path"] == source_path), None)
        if record is not None:
            record["collection"] = collection

    def note(self, data: EventData) -> None:
        """Keeps every warning for the sidecar."""
        entry = warning_entry(data)
        if entry is not None:
            self.warnings.append(entry)

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
        notes = getattr(stats, "notes", None)
        if notes:
            self.summary["notes"] = notes_by_name(notes)
        unmapped = getattr(timeliner, "unmapped", None)
        if unmapped:  # a bug of sandtrace's: a parser's data type the timeliner does not know
            self.summary["data_types_without_timeliner_entry"] = dict(sorted(unmapped.items()))

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
