"""Registry plugins of the ``winreg`` parser, one module per artifact.

What the plugins share: the test for "this entry involves Windows Sandbox"
and the event data constructor. The binaries are those of docs/domain.md §3 that
only the sandbox uses; generic Hyper-V and container binaries (vmwp.exe,
vmcompute.exe, cmproxyd.exe) also serve other VMs and containers, so they
are not enough to tag an entry.
"""

from __future__ import annotations

import re
from typing import Any

from sandtrace.core.events import EventData

SANDBOX_EXECUTION_TRACE = "sandbox_execution_trace"
WDAG_ANOMALY = "wdag_anomaly"

# WindowsSandbox.exe, WindowsSandboxClient/Server/RemoteSession.exe, wsb.exe,
# the Store package, its Start-menu shortcut, and any .wsb file.
_SANDBOX = re.compile(
    r"(?:^|[\\/\s\"'=}:])(?:windowssandbox(?:client|server|remotesession)?\.exe|wsb\.exe|windows sandbox\.lnk)"
    r"|microsoftwindows\.windowssandbox"
    r"|\.wsb(?![\w])",
    re.IGNORECASE,
)


def involves_sandbox(*texts: Any) -> bool:
    """Whether any text names a sandbox binary, the sandbox package or a .wsb file."""
    return any(isinstance(text, str) and _SANDBOX.search(text) for text in texts)


def event(data_type: str, tags: list[str] | None = None, **values: Any) -> EventData:
    """Event data without the unset attributes (plaso omits them too)."""
    return EventData(data_type, {name: value for name, value in values.items() if value is not None}, tags=tags or [])


def utf16_strings(data: bytes, minimum: int = 3) -> list[str]:
    """Printable UTF-16LE runs in a binary value, for blobs whose layout is unsure."""
    runs = []
    for start in (0, 1):  # strings need not start on an even offset
        chunk = data[start:]
        text = chunk[: len(chunk) & ~1].decode("utf-16-le", "replace")
        runs += re.findall(r"[\x20-\x7e\u00a0-\ufffc]{%d,}" % minimum, text)
    return runs
