"""Writes a computed report in one of the formats, atomically."""

from __future__ import annotations

import os
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
    from sandtrace.core.atomic import write_atomically

    text = render(report, report_format)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, text)
