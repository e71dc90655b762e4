"""The "What was checked" table: each artifact, where it was looked for, whether the evidence holds it, what was found.

The rows, what each counts, which parsers search it and the artifacts it is
searched in are ``data/report_checklist.yaml``. A row is never a bare 0: it
is found (N events), searched and nothing found (its artifacts are there),
nothing found in artifacts that could not be read cleanly, absent (none of
its artifacts is in the evidence), not searched (the run did not select its
parsers), not checked (an option the run did not give, as --carve) or not
known (neither the run nor the events tell: a timeline read without its
.meta.json). Presence comes from ``report/presence.py``.
"""

from __future__ import annotations

from functools import lru_cache

from sandtrace import data
from sandtrace.report.findings.kept import Kept
from sandtrace.report.presence import ABSENT, PRESENT, UNKNOWN, WARNED, Search, artifacts, command_option

# A row's state (ABSENT and UNKNOWN as an artifact's).
FOUND, NOTHING, UNCLEAN, NOT_SEARCHED, NOT_CHECKED = "found", "nothing found", "not cleanly read", "not searched", "not checked"


@lru_cache(maxsize=1)
def _checklist() -> list[dict]:
    return data.load("report_checklist.yaml")["checklist"]


def rows(kept: Kept) -> list[dict]:
    builder = kept.builder
    search = builder.search()
    counts, labels, channels = builder.counts_by_data_type, builder.counts_by_label, builder.counts_by_channel
    result = []
    for check in _checklist():
        number = sum(counts.get(t, 0) for t in check.get("data_types", ())) + \
            sum(labels.get(t, 0) for t in check.get("labels", ())) + \
            sum(channels.get(c, 0) for c in check.get("channels", ()))
        searched = _searched(check, search)
        found_in = [{"artifact": artifacts()[name]["name"], "path": artifacts()[name]["path"],
                     "state": search.artifact(name, searched)} for name in check.get("in", ())]
        state, result_text = _state(number, searched, found_in, check)
        result.append({"what": check["what"], "where": check["where"], "state": state, "result": result_text,
                       "events": number if state in (FOUND, NOTHING, UNCLEAN) else None, "in_evidence": found_in})
    return result


def _searched(check: dict, search: Search) -> bool | None:
    """Whether the run searched the row: its option given, its parsers selected (None: not known)."""
    if not search.command_line and (check.get("needs") or check.get("not_with")):
        return None
    if check.get("needs") and not command_option(search.command_line, check["needs"]):
        return False
    if check.get("not_with"):
        option, value = check["not_with"]
        if command_option(search.command_line, option) == value:
            return False
    answers = [search.ran(name) for name in check.get("parsers", ())]
    if not answers:
        return True
    return True if any(answers) else None if None in answers else False


def _state(number: int, searched: bool | None, found_in: list[dict], check: dict) -> tuple[str, str]:
    """The row's state and the sentence the table shows."""
    if number:
        return FOUND, f"found {number:,}"
    if searched is False:
        if check.get("needs"):
            return NOT_CHECKED, f"not checked (extract without {check['needs']})"
        if check.get("not_with"):
            return NOT_SEARCHED, f"not searched (extract {' '.join(check['not_with'])})"
        return NOT_SEARCHED, f"not searched (the run did not select {', '.join(check.get('parsers', ()))})"
    states = [entry["state"] for entry in found_in]
    there = [s for s in states if s in (PRESENT, WARNED)]
    if searched and there and all(s == WARNED for s in there):
        return UNCLEAN, "nothing found, but not cleanly read (see What could not be read)"
    if searched and (there or not states):
        return NOTHING, "searched, nothing found"
    if states and all(s == ABSENT for s in states):
        return ABSENT, "absent: not in the evidence"
    return UNKNOWN, "not known (neither the run's record nor the events say whether it was there and searched)"
