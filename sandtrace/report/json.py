"""The report as JSON, for machines: the findings dictionary as computed."""

from __future__ import annotations

import json as _json
from typing import Any


def render(report: dict[str, Any]) -> str:
    return _json.dumps(report, indent=1, sort_keys=False, ensure_ascii=False, default=str) + "\n"
