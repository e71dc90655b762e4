"""Background and Desktop Activity Moderator: last run of each program per user SID.

Windows 10 1709+ (``bam\\UserSettings``; 1809+ ``bam\\State\\UserSettings``,
and the same under ``dam``): value name = device path of the executable,
first 8 bytes of the data = FILETIME of its last run (plaso ``bam.py``).
Entries for the sandbox binaries are tagged ``sandbox_execution_trace``
(docs/domain.md §3, §4 HKCU [I]).
Entries for Hyper-V or container host binaries other VMs use too are tagged
``hyperv_host_trace`` (``core/sandbox_names.py``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.plugins.winreg.interface import WinRegistryPlugin
from sandtrace.parsers.winreg_hive import filetime
from sandtrace.plugins.winreg import event

_SERVICES = "HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services"
_SKIPPED = {"sequencenumber", "version"}


class BamPlugin(WinRegistryPlugin):
    NAME = "bam"
    DATA_FORMAT = "Background Activity Moderator (BAM) Registry data"
    DATA_TYPES = ("windows:registry:bam",)
    KEY_PATHS = tuple(
        f"{_SERVICES}\\{moderator}\\{place}\\*"
        for moderator in ("bam", "dam") for place in ("UserSettings", "State\\UserSettings")
    )

    def parse_key(self, key, hive) -> Iterator[EventData]:
        moderator = key.path.split("\\Services\\", 1)[1].split("\\", 1)[0].lower()
        for raw in key.raw_values():
            name, data = raw.name or "", raw.data or b""
            if name.lower() in _SKIPPED or len(data) < 8:
                continue
            yield event(
                "windows:registry:bam",
                tags=trace_tags(name),
                path=name,
                user_identifier=key.name,
                moderator=moderator,
                last_run_time=filetime(struct.unpack_from("<Q", data)[0]),
            )
