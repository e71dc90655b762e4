"""Field values as psort computes them, shared by every output module.

Each function mirrors one of plaso's field callbacks (``plaso/output/
formatting_helper.py``, ``mediator.py``), including its quirks, because the
point of these outputs is that a reviewer can diff them against psort's.
Quirks kept on purpose are listed in docs/output-formats.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import zoneinfo
from typing import Any

from dfdatetime import posix_time
from dfdatetime import serializer as dfdatetime_serializer

from sandtrace.core.display import relative_path
from sandtrace.core.events import Event, EventData
from sandtrace.core.plaso_view import is_date_time  # noqa: F401 - the outputs' name for it

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
PLACEHOLDER_DATETIME = "0000-00-00T00:00:00.000000+00:00"

_LABEL_INVALID = re.compile(r"[^A-Za-z0-9_]")

# Timestamp descriptions plaso maps to MACB letters (plaso/output/mediator.py).
MACB_DESCRIPTIONS = frozenset({
    "Last Access Time", "Creation Time", "Metadata Modification Time",
    "Content Modification Time",
})
_ACCESS_LIKE = frozenset({
    "Last Access Time", "Account Created", "Last Visited Time", "Start Time",
    "Last Shutdown Time", "Last Login Time", "Last Password Reset Time",
    "Last Connection Time", "Last Time Executed", "Last Printed Time",
})
_MODIFICATION_LIKE = frozenset({"Content Modification Time", "Content Deletion Time"})
_CREATION_LIKE = frozenset({
    "Creation Time", "Added Time", "File Downloaded Time", "First Connection Time",
})


# --- path specs -------------------------------------------------------------

def path_spec_inode(path_spec: Any) -> int | None:
    """The inode plaso's ``--output_fallback_path`` takes from a path spec."""
    if path_spec is None:
        return None
    kind = path_spec.type_indicator
    if kind in ("APFS", "HFS"):
        return getattr(path_spec, "identifier", None)
    if kind == "NTFS":
        return getattr(path_spec, "mft_entry", None)
    if kind in ("EXT", "TSK"):
        return getattr(path_spec, "inode", None)
    return None


def inode(data: EventData, attributes: dict[str, Any], fallback_path: bool) -> str:
    value = attributes.get("inode")
    if value is None and fallback_path:
        value = path_spec_inode(data.provenance.path_spec)
        if value is None:
            value = data.provenance.inode
    if value is None:
        return "-"
    return f"{value:d}" if isinstance(value, int) else str(value)


def filename(data: EventData, attributes: dict[str, Any], fallback_path: bool) -> str | None:
    value = attributes.get("filename")
    if not value and fallback_path:
        value = relative_path(data.provenance.path_spec) or "-"
    return value


def hostname(attributes: dict[str, Any], fallback: str | None) -> str:
    return attributes.get("hostname") or fallback or "-"


def username(attributes: dict[str, Any]) -> str:
    value = attributes.get("username")
    return value if value and value != "-" else "-"


def labels(event: Event) -> list[str]:
    """Event tag labels, sanitised like plaso's EventTag.CopyTextToLabel."""
    result: list[str] = []
    for label in [*event.data.tags, *event.tags]:
        label = _LABEL_INVALID.sub("_", label)
        if label and label not in result:
            result.append(label)
    return result


def parser_chain(data: EventData) -> str:
    return data.parser or "-"


# --- MACB -------------------------------------------------------------------

def macb_from_descriptions(descriptions: list[str]) -> str:
    """plaso GetMACBRepresentationFromDescriptions (l2tcsv MACB groups)."""
    return "".join(
        letter if any(d in descriptions for d in names) else "."
        for letter, names in (
            ("M", ("mtime", "Content Modification Time")),
            ("A", ("atime", "Last Access Time")),
            ("C", ("ctime", "Metadata Modification Time")),
            ("B", ("crtime", "Creation Time")),
        )
    )


def macb(event: Event) -> str:
    """plaso GetMACBRepresentation for a single event."""
    description = event.timestamp_desc
    if event.data.data_type == "fs:stat":
        return macb_from_descriptions(description.split(";"))
    if description in _ACCESS_LIKE:
        return ".A.."
    if description in _MODIFICATION_LIKE:
        return "M..."
    if description in _CREATION_LIKE:
        return "...B"
    if description == "Metadata Modification Time":
        return "..C."
    return "...."


# --- time -------------------------------------------------------------------

def time_zone(name: str) -> dt.tzinfo:
    """A time zone by IANA name; "UTC" is the exact UTC plaso tests for.

    pytz when installed (it comes with plaso): psort uses it, and its
    offsets before standard time (local mean time) are whole minutes where
    zoneinfo keeps seconds, e.g. Berlin in 1601 is +00:53 not +00:53:28.
    """
    if name.upper() == "UTC":
        return _UTC
    try:
        import pytz
    except ImportError:
        pytz = None
    if pytz is not None:
        try:
            return pytz.timezone(name)
        except pytz.UnknownTimeZoneError as error:
            raise ValueError(f"Unsupported time zone: {name}") from error
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"Unsupported time zone: {name}") from error


def _utc_date_time(event: Event) -> tuple[int, ...] | None:
    date_time = event.date_time
    if date_time is None or date_time.is_local_time:
        date_time = posix_time.PosixTimeInMicroseconds(timestamp=event.timestamp)
    values = date_time.GetDateWithTimeOfDay()
    return None if None in values else values


def _local(event: Event, zone: dt.tzinfo) -> tuple[int, ...] | None:
    """(year, month, day, hours, minutes, seconds) in ``zone``; None on error."""
    if not event.timestamp:  # plaso's place-holder rule: 0 means "no time"
        return None
    values = _utc_date_time(event)
    if values is None or zone is _UTC:
        return values
    try:
        local = dt.datetime(*values, tzinfo=_UTC).astimezone(zone)
    except (OverflowError, ValueError):
        return None
    return local.year, local.month, local.day, local.hour, local.minute, local.second


def l2t_date(event: Event, zone: dt.tzinfo) -> str:
    """MM/DD/YYYY, "00/00/0000" for timestamp 0 (plaso's place-holder value)."""
    values = _local(event, zone)
    return f"{values[1]:02d}/{values[2]:02d}/{values[0]:04d}" if values else "00/00/0000"


def date(event: Event, zone: dt.tzinfo) -> str:
    """YYYY-MM-DD, "0000-00-00" for timestamp 0 (dynamic ``date`` field)."""
    values = _local(event, zone)
    return f"{values[0]:04d}-{values[1]:02d}-{values[2]:02d}" if values else "0000-00-00"


def time_of_day(event: Event, zone: dt.tzinfo) -> str:
    values = _local(event, zone)
    return f"{values[3]:02d}:{values[4]:02d}:{values[5]:02d}" if values else "--:--:--"


def zone_name(event: Event, zone: dt.tzinfo) -> str:
    """plaso _FormatTimeZone: the zone's name at the UTC wall-clock time."""
    if not event.timestamp:
        return "-"
    if zone is _UTC:
        return "UTC"
    values = _utc_date_time(event)
    try:
        return zone.tzname(dt.datetime(*values)) or "-"
    except (TypeError, ValueError, OverflowError):
        return "-"


def plaso_datetime(event: Event, zone: dt.tzinfo) -> str:
    """psort's ``datetime`` field, bit for bit.

    plaso scales the date-time's fraction of second up or down to 6 digits
    and rounds up, so a FILETIME .0000005 s reads .500000; kept for parity
    (docs/output-formats.md). Use :func:`iso_datetime` for a faithful value.
    """
    date_time = event.date_time
    if date_time is None or date_time.is_local_time:
        timestamp = event.timestamp
    else:
        seconds, fraction = date_time.CopyToPosixTimestampWithFractionOfSecond()
        timestamp = (seconds or 0) * 1_000_000
        if fraction:
            while fraction < 1_000_000:
                fraction *= 10
            while fraction >= 1_000_000:
                fraction /= 10
            timestamp += -math.ceil(fraction) if timestamp < 0 else math.ceil(fraction)
    if not timestamp:
        return PLACEHOLDER_DATETIME
    try:
        local = (_EPOCH + dt.timedelta(microseconds=timestamp)).astimezone(zone)
    except (OverflowError, ValueError):
        return PLACEHOLDER_DATETIME
    text = local.isoformat()
    return f"{text[:19]}.{local.microsecond:06d}{text[-6:]}"


def iso_datetime(timestamp: int) -> str:
    """ISO 8601 in UTC with microseconds, exactly ``timestamp`` µs after 1970."""
    value = _EPOCH + dt.timedelta(microseconds=timestamp)
    return value.isoformat(timespec="microseconds")


# --- JSON values --------------------------------------------------------------

def bytes_dict(value: bytes) -> dict[str, str]:
    """plaso's JSON form of bytes in outputs: base64url."""
    return {"__encoding__": "base64url", "__type__": "bytes",
            "stream": base64.urlsafe_b64encode(value).decode("ascii")}


def date_time_dict(date_time: Any) -> dict[str, Any]:
    return dfdatetime_serializer.Serializer.ConvertDateTimeValuesToDict(date_time)


def registry_values(attributes: dict[str, Any]) -> Any:
    """``values`` of registry key event data, as json_line writes it."""
    values = attributes.get("values")
    if isinstance(values, list) and attributes.get("data_type") in _REGISTRY_VALUE_TYPES:
        return [
            {"data": bytes_dict(data) if isinstance(data, bytes) else data,
             "data_type": data_type, "name": name}
            for name, data_type, data in sorted(values)
        ]
    return values


def registry_values_text(attributes: dict[str, Any]) -> Any:
    """``values`` of registry key event data, as the dynamic field writes it."""
    values = attributes.get("values")
    if isinstance(values, list) and attributes.get("data_type") in _REGISTRY_VALUE_TYPES:
        return " ".join(
            f"{name or '(default)'}: [{data_type}] {data or '(empty)'}"
            for name, data_type, data in sorted(values))
    return values


_REGISTRY_VALUE_TYPES = frozenset({"windows:registry:key_value", "windows:registry:service"})
