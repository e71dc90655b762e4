"""``sandtrace report`` says when its input is incomplete or not sandtrace's (issue 17, items 5 and 6)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from sandtrace import cli
from tests.fuzz.test_fuzz_evtx import seed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.path.join(ROOT, "test_images", "host.E01")
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    path = folder / "t.jsonl"
    assert cli.main(["extract", HOST, "-o", str(path), "--format", "json_line", "-q"]) == cli.EXIT_OK
    return path


def _report(timeline_path, output, capsys) -> tuple[dict, str]:
    code = cli.main(["report", str(timeline_path), "-o", str(output), "--overwrite"])
    assert code == cli.EXIT_OK
    return json.loads(output.read_text()) if str(output).endswith(".json") else {}, capsys.readouterr().err


def test_the_whole_timeline_has_no_caveat(timeline, tmp_path, capsys):
    report, err = _report(timeline, tmp_path / "r.json", capsys)
    assert len(report["sessions"]) == 3
    assert report["about"]["caveats"] == [] and "warning" not in err


def test_a_timeline_cut_at_a_line_boundary_is_said_in_every_report_format(timeline, tmp_path, capsys):
    lines = timeline.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:300]))
    shutil.copy(str(timeline) + ".meta.json", str(cut) + ".meta.json")
    said = f"cut.jsonl holds 300 of the {len(lines):,} events its .meta.json recorded: the timeline is incomplete"
    report, err = _report(cut, tmp_path / "r.json", capsys)
    assert report["about"]["caveats"][0].startswith(said) and f"sandtrace: warning: {said}" in err
    assert report["verdict"]["headline"].endswith("The timeline read is incomplete: see the caveat below.")
    _report(cut, tmp_path / "r.md", capsys)
    assert f"> **Read this first:** {said}" in (tmp_path / "r.md").read_text()
    _report(cut, tmp_path / "r.html", capsys)
    assert said in (tmp_path / "r.html").read_text()


def test_a_timeline_cut_inside_a_line_is_read_up_to_it_and_said(timeline, tmp_path, capsys):
    data = timeline.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[:len(data) - 300])
    report, err = _report(cut, tmp_path / "r.json", capsys)
    last = data[:len(data) - 300].count(b"\n") + 1
    assert report["about"]["caveats"] == [
        f"cut.jsonl ends in the middle of line {last} (the file was cut short): that line is not read, and the "
        "findings cover only the lines before it."]
    assert report["about"]["events_seen"] == last - 1


def test_plasos_own_json_line_says_what_the_findings_need(tmp_path, capsys):
    log = tmp_path / "Security.evtx"
    log.write_bytes(seed())
    store, output = tmp_path / "s.plaso", tmp_path / "psort.jsonl"
    subprocess.run([os.path.join(BIN, "log2timeline"), "--quiet", "--status_view", "none", "--parsers", "winevtx",
                    "--storage_file", str(store), str(log)], check=True, capture_output=True, cwd=tmp_path)
    subprocess.run([os.path.join(BIN, "psort"), "--status_view", "none", "-o", "json_line", "-w", str(output),
                    str(store)], check=True, capture_output=True, cwd=tmp_path)
    assert sum(1 for _ in output.open()) == 48  # 24 records, two times each
    report, err = _report(output, tmp_path / "r.json", capsys)
    assert report["verdict"]["headline"].startswith("No findings could be computed: this timeline lacks the records")
    caveat, = report["about"]["caveats"]
    assert "no windows:sandbox:* or sandtrace:* records, no event catalogue matches (catalogue_id)" in caveat
    assert "sandtrace: warning: psort.jsonl has none of what the findings are computed from" in err
