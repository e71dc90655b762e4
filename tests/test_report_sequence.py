"""Issue 19: the MirrorFace sequence as one finding, against host.E01's ground truth."""

from __future__ import annotations

import json
import os

import pytest

from sandtrace import cli
from tests.conftest import TEST_IMAGES

EXPECTED = json.load(open(os.path.join(TEST_IMAGES, "expected.json"), encoding="utf-8"))


def _report(tmp_path, image: str, drop=lambda event: False) -> dict:
    timeline = tmp_path / "t.jsonl"
    assert cli.main(["extract", os.path.join(TEST_IMAGES, image), "-q", "-o", str(timeline), "--format", "json_line"]) == 0
    kept = [line for line in timeline.read_text(encoding="utf-8").splitlines() if not drop(json.loads(line))]
    timeline.write_text("\n".join(kept) + "\n", encoding="utf-8")
    report = tmp_path / "r.json"
    assert cli.main(["report", str(timeline), "-o", str(report), "-q"]) == 0
    return json.loads(report.read_text(encoding="utf-8"))["mirrorface_sequence"]


def _iso(timestamp: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(timestamp / 1_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> dict:
    return _report(tmp_path_factory.mktemp("sequence"), "host.E01")


def test_every_step_of_the_planted_sequence_is_found_in_order(host):
    steps = {step["step"]: step for step in host["steps"]}
    assert host["matched"] is True
    [wsb] = [f for f in EXPECTED["files"] if f["path"] == "\\ProgramData\\SysCache\\update.wsb"]
    # Planted: the $FILE_NAME creation, since the file's $STANDARD_INFORMATION was set back.
    planted = steps[".wsb planted"]
    assert planted["time"] == _iso(wsb["file_name"]["creation"]["timestamp"])
    assert "timestomping" in planted["text"] and planted["evidence"][0]["timestamp_desc"] == "Creation Time"
    assert steps["feature enabled"]["time"] == "2025-01-14T06:05:10.443120Z"  # 4688 of the Dism command
    reboot = steps["host rebooted"]
    assert reboot["found"] and "06:05:10" < reboot["time"][11:19] < "06:20:01"
    assert reboot["evidence"][0]["ref"].startswith("System event 12")
    started = steps["sandbox started unattended with that configuration"]
    assert (started["time"], started["session"]) == ("2025-01-14T06:20:01.000000Z", 1)
    assert "scheduled task" in started["text"] and "update.wsb" in started["text"]


def test_a_step_without_a_trace_is_named_as_a_gap(host):
    [network] = [s for s in host["steps"] if s["step"] == "guest network activity"]
    assert network["found"] is False and network["evidence"] == []
    assert network["text"].startswith("networking is on in the configuration")
    assert "no trace of: guest network activity" in host["summary"]


def test_without_the_unattended_start_the_sequence_does_not_match(tmp_path):
    """The same image without its task and the task's process record: the start is a gap."""
    def drop(event):
        return (event["data_type"] in ("windows:sandbox:scheduled_task", "windows:registry:task_scheduler:task_cache:entry")
                or (event["data_type"] == "windows:evtx:record" and "svchost.exe" in str(event.get("strings"))))
    sequence = _report(tmp_path, "host.E01", drop)
    steps = {step["step"]: step for step in sequence["steps"]}
    assert sequence["matched"] is False
    assert steps["sandbox started unattended with that configuration"]["found"] is False
    assert steps["feature enabled"]["found"] and steps[".wsb planted"]["found"]
    assert "no trace of: sandbox started unattended" in sequence["summary"]
