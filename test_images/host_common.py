"""Shared constants and helpers for the host scenario (test_images/SCENARIO.md).

Why: the registry, EVTX and file modules of the host scenario must agree on
every identifier and time, and the ground truth must use exactly the
timestamp rounding plaso uses, so both live here once.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

FILETIME_EPOCH_DELTA = 116444736000000000

COMPUTER = "WIN11-HOST"
MACHINE_SID = "S-1-5-21-1111111111-2222222222-3333333333"
ALICE_SID = MACHINE_SID + "-1001"
SYSTEM_SID = "S-1-5-18"
BASE_IMAGE_GUID = "0949cec7-8165-4167-8c7d-67cf14eeede0"
SANDBOX1_GUID = "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"
SANDBOX2_GUID = "8e2a6c1d-3f5b-4d7e-a1c9-0b2d4f6a8c93"
SANDBOX3_GUID = "c3b9e7f1-2a4d-4c6e-8b0f-1d3e5a7c9b24"
WSB_CLI_ID = "3f0c8d2e-5b7a-4c19-9e36-71a2b4c6d8f0"     # [I] the elided "3f0c..." of SCENARIO.md
TASK_GUID = "{7B3E5A12-9C4D-4E8F-A1B2-C3D4E5F60718}"
TASK_PATH = "\\Microsoft\\Windows\\SysCache\\Update"
SANDBOX_APPX = "MicrosoftWindows.WindowsSandbox_0.5.3.0_x64__cw5n1h2txyewy"   # version [I]
WSB_EXE = "C:\\Program Files\\WindowsApps\\%s\\wsb.exe" % SANDBOX_APPX
UPDATE_WSB_PATH = "C:\\ProgramData\\SysCache\\update.wsb"
CONTAINERS = "\\ProgramData\\Microsoft\\Windows\\Containers"


def ft(text: str) -> int:
    """FILETIME from 'YYYY-MM-DD HH:MM:SS[.fffffff]' (UTC)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{1,7}))?", text)
    if not match:
        raise ValueError(f"bad time {text!r}")
    whole = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    seconds = int(whole.replace(tzinfo=datetime.timezone.utc).timestamp())
    return seconds * 10_000_000 + FILETIME_EPOCH_DELTA + int((match.group(2) or "0").ljust(7, "0"))


def plaso_ts(filetime: int) -> int:
    """dfdatetime Filetime.GetPlasoTimestamp: microseconds, 100 ns digit rounded half up."""
    return (filetime - FILETIME_EPOCH_DELTA + 5) // 10


def iso(filetime: int) -> str:
    """ISO 8601 of the plaso timestamp (microseconds)."""
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(microseconds=plaso_ts(filetime))
    return moment.isoformat(timespec="microseconds")


def event(data_type: str, filetime: int, timestamp_desc: str, **attributes: Any) -> dict:
    """One expected event, in the shape expected.json uses."""
    return {"data_type": data_type, "timestamp": plaso_ts(filetime), "datetime": iso(filetime),
            "timestamp_desc": timestamp_desc, **attributes}


def artifact(artifact_id: str, kind: str, path: str, source: str, confidence: str,
             events: list[dict], **details: Any) -> dict:
    """One planted artifact with its docs/domain.md source, confidence and expected events."""
    return {"id": artifact_id, "kind": kind, "path": path, "volume": "host:C:",
            "domain_source": source, "confidence": confidence, **details, "events": events}
