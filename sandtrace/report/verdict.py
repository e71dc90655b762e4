"""The findings report computed: every section from the kept records, then the verdict that sums them up.

Every statement carries its evidence: the records that support it (display
name, record number or key path, time) and the confidence of each record's
meaning, taken from the EVTX catalogue (by ``catalogue_id``), the .wsb schema
(risk flags) or ``data/report_meanings.yaml``. Each section is a module of
``report/findings/``; how each finding is computed is described in
docs/report.md.
"""

from __future__ import annotations

from typing import Any

from sandtrace.report.findings import anomalies, checked, configurations, disks, feature, folders, sequence, sessions
from sandtrace.report.findings.chart import chart
from sandtrace.report.findings.evidence import statement
from sandtrace.report.findings.kept import Kept
from sandtrace.report.model import ReportBuilder

FORMAT_VERSION = 1


def compute(builder: ReportBuilder) -> dict[str, Any]:
    """The report: the verdict first, then each section with its evidence, the counts and the chart."""
    kept = Kept(builder)
    found = _sections(kept)
    return {
        "format_version": FORMAT_VERSION,
        "about": builder.about(),
        "verdict": _verdict(builder, found),
        "feature": found["feature"],
        "policy": found["policy"],
        "configurations": found["configurations"],
        "sessions": found["sessions"],
        "disks": found["disks"],
        "inside_sandboxes": found["inside_sandboxes"],
        "mirrorface_sequence": found["mirrorface_sequence"],
        "mapped_folders": found["mapped_folders"],
        "host_writes_to_mapped_folders": found["host_writes_to_mapped_folders"],
        "anomalies": found["anomalies"],
        "context": found["context"],
        "checked": found["checked"],
        "warnings": [{"path": r.values.get("path") or r.display_name, "parser": r.values.get("parser_name") or r.parser,
                      "error": r.values.get("error")} for r in kept.warnings],
        "counts": {"by_data_type": dict(sorted(builder.counts_by_data_type.items())),
                   "by_label": dict(sorted(builder.counts_by_label.items()))},
        "chart": chart(kept.points, found["sessions"]),
    }


def _sections(kept: Kept) -> dict[str, Any]:
    """Every section, in the order they build on each other: sessions need the disks and
    configurations (and number the disks), mapped folders need the sessions."""
    policies, loosened = feature.policy(kept)
    found: dict[str, Any] = {"feature": feature.find(kept), "policy": policies,
                             "configurations": configurations.find(kept), "disks": disks.find(kept)}
    found["sessions"] = sessions.find(kept, found["disks"], found["configurations"])
    found["inside_sandboxes"] = disks.inside(found["disks"])
    found["mapped_folders"] = folders.mapped(kept, found["configurations"], found["sessions"])
    found["host_writes_to_mapped_folders"] = folders.host_writes(kept, found["mapped_folders"], found["sessions"])
    found["mirrorface_sequence"] = sequence.find(kept, found)
    found["anomalies"] = loosened + anomalies.find(kept)
    found["context"] = anomalies.context(kept)
    found["checked"] = checked.rows(kept)
    return found


def _verdict(builder: ReportBuilder, found: dict[str, Any]) -> dict[str, Any]:
    """Used when there is a session or activity inside a sandbox disk; the headline says so, the statements why.

    Unused, the headline still names the configurations found and how many are
    risky (a logon command, a writable mapped folder), each then a statement:
    a planted .wsb is worth reading even when it never ran.
    """
    used = bool(found["sessions"]) or bool(found["inside_sandboxes"])
    risky = [c for c in found["configurations"] if c["risky"]]
    if used:
        headline = (f"Windows Sandbox was used: {len(found['sessions'])} session(s), "
                    f"{len(found['configurations'])} configuration(s), {len(found['disks'])} sandbox disk(s) found.")
    elif found["feature"]["state"] == "enabled" or any(found["feature"]["changes"]):
        headline = "The Windows Sandbox feature is installed, but no evidence of Windows Sandbox use was found"
        headline += _configurations_found(found["configurations"], risky, "; ") + "."
    else:
        headline = "No evidence of Windows Sandbox use was found"
        headline += _configurations_found(found["configurations"], risky, ", but ") + "."
    if builder.foreign and not used:
        headline = ("No findings could be computed: this timeline lacks the records sandtrace's findings are "
                    "computed from (it was probably not written by sandtrace).")
    if builder.incomplete:
        headline += " The timeline read is incomplete: see the caveat below."
    statements = _why(found) if used else [_risky(c) for c in risky]
    return {"sandbox_used": used, "risky_configurations": len(risky), "headline": headline, "statements": statements}


def _configurations_found(configurations: list[dict], risky: list[dict], joint: str) -> str:
    """What an unused case still holds: the configurations, how many are risky and why ('' for none)."""
    if not configurations:
        return ""
    total = len(configurations)
    if not risky:
        return (f"{joint}{_count(total, 'configuration')} {_were(total)} found (none with a logon command or a "
                "writable mapped folder)")
    kinds = [(sum(1 for c in risky if any(f["flag"] == flag for f in c["risk_flags"])), one, many)
             for flag, one, many in (("logon_command", "a logon command", "logon commands"),
                                     ("writable_mapped_folder", "a writable mapped folder", "writable mapped folders"))]
    kinds = [(number, one if number == 1 else many) for number, one, many in kinds if number]
    of = "" if len(risky) == total else f" of {total}"
    if all(number == len(risky) for number, _ in kinds):
        return (f"{joint}{_count(len(risky), 'configuration')}{of} with {' and '.join(name for _, name in kinds)} "
                f"{_were(len(risky))} found")
    return (f"{joint}{_count(len(risky), 'risky configuration')}{of} {_were(len(risky))} found "
            f"({', '.join(f'{number} with {name}' for number, name in kinds)})")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _were(number: int) -> str:
    return "was" if number == 1 else "were"


def _risky(configuration: dict) -> dict:
    """A risky configuration of an unused case: its flags, on its evidence."""
    flags = ", ".join(f["flag"].replace("_", " ") for f in configuration["risk_flags"]) or "none"
    where = configuration["path"] or configuration["kind"]
    return statement(f"Configuration {where} ({configuration['state']}), risk flags: {flags}.", configuration["evidence"][:1])


def _why(found: dict[str, Any]) -> list[dict]:
    """The statements behind "used": the feature turned on, each session, the activity inside, the host writes."""
    statements = []
    if found["feature"]["changes"]:
        first = found["feature"]["changes"][0]
        statements.append(statement(f"The feature was turned on (first trace {first['time']}).", first["evidence"]))
    for item in found["sessions"]:
        span = f"{item['start']} - {item['end'] or 'unknown end'}"
        statements.append(statement(
            f"Session {item['number']} ({item['guid'] or 'no GUID'}): {span}, launched by "
            f"{', '.join(item['launch_methods'])}; configuration {', '.join(item['configurations']) or 'unknown'}.",
            (item["start_evidence"] + item["end_evidence"])[:6]))
    for entry in found["inside_sandboxes"]:
        if entry["wdag_logons"] or entry["commands"] or entry["services_installed"] or entry["files_written"]:
            executables = sum(1 for f in entry["files_written"] if f["executable"])
            statements.append(statement(
                f"Inside {entry['disk']}: {len(entry['wdag_logons'])} WDAGUtilityAccount logon event(s), "
                f"{len(entry['services_installed'])} service install(s), {len(entry['commands'])} command trace(s), "
                f"{entry['files_written_total']} file(s) written ({executables} executable or script).",
                (entry["wdag_logons"] + entry["services_installed"] + entry["commands"])[:6]))
    sequence = found["mirrorface_sequence"]
    if sequence["matched"]:
        statements.append(statement(sequence["summary"], [s["evidence"][0] for s in sequence["steps"] if s["evidence"]]))
    written = [w for w in found["host_writes_to_mapped_folders"] if w["during_sessions"]]
    if written:
        statements.append({"text": f"{len(written)} file(s) in writable mapped folders were written during sessions.",
                           "confidence": "I", "evidence": []})
    return statements
