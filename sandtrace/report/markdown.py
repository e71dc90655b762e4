"""The report as Markdown: the verdict first, then each finding with its evidence."""

from __future__ import annotations

from typing import Any

from sandtrace.output import sanitize
from sandtrace.report import tables
from sandtrace.report.tables import written_file


def _cell(value: Any) -> str:
    text = sanitize.escape_text("" if value is None else str(value))  # controls and bidi overrides shown, not obeyed
    return text.replace("|", "\\|")


def _evidence_lines(items: list[dict], indent: str = "  ") -> list[str]:
    lines = []
    for item in items:
        when = item.get("time") or "no time"
        description = f" ({item['timestamp_desc']})" if item.get("timestamp_desc") else ""
        artifact, ref, what = (sanitize.escape_text(str(item.get(k) or "")) for k in ("artifact", "ref", "what"))
        lines.append(f"{indent}- [{item.get('confidence', 'I')}] {when}{description} - `{artifact}`, {ref}: {what}")
    return lines


def _heading(title: str, items: list, none: str, table: tables.Table | None = None) -> list[str]:
    """A section's heading, then its table if it has one, or the sentence that says it is empty."""
    if not items:
        return [f"## {title}", "", none]
    return [f"## {title}", ""] + (_table(*table) if table else [])


def _statements(title: str, items: list[dict], none: str) -> list[str]:
    """A section of statements, or the sentence that says there are none."""
    out = _heading(title, items, none)
    for item in items:
        out += _statement(item)
    return out + [""]


def _statement(item: dict) -> list[str]:
    text = sanitize.escape_text(item["text"])
    return [f"- [{item.get('confidence', 'I')}] {text}", *_evidence_lines(item.get("evidence") or [])]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _verdict(report: dict[str, Any]) -> list[str]:
    verdict = report["verdict"]
    out = ["# Windows Sandbox findings", "", f"**Verdict: {verdict['headline']}**", ""]
    for caveat in report["about"].get("caveats") or []:
        out += [f"> **Read this first:** {caveat}", ""]
    if verdict["statements"] and not verdict["sandbox_used"]:
        out.append("Risky configurations:")
    for item in verdict["statements"]:
        out += _statement(item)
    return out + ["", "Confidence marks: **[C]** a primary source confirms what the artifact means, **[S]** a secondary "
                  "source reports it, **[I]** inference (see sandtrace's docs/domain.md and docs/report.md).", ""]


def _sources(report: dict[str, Any]) -> list[str]:
    about = report["about"]
    out = ["## Sources", ""] + [f"- {source}" for source in about["sources"] or ["(unknown)"]]
    if about.get("timeline"):
        out.append(f"- timeline: {about['timeline']}")
    return out + [f"- {about['events_seen']} events read, {about['records_kept']} records kept as possible evidence, "
                  f"{about['template_events_ignored']} template events ignored (never activity)", f"- {about['generator']}", ""]


def _feature(report: dict[str, Any]) -> list[str]:
    feature = report["feature"]
    out = ["## Feature state", "", f"State: **{feature['state']}**"
           + (f", first turned on {feature['enabled_at']}" if feature.get("enabled_at") else ""), ""]
    for item in feature["changes"]:
        out += _statement(item)
    if feature["related_services"]:
        out += ["", "Services the feature installs (installation, not use):"]
        out += _evidence_lines(feature["related_services"], "")
    return out + [""]


def _policy(report: dict[str, Any]) -> list[str]:
    out = _heading("Policy", report["policy"], "No Windows Sandbox policy key found (defaults apply).")
    for policy in report["policy"]:
        out.append(f"- `{policy['key']}` (last written {policy['time']}): explicitly allowed "
                   f"{', '.join(policy['explicitly_allowed']) or 'none'}; explicitly denied "
                   f"{', '.join(policy['explicitly_denied']) or 'none'}")
        out.append("  - effective: " + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in policy["effective"].items()))
        out += _evidence_lines(policy["evidence"], "  ")
    return out + [""]


def _sessions(report: dict[str, Any]) -> list[str]:
    out = _heading("Sessions", report["sessions"], "No sandbox session was found.", tables.sessions(report))
    for session in report["sessions"]:
        out += ["", f"### Session {session['number']}", ""] + _session_names(session) + ["", "Start evidence:"]
        out += _evidence_lines(session["start_evidence"])
        out.append("End evidence:")
        out += _evidence_lines(session["end_evidence"]) or ["  - none: the end is unknown"]
        out.append("How it was launched:")
        for item in session["launch"]:
            out += _statement(item)
        if session["actions"]:
            out.append("Actions on the running sandbox:")
            out += _evidence_lines(session["actions"])
        if session["host_traces"]:
            out.append("Host traces during the session:")
            out += _evidence_lines(session["host_traces"])
        if session["connection"]["state"] != "unknown":
            out.append(f"Connected: {session['connection']['state']} - {session['connection']['text']}")
            out += _evidence_lines(session["connection"]["evidence"])
    return out + [""]


def _session_names(session: dict[str, Any]) -> list[str]:
    """The names the sessions table shortens, in full."""
    return [f"- sandbox GUID: {session['guid'] or 'none'}",
            f"- configuration: {', '.join(session['configurations']) or 'unknown'}",
            *[f"- disk: `{disk}`" for disk in session["disks"]]]


def _configurations(report: dict[str, Any]) -> list[str]:
    """Each configuration with its settings, risk flags and evidence (no closing blank line when there is none)."""
    out = _heading("Configurations", report["configurations"],
                   "No sandbox configuration (.wsb file or inline --config) was found.")
    for configuration in report["configurations"]:
        out += [f"### {configuration['path'] or configuration['kind']}", ""]
        out.append(f"- kind: {configuration['kind']}; state: {configuration['state']}; created {configuration['created']}"
                   + (f"; SHA-256 {configuration['sha256']}" if configuration.get("sha256") else ""))
        for name, value in configuration["settings"].items():
            if name == "mapped_folders":
                for folder in value or []:
                    out.append(f"- mapped folder {folder.get('host_folder')} -> {folder.get('sandbox_folder')} "
                               f"({'read-only' if folder.get('read_only') else 'WRITABLE'})")
            else:
                out.append(f"- {name}: {value}")
        for flag in configuration["risk_flags"]:
            out.append(f"- risk [{flag['confidence']}] {flag['flag']}: {flag['meaning']}")
        out.append("- evidence:")
        out += _evidence_lines(configuration["evidence"]) + [""]
    return out


def _disks(report: dict[str, Any]) -> list[str]:
    out = _heading("Sandbox disks", report["disks"], "No sandbox disk (live, deleted, carved or in a shadow copy) was found.",
                   tables.disks(report))
    for disk in report["disks"]:
        out += ["", f"- `{disk['display_name']}`"]
        if disk.get("blocks"):
            out.append(f"  - carved: {disk['blocks']['present']} of {disk['blocks']['total']} blocks present")
        if disk.get("parent"):
            out.append(f"  - parent: {disk['parent']}")
        out += _evidence_lines(disk["evidence"] + disk.get("also_carved", []))
    return out + [""]


def _inside(report: dict[str, Any]) -> list[str]:
    """What each sandbox disk holds of activity (no closing blank line when there is none)."""
    out = _heading("Inside each sandbox (WDAGUtilityAccount activity)", report["inside_sandboxes"],
                   "No activity was found inside a sandbox disk (template content is not activity).")
    for entry in report["inside_sandboxes"]:
        out += [f"### {entry['disk']} ({entry['state']}, session {entry.get('session') or '?'})", "",
                f"{entry['events']} events from {entry['first_activity']} to {entry['last_activity']}."]
        for title, key in (("Logons", "wdag_logons"), ("Services installed", "services_installed"), ("Commands", "commands")):
            if entry[key]:
                out.append(f"{title}:")
                out += _evidence_lines(entry[key])
        if entry["files_written"]:
            out.append(f"Files written inside ({entry['files_written_total']}; executables and scripts first):")
            out += [f"  - {written_file(f)}" for f in entry["files_written"]]
            if entry["files_written_total"] > len(entry["files_written"]):
                out.append(f"  - ... {entry['files_written_total'] - len(entry['files_written'])} more (the timeline has them all)")
        out.append("")
    return out


def _host_writes(report: dict[str, Any]) -> list[str]:
    out = ["## Host-side writes to mapped folders", ""]
    for folder in report["mapped_folders"]:
        out.append(f"- mapped writable: {folder['host_folder']} ({folder['configuration']})"
                   + (f" - note: {folder['note']}" if folder.get("note") else ""))
    for write in report["host_writes_to_mapped_folders"]:
        times = ", ".join(f"{t['time']} ({t['timestamp_desc']})" for t in write["times"][:4])
        out.append(f"- [{write['confidence']}] `{write['path']}`: {write['what']}; {times}")
    if not report["mapped_folders"]:
        out.append("No writable mapped folder belongs to a configuration that was used.")
    return out + [""]


def _anomalies(report: dict[str, Any]) -> list[str]:
    return _statements("Anomalies", report["anomalies"], "None found (WDAGUtilityAccount on the host, policy "
                       "loosened, logs cleared, SYSTEM tasks, wsb exec as System).") + \
        _statements("Context (not evidence of use)", report["context"], "Nothing.")


def _checked(report: dict[str, Any]) -> list[str]:
    out = ["## What was checked", ""] + _table(*tables.checked(report))
    if report["about"].get("parsers"):
        out += ["", "Parsers run: " + ", ".join(report["about"]["parsers"])]
    out += ["", "## What could not be read", ""]
    out += [f"- {warning['path']} ({warning['parser']}): {warning['error']}" for warning in report["warnings"]]
    return out + ([] if report["warnings"] else ["No warnings."]) + [""]


def _sequence(report: dict[str, Any]) -> list[str]:
    """The MirrorFace sequence: each step found with its evidence, or its gap."""
    sequence = report["mirrorface_sequence"]
    out = ["## The MirrorFace sequence", "", sequence["summary"], ""]
    for number, step in enumerate(sequence["steps"], 1):
        if step["found"]:
            out += [f"{number}. {step['step']}: {step['time']}", *("   " + line for line in _statement(step))]
        else:
            out.append(f"{number}. {step['step']}: not found - {step['text']}")
    return out + [""]


_SECTIONS = (_verdict, _sources, _feature, _policy, _sessions, _sequence, _configurations, _disks, _inside, _host_writes,
             _anomalies, _checked)


def render(report: dict[str, Any]) -> str:
    out = [line for section in _SECTIONS for line in section(report)]
    # Every line once more: a heading or list item built from evidence text
    # must not carry a control or bidi override (escaping is idempotent).
    return "\n".join(sanitize.escape_text(line) for line in out)
