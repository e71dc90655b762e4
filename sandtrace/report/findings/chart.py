"""What the HTML report's charts draw: one row per category, the points the sections marked, and sessions as spans."""

from __future__ import annotations

from typing import Any

from sandtrace.report.findings.evidence import iso

CATEGORIES = [
    ("feature", "Feature and policy", "#7b3294"),
    ("configuration", "Configurations (.wsb, inline)", "#1b9e77"),
    ("launch", "Launches", "#d95f02"),
    ("lifecycle", "Session start/end", "#e7298a"),
    ("storage", "Sandbox disks", "#66a61e"),
    ("inside", "Inside the sandbox", "#1f78b4"),
    ("host_write", "Host writes to mapped folders", "#e6ab02"),
    ("anomaly", "Anomalies", "#d7301f"),
]


def chart(points: list[tuple[int, str, str]], sessions: list[dict]) -> dict[str, Any]:
    return {
        "categories": [{"id": c, "title": t, "color": color} for c, t, color in CATEGORIES],
        "points": [{"time": iso(t), "category": c, "label": text} for t, c, text in sorted(points)],
        "sessions": [{"number": s["number"], "start": s["start"], "end": s["end"] or s["start"],
                      "label": f"session {s['number']}"} for s in sessions],
    }
