"""Most-recently-used lists that can show a sandbox being started by hand.

- RecentDocs\\.wsb (MRUListEx): .wsb files the user opened from Explorer [I]
  (docs/domain.md §3); each value is the UTF-16 file name, then a shell item.
- RunMRU (MRUList): commands typed in Win+R, e.g. ``WindowsSandbox.exe x.wsb``.
- TypedPaths: paths typed in Explorer's address bar.
Data types, attributes and entry strings as plaso's (``mrulistex``,
``mrulist``, ``typedurls``). A key with an entry that names a sandbox binary
or a .wsb is tagged ``sandbox_execution_trace``; its ``sandbox_entries``
say which. One whose entries name only Hyper-V or container host binaries is
tagged ``hyperv_host_trace`` (``core/sandbox_names.py``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import SPECIFIC, tags_for, verdict
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.plugins.winreg import event, utf16_strings

_EXPLORER = "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
_URL_NAME = re.compile(r"^url\d+$", re.IGNORECASE)


def _tagged(data_type: str, key, entries: list[str], texts: list[str], **values) -> EventData:
    sandbox = [entry for entry, text in zip(entries, texts) if verdict(text) == SPECIFIC]
    return event(
        data_type,
        tags=tags_for(verdict(*texts)),
        entries=entries or None,
        key_path=key.path,
        last_written_time=key.last_written_time,
        sandbox_entries=sandbox or None,
        **values,
    )


class RecentDocsWsbPlugin(WinRegistryPlugin):
    NAME = "windows_recentdocs_wsb"
    DATA_FORMAT = "RecentDocs .wsb MRUListEx Registry data"
    DATA_TYPES = ("windows:registry:mrulistex",)
    KEY_PATHS = (f"{_EXPLORER}\\RecentDocs\\.wsb",)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        order = key.value("MRUListEx")
        if not isinstance(order, bytes):
            return
        entries, texts = [], []
        for index, (number,) in enumerate(struct.iter_unpack("<i", order[: len(order) & ~3]), start=1):
            if number == -1:
                break
            data = key.value(str(number))
            path, _ = _string_and_shell_item(data) if isinstance(data, bytes) else (str(data or ""), None)
            # As plaso (its mrulistex_string plugin takes RecentDocs\\<ext>): the name only.
            entries.append(f"Index: {index:d} [MRU Value {number:d}]: {path}")
            texts.append(path)
        yield _tagged("windows:registry:mrulistex", key, entries, texts)


class RunMruPlugin(WinRegistryPlugin):
    NAME = "windows_run_mru"
    DATA_FORMAT = "RunMRU (Win+R) MRUList Registry data"
    DATA_TYPES = ("windows:registry:mrulist",)
    KEY_PATHS = (f"{_EXPLORER}\\RunMRU",)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        order = key.value("MRUList")
        if not isinstance(order, str):
            return
        entries, texts = [], []
        for index, letter in enumerate(order, start=1):
            command = key.value(letter)
            command = command if isinstance(command, str) else ""
            entries.append(f"Index: {index:d} [MRU Value {letter}]: {command}")
            texts.append(command)
        yield _tagged("windows:registry:mrulist", key, entries, texts)


class TypedPathsPlugin(WinRegistryPlugin):
    NAME = "windows_typed_paths"
    DATA_FORMAT = "Windows Explorer typed paths Registry data"
    DATA_TYPES = ("windows:registry:typedurls",)
    KEY_PATHS = (f"{_EXPLORER}\\TypedPaths",)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        typed = [(name, data) for name, data in key.values().items() if _URL_NAME.match(name) and isinstance(data, str) and data]
        yield _tagged(
            "windows:registry:typedurls", key, [f"{name}: {data}" for name, data in typed], [data for _, data in typed]
        )


def _string_and_shell_item(data: bytes) -> tuple[str, str | None]:
    """RecentDocs value: UTF-16 name, NUL, then a file-entry shell item (its name shown)."""
    end = next((i for i in range(0, len(data) - 1, 2) if data[i : i + 2] == b"\0\0"), len(data) & ~1)
    path = data[:end].decode("utf-16-le", "replace")
    item = data[end + 2 :]
    if len(item) < 16 or not 0x30 <= item[2] <= 0x3F:
        return path, None
    # class 0x3X file entry: size, class, pad, file size, FAT time, attributes, primary name
    primary = item[14:].split(b"\0", 1)[0].decode("ascii", "replace")
    longer = [s for s in utf16_strings(item[14 + len(primary) :]) if "." in s]
    return path, (longer[0] if longer else primary) or None
