"""A report that never confuses absence with nothing found (issue 19, item 5), on small timelines made here.

Each timeline is a few json_line records as ``extract`` writes them, with or
without the ``.meta.json`` sidecar that says how the run was made: what was
checked (found, nothing found, absent, not searched, not known), the banner
of a case without use that holds risky configurations, a cleared log named,
a chart under a minute in seconds.
"""

from __future__ import annotations

import json
import re

import pytest

from sandtrace import cli
from sandtrace.report import html, tables
from sandtrace.report.presence import Presence

T0 = 1_736_835_601_000_000  # 2025-01-14T06:20:01Z
LOGS = "NTFS:\\Windows\\System32\\winevt\\Logs\\"


def _stat(path: str, t: int = T0) -> dict:
    return {"__container_type__": "event", "data_type": "fs:stat:ntfs", "parser": "filestat", "timestamp": t,
            "timestamp_desc": "Creation Time", "display_name": "NTFS:" + path, "filename": path, "is_allocated": True}


def _event_log(channel: str, event_id: int, event_data: dict, labels: list[str], t: int = T0) -> dict:
    return {"__container_type__": "event", "data_type": "windows:evtx:record", "parser": "winevtx", "timestamp": t,
            "timestamp_desc": "Creation Time", "display_name": LOGS + channel + ".evtx", "channel": channel,
            "event_identifier": event_id, "record_number": event_id, "event_data": event_data,
            "source_name": "Microsoft-Windows-Eventlog", "catalogue_id": "log_cleared",
            "catalogue_message": "Event log ? cleared by ?\\?", "tag": {"labels": labels}}


def _wsb(path: str, flags: list[str], t: int = T0) -> dict:
    return {"__container_type__": "event", "data_type": "windows:sandbox:wsb_config", "parser": "wsb", "timestamp": t,
            "timestamp_desc": "Creation Time", "display_name": "NTFS:" + path, "filename": path, "is_allocated": True,
            "risk_flags": flags, "tag": {"labels": []}}


# A host without the sandbox: the SOFTWARE and SYSTEM hives and the Security log are there, nothing else.
HOST_WITHOUT_SANDBOX = [_stat("\\Windows\\System32\\config\\SOFTWARE"), _stat("\\Windows\\System32\\config\\SYSTEM"),
                        _stat("\\Windows\\System32\\winevt\\Logs\\Security.evtx"), _stat("\\Users\\alice\\NTUSER.DAT")]


def _report(tmp_path, records: list[dict], command_line: list[str] | None = None, suffix: str = "json"):
    timeline = tmp_path / "t.jsonl"
    timeline.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    if command_line is not None:
        sidecar = {"sandtrace": {"sandtrace": "test"}, "command_line": command_line, "sources": [{"path": "host.E01"}],
                   "summary": {"events_written": len(records)}}
        (tmp_path / "t.jsonl.meta.json").write_text(json.dumps(sidecar), encoding="utf-8")
    output = tmp_path / f"report.{suffix}"
    assert cli.main(["report", str(timeline), "-o", str(output), "-q", "--overwrite"]) == cli.EXIT_OK
    text = output.read_text("utf-8")
    return json.loads(text) if suffix == "json" else text


def _rows(report: dict) -> dict[str, dict]:
    return {row["what"].split(" (")[0]: row for row in report["checked"]}


EXTRACT = ["sandtrace", "extract", "host.E01", "-o", "t.jsonl", "--format", "json_line"]


def test_no_evidence_lists_what_was_absent_as_absent(tmp_path):
    report = _report(tmp_path, HOST_WITHOUT_SANDBOX, EXTRACT)
    assert report["verdict"]["headline"] == "No evidence of Windows Sandbox use was found."
    rows = _rows(report)
    # The SOFTWARE hive is there and was searched: nothing found, 0 events.
    assert rows["Feature state"]["state"] == "nothing found" and rows["Feature state"]["events"] == 0
    assert rows["Feature state"]["in_evidence"] == [
        {"artifact": "SOFTWARE hive", "path": "\\Windows\\System32\\config\\SOFTWARE", "state": "present"}]
    # Setup.evtx, the .wsb files, the Containers tree, the sandbox logs are not there: absent, not 0.
    for what in ("Feature turned on/off", "Configurations", "Sandbox storage", "Session start/end", "Sandbox lifecycle",
                 "Inside sandbox disks", "Change journal", "Store package", "wsb.exe execution aliases",
                 "Host Compute Service"):
        assert rows[what]["state"] == "absent" and rows[what]["events"] is None, what
        assert rows[what]["result"] == "absent: not in the evidence"
    process = rows["Sandbox process creation, wsb.exe command lines"]
    assert process["state"] == "nothing found"  # Security.evtx is there; the Sysmon log is not
    assert [(a["artifact"], a["state"]) for a in process["in_evidence"]] == [("Security.evtx", "present"),
                                                                            ("Sysmon log", "absent")]
    assert rows["Deleted disks carved from free space"]["result"] == "not checked (extract without --carve)"


def test_the_three_states_are_written_in_the_markdown_table(tmp_path):
    text = _report(tmp_path, HOST_WITHOUT_SANDBOX, EXTRACT, "md")
    table = text.split("## What was checked")[1].split("\n\n")[1]
    assert table.splitlines()[0] == "| what | where | in the evidence | result |"
    assert "| SOFTWARE hive: present | searched, nothing found |" in table
    assert "| Setup.evtx: absent | absent: not in the evidence |" in table
    assert not re.search(r"\| 0 \|", table)  # never a bare 0


def test_without_the_sidecar_nothing_is_said_absent(tmp_path):
    report = _report(tmp_path, HOST_WITHOUT_SANDBOX)
    rows = _rows(report)
    assert all(row["state"] != "absent" for row in report["checked"])
    assert all(a["state"] != "absent" for row in report["checked"] for a in row["in_evidence"])
    # The hive is there, but whether winreg read it nobody can tell.
    assert rows["Feature state"]["state"] == "not known"
    assert rows["Feature state"]["in_evidence"][0]["state"] == "present"
    assert rows["Feature turned on/off"]["state"] == "not known"
    assert rows["Deleted disks carved from free space"]["state"] == "not known"


def test_a_parser_the_run_left_out_is_not_searched(tmp_path):
    report = _report(tmp_path, HOST_WITHOUT_SANDBOX, EXTRACT + ["--parsers", "filestat,winevtx", "--nested-disks", "none"])
    rows = _rows(report)
    assert rows["Feature state"]["state"] == "not searched"
    assert rows["Feature state"]["result"] == "not searched (the run did not select winreg/windows_sandbox_feature)"
    assert rows["Inside sandbox disks"]["result"] == "not searched (extract --nested-disks none)"
    assert rows["Feature turned on/off"]["state"] == "absent"  # winevtx and filestat ran: Setup.evtx is not there
    plugin_only = _rows(_report(tmp_path, HOST_WITHOUT_SANDBOX, EXTRACT + ["--parsers", "filestat,winreg/bam"]))
    assert plugin_only["Feature state"]["state"] == "not searched"  # winreg ran, but not the feature's plugin
    assert plugin_only["Execution traces"]["state"] == "nothing found"


def test_found_counts_and_an_unreadable_hive_are_said_so(tmp_path):
    warning = {"__container_type__": "event", "data_type": "sandtrace:warning", "parser": "winreg", "timestamp": 0,
               "display_name": "NTFS:\\Windows\\System32\\config\\SYSTEM", "path": "NTFS:\\Windows\\System32\\config\\SYSTEM",
               "parser_name": "winreg", "error": "not a registry hive"}
    records = [r for r in HOST_WITHOUT_SANDBOX if "SYSTEM" not in r["filename"]] + [warning, _wsb("\\x.wsb", [])]
    rows = _rows(_report(tmp_path, records, EXTRACT))
    assert rows["Sandbox services"]["state"] == "not cleanly read"
    assert rows["Sandbox services"]["in_evidence"][0]["state"] == "present, read with warnings"
    assert rows["Configurations"]["state"] == "found" and rows["Configurations"]["events"] == 1


def test_a_host_record_names_the_artifact_inside_a_disk_does_not():
    presence = Presence()
    for name in ("VSS1:NTFS:\\Windows\\System32\\config\\SOFTWARE", "NTFS:\\$Extend\\$UsnJrnl:$J",
                 "NTFS:\\Windows\\System32\\Tasks\\Microsoft\\Update", "OS:/cases/c/Users/bob/NTUSER.DAT"):
        presence.note(name, "fs:stat:ntfs", "filestat", host=True)
    presence.note("NTFS:\\Windows\\System32\\config\\SOFTWARE.LOG1", "fs:stat:ntfs", "filestat", host=True)
    presence.note("NTFS:\\x\\sandbox.vhdx>NTFS:\\Files\\Windows\\System32\\config\\SAM", "fs:stat:ntfs", "filestat",
                  host=False)
    assert presence.present == {"software_hive", "change_journal", "tasks", "user_hives"}


def test_the_banner_of_an_unused_case_names_its_risky_configurations(tmp_path):
    risky = ["writable_mapped_folder", "logon_command", "networking_enabled"]
    records = HOST_WITHOUT_SANDBOX + [_wsb("\\ProgramData\\a.wsb", risky), _wsb("\\ProgramData\\b.wsb", risky),
                                      _wsb("\\Users\\alice\\demo.wsb", ["networking_enabled"])]
    report = _report(tmp_path, records, EXTRACT)
    verdict = report["verdict"]
    assert verdict["sandbox_used"] is False and verdict["risky_configurations"] == 2
    assert verdict["headline"] == ("No evidence of Windows Sandbox use was found, but 2 configurations of 3 with "
                                   "logon commands and writable mapped folders were found.")
    assert [s["text"] for s in verdict["statements"]] == [
        "Configuration \\ProgramData\\a.wsb (live), risk flags: writable mapped folder, logon command, networking enabled.",
        "Configuration \\ProgramData\\b.wsb (live), risk flags: writable mapped folder, logon command, networking enabled."]
    page = _report(tmp_path, records, EXTRACT, "html")
    assert '<div class="verdict risky">No evidence of Windows Sandbox use was found, but 2 configurations' in page
    assert "<h2>Risky configurations</h2>" in page


def test_the_banner_says_when_no_configuration_is_risky_or_only_some_flags(tmp_path):
    records = HOST_WITHOUT_SANDBOX + [_wsb("\\a.wsb", ["networking_enabled"])]
    assert _report(tmp_path, records, EXTRACT)["verdict"]["headline"] == (
        "No evidence of Windows Sandbox use was found, but 1 configuration was found (none with a logon command or a "
        "writable mapped folder).")
    records = HOST_WITHOUT_SANDBOX + [_wsb("\\a.wsb", ["logon_command"]), _wsb("\\b.wsb", ["writable_mapped_folder",
                                                                                           "logon_command"])]
    assert _report(tmp_path, records, EXTRACT)["verdict"]["headline"] == (
        "No evidence of Windows Sandbox use was found, but 2 risky configurations were found (2 with logon commands, "
        "1 with a writable mapped folder).")
    feature = {"__container_type__": "event", "data_type": "windows:sandbox:feature", "parser": "winreg", "timestamp": T0,
               "display_name": "NTFS:\\Windows\\System32\\config\\SOFTWARE", "feature": "Containers-DisposableClientVM",
               "feature_enabled": True, "tag": {"labels": []}}
    report = _report(tmp_path, records + [feature], EXTRACT)
    assert report["verdict"]["headline"] == (
        "The Windows Sandbox feature is installed, but no evidence of Windows Sandbox use was found; 2 risky "
        "configurations were found (2 with logon commands, 1 with a writable mapped folder).")


def test_a_cleared_log_is_named(tmp_path):
    records = HOST_WITHOUT_SANDBOX + [
        _event_log("Security", 1102, {"SubjectUserName": "alice", "SubjectDomainName": "WIN11"}, ["log_cleared"]),
        _event_log("System", 104, {"SubjectUserName": "bob", "SubjectDomainName": "WIN11", "Channel": "Application"},
                   ["log_cleared"], T0 + 1_000_000)]
    report = _report(tmp_path, records, EXTRACT)
    cleared = [a for a in report["anomalies"] if a["kind"] == "log_cleared"]
    assert [a["text"] for a in cleared] == ["Event log Security cleared by WIN11\\alice",
                                           "Event log Application cleared by WIN11\\bob"]
    assert [a["evidence"][0]["what"] for a in cleared] == [a["text"] for a in cleared]
    assert _rows(report)["Event logs cleared"]["result"] == "found 2"
    text = _report(tmp_path, records, EXTRACT, "md")
    assert "Event log Security cleared" in text and "Event log ?" not in text


def test_a_chart_under_a_minute_counts_seconds():
    chart = {"categories": [{"id": "launch", "title": "Launches", "color": "#d95f02"}], "sessions": [],
             "points": [{"time": "2025-01-14T06:20:01.000000Z", "category": "launch", "label": "a"},
                        {"time": "2025-01-14T06:20:21.000000Z", "category": "launch", "label": "b"}]}
    start = html._ts("2025-01-14T06:20:01.000000Z")
    svg = html.chart_svg(chart, start, start + 20, "short", "c")
    assert re.findall(r">([\d.]+ s)</text>", svg) == ["0 s", "4 s", "8 s", "12 s", "16 s", "20 s"]
    assert "seconds after 2025-01-14 06:20:01.000 UTC" in svg
    brief = html.chart_svg(chart, start, start + 0.5, "shorter", "d")
    assert ">0.100 s</text>" in brief
    hours = html.chart_svg(chart, start, start + 3600, "an hour", "e")
    assert ">06:20:01</text>" in hours and " s</text>" not in hours


def test_long_names_are_shortened_in_tables_with_the_full_name_kept():
    disk = ("NTFS:\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\"
            "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71\\sandbox.vhdx")
    cell = tables.short_paths([disk])
    assert (cell.text, cell.full) == ("…\\5d1f3a2b…\\sandbox.vhdx", disk)
    assert str(tables.short_paths(["NTFS:\\$Unallocated@0x4ab9000"])) == "NTFS:\\$Unallocated@0x4ab9000"
    guid = tables.short_guid("5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71")
    assert (guid.text, guid.full) == ("5d1f3a2b…", "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71")
    assert html._cell(guid) == '<td><span title="5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71">5d1f3a2b…</span></td>'


@pytest.mark.parametrize("suffix", ["md", "html", "json"])
def test_no_report_points_at_a_file_outside_the_repository(tmp_path, suffix):
    from tests.test_no_outside_references import FORBIDDEN, ROOT

    records = HOST_WITHOUT_SANDBOX + [_wsb("\\a.wsb", ["logon_command"]),
                                      _event_log("Security", 1102, {"SubjectUserName": "alice"}, ["log_cleared"])]
    _report(tmp_path, records, EXTRACT, suffix)
    text = (tmp_path / f"report.{suffix}").read_text("utf-8")
    assert not [p.pattern for p in FORBIDDEN if p.search(text)]
    for name in set(re.findall(r"[\w./-]+\.md\b", text)):
        assert (ROOT / name).is_file(), name
