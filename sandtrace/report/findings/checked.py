"""The "What was checked" table: each artifact, where it was looked for, and how many events were found.

The rows, and which data types, labels and channels each counts, are
``data/report_checklist.yaml``. A carving row says "not checked" when the
run did not carve.
"""

from __future__ import annotations

from functools import lru_cache

from sandtrace import data
from sandtrace.report.findings.kept import Kept


@lru_cache(maxsize=1)
def _checklist() -> list[dict]:
    return data.load("report_checklist.yaml")["checklist"]


def rows(kept: Kept) -> list[dict]:
    builder = kept.builder
    counts, labels, channels = builder.counts_by_data_type, builder.counts_by_label, builder.counts_by_channel
    result = []
    for check in _checklist():
        number = sum(counts.get(t, 0) for t in check.get("data_types", ())) + \
            sum(labels.get(t, 0) for t in check.get("labels", ())) + \
            sum(channels.get(c, 0) for c in check.get("channels", ()))
        row = {"what": check["what"], "where": check["where"], "events": number}
        if "carve" in check["where"] and number == 0 and "--carve" not in builder.command_line:
            row["events"] = "not checked (extract without --carve)"
        result.append(row)
    return result
