"""Writes a computed report in one of the formats, atomically."""

from __future__ import annotations

import os
import tempfile
from typing import Any

FORMATS = ("markdown", "html", "json")


def render(report: dict[str, Any], report_format: str) -> str:
    if report_format == "markdown":
        from sandtrace.report import markdown
        return markdown.render(report)
    if report_format == "html":
        from sandtrace.report import html
        return html.render(report)
    if report_format == "json":
        from sandtrace.report import json as report_json
        return report_json.render(report)
    raise ValueError(f"unknown report format: {report_format} (choose from {', '.join(FORMATS)})")


def write(report: dict[str, Any], path: str, report_format: str) -> None:
    text = render(report, report_format)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".sandtrace-report-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
