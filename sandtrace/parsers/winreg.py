"""Windows NT Registry files (REGF), read with libregf, one plugin per artifact.

The parser opens a hive through its dfVFS file object, tells its type and
health (``winreg_hive``), and hands each plugin the keys it names in
``KEY_PATHS`` (full ``HKEY_...`` paths as plaso writes them, ``*`` and ``?``
allowed in a segment, ``CurrentControlSet`` resolved through
``Select\\Current``). A plugin is a small class: its key paths and one
``parse_key`` generator of ``EventData``.

What cannot be read becomes a warning record and the run goes on: a file
that is no hive gives one warning; an unreadable key, or a plugin failing on
one key, gives a warning for that key only. A dirty hive (sequence numbers
differ, or logs beside it hold newer entries) gives a warning that says so,
and the logs are replayed on a private copy before the keys are read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from dfvfs.lib import errors as dfvfs_errors

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData, warning
from sandtrace.parsers.interface import BaseParser, Signature
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import (
    BASE_BLOCK_SIZE, BaseBlock, Health, Hive, HiveError, TransactionLog,
    current_control_set, hive_type, open_regf, pending_logs, rebuild_base_block, replay_logs,
)

_LOG_SUFFIXES = (".log1", ".log2", ".log")
_MAX_LOG_SIZE = 256 * 1024 * 1024
_MAX_REBUILD_SIZE = 512 * 1024 * 1024  # a damaged hive is read whole into memory to be rebuilt



class WinRegistryParser(BaseParser):
    NAME = "winreg"
    DATA_FORMAT = "Windows NT Registry File (REGF)"
    PLUGIN_PACKAGE = "sandtrace.plugins.winreg"  # its DATA_TYPES are its plugins'
    PATTERNS = (
        "\\Windows\\System32\\config\\SYSTEM",
        "\\Windows\\System32\\config\\SOFTWARE",
        "\\Windows\\System32\\config\\SAM",
        "\\Windows\\System32\\config\\SECURITY",
        "\\Users\\*\\NTUSER.DAT",
        "\\Users\\*\\AppData\\Local\\Microsoft\\Windows\\UsrClass.dat",
        "\\Windows\\AppCompat\\Programs\\Amcache.hve",
    )
    SIGNATURES = (Signature(b"regf"),)

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        self._plugins = [plugin_class() for plugin_class in self.plugin_classes()]

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        file_object = target.open_file_object()
        file_object.seek(0)
        try:
            base_block = BaseBlock.read(file_object.read(BASE_BLOCK_SIZE))
        except HiveError as exception:
            yield from self._parse_rebuilt(file_object, target, "no regf signature", str(exception))
            return
        if not base_block.is_primary:
            if target.location.lower().endswith(_LOG_SUFFIXES):
                return  # a transaction log: read together with its hive
            problem = f"base block file type {base_block.file_type}, not a primary file"
            yield from self._parse_rebuilt(file_object, target, problem, f"not a registry hive ({problem}, and no "
                                           "hive bins with a root key behind it)")
            return
        health = Health(base_block.primary_sequence, base_block.secondary_sequence)
        fresh, stale = pending_logs(base_block, self._logs_beside(target))
        health.logs = [log.name for log in fresh]
        health.stale_logs = [log.name for log in stale]
        candidates: list = [file_object]
        if fresh:
            try:
                file_object.seek(0)
                recovered, pages = replay_logs(file_object.read(), fresh)
                candidates.insert(0, recovered)
                health.recovered_pages = pages
            except Exception as exception:  # noqa: BLE001 - a bad log must not cost the hive
                health.recovery_error = f"{type(exception).__name__}: {exception}"[:300]
        if health.dirty:
            yield self._warning(
                health.describe(), target,
                hive_dirty=True,
                primary_sequence_number=health.primary_sequence,
                secondary_sequence_number=health.secondary_sequence,
                transaction_logs=health.logs or None,
                recovered_pages=health.recovered_pages,
            )
        regf, problem = None, None
        for candidate in candidates:
            try:
                if not isinstance(candidate, bytes):
                    candidate.seek(0)
                regf = open_regf(candidate)
                if regf.get_root_key() is None:
                    raise HiveError("the hive has no root key")
                break
            except (OSError, HiveError) as exception:
                regf, problem = None, exception
        if regf is None:
            failure = f"cannot read hive: {_short(problem)}"
            yield from self._parse_rebuilt(file_object, target, failure, failure)
            return
        yield from self._run(regf, base_block, target)

    def _parse_rebuilt(self, file_object, target: FileTarget, problem: str, failure: str) -> Iterator[EventData]:
        """A hive whose base block is damaged: read from its hive bins, said either way
        (``failure`` is the warning when the bins cannot be read either)."""
        size = target.open_file_entry().size or 0
        repaired = None
        if size <= _MAX_REBUILD_SIZE:
            file_object.seek(0)
            try:
                repaired = rebuild_base_block(file_object.read())
            except (struct.error, ValueError):  # bins damaged too: said below
                repaired = None
        regf = None
        if repaired is not None:
            try:
                regf = open_regf(repaired)
                if regf.get_root_key() is None:
                    regf = None
            except OSError:
                regf = None
        if regf is None:
            yield self._warning(failure, target)
            return
        yield self._warning(f"damaged hive base block ({problem}): rebuilt in memory from the hive bins, keys "
                            "read from them (sequence numbers and transaction logs not used)", target,
                            base_block_rebuilt=True)
        yield from self._run(regf, BaseBlock.read(repaired), target)

    def _run(self, regf, base_block: BaseBlock, target: FileTarget) -> Iterator[EventData]:
        hive = Hive(regf, "UNKNOWN", target.location, in_sandbox=in_sandbox(target))
        hive.hive_type = hive_type(hive.root(), target.location, base_block)
        while hive.errors:
            yield self._warning(f"corrupt hive: {hive.errors.pop(0)}", target)
        if hive.hive_type == "SYSTEM":
            try:
                hive.control_set = current_control_set(regf)
            except OSError as exception:  # a damaged Select key: the plugins still run (found by fuzzing)
                hive.control_set = None
                yield self._warning(f"corrupt hive: cannot read the current control set: {_short(exception)}", target)
        for plugin in self._plugins:
            yield from self._run_plugin(plugin, hive, target)

    def _run_plugin(self, plugin: WinRegistryPlugin, hive: Hive, target: FileTarget) -> Iterator[EventData]:
        chain = f"{self.NAME}/{plugin.NAME}"
        for key_path in plugin.KEY_PATHS:
            if hive.relative(key_path) is None:
                continue
            try:
                keys = list(hive.find(key_path))
            except OSError as exception:
                yield self._warning(f"cannot walk to {key_path}: {_short(exception)}", target, chain, key_path=key_path)
                continue
            for key in keys:
                try:
                    for data in plugin.parse_key(key, hive):
                        data.parser = data.parser or plugin.NAME
                        yield data
                except Exception as exception:  # noqa: BLE001 - one key must not stop the hive
                    yield self._warning(
                        f"{type(exception).__name__}: {_short(exception)}", target, chain, key_path=key.path
                    )
            while hive.errors:
                yield self._warning(hive.errors.pop(0), target, chain, key_path=key_path)

    def _warning(self, message: str, target: FileTarget, parser: str = "", **values) -> EventData:
        return warning(message, parser=parser or self.NAME, provenance=target.provenance, **values)

    @staticmethod
    def _logs_beside(target: FileTarget) -> list[TransactionLog]:
        """``<hive>.LOG1``, ``.LOG2`` (and old ``.LOG``) in the hive's folder, any case."""
        if not target.is_allocated:
            return []
        try:
            entry = target.open_file_entry()
            parent = entry.GetParentFileEntry() if entry is not None else None
            if parent is None:
                return []
            wanted = {entry.name.lower() + suffix for suffix in _LOG_SUFFIXES}
            logs = []
            for sibling in parent.sub_file_entries:
                if (sibling.name or "").lower() not in wanted or sibling.size > _MAX_LOG_SIZE:
                    continue
                data = sibling.GetFileObject().read()
                try:
                    logs.append(TransactionLog(sibling.name, data, BaseBlock.read(data)))
                except HiveError:
                    continue  # an empty or wiped log holds nothing to replay
            return logs
        except (dfvfs_errors.Error, OSError):
            return []


def in_sandbox(target: FileTarget) -> bool:
    """Whether the hive lies inside a sandbox disk or base layer, not on the host.

    A sandbox's disks and its base layer live under the host's
    ``ProgramData\\Microsoft\\Windows\\Containers`` (docs/domain.md §2); a hive in a
    disk nested below that, or in the base layer's file tree, is a guest's.
    """
    places = [target.location, *target.provenance.nesting]
    return any("\\microsoft\\windows\\containers\\" in (place or "").lower() for place in places)


def _short(exception: BaseException | None) -> str:
    text = " ".join(str(exception).split())
    return text[:300]

