"""Scheduled tasks as the Task Scheduler caches them (``Schedule\\TaskCache``).

``Tree\\<folders>\\<name>`` holds a task's GUID in ``Id``; ``Tasks\\{GUID}``
holds its ``Path``, the ``Actions`` blob and ``DynamicInfo`` (registration
and last launch FILETIMEs at 4 and 12; plaso ``task_scheduler.yaml``). A
MirrorFace-style startup task running ``WindowsSandbox.exe <x>.wsb`` leaves
this key and ``Windows\\System32\\Tasks\\<name>`` (docs/domain.md §3 [I]).

The Actions layout is not documented by Microsoft: exec actions (0x6666)
are decoded as length-prefixed UTF-16 strings [I], and every UTF-16 string
of the blob is also searched, so a variant layout still shows the command.
Data type and attributes are plaso's; ``last_written_time`` is that of the
task's own ``Tasks\\{GUID}`` key (plaso uses the TaskCache key's).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags, verdict
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import event, utf16_strings

TASK_CACHE = "HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
_EXEC_ACTION = 0x6666
_MAX_TREE_DEPTH = 32


class TaskCachePlugin(WinRegistryPlugin):
    NAME = "windows_task_cache"
    DATA_FORMAT = "Windows Task Scheduler cache Registry data"
    DATA_TYPES = ("windows:registry:task_scheduler:task_cache:entry",)
    KEY_PATHS = (TASK_CACHE,)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        tree, tasks = key.subkey("Tree"), key.subkey("Tasks")
        names = dict(_task_ids(tree, "")) if tree else {}
        for task in tasks.subkeys() if tasks else ():
            path = task.value("Path")
            path = path if isinstance(path, str) else names.get(task.name.upper())
            actions_blob = task.value("Actions")
            actions = _exec_actions(actions_blob) if isinstance(actions_blob, bytes) else []
            strings = utf16_strings(actions_blob) if isinstance(actions_blob, bytes) else []
            info = task.value("DynamicInfo")
            registered = launched = unknown = None
            if isinstance(info, bytes) and len(info) in (28, 36):
                registered, launched = struct.unpack_from("<QQ", info, 4)
                unknown = struct.unpack_from("<Q", info, 28)[0] if len(info) == 36 else None
            yield event(
                "windows:registry:task_scheduler:task_cache:entry",
                tags=trace_tags(*actions, *strings),
                key_path=key.path,
                task_name=(path or task.name).rsplit("\\", 1)[-1],
                task_identifier=task.name,
                task_path=path,
                actions=actions or ([s for s in strings if verdict(s)] or None),
                author=task.value("Author") or None,
                last_registered_time=filetime(registered),
                launch_time=filetime(launched),
                unknown_time=filetime(unknown),
                last_written_time=task.last_written_time,
            )


def _task_ids(key, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(GUID in upper case, task path) for every task below ``Tree``."""
    identifier = key.value("Id")
    if isinstance(identifier, str) and path:
        yield identifier.upper(), path
    if depth < _MAX_TREE_DEPTH:
        for sub in key.subkeys():
            yield from _task_ids(sub, f"{path}\\{sub.name}", depth + 1)


def _exec_actions(blob: bytes) -> list[str]:
    """Command lines of the exec actions: version, context, then typed records [I]."""
    try:
        offset = 2
        offset = _skip_string(blob, offset)  # context (principal id, e.g. "Author")
        commands = []
        while offset + 2 <= len(blob):
            kind, = struct.unpack_from("<H", blob, offset)
            if kind != _EXEC_ACTION:
                break
            action_id, offset = _string(blob, offset + 2)
            command, offset = _string(blob, offset)
            arguments, offset = _string(blob, offset)
            _, offset = _string(blob, offset)  # working directory
            offset += 2  # flags
            if command:
                commands.append(f"{command} {arguments}".strip())
        return commands
    except (struct.error, ValueError):
        return []


def _string(blob: bytes, offset: int) -> tuple[str, int]:
    size, = struct.unpack_from("<I", blob, offset)
    if size > len(blob) - offset - 4 or size % 2:
        raise ValueError("string runs past the blob")
    return blob[offset + 4 : offset + 4 + size].decode("utf-16-le"), offset + 4 + size


def _skip_string(blob: bytes, offset: int) -> int:
    return _string(blob, offset)[1]
