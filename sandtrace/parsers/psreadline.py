"""PowerShell PSReadLine command history (``ConsoleHost_history.txt``).

Inside a sandbox the WDAGUtilityAccount's history is one of the few records
of what was typed. The file keeps no per-line times, so every line is an
event at the file's $SI modification time, with its line number: the order
is known, the time only bounds the last command.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:psreadline"
MAX_SIZE = 16 * 1024 * 1024


class PsReadLineParser(BaseParser):
    NAME = "psreadline"
    DATA_FORMAT = "PowerShell PSReadLine history (ConsoleHost_history.txt)"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = ("\\Users\\*\\AppData\\Roaming\\Microsoft\\Windows\\PowerShell\\PSReadLine\\*_history.txt",)
    # Plain text: PSReadLine names the file after the host ($Host.Name + "_history.txt"), and
    # every PowerShell host's name ends in "Host" (ConsoleHost, Visual Studio Code Host).
    NAMES = ("*Host_history.txt",)

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        file_entry = target.open_file_entry()
        data = target.read(MAX_SIZE)
        text = data.decode("utf-8-sig", errors="replace")
        modified = file_entry.modification_time
        history_path = "C:" + target.location
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            yield EventData(
                DATA_TYPE,
                {"line_number": number, "command": line, "history_path": history_path, "modification_time": modified},
            )
