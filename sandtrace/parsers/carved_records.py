"""Event log records and registry keys carved from free space, decoded as live ones are.

- **EVTX chunks** go through the ``winevtx`` parser itself, as one synthetic
  log made of the chunks found on a volume: the same decoding, recovery of
  slack records, times and event catalogue as any log's records.
- **Hive bins** are put back together by hive copy (``carved_cells``): every
  key cell becomes plaso's ``windows:registry:key_value`` (``key_path``,
  ``values``, ``last_written_time``), and a copy that holds its root key is
  also read by the ``winreg`` parser's plugins (the sandbox keys).

Everything carved is tagged ``carved`` and carries ``volume_offset``. What a
live file of the same source holds is not given again (``Ledger``): a record
is the same when its header's id and written time and the CRC32 of its bytes
are (the bytes hold its channel and computer, so two logs' records with one
id and time still differ); a key when its path (or, when the path breaks,
its parent's and its own name) and its last written time are; a hive bin
byte for byte equal to a live hive's is skipped whole. Free space often
holds several stale copies of one chunk or bin: each record, key and plugin
record is given once per source.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dfdatetime import interface as dfdatetime_interface
from dfvfs.lib import errors as dfvfs_errors

from sandtrace.core.events import WARNING_DATA_TYPE, EventData, Provenance
from sandtrace.parsers import carved_cells
from sandtrace.parsers import winevtx_recovery as recovery
from sandtrace.parsers.interface import BaseParser
from sandtrace.parsers.winreg_hive import BASE_BLOCK_SIZE, MOUNT_POINTS, filetime

CARVED = "carved"
KEY_VALUE = "windows:registry:key_value"
DATA_TYPES = (KEY_VALUE,)
KEY_VALUE_PARSER = "carved_cells"
_LOG_SIGNATURE = b"ElfFile\x00"
_MAX_LIVE_HIVE = 512 * 1024 * 1024  # read whole to know its bins and keys
ProvenanceAt = Callable[[int], Provenance]  # volume offset of a chunk or bin -> its provenance


class Ledger:
    """What the live files of one source hold, and what its free space gave so far."""

    def __init__(self) -> None:
        self.records: set[tuple[int, int, int]] = set()  # (record id, written, CRC32 of its bytes)
        self.bins: set[bytes] = set()  # SHA-1 of every live hive bin
        self.keys: set[tuple] = set()  # key identities (``_identities``) with their last written time
        self.given: set[Any] = set()  # what free space gave already

    def add_file(self, file_object, size: int, logs: bool = True, hives: bool = True) -> None:
        """Notes a live event log or hive (when ``logs``, ``hives``) by its first bytes; anything else is ignored."""
        file_object.seek(0)
        head = file_object.read(recovery.FILE_HEADER_SIZE)
        if head[:8] == _LOG_SIGNATURE and logs:
            for _, chunk, _ in recovery.chunks_of(file_object):
                self.records.update(recovery.record_keys(chunk).values())
        elif head[:4] == b"regf" and hives and size <= _MAX_LIVE_HIVE:
            copy = carved_cells.HiveCopy(base=0)
            for start, data in hive_bins(file_object.read(max(size - BASE_BLOCK_SIZE, 0))):
                self.bins.add(hashlib.sha1(data).digest())
                copy.add(start, data)
            for key in copy.keys(with_values=False):
                self.keys.update(_identities(key.path, key.complete, key.last_written, every=True))

    def first_time(self, item: Any) -> bool:
        """Whether ``item`` is given for the first time (and note that it is)."""
        if item in self.given:
            return False
        self.given.add(item)
        return True


def hive_bins(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of the bins of a hive's bins data, up to the first that is not one."""
    at = 0
    while (header := carved_cells.read_bin_header(data[at:at + 32])) is not None and header[0] == at:
        yield at, data[at:at + header[1]]
        at += header[1]


# -- event log chunks ---------------------------------------------------------------------


class _CarvedLog:
    """Chunks found in free space as one log, read once from its start: a bare file
    header, then each chunk worth reading, with the record keys of each (for the ledger)."""

    def __init__(self, chunks: Iterable[tuple[int, bytes]]) -> None:
        self._chunks = iter(chunks)
        self._buffer = _LOG_SIGNATURE.ljust(recovery.FILE_HEADER_SIZE, b"\x00")
        self.offsets: list[int] = []  # volume offset of each chunk served
        self.keys: list[dict[int, tuple[int, int, int]]] = []

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            found = next(self._chunks, None)
            if found is None:
                break
            offset, chunk = found
            if not recovery.worth_reading(chunk):
                continue
            self.offsets.append(offset)
            self.keys.append(recovery.record_keys(chunk))
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class _Carved:
    """What a parser asks of a file target, for bytes that are no file."""

    def __init__(self, file_object, provenance: Provenance) -> None:
        self._file_object = file_object
        self.provenance = provenance
        self.location = ""
        self.is_allocated = False

    def open_file_object(self):
        return self._file_object


def event_log_records(parser: BaseParser, chunks: Iterable[tuple[int, bytes]], ledger: Ledger,
                      provenance_at: ProvenanceAt) -> Iterator[EventData]:
    """The records of the chunks (volume offset, bytes) that no live log holds, each once."""
    log = _CarvedLog(chunks)
    for data in parser.parse(_Carved(log, provenance_at(0))):
        if data.data_type == WARNING_DATA_TYPE:
            continue  # damage is what carved chunks have: not worth a warning each
        data.values.pop("offset", None)  # plaso's 0: no file here
        position = data.values.pop("file_offset", None)
        if position is None:
            continue
        index, within = divmod(position - recovery.FILE_HEADER_SIZE, recovery.CHUNK_SIZE)
        key = log.keys[index].get(within)
        if key is None or key in ledger.records or not ledger.first_time(("record", key)):
            continue
        data.values["volume_offset"] = log.offsets[index] + within
        data.provenance = provenance_at(log.offsets[index])
        data.tags.append(CARVED)
        yield data


# -- hive bins ----------------------------------------------------------------------------


def hive_records(parser: BaseParser | None, copy: carved_cells.HiveCopy, ledger: Ledger,
                 provenance_at: ProvenanceAt) -> Iterator[EventData]:
    """The keys of one hive copy that no live hive holds, each once, then what the
    winreg plugins read in the copy (when it has its root key) about keys changed since."""
    live_bins = {start for start, data in copy.bins.items() if hashlib.sha1(data).digest() in ledger.bins}
    mount_point = MOUNT_POINTS[copy.hive_type()]
    times: dict[str, tuple[int, int]] = {}  # complete path -> (last written, cell offset)
    for key in copy.keys():
        if key.complete:
            times["\\".join(key.path).lower()] = (key.last_written, key.cell_offset)
        if copy.bin_of(key.cell_offset) in live_bins or _identities(key.path, key.complete, key.last_written) & ledger.keys:
            continue
        values = {
            "key_path": "\\".join([mount_point, *key.path]) if key.complete else "\\".join(key.path),
            "key_path_complete": key.complete,
            "last_written_time": filetime(key.last_written),
            "values": key.values,
            "values_missing": key.values_missing or None,
            "volume_offset": key.volume_offset,
        }
        if not ledger.first_time(("key", values["key_path"].lower(), key.last_written, repr(key.values))):
            continue
        yield EventData(KEY_VALUE, {k: v for k, v in values.items() if v is not None}, parser=KEY_VALUE_PARSER,
                        provenance=provenance_at(copy.base + copy.bin_of(key.cell_offset)), tags=[CARVED])
    wrapped = copy.wrapped() if parser is not None else None
    if wrapped is not None:
        yield from _plugin_records(parser, wrapped, copy, times, ledger, provenance_at)


def _plugin_records(parser: BaseParser, wrapped: bytes, copy: carved_cells.HiveCopy, times: dict,
                    ledger: Ledger, provenance_at: ProvenanceAt) -> Iterator[EventData]:
    mount_point = MOUNT_POINTS[copy.hive_type()].lower() + "\\"
    for data in parser.parse(_Carved(io.BytesIO(wrapped), provenance_at(copy.base))):
        if data.data_type == WARNING_DATA_TYPE:
            continue
        path = str(data.values.get("key_path") or "").lower()
        relative = path[len(mount_point):] if path.startswith(mount_point) else ""
        written, cell = times.get(relative, (None, 0))
        if written is not None and ("path", relative, written) in ledger.keys:
            continue  # the key is a live hive's, unchanged: its records came from there
        if not ledger.first_time(("plugin", data.data_type, _stable(data.values))):
            continue
        data.values["volume_offset"] = copy.base + cell
        data.provenance = provenance_at(copy.base + copy.bin_of(cell))
        data.tags.append(CARVED)
        yield data


def _identities(path: list[str], complete: bool, written: int, every: bool = False) -> set[tuple]:
    """How a key is recognised: its full path when known, else its parent's and its own
    name, else its name, each with its last written time. A live key (``every``) is
    noted in all the forms a carved one may be looked up by."""
    names = [part.lower() for part in path]
    found = set()
    if complete:
        found.add(("path", "\\".join(names), written))
    if names and (every or not complete):
        if len(names) >= 2:
            found.add(("tail", names[-2], names[-1], written))
        if every or len(names) == 1:
            found.add(("name", names[-1], written))
    return found


def _stable(values: dict) -> str:
    """An event data's values as text that is equal for equal records (times as FILETIMEs)."""
    def plain(value: Any) -> Any:
        if isinstance(value, dfdatetime_interface.DateTimeValues):
            return ("time", value.CopyToDateTimeString())
        return value

    return repr(sorted((name, plain(value)) for name, value in values.items()))


def read_live_file(ledger: Ledger, target, logs: bool = True, hives: bool = True) -> None:
    """Notes one collected file in the ledger; a file that cannot be read is not noted."""
    try:
        size = target.open_file_entry().size or 0
        ledger.add_file(target.open_file_object(), size, logs, hives)
    except (dfvfs_errors.Error, OSError, ValueError, struct.error):
        return
