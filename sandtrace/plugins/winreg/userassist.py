"""UserAssist: programs a user started from Explorer, with count and last run.

Value names are ROT13; Windows 7 and later entries are 72 bytes (run count
at 4, focus count at 8, focus time in ms at 12, last run FILETIME at 60),
XP's 16 bytes (plaso ``userassist.yaml``). An entry naming a sandbox binary,
the Store package or a .wsb (a double-clicked configuration) is tagged
``sandbox_execution_trace``; everything else is reported untagged [I]
(docs/domain.md §3: Explorer launches may leave UserAssist records).
An entry naming only a Hyper-V or container host binary other VMs use too is
tagged ``hyperv_host_trace`` (``core/sandbox_names.py``).
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import event

USERASSIST = "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\*"
# Known folder GUIDs that prefix UserAssist paths (Microsoft KNOWNFOLDERID, as plaso's helper).
KNOWN_FOLDERS = {
    "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}": "%SystemRoot%\\System32",
    "{D65231B0-B2F1-4857-A4CE-A8E7C6EA7D27}": "%SystemRoot%\\SysWOW64",
    "{F38BF404-1D43-42F2-9305-67DE0B28FC23}": "%SystemRoot%",
    "{6D809377-6AF0-444B-8957-A3773F02200E}": "%ProgramFiles%",
    "{7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E}": "%ProgramFiles(x86)%",
    "{0139D44E-6AFE-49F2-8690-3DAFCAE6FFB8}": "%ProgramData%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{A77F5D77-2E2B-44C3-A6A2-ABA601054A51}": "%AppData%\\Microsoft\\Windows\\Start Menu\\Programs",
    "{9E3995AB-1F9C-4F13-B827-48B24B6C7174}": "%AppData%\\Microsoft\\Internet Explorer\\Quick Launch\\User Pinned",
}


class UserAssistPlugin(WinRegistryPlugin):
    NAME = "userassist"
    DATA_FORMAT = "User Assist Registry data"
    DATA_TYPES = ("windows:registry:userassist",)
    KEY_PATHS = (USERASSIST,)

    def parse_key(self, key, hive) -> Iterator[EventData]:
        version, count = key.value("Version"), key.subkey("Count")
        if count is None or version not in (3, 5):
            return
        index = 0
        for raw in count.raw_values():
            value_name = codecs.decode(raw.name or "", "rot-13")
            data = raw.data or b""
            if value_name == "UEME_CTLSESSION":
                continue
            if version == 5 and len(data) == 72:
                index += 1
                _, runs, focus_count, focus_ms = struct.unpack_from("<IIII", data, 0)
                last_run, = struct.unpack_from("<Q", data, 60)
            elif version == 3 and len(data) == 16:
                _, runs, last_run = struct.unpack_from("<IIQ", data, 0)
                runs, focus_count, focus_ms = (runs - 5 if runs > 5 else runs), None, None
            else:
                key.errors.append(f"{count.path}: value {value_name!r} has {len(data)} bytes, not a UserAssist entry")
                continue
            path = _resolve(value_name)
            yield event(
                "windows:registry:userassist",
                tags=trace_tags(value_name, path),
                key_path=count.path,
                value_name=_expand(path) if version == 5 else value_name,
                raw_value_name=value_name if version == 5 and _expand(path) != value_name else None,
                number_of_executions=runs,
                application_focus_count=focus_count,
                application_focus_duration=focus_ms,
                entry_index=index if version == 5 else None,
                last_execution_time=filetime(last_run),
            )


def _expand(path: str) -> str:
    """plaso's expansion without preprocessing: %SystemRoot% is \\Windows, %SystemDrive% the root."""
    return path.replace("%SystemRoot%", "\\Windows").replace("%SystemDrive%", "")


def _resolve(value_name: str) -> str:
    head, _, rest = value_name.partition("\\")
    folder = KNOWN_FOLDERS.get(head.upper())
    return f"{folder}\\{rest}" if folder and rest else value_name
