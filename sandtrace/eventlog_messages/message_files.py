"""One message file (a PE DLL, EXE, SYS, or its .mui/.mun): its message strings and event map.

Read with libexe (sections), libwrc (the resource tree, MESSAGETABLE) and
libfwevt (WEVT_TEMPLATE, the manifest of a provider's events), as plaso's pe
parser reads them: the first MESSAGETABLE resource, the message tables of
the wanted language only (plaso: "TODO: add support for common language tag
fallback"), and from WEVT_TEMPLATE each event definition's message
identifier (an event identifier and version map to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyexe
import pyfwevt
import pywrc

from sandtrace.eventlog_messages.templates import to_format_string

_MESSAGE_TABLE = 11
_WEVT_TEMPLATE = "WEVT_TEMPLATE"
_MAXIMUM_RESOURCE = 64 * 1024 * 1024


@dataclass
class MessageFile:
    """What a message file gives: message identifier -> PEP 3101 string, and
    (provider GUID, event identifier, version) -> message identifier."""

    strings: dict[int, str] = field(default_factory=dict)
    events: dict[tuple[str, int, int], int] = field(default_factory=dict)


def _language_items(resource: Any, lcid: int) -> list[bytes]:
    """The data of the resource's first item in the wanted language (plaso reads the first item only)."""
    items = list(resource.items)
    if not items:
        return []
    return [sub.read_buffer(_MAXIMUM_RESOURCE) for sub in items[0].sub_items if sub.identifier == lcid]


def read_message_file(file_object: BinaryIO, lcid: int = 0x0409, codepage: str = "windows-1252") -> MessageFile:
    """The message file's strings and event map; OSError (libexe/libwrc's IOError) when it is not one."""
    result = MessageFile()
    executable = pyexe.file()
    executable.open_file_object(file_object)
    try:
        section = executable.get_section_by_name(".rsrc")
        if section is None:
            return result
        stream = pywrc.stream()
        stream.set_ascii_codepage(codepage)
        stream.set_virtual_address(section.virtual_address)
        stream.open_file_object(section)
        try:
            table = stream.get_resource_by_identifier(_MESSAGE_TABLE)
            for data in _language_items(table, lcid) if table is not None else []:
                messages = pywrc.message_table_resource()
                messages.copy_from_byte_stream(data, codepage=codepage)
                for index in range(messages.get_number_of_messages()):
                    identifier = messages.get_message_identifier(index)
                    text = to_format_string(messages.get_string(index))
                    if text is not None:
                        result.strings.setdefault(identifier, text)
            template = stream.get_resource_by_name(_WEVT_TEMPLATE)
            for data in _language_items(template, lcid) if template is not None else []:
                manifest = pyfwevt.manifest()
                manifest.copy_from_byte_stream(data)
                for provider in manifest.providers:
                    guid = "{" + provider.identifier.strip("{}").lower() + "}"
                    for event in provider.events:
                        result.events.setdefault((guid, event.identifier, event.version), event.message_identifier)
        finally:
            stream.close()
    finally:
        executable.close()
    return result
