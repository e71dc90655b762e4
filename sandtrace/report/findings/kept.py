"""What every section reads, and where it marks what the chart draws."""

from __future__ import annotations

from sandtrace.report.model import Record, ReportBuilder


class Kept:
    """The builder's kept records (its warnings apart) and the chart's points.

    A section that finds something worth drawing marks a point (time,
    category, label); the points are sorted at the end, so the order in which
    the sections run does not change the chart.
    """

    def __init__(self, builder: ReportBuilder) -> None:
        self.builder = builder
        self.records = [r for r in builder.records.values() if r.data_type != "sandtrace:warning"]
        self.warnings = [r for r in builder.records.values() if r.data_type == "sandtrace:warning"]
        self.points: list[tuple[int, str, str]] = []

    def by_type(self, *data_types: str) -> list[Record]:
        return sorted((r for r in self.records if r.data_type in data_types), key=lambda r: r.first_time)

    def tagged(self, *labels: str, host_only: bool = False) -> list[Record]:
        """The records with any of the labels; with ``host_only``, not those inside a sandbox disk."""
        found = [r for r in self.records if r.tags & set(labels) and not (host_only and r.disk_key)]
        return sorted(found, key=lambda r: r.first_time)

    def point(self, timestamp: int, category: str, text: str) -> None:
        if timestamp:
            self.points.append((timestamp, category, text))
