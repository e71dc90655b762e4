"""The report as JSON, for machines: the findings dictionary as computed.

Non-Latin names stay readable (no ASCII escaping); controls, bidi overrides and
invisible characters are escaped, so the file is safe to look at in a terminal.
"""

from __future__ import annotations

import json as _json
from typing import Any

from sandtrace.output.sanitize import escape_json_text


def render(report: dict[str, Any]) -> str:
    return escape_json_text(_json.dumps(report, indent=1, sort_keys=False, ensure_ascii=False, default=str)) + "\n"
