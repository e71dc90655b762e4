"""The report as one self-contained HTML file: inline CSS and SVG, no script, no external asset.

The timeline charts are drawn here as SVG (one row per category of activity,
a point per event with its time and label as a tooltip, sandbox sessions as
spans), so the file renders offline and without JavaScript. Three zoom
levels: the whole timeline, the sandbox period, and one chart per session.
"""

from __future__ import annotations

import html as _html
import re
from datetime import datetime, timezone
from typing import Any

from sandtrace.output import sanitize
from sandtrace.report import tables
from sandtrace.report.tables import written_file

_WIDTH, _LEFT, _RIGHT, _ROW, _TOP = 1100, 230, 20, 26, 34
_TIME = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z")
_SECONDS_AXIS = 60  # a chart spanning less than this many seconds counts seconds on its axis
_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2430;background:#fafbfc}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 12px} h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #d8dee6;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.verdict{padding:12px 16px;border-radius:6px;font-weight:600;font-size:16px;margin-bottom:10px}
.used{background:#fde8e4;border-left:6px solid #d7301f}.unused{background:#e6f4ea;border-left:6px solid #1b9e77}
.risky{background:#fff4dc;border-left:6px solid #d98e04}
table{border-collapse:collapse;margin:6px 0;width:100%;background:#fff}
th,td{border:1px solid #d8dee6;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px;overflow-wrap:break-word}
td.long{overflow-wrap:anywhere} td span[title]{text-decoration:underline dotted}
th{background:#eef2f6}
code{font:12px ui-monospace,Consolas,monospace;word-break:break-all}
ul.ev{margin:2px 0 8px 0;padding-left:20px;font-size:13px}
.c{display:inline-block;min-width:22px;text-align:center;border-radius:3px;font-weight:700;font-size:11px;padding:0 3px;margin-right:4px;color:#fff}
.cC{background:#1b7f3b}.cS{background:#b8860b}.cI{background:#8a5a9e}
.chart{background:#fff;border:1px solid #d8dee6;margin:8px 0;max-width:100%;height:auto}
.chart text{font:11px system-ui,sans-serif;fill:#333}
.muted{color:#667}
"""


def _e(value: Any) -> str:
    """HTML-escaped, with controls and bidi overrides from the evidence made visible."""
    return _html.escape(sanitize.escape_text("" if value is None else str(value)))


def _mark(confidence: str | None) -> str:
    mark = confidence if confidence in ("C", "S", "I") else "I"
    return f'<span class="c c{mark}" title="confidence of the artifact\'s meaning">{mark}</span>'


def _evidence(items: list[dict]) -> str:
    if not items:
        return ""
    rows = []
    for item in items:
        description = f" ({_e(item['timestamp_desc'])})" if item.get("timestamp_desc") else ""
        rows.append(f"<li>{_mark(item.get('confidence'))}{_e(item.get('time') or 'no time')}{description} - "
                    f"<code>{_e(item.get('artifact'))}</code>, {_e(item.get('ref'))}: {_e(item.get('what'))}</li>")
    return '<ul class="ev">' + "".join(rows) + "</ul>"


def _statement(item: dict) -> str:
    return f"<li>{_mark(item.get('confidence'))}{_e(item['text'])}{_evidence(item.get('evidence') or [])}</li>"


def _heading(title: str, items: list, none: str, table: tables.Table | None = None) -> str:
    """A section's heading, then its table if it has one, or the sentence that says it is empty."""
    if not items:
        return f"<h2>{title}</h2><p>{none}</p>"
    return f"<h2>{title}</h2>" + (_table(*table) if table else "")


def _statements(title: str, items: list[dict], none: str) -> str:
    """A section of statements, or the item that says there are none."""
    return f"<h2>{title}</h2><ul>" + ("".join(_statement(s) for s in items) or f"<li>{none}</li>") + "</ul>"


def _cell(value: Any) -> str:
    """A cell that wraps to fit the page: a shortened one keeps its whole text as a tooltip and may break
    anywhere; a time may break after its date."""
    if isinstance(value, tables.Short):
        wrap = ' class="long"' if len(value.text) > 12 else ""
        if value.text == value.full:
            return f"<td{wrap}>{_e(value.text)}</td>"
        return f'<td{wrap}><span title="{_e(value.full)}">{_e(value.text)}</span></td>'
    if isinstance(value, str) and _TIME.fullmatch(value):
        return f"<td>{_e(value).replace('T', 'T<wbr>', 1)}</td>"
    return f"<td>{_e(value)}</td>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ts(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def _tick_label(seconds: float, start: float, span: float) -> str:
    """A tick: seconds after the chart's start under a minute (a clock time would repeat), else date or time."""
    if span < _SECONDS_AXIS:
        decimals = 0 if span >= 10 else 1 if span >= 1 else 3
        return f"{seconds - start:.{decimals}f} s"
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if span > 3 * 86400:
        return moment.strftime("%Y-%m-%d")
    if span > 6 * 3600:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S")


def _axis_title(start: float, span: float) -> str:
    if span < _SECONDS_AXIS:
        moment = datetime.fromtimestamp(start, tz=timezone.utc)
        return f"seconds after {moment.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC"
    return "UTC"


def chart_svg(chart: dict[str, Any], start: float, end: float, title: str, chart_id: str) -> str:
    """One SVG timeline: a row for sessions, then a row per category; points and spans."""
    categories = chart["categories"]
    if end <= start:
        start, end = start - 60, start + 60
    rows = 1 + len(categories)
    height = _TOP + rows * _ROW + 44
    plot = _WIDTH - _LEFT - _RIGHT

    def x(seconds: float) -> float:
        return _LEFT + (seconds - start) / (end - start) * plot

    parts = [f'<svg class="chart" id="{_e(chart_id)}" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" '
             f'height="{height}" viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{_e(title)}">',
             f'<text x="8" y="18" style="font-weight:600;font-size:13px">{_e(title)}</text>']
    for index in range(rows):
        y = _TOP + index * _ROW
        fill = "#f5f7fa" if index % 2 else "#ffffff"
        parts.append(f'<rect x="{_LEFT}" y="{y}" width="{plot}" height="{_ROW}" fill="{fill}"/>')
        label = "Sandbox sessions" if index == 0 else categories[index - 1]["title"]
        parts.append(f'<text x="8" y="{y + 17}">{_e(label)}</text>')
    bottom = _TOP + rows * _ROW
    for step in range(6):
        seconds = start + (end - start) * step / 5
        tx = x(seconds)
        parts.append(f'<line x1="{tx:.1f}" y1="{_TOP}" x2="{tx:.1f}" y2="{bottom}" stroke="#d8dee6"/>')
        anchor = "start" if step == 0 else "end" if step == 5 else "middle"
        parts.append(f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="{anchor}">'
                     f'{_e(_tick_label(seconds, start, end - start))}</text>')
    parts.append(f'<text class="axis" x="{_WIDTH - _RIGHT}" y="{bottom + 32}" text-anchor="end">'
                 f'{_e(_axis_title(start, end - start))}</text>')
    for session in chart["sessions"]:
        s0, s1 = _ts(session["start"]), _ts(session["end"])
        if s1 < start or s0 > end:
            continue
        a, b = x(max(s0, start)), x(min(s1, end))
        width = max(b - a, 3.0)
        parts.append(f'<rect class="session" data-session="{session["number"]}" x="{a:.1f}" y="{_TOP + 4}" '
                     f'width="{width:.1f}" height="{_ROW - 8}" rx="3" fill="#e7298a" fill-opacity="0.55" stroke="#b5166b">'
                     f'<title>{_e(session["label"])}: {_e(session["start"])} - {_e(session["end"])}</title></rect>')
        for edge in (a, a + width):
            parts.append(f'<line x1="{edge:.1f}" y1="{_TOP}" x2="{edge:.1f}" y2="{bottom}" stroke="#e7298a" '
                         f'stroke-opacity="0.35" stroke-dasharray="3,3"/>')
    row_of = {c["id"]: i + 1 for i, c in enumerate(categories)}
    color_of = {c["id"]: c["color"] for c in categories}
    for point in chart["points"]:
        seconds = _ts(point["time"])
        if not start <= seconds <= end:
            continue
        row = row_of.get(point["category"], rows - 1)
        cy = _TOP + row * _ROW + _ROW / 2
        parts.append(f'<circle class="pt" data-category="{_e(point["category"])}" data-time="{_e(point["time"])}" '
                     f'cx="{x(seconds):.1f}" cy="{cy:.1f}" r="5" fill="{color_of.get(point["category"], "#555")}" '
                     f'fill-opacity="0.85" stroke="#ffffff" stroke-width="1"><title>{_e(point["time"])} '
                     f'{_e(point["label"])}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _charts(report: dict[str, Any]) -> str:
    chart = report["chart"]
    times = [_ts(p["time"]) for p in chart["points"]]
    if not times:
        return '<p class="muted">No sandbox-related activity to draw.</p>'
    out = [chart_svg(chart, min(times), max(times), "Whole timeline: sandbox-related activity by category", "chart-overview")]
    sessions = chart["sessions"]
    if sessions:
        first = min(_ts(s["start"]) for s in sessions)
        last = max(_ts(s["end"]) for s in sessions)
        related = [t for t in times if first - 2 * 86400 <= t <= last + 86400]
        lo, hi = min(related + [first]), max(related + [last])
        margin = max((hi - lo) * 0.03, 60)
        out.append(chart_svg(chart, lo - margin, hi + margin, "Sandbox period", "chart-period"))
        for session in sessions:
            s0, s1 = _ts(session["start"]), _ts(session["end"])
            margin = max((s1 - s0) * 0.1, 120)
            out.append(chart_svg(chart, s0 - margin, s1 + margin, f"Session {session['number']}",
                                 f"chart-session-{session['number']}"))
    return "".join(out)


def _verdict(report: dict[str, Any]) -> str:
    about, verdict = report["about"], report["verdict"]
    kind = "used" if verdict["sandbox_used"] else "risky" if verdict.get("risky_configurations") else "unused"
    body = [f'<h1>Windows Sandbox findings</h1><div class="verdict {kind}">{_e(verdict["headline"])}</div>']
    body += [f'<div class="verdict caveat"><strong>Read this first:</strong> {_e(caveat)}</div>'
             for caveat in about.get("caveats") or []]
    body.append("<h2>Timeline</h2>" + _charts(report))
    if verdict["statements"]:
        title = "Why" if verdict["sandbox_used"] else "Risky configurations"
        body.append(f"<h2>{title}</h2><ul>" + "".join(_statement(s) for s in verdict["statements"]) + "</ul>")
    body.append('<p class="muted">Confidence marks (of what each artifact means): <span class="c cC">C</span>primary source, '
                '<span class="c cS">S</span>secondary source, <span class="c cI">I</span>inference.</p>')
    return "".join(body)


def _sources(report: dict[str, Any]) -> str:
    about = report["about"]
    return ("<h2>Sources</h2><ul>" + "".join(f"<li><code>{_e(s)}</code></li>" for s in about["sources"] or ["(unknown)"])
            + (f"<li>timeline <code>{_e(about['timeline'])}</code></li>" if about.get("timeline") else "")
            + f"<li>{about['events_seen']} events read, {about['records_kept']} records kept as possible evidence, "
              f"{about['template_events_ignored']} template events ignored</li><li>{_e(about['generator'])}</li></ul>")


def _feature(report: dict[str, Any]) -> str:
    feature = report["feature"]
    body = [f"<h2>Feature state</h2><p>State: <b>{_e(feature['state'])}</b>"
            + (f", first turned on {_e(feature['enabled_at'])}" if feature.get("enabled_at") else "") + "</p>"]
    body.append("<ul>" + "".join(_statement(s) for s in feature["changes"]) + "</ul>")
    if feature["related_services"]:
        body.append("<p>Services the feature installs (installation, not use):</p>" + _evidence(feature["related_services"]))
    return "".join(body)


def _policy(report: dict[str, Any]) -> str:
    body = [_heading("Policy", report["policy"], "No Windows Sandbox policy key found (defaults apply).")]
    for policy in report["policy"]:
        body.append(f"<p><code>{_e(policy['key'])}</code> (last written {_e(policy['time'])}): explicitly allowed "
                    f"<b>{_e(', '.join(policy['explicitly_allowed']) or 'none')}</b>; explicitly denied "
                    f"{_e(', '.join(policy['explicitly_denied']) or 'none')}</p>" + _evidence(policy["evidence"]))
    return "".join(body)


def _sessions(report: dict[str, Any]) -> str:
    body = [_heading("Sessions", report["sessions"], "No sandbox session was found.", tables.sessions(report))]
    for session in report["sessions"]:
        names = [f"sandbox GUID <code>{_e(session['guid'] or 'none')}</code>",
                 f"configuration <code>{_e(', '.join(session['configurations']) or 'unknown')}</code>",
                 *[f"disk <code>{_e(disk)}</code>" for disk in session["disks"]]]
        body.append(f"<h3>Session {session['number']}</h3><ul>" + "".join(f"<li>{n}</li>" for n in names) + "</ul>"
                    f"<p>Start evidence:</p>{_evidence(session['start_evidence'])}"
                    f"<p>End evidence:</p>{_evidence(session['end_evidence']) or '<p>none: the end is unknown</p>'}"
                    "<p>How it was launched:</p><ul>" + "".join(_statement(s) for s in session["launch"]) + "</ul>")
        if session["actions"]:
            body.append("<p>Actions on the running sandbox:</p>" + _evidence(session["actions"]))
        if session["host_traces"]:
            body.append("<p>Host traces during the session:</p>" + _evidence(session["host_traces"]))
        if session["connection"]["state"] != "unknown":
            body.append(f"<p>Connected: {_e(session['connection']['state'])} - {_e(session['connection']['text'])}</p>"
                        + _evidence(session["connection"]["evidence"]))
    return "".join(body)


def _configurations(report: dict[str, Any]) -> str:
    body = [_heading("Configurations", report["configurations"],
                     "No sandbox configuration (.wsb file or inline --config) was found.")]
    for configuration in report["configurations"]:
        items = [f"<li>kind {_e(configuration['kind'])}; state {_e(configuration['state'])}; created {_e(configuration['created'])}</li>"]
        for name, value in configuration["settings"].items():
            if name == "mapped_folders":
                items += [f"<li>mapped folder <code>{_e(f.get('host_folder'))}</code> -&gt; <code>{_e(f.get('sandbox_folder'))}</code> "
                          f"({'read-only' if f.get('read_only') else '<b>writable</b>'})</li>" for f in value or []]
            else:
                items.append(f"<li>{_e(name)}: <code>{_e(value)}</code></li>")
        items += [f"<li>{_mark(f['confidence'])}risk <b>{_e(f['flag'])}</b>: {_e(f['meaning'])}</li>" for f in configuration["risk_flags"]]
        body.append(f"<h3>{_e(configuration['path'] or configuration['kind'])}</h3><ul>{''.join(items)}</ul>"
                    + _evidence(configuration["evidence"]))
    return "".join(body)


def _disks(report: dict[str, Any]) -> str:
    body = [_heading("Sandbox disks", report["disks"], "No sandbox disk (live, deleted, carved or in a shadow copy) was found.",
                     tables.disks(report))]
    for disk in report["disks"]:
        extra = f" - carved: {disk['blocks']['present']} of {disk['blocks']['total']} blocks present" if disk.get("blocks") else ""
        body.append(f"<p><code>{_e(disk['display_name'])}</code>{_e(extra)}</p>"
                    + _evidence(disk["evidence"] + disk.get("also_carved", [])))
    return "".join(body)


def _inside(report: dict[str, Any]) -> str:
    body = [_heading("Inside each sandbox (WDAGUtilityAccount activity)", report["inside_sandboxes"],
                     "No activity was found inside a sandbox disk (template content is not activity).")]
    for entry in report["inside_sandboxes"]:
        body.append(f"<h3><code>{_e(entry['disk'])}</code> ({_e(entry['state'])}, session {_e(entry.get('session') or '?')})</h3>"
                    f"<p>{entry['events']} events from {_e(entry['first_activity'])} to {_e(entry['last_activity'])}.</p>")
        for title, key in (("Logons", "wdag_logons"), ("Services installed", "services_installed"), ("Commands", "commands")):
            if entry[key]:
                body.append(f"<p>{title}:</p>" + _evidence(entry[key]))
        if entry["files_written"]:
            more = entry["files_written_total"] - len(entry["files_written"])
            body.append(f"<p>Files written inside ({entry['files_written_total']}; executables and scripts first):</p><ul>"
                        + "".join(f"<li>{_e(written_file(f))}</li>" for f in entry["files_written"])
                        + (f"<li>... {more} more (the timeline has them all)</li>" if more > 0 else "") + "</ul>")
    return "".join(body)


def _host_writes(report: dict[str, Any]) -> str:
    body = ["<h2>Host-side writes to mapped folders</h2><ul>"]
    for folder in report["mapped_folders"]:
        body.append(f"<li>mapped writable <code>{_e(folder['host_folder'])}</code> ({_e(folder['configuration'])})"
                    + (f" - note: {_e(folder['note'])}" if folder.get("note") else "") + "</li>")
    for write in report["host_writes_to_mapped_folders"]:
        times = ", ".join(f"{t['time']} ({t['timestamp_desc']})" for t in write["times"][:4])
        body.append(f"<li>{_mark(write['confidence'])}<code>{_e(write['path'])}</code>: {_e(write['what'])}; {_e(times)}</li>")
    return "".join(body) + "</ul>"


def _anomalies(report: dict[str, Any]) -> str:
    return (_statements("Anomalies", report["anomalies"], "None found.")
            + _statements("Context (not evidence of use)", report["context"], "Nothing."))


def _checked(report: dict[str, Any]) -> str:
    about = report["about"]
    return ("<h2>What was checked</h2>" + _table(*tables.checked(report))
            + (f"<p>Parsers run: {_e(', '.join(about['parsers']))}</p>" if about.get("parsers") else "")
            + "<h2>What could not be read</h2><ul>"
            + ("".join(f"<li><code>{_e(w['path'])}</code> ({_e(w['parser'])}): {_e(w['error'])}</li>" for w in report["warnings"])
               or "<li>No warnings.</li>") + "</ul>")


def _sequence(report: dict[str, Any]) -> str:
    """The MirrorFace sequence: each step found with its evidence, or its gap."""
    sequence = report["mirrorface_sequence"]
    items = [f"<li><strong>{_e(step['step'])}</strong>: {_e(step['time'])}<ul>{_statement(step)}</ul></li>" if step["found"]
             else f"<li><strong>{_e(step['step'])}</strong>: not found - {_e(step['text'])}</li>"
             for step in sequence["steps"]]
    return f"<h2>The MirrorFace sequence</h2><p>{_e(sequence['summary'])}</p><ol>" + "".join(items) + "</ol>"


_SECTIONS = (_verdict, _sources, _feature, _policy, _sessions, _sequence, _configurations, _disks, _inside, _host_writes,
             _anomalies, _checked)


def render(report: dict[str, Any]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
            f"<title>Windows Sandbox findings</title><style>{_STYLE}</style></head><body><main>"
            + "".join(section(report) for section in _SECTIONS) + "</main></body></html>\n")
