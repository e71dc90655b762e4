"""A winevt-rc database (plaso's ``winevt-rc.db``, or one given with ``--message-db``).

The database is an acstore SQLite store of message strings taken from many
Windows versions' message files (plaso.output.winevt_rc). psort falls back
on it when the storage file has no EventLog providers of its own; it looks a
provider up by GUID, then by source name, and takes the first string of the
message identifier in the provider's event message files (each file, then its
``<lang>\\<file>.mui``), in the LCID's message tables. Read here with sqlite3,
read-only, with the same rules; the strings are already in PEP 3101 form.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
from typing import Any

from sandtrace.eventlog_messages import paths
from sandtrace.eventlog_messages.templates import to_format_string

# plaso's defaults when a provider names no parameter message file
DEFAULT_PARAMETER_FILES = ("%SystemRoot%\\System32\\MsObjs.dll", "%SystemRoot%\\System32\\kernel32.dll")
_FORMAT_VERSION = 20240929
_PROVIDER_TABLE = "winevtrc_eventlog_provider"


def plaso_database() -> str | None:
    """plaso's bundled winevt-rc.db, found without importing plaso (None without the plaso extra)."""
    try:
        spec = importlib.util.find_spec("plaso")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "data", "winevt-rc.db")
        if os.path.isfile(path):
            return path
    return None


class MessageDatabase:
    """Message and parameter strings of a winevt-rc database."""

    def __init__(self, path: str, lcid: int = 0x0409, language: str = "en-US") -> None:
        self.path = path
        self._connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        metadata = dict(self._connection.execute("SELECT key, value FROM metadata"))
        if int(metadata.get("format_version") or 0) < _FORMAT_VERSION:
            raise ValueError(f"{path}: not a winevt-rc database of format {_FORMAT_VERSION} or later")
        self._wrc = metadata.get("string_format") == "wrc"
        self._lcid = lcid
        self._language = language
        self._providers: dict[str, dict[str, Any]] = {}
        for identifier, sources, event_files, parameter_files in self._connection.execute(
                f"SELECT identifier, log_sources, event_message_files, parameter_message_files "
                f"FROM {_PROVIDER_TABLE} ORDER BY _identifier"):
            provider = {"event": json.loads(event_files or "[]"), "parameter": json.loads(parameter_files or "[]")}
            if identifier:
                self._providers[identifier] = provider
            for source in json.loads(sources or "[]"):
                self._providers[source.lower()] = provider
        self._files: dict[str, int] = {}
        for identifier, windows_path in self._connection.execute(
                "SELECT _identifier, windows_path FROM winevtrc_message_file ORDER BY _identifier"):
            if windows_path:
                folder, name = paths.folder_and_name(windows_path, {})
                self._files[f"{folder}\\{name}".lower()] = identifier
        self._tables: dict[int, list[dict[int, str]]] = {}
        self._indexed = False

    def _index(self) -> None:
        """The store has no index: one copy of the strings, indexed, in the connection's own
        temporary database (the file stays read-only), so a file's strings are not a full scan."""
        if not self._indexed:
            self._connection.executescript(
                "CREATE TEMP TABLE strings AS SELECT _identifier AS i, _message_table_identifier AS t, "
                "message_identifier AS m, text FROM winevtrc_message_string; "
                "CREATE INDEX temp.strings_by_table ON strings (t, i);")
            self._indexed = True

    def _provider(self, provider_identifier: str | None, source_name: str | None) -> dict[str, Any] | None:
        provider = self._providers.get(provider_identifier.lower()) if provider_identifier else None
        if provider is None and source_name:
            provider = self._providers.get(source_name.lower())
        return provider

    def _strings(self, file_identifier: int) -> list[dict[int, str]]:
        """The file's message tables in the LCID, each as message identifier -> first text."""
        tables = self._tables.get(file_identifier)
        if tables is None:
            tables = []
            for (table,) in self._connection.execute(
                    "SELECT _identifier FROM winevtrc_message_table WHERE _message_file_identifier = ? "
                    "AND language_identifier = ? ORDER BY _identifier",
                    (f"winevtrc_message_file.{file_identifier}", self._lcid)):
                self._index()
                strings: dict[int, str] = {}
                for identifier, text in self._connection.execute(
                        "SELECT m, text FROM temp.strings WHERE t = ? ORDER BY i",
                        (f"winevtrc_message_table.{table}",)):
                    strings.setdefault(identifier, text)
                tables.append(strings)
            self._tables[file_identifier] = tables
        return tables

    def _lookup(self, files: list[str], message_identifier: int) -> str | None:
        for path in files:
            for key in paths.lookup_keys(path, {}, self._language):
                file_identifier = self._files.get(key)
                if file_identifier is None:
                    continue
                for strings in self._strings(file_identifier):
                    if message_identifier in strings:
                        text = strings[message_identifier]
                        return to_format_string(text) if self._wrc else (text or None)
        return None

    def message(self, provider_identifier: str | None, source_name: str | None,
                message_identifier: int, event_version: int | None = None) -> str | None:
        """The message template (PEP 3101 form), or None."""
        provider = self._provider(provider_identifier, source_name)
        return self._lookup(provider["event"], message_identifier) if provider else None

    def parameter(self, provider_identifier: str | None, source_name: str | None,
                  parameter_identifier: int) -> str | None:
        """Parameter string N (a ``%%N`` insertion string), or None."""
        provider = self._provider(provider_identifier, source_name)
        if not provider:
            return None
        files = provider["parameter"] or [*provider["event"], *DEFAULT_PARAMETER_FILES]
        return self._lookup(files, parameter_identifier)
