"""The event model shared by parsers, the timeliner and the output modules.

Parsers produce only ``EventData`` (like plaso): a data type, plaso-named
attributes and dfdatetime values. The timeliner turns each mapped date-time
attribute into an ``Event``. Output modules consume ``Event`` objects in
time order; they never parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dfdatetime import interface as dfdatetime_interface

WARNING_DATA_TYPE = "sandtrace:warning"


@dataclass(slots=True)
class Provenance:
    """Where an event's file came from: enough to find it again in the evidence."""

    source: str = ""  # the evidence path as given on the command line
    volume: str = ""  # stable volume label, e.g. "p2" or "p2/vss1"
    path_spec: Any = None  # dfvfs PathSpec of the file (or None)
    display_name: str = ""  # plaso-style, e.g. "VSS2:NTFS:\\Windows\\..."
    inode: int | None = None  # MFT entry or inode number, when known
    nesting: tuple[str, ...] = ()  # display names of containing disk files


@dataclass(slots=True)
class EventData:
    """What a parser extracted from one record, with plaso's attribute names.

    ``values`` holds every attribute; those holding dfdatetime values are the
    candidates the timeliner turns into events. ``None`` values are omitted,
    as plaso omits unset attributes.
    """

    data_type: str
    values: dict[str, Any] = field(default_factory=dict)
    parser: str = ""  # parser chain, e.g. "winreg/windows_services"
    provenance: Provenance = field(default_factory=Provenance)
    tags: list[str] = field(default_factory=list)
    # The plaso view (core/plaso_view.py): made when first asked, once the parser is done with the data.
    view: Any = field(default=None, repr=False, compare=False)
    # What the sidecar counts about the record that is no attribute of it (name -> value), e.g.
    # where its message string came from: summed over processes (pipeline ExtractionStats.notes).
    notes: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def date_time_values(self) -> dict[str, dfdatetime_interface.DateTimeValues]:
        return {
            name: value
            for name, value in self.values.items()
            if isinstance(value, dfdatetime_interface.DateTimeValues)
        }

    def plain_values(self) -> dict[str, Any]:
        """Attributes without date-time values, as plaso's outputs show them."""
        return {
            name: value
            for name, value in self.values.items()
            if value is not None
            and not isinstance(value, dfdatetime_interface.DateTimeValues)
        }


@dataclass(slots=True)
class Event:
    """One point on the timeline: an event data at one of its times."""

    timestamp: int  # microseconds since 1970-01-01 UTC
    timestamp_desc: str
    date_time: dfdatetime_interface.DateTimeValues | None
    data: EventData
    tags: list[str] = field(default_factory=list)
    sequence: int = 0  # production order; a stable tie-breaker

    @property
    def display_name(self) -> str:
        return self.data.provenance.display_name


def warning(
    message: str,
    parser: str = "",
    provenance: Provenance | None = None,
    **values: Any,
) -> EventData:
    """A warning record: what could not be read, kept in the output like an event."""
    provenance = provenance or Provenance()
    attributes: dict[str, Any] = {"error": message}
    if provenance.display_name:
        attributes["path"] = provenance.display_name
    if parser:
        attributes["parser_name"] = parser
    attributes.update({k: v for k, v in values.items() if v is not None})
    return EventData(
        data_type=WARNING_DATA_TYPE,
        values=attributes,
        parser=parser or "sandtrace",
        provenance=provenance,
    )
