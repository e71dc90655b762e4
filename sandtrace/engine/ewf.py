"""EWF (E01) checks and metadata, read with pyewf before dfVFS scans the image.

libewf reports a missing or truncated segment only when a read reaches it, and
then as a chain of internal errors; checking up front turns that into one line
("missing segment case.E02") and gives the stored hashes for provenance.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any

import pyewf

from sandtrace.core.errors import SourceError

_HEADER_NAMES = (
    "case_number",
    "description",
    "examiner_name",
    "evidence_number",
    "notes",
    "acquiry_date",
    "system_date",
    "acquiry_operating_system",
    "acquiry_software",
    "acquiry_software_version",
    "model",
    "serial_number",
)


def next_segment_name(name: str) -> str:
    """The segment that follows ``name``: .E01 … .E99, then .EAA … .EZZ, .FAA …"""
    stem, ext = os.path.splitext(name)
    letter, rest = ext[1], ext[2:]
    if rest.isdigit():
        number = int(rest) + 1
        if number <= 99:
            return f"{stem}.{letter}{number:02d}"
        return f"{stem}.{letter}AA" if letter.isupper() else f"{stem}.{letter}aa"
    base = ord("A") if rest.isupper() else ord("a")
    value = (ord(rest[0]) - base) * 26 + (ord(rest[1]) - base) + 1
    if value >= 26 * 26:
        letter, value = chr(ord(letter) + 1), 0
    return f"{stem}.{letter}{chr(base + value // 26)}{chr(base + value % 26)}"


_EVF_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"
_SECTION = struct.Struct("<16sQQ")  # type, next section's offset, size (of a 76-byte descriptor)
_SECTION_SIZE = 76


def truncation(segment: str) -> str | None:
    """Why ``segment`` is cut short, from its own section chain (EWF 1); None if it is whole.

    Each section descriptor gives the offset of the next one; the chain ends at a
    ``next`` (more segments follow) or ``done`` section pointing at itself. A chain
    that points past the end of the file is a file cut short, not a missing segment.
    """
    try:
        size = os.path.getsize(segment)
        with open(segment, "rb") as handle:
            if handle.read(8) != _EVF_SIGNATURE:
                return None
            offset = 13
            while True:
                if offset + _SECTION_SIZE > size:
                    return (f"truncated segment {os.path.basename(segment)}: {size:,} bytes, but its section "
                            f"chain goes on at offset {offset:,} (at least {offset + _SECTION_SIZE:,} bytes "
                            "expected); cut short while copying?")
                handle.seek(offset)
                kind, following, _ = _SECTION.unpack(handle.read(_SECTION.size))
                if following == offset or kind.rstrip(b"\0") in (b"next", b"done"):
                    return None
                if following < offset:
                    return None  # not a chain we can follow: leave it to libewf
                offset = following
    except OSError:
        return None


def _truncated_segment(segments: list[str]) -> str | None:
    for segment in segments:
        problem = truncation(segment)
        if problem:
            return problem
    return None


def check(path: str) -> dict[str, Any]:
    """Opens the segment set of ``path``; raises SourceError naming what is wrong."""
    try:
        segments = pyewf.glob(path)
    except (OSError, RuntimeError) as exception:
        raise SourceError(f"cannot find the EWF segments of {path}: {exception}") from None
    handle = pyewf.handle()
    try:
        handle.open(segments, "r")
    except (OSError, RuntimeError) as exception:
        problem = _truncated_segment(segments)
        if problem:
            raise SourceError(problem) from None
        raise SourceError(f"corrupt or truncated E01: {path} ({_reason(exception)})") from None
    try:
        info = _metadata(handle, segments)
        _check_readable(handle, segments)
    finally:
        handle.close()
    return info


def _check_readable(handle: pyewf.handle, segments: list[str]) -> None:
    """Reads the first and last chunk: a missing or cut-off segment fails here."""
    media_size = handle.get_media_size()
    chunk = max(handle.get_chunk_size() or 32768, 512)
    for offset in (0, max(media_size - chunk, 0)):
        try:
            handle.read_buffer_at_offset(min(chunk, media_size - offset), offset)
        except (OSError, RuntimeError) as exception:
            reason = str(exception)
            problem = _truncated_segment(segments)
            if problem:
                raise SourceError(problem) from None
            if "missing segment file" in reason:
                missing = next_segment_name(segments[-1])
                raise SourceError(f"missing segment {os.path.basename(missing)} (have {len(segments)} segment(s) of {os.path.basename(segments[0])})") from None
            raise SourceError(
                f"corrupt or truncated E01: {os.path.basename(segments[-1])} cannot be read at offset {offset} ({_reason(exception)})"
            ) from None


def _metadata(handle: pyewf.handle, segments: list[str]) -> dict[str, Any]:
    headers = {}
    try:
        values = handle.get_header_values() or {}
    except (OSError, RuntimeError):
        values = {}
    for name in _HEADER_NAMES:
        if values.get(name):
            headers[name] = values[name]
    try:
        hashes = {k.lower(): v for k, v in (handle.get_hash_values() or {}).items()}
    except (OSError, RuntimeError):
        hashes = {}
    return {
        "segments": list(segments),
        "media_size": handle.get_media_size(),
        "bytes_per_sector": handle.get_bytes_per_sector(),
        "headers": headers,
        "stored_hashes": hashes,
    }


def _reason(exception: BaseException) -> str:
    text = str(exception)
    parts = [part.strip() for part in re.split(r"\.\s", text) if part.strip()]
    return (parts[-1] if parts else text)[:200]
