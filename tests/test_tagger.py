"""Tagging rules: labels from YAML rules land in every output's tag field, and never replace parser tags."""

from __future__ import annotations

import csv
import json
import os

import pytest
from dfdatetime import filetime as dfdatetime_filetime

from sandtrace import cli
from sandtrace.core.events import Event, EventData
from sandtrace.timeline.tagger import Tagger, TaggingFileError, default_rules, load_rules

HOST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_images", "host.E01")
REQUIRED_LABELS = {"sandbox_feature_enabled", "sandbox_launch", "wsb_writable_mapping", "wsb_logon_command",
                   "wdag_logon", "sandbox_disk_deleted"}


def _event(data_type: str, values: dict, tags=(), description: str = "Creation Time", display_name: str = "NTFS:\\x") -> Event:
    data = EventData(data_type, dict(values), tags=list(tags))
    data.provenance.display_name = display_name
    return Event(timestamp=1, timestamp_desc=description, date_time=dfdatetime_filetime.Filetime(timestamp=1),
                 data=data, tags=list(tags))


def test_the_shipped_rules_define_the_required_labels_with_source_and_confidence():
    rules = default_rules()
    assert REQUIRED_LABELS <= {rule.label for rule in rules}
    for rule in rules:
        assert rule.description and rule.source, rule.label
        assert rule.confidence in ("C", "S", "I"), rule.label


def test_a_wsb_with_a_writable_mapping_and_a_logon_command_is_labelled():
    event = _event("windows:sandbox:wsb_config", {
        "risk_flags": ["writable_mapped_folder", "logon_command"], "logon_command": "C:\\x\\run.bat",
        "networking_enabled": True})
    Tagger().tag(event)
    assert {"wsb_writable_mapping", "wsb_logon_command", "wsb_networking_enabled"} <= set(event.tags)


def test_rules_add_labels_and_keep_the_parser_tags():
    event = _event("windows:evtx:record", {"event_identifier": 4624, "channel": "Security",
                                           "event_data": {"TargetUserName": "WDAGUtilityAccount"},
                                           "container_guid": "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"},
                   tags=["wdag_account", "carved"], display_name="NTFS:\\a.vhdx>NTFS:\\Security.evtx")
    Tagger().tag(event)
    assert event.tags[:2] == ["wdag_account", "carved"]
    assert "wdag_logon" in event.tags and "sandbox_inner_activity" in event.tags
    assert "wdag_on_host" not in event.tags  # inside a disk, not on the host


def test_the_same_logon_on_the_host_is_an_anomaly():
    event = _event("windows:evtx:record", {"event_identifier": 4624, "event_data": {"TargetUserName": "wdagutilityaccount"}},
                   tags=["wdag_account", "wdag_logon"])
    Tagger().tag(event)
    assert "wdag_on_host" in event.tags


def test_template_content_is_never_inner_activity():
    event = _event("windows:evtx:record", {"event_identifier": 4624, "container_guid": "x",
                                           "event_data": {"TargetUserName": "WDAGUtilityAccount"}},
                   tags=["sandbox_template"], display_name="NTFS:\\BaseLayer.vhdx>NTFS:\\Files\\Security.evtx")
    Tagger().tag(event)
    assert "sandbox_inner_activity" not in event.tags


def test_conditions_regex_equals_missing_and_timestamp_desc():
    rules = load_rules("""
rules:
- label: my_label
  when:
  - data_type: [a, b]
    timestamp_desc: Launch Time
    regex: {event_data.CommandLine: 'wsb(\\.exe)?\\s+start'}
    equals: {n: 3}
    missing: [container_guid]
    tags_none: [sandbox_template]
""")
    tagger = Tagger(rules=rules)
    values = {"event_data": {"CommandLine": "WSB.exe  start --config x"}, "n": 3}
    assert tagger.labels_for("a", "Launch Time", values, []) == ["my_label"]
    assert tagger.labels_for("a", "Creation Time", values, []) == []
    assert tagger.labels_for("a", "Launch Time", {**values, "container_guid": "g"}, []) == []
    assert tagger.labels_for("c", "Launch Time", values, []) == []
    assert tagger.labels_for("a", "Launch Time", values, ["sandbox_template"]) == []


@pytest.mark.parametrize("text, message", [
    ("rules: [{label: x}]", "needs at least one clause"),
    ("rules: [{label: 'bad label', when: [{data_type: a}]}]", "may hold only"),
    ("rules: [{label: x, when: [{colour: red}]}]", "unknown condition"),
    ("rules: [{label: x, when: [{regex: {a: '('}}]}]", "bad regex"),
    ("[", "not valid YAML"),
])
def test_a_bad_rules_file_is_named_with_its_problem(text, message):
    with pytest.raises(TaggingFileError, match=message):
        load_rules(text, origin="user.yaml")


@pytest.fixture(scope="module")
def tagged_outputs(tmp_path_factory):
    if not os.path.exists(HOST):
        pytest.skip("test_images/host.E01 is missing")
    folder = tmp_path_factory.mktemp("tagged")
    rules = folder / "mine.yaml"
    rules.write_text("rules:\n- label: my_update_wsb\n  when:\n  - data_type: windows:sandbox:wsb_config\n"
                     "    regex: {filename: 'update\\.wsb$'}\n", encoding="utf-8")
    outputs = {}
    for name, suffix in (("json_line", "jsonl"), ("l2tcsv", "csv"), ("dynamic", "csv")):
        output = folder / f"timeline.{name}.{suffix}"
        code = cli.main(["extract", HOST, "-o", str(output), "--format", name, "-q", "--no-hash",
                         "--tagging-file", str(rules)])
        assert code == 0
        outputs[name] = output
    return outputs


def test_labels_appear_in_the_tag_field_of_every_output(tagged_outputs):
    records = [json.loads(line) for line in tagged_outputs["json_line"].read_text("utf-8").splitlines()]
    labels = {label for r in records for label in (r.get("tag") or {}).get("labels", [])}
    assert REQUIRED_LABELS <= labels
    assert "my_update_wsb" in labels  # the user's rules file
    assert {"sandbox_template", "sandbox_session_start"} <= labels  # parser and catalogue tags kept
    for name in ("l2tcsv", "dynamic"):
        with open(tagged_outputs[name], encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        # dynamic has a tag column; l2tcsv (as plaso) carries the labels in its notes field
        column = "tag" if name == "dynamic" else "notes"
        found = {label for row in rows for label in row[column].split()}
        assert REQUIRED_LABELS <= found, name


def test_a_missing_tagging_file_is_a_usage_error(tmp_path):
    code = cli.main(["extract", HOST, "-o", str(tmp_path / "t.jsonl"), "--format", "json_line", "-q",
                     "--tagging-file", str(tmp_path / "absent.yaml")])
    assert code == cli.EXIT_USAGE
    assert not (tmp_path / "t.jsonl").exists()


def test_an_ordinary_scheduled_task_is_not_a_sandbox_launch_mechanism():
    benign = _event("windows:sandbox:scheduled_task", {"command": "C:\\Windows\\System32\\defrag.exe"})
    launcher = _event("windows:sandbox:scheduled_task", {"command": "C:\\Windows\\System32\\WindowsSandbox.exe"},
                      tags=["sandbox_launch_task"])
    Tagger().tag(benign)
    Tagger().tag(launcher)
    assert "sandbox_launch_mechanism" not in benign.tags
    assert "sandbox_launch_mechanism" in launcher.tags
