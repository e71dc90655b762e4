"""The message files of the Windows system an event log belongs to.

A log at ``<root>\\<SystemRoot>\\System32\\winevt\\Logs`` belongs to the system
whose hives are at ``<SystemRoot>\\System32\\config`` on the same file system
(the host's; inside a sandbox disk, the guest's). Its SOFTWARE and SYSTEM
hives name the providers (``registry.py``); each provider's message files
are read from that file system when first needed: the file itself, its
``<folder>\\en-US\\<name>.mui`` and, for System32 files, the
``<SystemRoot>\\SystemResources\\<name>.mun`` that holds the resources of
Windows 10 1903 and later. Everything is read once per system and process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

from sandtrace.eventlog_messages import paths
from sandtrace.eventlog_messages.database import DEFAULT_PARAMETER_FILES
from sandtrace.eventlog_messages.message_files import MessageFile, read_message_file
from sandtrace.eventlog_messages.registry import Provider, Providers, publishers, sources
from sandtrace.parsers.winreg_hive import open_regf

_DFVFS_ERRORS = (OSError, ValueError, RuntimeError, dfvfs_errors.Error)


@dataclass
class Location:
    """Where a log's system is: its file system (path spec type and parent), the
    segments before the drive root and the SystemRoot folder's segments."""

    type_indicator: str
    parent: Any
    separator: str
    prefix: list[str]
    system_root: list[str]

    @property
    def key(self) -> tuple:
        parent = self.parent.comparable if self.parent is not None else ""
        return (self.type_indicator, parent, tuple(s.lower() for s in self.prefix + self.system_root))


def locate(path_spec: Any) -> Location | None:
    """The system of a log at ``...\\System32\\winevt\\Logs\\<name>`` (None elsewhere)."""
    location = getattr(path_spec, "location", None)
    if not location:
        return None
    separator = "\\" if "\\" in location else "/"  # NTFS's; TSK's and the OS's (POSIX)
    segments = location.split(separator)
    lower = [segment.lower() for segment in segments]
    if len(lower) < 5 or lower[-4:-1] != ["system32", "winevt", "logs"]:
        return None
    return Location(path_spec.type_indicator, path_spec.parent, separator, segments[:-5], segments[-5:-4])


@dataclass
class Problem:
    """A provider whose message files could not be read on this system."""

    provider: str
    reason: str


@dataclass
class EvidenceSystem:
    """One system's providers and message files, read when first asked for."""

    where: Location
    label: str
    lcid: int = 0x0409
    language: str = "en-US"
    _providers: dict[str, Provider] | None = None
    _variables: dict[str, str] = field(default_factory=dict)
    _files: dict[str, tuple[MessageFile | None, str]] = field(default_factory=dict)
    _listings: dict[tuple[str, ...], dict[str, str]] = field(default_factory=dict)

    # -- the file system ------------------------------------------------------------

    def _spec(self, segments: list[str]) -> Any:
        return path_spec_factory.Factory.NewPathSpec(
            self.where.type_indicator, location=self.where.separator.join(segments) or self.where.separator, parent=self.where.parent)

    def _children(self, segments: list[str]) -> dict[str, str]:
        """A folder's names, lower case -> as stored (for file systems that compare case)."""
        key = tuple(segments)
        found = self._listings.get(key)
        if found is None:
            found = {}
            try:
                entry = resolver.Resolver.OpenFileEntry(self._spec(segments))
                for child in entry.sub_file_entries if entry is not None else ():
                    found.setdefault(child.name.lower(), child.name)
            except _DFVFS_ERRORS:
                pass
            self._listings[key] = found
        return found

    def open(self, windows_path: str) -> Any:
        """A drive-relative Windows path's file object on this file system, or None."""
        wanted = [segment for segment in windows_path.split("\\") if segment]
        segments = list(self.where.prefix)
        direct = self._spec(segments + wanted)
        try:
            entry = resolver.Resolver.OpenFileEntry(direct)
        except _DFVFS_ERRORS:
            entry = None
        if entry is None:
            for segment in wanted:
                name = self._children(segments).get(segment.lower())
                if name is None:
                    return None
                segments.append(name)
            try:
                entry = resolver.Resolver.OpenFileEntry(self._spec(segments))
            except _DFVFS_ERRORS:
                return None
        if entry is None or not entry.IsFile():
            return None
        return entry.GetFileObject()

    # -- the registry -----------------------------------------------------------------

    def _hive(self, name: str) -> Any:
        file_object = self.open("\\".join(["", *self.where.system_root, "System32", "config", name]))
        if file_object is None:
            return None
        try:
            return open_regf(file_object)
        except OSError:
            return None

    def providers(self) -> dict[str, Provider]:
        """psort's provider table of this system (empty without hives)."""
        if self._providers is None:
            merged = Providers()
            software, system = self._hive("SOFTWARE"), self._hive("SYSTEM")
            system_root = "\\" + "\\".join(self.where.system_root)
            self._variables = {"SYSTEMROOT": system_root, "WINDIR": system_root, "SYSTEMDRIVE": "",
                               "PROGRAMFILES": "\\Program Files", "PROGRAMFILES(X86)": "\\Program Files (x86)",
                               "COMMONPROGRAMFILES": "\\Program Files\\Common Files", "PROGRAMDATA": "\\ProgramData"}
            try:
                for hive, read in ((software, publishers), (system, sources)):
                    for provider in read(hive) if hive is not None else ():
                        merged.add(provider)
            except OSError:
                pass  # a damaged hive: the providers read so far
            self._providers = merged.lookup_table()
        return self._providers

    # -- message files ------------------------------------------------------------------

    def _candidates(self, path: str) -> list[str]:
        folder, name = paths.folder_and_name(path, self._variables)
        found = [f"{folder}\\{name}", f"{folder}\\{self.language}\\{name}.mui"]
        if folder.lower().endswith("\\system32"):
            found.append(f"{folder[:-len('System32')]}SystemResources\\{name}.mun")
        return found

    def _message_file(self, path: str) -> tuple[MessageFile | None, str]:
        known = self._files.get(path.lower())
        if known is None:
            file_object = self.open(path)
            if file_object is None:
                known = (None, "not found")
            else:
                try:
                    known = (read_message_file(file_object, self.lcid), "")
                except (OSError, ValueError, MemoryError) as exception:
                    known = (None, f"unreadable ({exception})")
            self._files[path.lower()] = known
        return known

    def _read(self, files: list[str]) -> tuple[list[MessageFile], list[str]]:
        """The message files (each with its .mui and .mun) that could be read, and why the others could not."""
        found, missing = [], []
        for path in files:
            candidates, reasons = self._candidates(path), []
            for candidate in candidates:
                message_file, reason = self._message_file(candidate)
                if message_file is not None:
                    found.append(message_file)
                else:
                    reasons.append(reason)
            if len(reasons) == len(candidates):
                missing.append(f"{path}: {reasons[0]}")
        return found, missing

    def _provider(self, provider_identifier: str | None, source_name: str | None) -> Provider | None:
        table = self.providers()
        provider = table.get(provider_identifier.lower()) if provider_identifier else None
        if provider is None and source_name:
            provider = table.get(source_name.lower())
        return provider

    def message(self, provider_identifier: str | None, source_name: str | None, message_identifier: int,
                event_version: int | None) -> tuple[str | None, Problem | None]:
        """The message template, and what kept it from being read (a registered provider's files)."""
        provider = self._provider(provider_identifier, source_name)
        if provider is None:
            return None, None
        name = provider.log_sources[0] if provider.log_sources else provider.identifier or "?"
        if not provider.event_message_files:
            return None, Problem(name, "no event message file registered")
        files, missing = self._read(provider.event_message_files)
        problem = Problem(name, "; ".join(missing)) if missing else None
        if provider_identifier:
            guid = provider_identifier.lower()
            for message_file in files:
                mapped = next((identifier for (owner, event, version), identifier in message_file.events.items()
                               if owner == guid and event == message_identifier
                               and (event_version is None or version == event_version)), None)
                if mapped is not None:
                    message_identifier = mapped
                    break
        for message_file in files:
            template = message_file.strings.get(message_identifier)
            if template:
                return template, problem
        return None, problem

    def parameter(self, provider_identifier: str | None, source_name: str | None, identifier: int) -> str | None:
        provider = self._provider(provider_identifier, source_name)
        if provider is None:
            return None
        files = provider.parameter_message_files or [*provider.event_message_files, *DEFAULT_PARAMETER_FILES]
        for message_file in self._read(files)[0]:
            if message_file.strings.get(identifier):
                return message_file.strings[identifier]
        return None
