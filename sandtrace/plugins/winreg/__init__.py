"""Registry plugins of the ``winreg`` parser, one module per artifact.

What the plugins share: the event data constructor and a reader of strings
in binary values. Whether an entry names Windows Sandbox is asked of
``sandtrace/core/sandbox_names.py``, as every other parser asks it.
"""

from __future__ import annotations

import re
from typing import Any

from sandtrace.core.events import EventData

WDAG_ANOMALY = "wdag_anomaly"


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
