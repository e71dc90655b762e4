"""The host scenario (test_images/host.E01) read by sandtrace, against its ground truth.

One extraction (all files, carving on) is compared with test_images/expected.json:
host artifacts (issue 5), event records and their catalogue tags (issue 4), and
what lies inside the sandbox disks, live, deleted and carved (issue 6).
"""

from __future__ import annotations

import collections
import json
import os

import pytest

from sandtrace import cli
from tests.conftest import TEST_IMAGES

IMAGE = os.path.join(TEST_IMAGES, "host.E01")
EXPECTED = json.load(open(os.path.join(TEST_IMAGES, "expected.json"), encoding="utf-8"))

# Planted artifacts sandtrace deliberately does not report, and why.
NOT_REPORTED = {
    # An ordinary service, planted so plaso's output for the hive is complete;
    # sandtrace's services plugin reports the sandbox's services only.
    "host-service-eventlog",
}


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario") / "host.jsonl"
    code = cli.main(["extract", IMAGE, "--carve", "--paths", "**", "-o", str(out), "--format", "json_line", "-q"])
    assert code == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _labels(event: dict) -> set[str]:
    return set((event.get("tag") or {}).get("labels") or [])


def _index(events):
    index = collections.defaultdict(list)
    for event in events:
        index[(event["data_type"], event["timestamp"], event["timestamp_desc"])].append(event)
    return index


# pyevtx-rs renders hex values unpadded ("0x3e7") where libevtx, and so plaso,
# pads them ("0x00000000000003e7"): ``strings`` is compared on the corpus
# against pyevtx-rs (tests/test_winevtx.py), and here through event_data.
_RENDERED_BY_BACKEND = ("strings", "xml_string")


def _matches(candidate: dict, expected: dict, skip=("timestamp", "datetime", "timestamp_desc", "filetime", *_RENDERED_BY_BACKEND)) -> bool:
    for name, value in expected.items():
        if name in skip or name in ("attributes", "template", "tags", "inner_display_name"):
            continue
        if candidate.get(name) != value:
            return False
    return all(candidate.get(n) == v for n, v in (expected.get("attributes") or {}).items())


def test_every_planted_host_artifact_is_found_with_its_values_and_times(events):
    index = _index(events)
    missing = []
    for artifact in EXPECTED["artifacts"]:
        if artifact["id"] in NOT_REPORTED:
            continue
        for expected in artifact["events"]:
            candidates = index.get((expected["data_type"], expected["timestamp"], expected["timestamp_desc"]), [])
            if not any(_matches(c, expected) for c in candidates):
                missing.append((artifact["id"], expected["data_type"], expected["timestamp_desc"]))
    assert missing == []


# Catalogue tags each planted event record must carry (sandtrace/data/evtx_catalogue/sandbox.yaml).
CATALOGUE_TAGS = {
    "host-4688-18234": {"sandbox_feature_command"},
    "host-4688-18235": {"sandbox_process", "sandbox_started_with_wsb"},
    "host-4688-18236": {"sandbox_process", "sandbox_started_with_wsb"},
    "host-4688-18237": {"sandbox_process"},
    "host-4688-18238": {"sandbox_process", "sandbox_started_with_wsb"},
    "host-4688-18239": {"sandbox_process", "sandbox_started_with_wsb"},
    "host-4688-18240": {"sandbox_process", "wsb_cli", "wsb_inline_config"},
    "host-4688-18241": {"sandbox_process", "wsb_cli", "wsb_share_writable"},
    "host-4688-18242": {"sandbox_process", "wsb_cli", "wsb_exec_system"},
    "host-system-1074": {"system_shutdown"},
    "host-system-6006": {"system_shutdown"},
    "host-system-13": {"system_shutdown"},
    "host-system-12": {"system_boot"},
    "host-system-6005": {"system_boot"},
    "host-setup-7": {"sandbox_feature_enabled"},
    "host-setup-9": {"sandbox_feature_enabled"},
    "host-setup-13": {"sandbox_feature_enabled", "reboot_required"},
    **{f"host-appmodel-{n}": {"sandbox_session_start"} for n in (2018, 2020, 2022)},
    **{f"host-appmodel-{n}": {"sandbox_session_end"} for n in (2019, 2021, 2023)},
    **{f"host-sandboxdiag-{n}": {"sandbox_lifecycle"} for n in range(1, 7)},
}


def test_planted_catalogue_events_carry_their_tags_and_no_other_record_does(events):
    records = {
        (e.get("channel"), e["record_number"]): e
        for e in events
        if e["data_type"] == "windows:evtx:record" and ">" not in e["display_name"]
    }
    planted = {}
    for artifact in EXPECTED["artifacts"]:
        expected = (artifact["events"] or [{}])[0]
        if expected.get("data_type") == "windows:evtx:record":
            planted[(expected["channel"], expected["record_number"])] = artifact["id"]
    assert set(planted.values()) == set(CATALOGUE_TAGS)
    for key, artifact_id in planted.items():
        assert CATALOGUE_TAGS[artifact_id] <= _labels(records[key]), artifact_id
    # On the host every record is planted; none outside them carries a catalogue tag.
    assert set(records) == set(planted)


def test_inline_wsb_config_on_a_command_line_is_parsed_like_a_file(events):
    [start] = [
        e for e in events
        if e["data_type"] == "windows:evtx:record" and e.get("wsb_subcommand") == "start" and ">" not in e["display_name"]
    ][:1]
    assert start["wsb_logon_command"] == "cmd /c whoami"
    assert start["wsb_networking_enabled"] is True
    assert "logon_command" in start["wsb_risk_flags"]


def _storage(role: str, state: str) -> dict:
    [disk] = [d for d in EXPECTED["sandbox_storage"] if d["role"] == role and d["state"] == state]
    return disk


def _inner_events_found(events, disk: dict, outer_of) -> list:
    """Expected inner events of one disk missing from the output (should be empty)."""
    index = _index(events)
    missing = []
    for expected in disk["expected_events"]:
        wanted_outer, wanted_inner = outer_of(expected)
        candidates = [
            c for c in index.get((expected["data_type"], expected["timestamp"], expected["timestamp_desc"]), [])
            if c["display_name"].startswith(wanted_outer) and c["display_name"].endswith(">" + wanted_inner)
        ]
        if expected["data_type"] == "windows:registry:key_value":
            continue  # plaso's generic key-value events of a template hive: sandtrace has no generic plugin
        ok = [c for c in candidates if set(expected.get("tags") or []) <= _labels(c)]
        if not ok:
            missing.append((expected["data_type"], wanted_inner, expected["timestamp_desc"]))
    return missing


def test_the_live_sandbox_disk_is_read_through_its_parent_with_nested_names(events):
    disk = _storage("sandbox_disk", "live")
    missing = _inner_events_found(events, disk, lambda e: (e["display_name"].split(">")[0], e["inner_display_name"]))
    assert missing == []
    logons = [
        e for e in events
        if e["data_type"] == "windows:evtx:record" and e["event_identifier"] == 4624
        and e["display_name"].startswith("NTFS:\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\5d1f3a2b")
    ]
    assert logons and all("wdag_logon" in _labels(e) for e in logons)
    assert {e["container_guid"] for e in logons} == {"5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"}


def test_the_deleted_sandbox_disk_is_recovered_through_its_mft_record(events):
    disk = _storage("sandbox_disk", "deleted")
    assert _inner_events_found(events, disk, lambda e: (e["display_name"].split(">")[0], e["inner_display_name"])) == []
    inner = [e for e in events if e["display_name"].startswith(disk["host_path"].join(["NTFS:", ">"]))]
    assert inner and all("recovered_deleted" in _labels(e) for e in inner)


def test_the_carved_disk_yields_its_files_and_its_block_count(events):
    disk = _storage("sandbox_disk", "carvable")
    missing = _inner_events_found(events, disk, lambda e: ("NTFS:\\$Unallocated@", e["inner_display_name"]))
    assert missing == []
    carved = [e for e in events if e["data_type"] == "windows:sandbox:carved_disk" and not e.get("has_parent")]
    [report] = carved
    assert (report["blocks_present"], report["blocks_total"]) == (
        disk["carving"]["blocks_present"], disk["carving"]["blocks_total"])
    assert report.get("blocks_missing") is None
    offset = next(f["carving"]["volume_offset"] for f in EXPECTED["files"] if f.get("carving"))
    assert report["volume_offset"] == offset


def test_nothing_from_the_base_layer_passes_for_activity(events):
    base = _storage("base_layer", "live")
    prefix = "NTFS:" + base["host_path"] + ">"
    inside = [e for e in events if e["display_name"].startswith(prefix)]
    assert inside and all("sandbox_template" in _labels(e) for e in inside)
    activity_tags = {"wdag_logon", "sandbox_inner_activity", "sandbox_launch", "sandbox_command_history"}
    assert not [e for e in events if "sandbox_template" in _labels(e) and _labels(e) & activity_tags]
    # The live differencing disk shows the base layer's files through its parent: template there too.
    live = _storage("sandbox_disk", "live")
    inherited = set(live.get("inherited_template_paths") or [])
    assert inherited
    live_prefix = "NTFS:" + live["host_path"] + ">NTFS:"
    for event in events:
        if event["display_name"].startswith(live_prefix) and event["display_name"][len(live_prefix):].lstrip("\\") in inherited:
            assert "sandbox_template" in _labels(event), event["display_name"]


def test_the_guest_keeps_no_prefetch_or_srum_and_says_so(events):
    notes = [e for e in events if e["data_type"] == "windows:sandbox:expected_absence"]
    assert {n["container_guid"] for n in notes} >= {"5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71", "8e2a6c1d-3f5b-4d7e-a1c9-0b2d4f6a8c93"}
    assert all(n["absent_artifacts"] == ["Prefetch", "SRUM"] for n in notes)


def test_the_containers_inventory_lists_every_disk_with_its_state(events):
    items = {(e["role"], e.get("container_guid"), e["is_allocated"]) for e in events if e["data_type"] == "windows:sandbox:container"}
    assert ("base_layer", "0949cec7-8165-4167-8c7d-67cf14eeede0", True) in items
    assert ("sandbox_disk", "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71", True) in items
    assert ("sandbox_disk", "8e2a6c1d-3f5b-4d7e-a1c9-0b2d4f6a8c93", False) in items
    models = {e.get("container_guid"): e.get("disk_model") for e in events if e["data_type"] == "windows:sandbox:container" and e["role"] == "sandbox_disk"}
    assert models["5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"] == "block-level differencing disk"


def test_info_shows_the_container_inventory_under_its_volume(capsys):
    assert cli.main(["info", IMAGE, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    [ntfs] = [v for v in info["volumes"] if v["file_system"] == "NTFS"]
    disks = {(c["container_guid"], c["role"], c["is_allocated"]) for c in ntfs["containers"] if c["role"] in ("base_layer", "sandbox_disk")}
    assert disks == {
        ("0949cec7-8165-4167-8c7d-67cf14eeede0", "base_layer", True),
        ("5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71", "sandbox_disk", True),
        ("8e2a6c1d-3f5b-4d7e-a1c9-0b2d4f6a8c93", "sandbox_disk", False),
    }
    # The carved disk's folder survives, its file record was reused: the folder is listed alone.
    assert ("c3b9e7f1-2a4d-4c6e-8b0f-1d3e5a7c9b24", "sandbox_storage_folder") in {
        (c["container_guid"], c["role"]) for c in ntfs["containers"]}
    [fat] = [v for v in info["volumes"] if v["file_system"] == "FAT"]
    assert fat["containers"] == []


NEUTRAL_TAGS = {"sandbox_template", "system_boot", "system_shutdown", "reboot_required", "recovered_deleted", "carved"}


def test_nothing_unplanted_is_reported_as_a_sandbox_trace(events):
    """Every host event sandtrace labels as a sandbox trace is a planted artifact or a planted file."""
    planted_events = {
        (e["data_type"], e["timestamp"], e["timestamp_desc"]) for a in EXPECTED["artifacts"] for e in a["events"]
    }
    planted_paths = {"NTFS:" + f["path"] for f in EXPECTED["files"]}
    planted_paths |= {"NTFS:" + d["host_path"] for d in EXPECTED["sandbox_storage"]}
    unexplained = []
    for event in events:
        if ">" in event["display_name"] or "$Unallocated" in event["display_name"]:
            continue  # inside sandbox disks: checked against their own ground truth above
        if not _labels(event) - NEUTRAL_TAGS:
            continue
        if (event["data_type"], event["timestamp"], event["timestamp_desc"]) in planted_events:
            continue
        if any(event["display_name"] == p or event["display_name"].startswith(p + "\\") or p.startswith(event["display_name"] + "\\")
               for p in planted_paths):
            continue
        unexplained.append((event["data_type"], event["display_name"], sorted(_labels(event))))
    assert unexplained == []
    # The host's disabled, never-used WDAGUtilityAccount is context, not a trace.
    wdag = [e for e in events if e["data_type"] == "windows:registry:sam_users" and e.get("account_rid") == 504
            and ">" not in e["display_name"]]
    assert wdag and not any(_labels(e) & {"wdag_anomaly", "wdag_logon"} for e in wdag)


@pytest.mark.parametrize("state", ["live", "deleted", "carvable"])
def test_every_file_the_sandbox_wrote_is_timelined_with_its_hash(events, state):
    """Issue 19: each planted file of a sandbox disk that is neither template nor a WCI
    placeholder has its eight fs:stat events ($SI and $FN), labelled and hashed; nothing
    else in the disk carries the label."""
    disk = _storage("sandbox_disk", state)
    outer = "NTFS:\\$Unallocated@" if state == "carvable" else "NTFS:" + disk["host_path"] + ">"
    written = {f["path"]: f for f in disk["inner_files"] if not f["template"] and f["kind"] != "wci_placeholder"}
    assert written
    found = collections.defaultdict(list)
    for event in events:
        if event["display_name"].startswith(outer) and "sandbox_written_file" in _labels(event):
            found[event["display_name"].split(">NTFS:", 1)[1]].append(event)
    assert set(found) == set(written)
    for path, truth in written.items():
        stats = found[path]
        assert sorted((e["attribute_type"], e["timestamp"]) for e in stats) == sorted(
            (kind, times["timestamp"]) for kind, key in ((0x10, "standard_information"), (0x30, "file_name"))
            for times in truth[key].values())
        assert {e["sha256_hash"] for e in stats} == {truth["sha256"]}
        assert {e["file_size"] for e in stats} == {truth["size"]}
        assert all(e["data_type"] == "fs:stat:ntfs" and e["parser"] == "sandbox_files" for e in stats)


def test_the_report_lists_the_files_written_inside_each_disk(tmp_path, events):
    """The report's "files written inside" of the live disk: every written file, with its
    hash, executables and scripts first."""
    timeline = tmp_path / "t.jsonl"
    timeline.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events), encoding="utf-8")
    report = tmp_path / "r.json"
    assert cli.main(["report", str(timeline), "-o", str(report), "-q"]) == 0
    findings = json.loads(report.read_text(encoding="utf-8"))
    live = _storage("sandbox_disk", "live")
    [inside] = [d for d in findings["inside_sandboxes"] if d["disk"] == "NTFS:" + live["host_path"]]
    listed = {f["path"]: f["sha256"] for f in inside["files_written"]}
    assert listed == {f["path"]: f["sha256"] for f in live["inner_files"]
                      if not f["template"] and f["kind"] != "wci_placeholder"}
    assert inside["files_written"][0]["path"].endswith("run.bat") and inside["files_written"][0]["executable"]
    assert not any(f["executable"] for f in inside["files_written"][1:])
