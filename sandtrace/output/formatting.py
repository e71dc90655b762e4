"""Message formatters: plaso's YAML definitions applied to sandtrace event data.

Messages are data, not code: each ``sandtrace/data/formatters/*.yaml`` entry
says how one ``data_type`` reads (plaso's formatter file syntax, so entries can
be copied from or compared with ``plaso/data/formatters``). This module only
interprets them, with plaso's rules: conditional pieces are dropped when their
attribute is unset, CR/LF are stripped, short messages are cut to 77 + "...",
and an unknown data type falls back to plaso's default formatter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandtrace import data
from sandtrace.core.plaso_view import is_date_time
from sandtrace.data import load_yaml_all

# Same pattern as plaso's EventFormatter: {name}, {name!r}, {name:fmt}.
_ATTRIBUTE_NAME_RE = re.compile(r"{([a-z][a-zA-Z0-9_]*)[!]?[^:}]*[:]?[^}]*}")

_SUPPORTED_KEYS = frozenset({
    "data_type", "boolean_helpers", "custom_helpers", "enumeration_helpers",
    "flags_helpers", "message", "separator", "short_message", "short_source",
    "source", "type",
})

Helper = Callable[[dict[str, Any]], None]

# Custom helpers are code a YAML entry refers to by identifier (as in plaso).
_CUSTOM_HELPERS: dict[str, Helper] = {}


def custom_helper(identifier: str) -> Callable[[Helper], Helper]:
    """Registers a custom helper under the identifier YAML files use."""

    def register(function: Helper) -> Helper:
        _CUSTOM_HELPERS[identifier] = function
        return function

    return register


def _format_file_reference(values: dict[str, Any], name: str) -> None:
    reference = values.get(name)
    if reference:  # plaso leaves 0 unformatted
        values[name] = f"{reference & 0xFFFFFFFFFFFF:d}-{reference >> 48:d}"


@custom_helper("ntfs_file_reference")
def _ntfs_file_reference(values: dict[str, Any]) -> None:
    _format_file_reference(values, "file_reference")


@custom_helper("ntfs_parent_file_reference")
def _ntfs_parent_file_reference(values: dict[str, Any]) -> None:
    _format_file_reference(values, "parent_file_reference")


@custom_helper("ntfs_path_hints")
def _ntfs_path_hints(values: dict[str, Any]) -> None:
    if values.get("path_hints"):
        values["path_hints"] = ";".join(values["path_hints"])


@custom_helper("windows_eventlog_message")
def _windows_eventlog_message(values: dict[str, Any]) -> None:
    """Nothing to do: the winevtx parser resolved ``message_string`` when it read the
    record, where it knew the log's system (sandtrace/eventlog_messages)."""


@custom_helper("windows_registry_values")
def _windows_registry_values(values: dict[str, Any]) -> None:
    """Registry values as plaso writes them: ``name: [REG_SZ] data, …`` sorted by name."""
    entries = values.get("values")
    if isinstance(entries, str):
        return
    if not entries:
        values["values"] = "(empty)"
        return
    parts = []
    for entry in sorted(entries, key=lambda e: _registry_value_tuple(e)):
        name, data_type, data = _registry_value_tuple(entry)
        if not data:
            data = "(empty)"
        elif isinstance(data, bytes):
            data = f"({len(data):d} bytes)"
        parts.append(f"{name or '(default)'}: [{data_type}] {data!s}")
    values["values"] = ", ".join(parts)


@custom_helper("windows_prefetch_path_hints")
def _prefetch_path_hints(values: dict[str, Any]) -> None:
    if values.get("path_hints"):
        values["path_hints"] = "; ".join(values["path_hints"])


@custom_helper("windows_prefetch_volumes_string")
def _prefetch_volumes_string(values: dict[str, Any]) -> None:
    serials = values.get("volume_serial_numbers") or []
    devices = values.get("volume_device_paths") or []
    parts = []
    for index in range(values.get("number_of_volumes") or 0):
        serial = f"0x{serials[index]:08X}" if index < len(serials) else "UNKNOWN"
        device = devices[index] if index < len(devices) else "UNKNOWN"
        parts.append(f"volume: {index + 1:d} [serial number: {serial}, device path: {device}]")
    if parts:
        values["volumes_string"] = ", ".join(parts)


@custom_helper("windows_shortcut_linked_path")
def _shortcut_linked_path(values: dict[str, Any]) -> None:
    linked = values.get("local_path") or values.get("network_path")
    if not linked and values.get("relative_path"):
        linked = values["relative_path"]
        if values.get("working_directory"):
            linked = "\\".join([values["working_directory"], linked])
    values["linked_path"] = linked or "Unknown"


def _registry_value_tuple(entry: Any) -> tuple:
    if isinstance(entry, Mapping):
        return (entry.get("name") or "", entry.get("data_type") or "", entry.get("data"))
    name, data_type, data = entry
    return (name or "", data_type or "", data)


def _boolean_helper(spec: Mapping[str, Any]) -> Helper:
    source, target = spec["input_attribute"], spec["output_attribute"]
    if_true, if_false = spec.get("value_if_true"), spec.get("value_if_false")

    def helper(values: dict[str, Any]) -> None:
        values[target] = if_true if values.get(source) else if_false

    return helper


def _enumeration_helper(spec: Mapping[str, Any]) -> Helper:
    source, target = spec["input_attribute"], spec["output_attribute"]
    mapping, default = spec["values"], spec.get("default_value")

    def helper(values: dict[str, Any]) -> None:
        value = values.get(source)
        if value is not None:
            values[target] = mapping.get(value, value if default is None else default)

    return helper


def _flags_helper(spec: Mapping[str, Any]) -> Helper:
    source, target, mapping = spec["input_attribute"], spec["output_attribute"], spec["values"]

    def helper(values: dict[str, Any]) -> None:
        value = values.get(source)
        if value is not None:
            values[target] = ", ".join(text for flag, text in mapping.items() if flag & value)

    return helper


def _strip_newlines(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")


def _shorten(text: str) -> str:
    return f"{text[:77]}..." if len(text) > 80 else text


def _safe_format(format_string: str, values: dict[str, Any]) -> str:
    try:
        text = format_string.format(**values)
    except (KeyError, ValueError, TypeError, IndexError):
        # plaso's fallback for a format error: every attribute, "name: value".
        text = " ".join(f"{name}: {value!s}" for name, value in values.items())
    return _strip_newlines(text)


@dataclass
class MessageFormatter:
    """One YAML entry: how event data of ``data_type`` reads."""

    data_type: str
    pieces: list[str]
    short_pieces: list[str]
    conditional: bool = True
    separator: str = " "
    source_short: str | None = None
    source_long: str | None = None
    helpers: list[Helper] = field(default_factory=list)

    def attribute_names(self) -> set[str]:
        """Attributes the (long) message shows; l2tcsv's ``extra`` omits them."""
        return {name for piece in self.pieces for name in _ATTRIBUTE_NAME_RE.findall(piece)}

    def _prepare(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(attributes)
        for helper in self.helpers:
            helper(values)
        return values

    def _render(self, pieces: list[str], values: dict[str, Any]) -> str:
        if not self.conditional:
            return _safe_format(pieces[0], values)
        kept = []
        for piece in pieces:
            name = _first_name(piece)
            if name is None or values.get(name) is not None:
                kept.append(piece)
        return _safe_format(self.separator.join(kept), values)

    def message(self, attributes: Mapping[str, Any]) -> str:
        return self._render(self.pieces, self._prepare(attributes))

    def message_short(self, attributes: Mapping[str, Any]) -> str:
        pieces = self.short_pieces if self.short_pieces not in ([], [""]) else self.pieces
        return _shorten(self._render(pieces, self._prepare(attributes)))


@functools.lru_cache(maxsize=4096)
def _first_name(piece: str) -> str | None:
    """The attribute a conditional piece depends on (its first ``{name}``), or None."""
    names = _ATTRIBUTE_NAME_RE.findall(piece)
    return names[0] if names else None


class DefaultFormatter(MessageFormatter):
    """plaso's DefaultEventFormatter: used for data types without a YAML entry."""

    _RESERVED = frozenset({
        "_event_values_hash", "_parser_chain", "data_type", "date_time",
        "path_spec", "timestamp", "timestamp_desc",
    })

    def __init__(self) -> None:
        super().__init__(
            data_type="event",
            pieces=["<WARNING DEFAULT FORMATTER> Attributes: {attribute_values}"],
            short_pieces=["<DEFAULT> {attribute_values}"],
            conditional=False,
        )

    def _prepare(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        pieces = [
            f"{name}: {value!s}"
            for name, value in attributes.items()
            if name not in self._RESERVED and value is not None and not is_date_time(value)
        ]
        return {"attribute_values": " ".join(pieces)}


def read_definition(definition: Mapping[str, Any]) -> MessageFormatter:
    """Builds a formatter from one YAML document, with plaso's validation."""
    unknown = set(definition) - _SUPPORTED_KEYS
    if unknown:
        raise ValueError(f"Undefined keys: {', '.join(sorted(unknown))}")
    for key in ("type", "data_type", "message", "short_message", "short_source", "source"):
        if not definition.get(key):
            raise ValueError(f"formatter {definition.get('data_type')!r} is missing {key}")
    kind = definition["type"]
    if kind not in ("basic", "conditional"):
        raise ValueError(f"unsupported formatter type: {kind!r}")
    message, short = definition["message"], definition["short_message"]
    if kind == "basic":
        message, short = [message], [short]
    else:  # plaso's ConditionalEventFormatter refuses the file otherwise (psort would not load it)
        for piece in (*message, *short):
            if len(set(_ATTRIBUTE_NAME_RE.findall(piece))) > 1:
                raise ValueError(f"formatter {definition['data_type']!r}: piece {piece!r} "
                                 "names more than 1 attribute (plaso allows one per piece)")
    helpers = [_boolean_helper(spec) for spec in definition.get("boolean_helpers", [])]
    helpers += [_enumeration_helper(spec) for spec in definition.get("enumeration_helpers", [])]
    helpers += [_flags_helper(spec) for spec in definition.get("flags_helpers", [])]
    # plaso attaches custom helpers after the others; unknown identifiers are ignored.
    helpers += [
        _CUSTOM_HELPERS[spec["identifier"]]
        for spec in definition.get("custom_helpers", [])
        if spec.get("identifier") in _CUSTOM_HELPERS
    ]
    return MessageFormatter(
        data_type=definition["data_type"].lower(),
        pieces=list(message),
        short_pieces=list(short),
        conditional=kind == "conditional",
        separator=definition.get("separator") or " ",
        source_short=definition["short_source"],
        source_long=definition["source"],
        helpers=helpers,
    )


class Formatters:
    """Formatters per data type, with plaso's default for the rest."""

    def __init__(self, formatters: Iterable[MessageFormatter] = ()) -> None:
        self._by_type: dict[str, MessageFormatter] = {}
        self.default = DefaultFormatter()
        for formatter in formatters:
            self.add(formatter)

    def add(self, formatter: MessageFormatter, override: bool = False) -> None:
        if formatter.data_type in self._by_type and not override:
            raise KeyError(f"formatter for {formatter.data_type} already defined")
        self._by_type[formatter.data_type] = formatter

    def load_yaml(self, text: str, override: bool = False) -> None:
        for definition in load_yaml_all(text):
            if definition:
                self.add(read_definition(definition), override=override)

    def get(self, data_type: str) -> MessageFormatter:
        return self._by_type.get(data_type.lower(), self.default)

    def data_types(self) -> list[str]:
        return sorted(self._by_type)

    def source(self, data_type: str) -> tuple[str, str]:
        """(source_short, source_long); plaso writes "N/A" when unknown."""
        formatter = self._by_type.get(data_type.lower())
        if formatter is None:
            return "N/A", "N/A"
        return formatter.source_short or "N/A", formatter.source_long or "N/A"


def definitions_text() -> str:
    """Every shipped definition as one YAML stream: psort's ``--custom_formatter_definitions``
    takes one file, and sandtrace's definitions are a folder (a plugin adds its own file)."""
    return "\n---\n".join(f"# {path}\n{text.strip()}" for path, text in data.folder("formatters")) + "\n"


@functools.lru_cache(maxsize=1)
def default_formatters() -> Formatters:
    """The formatters shipped in ``sandtrace/data/formatters`` (loaded once)."""
    formatters = Formatters()
    for _, text in data.folder("formatters"):
        formatters.load_yaml(text)
    return formatters
