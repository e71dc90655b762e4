"""Outputs never replace evidence; workers never import from the current folder;
a killed run leaves no workers and its scratch is swept; a full disk is exit 4
naming the file (issue 17, items 8, 9, 10, 12, 15)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sandtrace import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = [os.path.join(ROOT, "test_images", name) for name in ("host.E01", "host.E02")]
WSB = b"<Configuration><LogonCommand><Command>cmd.exe</Command></LogonCommand></Configuration>"


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for path in HOST:
        shutil.copy(path, folder)
    return folder


@pytest.mark.parametrize("name", ["host.E02", "host.E01", "host.E03"])
def test_an_output_on_an_e01_segment_is_refused_even_with_overwrite(case, capsys, name):
    before = {path.name: _digest(path) for path in case.iterdir()}
    code = cli.main(["extract", str(case / "host.E01"), "-o", str(case / name), "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert f"refusing to write {case / name}" in err and "evidence is never written to" in err
    assert {path.name: _digest(path) for path in case.iterdir()} == before


def test_an_output_beside_the_segments_is_allowed_and_leaves_them_alone(case):
    before = {path.name: _digest(path) for path in case.iterdir()}
    code = cli.main(["extract", str(case / "host.E01"), "-o", str(case / "timeline.jsonl"), "-q",
                     "--parsers", "wsb", "--workers", "0"])
    assert code == cli.EXIT_OK
    assert {name: _digest(case / name) for name in before} == before


def test_outputs_inside_a_folder_source_are_refused_through_links_and_hard_links(tmp_path, capsys):
    evidence = tmp_path / "triage"
    (evidence / "Users" / "a").mkdir(parents=True)
    (evidence / "Users" / "a" / "attack.wsb").write_bytes(WSB)
    os.symlink(evidence / "Users", tmp_path / "alias")
    os.link(evidence / "Users" / "a" / "attack.wsb", tmp_path / "hard.wsb")
    refused = [
        ["-o", str(evidence / "out.jsonl")],
        ["-o", str(tmp_path / "alias" / "out.jsonl")],
        ["-o", str(tmp_path / "x" / ".." / "triage" / "Users" / "a" / "attack.wsb")],
        ["-o", str(tmp_path / "ok.jsonl"), "--report", str(evidence / "report.md")],
    ]
    for argv in refused:
        assert cli.main(["extract", str(evidence), *argv, "--overwrite", "-q"]) == cli.EXIT_USAGE, argv
        assert "refusing to write" in capsys.readouterr().err
    # A hard link to an evidence file outside the folder is that evidence too.
    assert cli.main(["extract", str(evidence / "Users" / "a" / "attack.wsb"), "-o", str(tmp_path / "hard.wsb"),
                     "--overwrite", "-q"]) == cli.EXIT_USAGE
    assert (evidence / "Users" / "a" / "attack.wsb").read_bytes() == WSB
    assert sorted(p.name for p in evidence.rglob("*")) == ["Users", "a", "attack.wsb"]


def test_a_batch_output_folder_inside_the_evidence_store_is_refused(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(HOST[0], store)
    shutil.copy(HOST[1], store)
    code = cli.main(["batch", str(store), "-o", str(store / "out"), "-q"])
    assert code == cli.EXIT_USAGE
    assert "refusing to write" in capsys.readouterr().err
    assert sorted(p.name for p in store.iterdir()) == ["host.E01", "host.E02"]


def test_a_report_never_replaces_its_timeline_or_sidecar(tmp_path, capsys):
    timeline = tmp_path / "t.jsonl"
    assert cli.main(["extract", HOST[0], "-o", str(timeline), "-q", "--parsers", "wsb", "--workers", "0"]) == 0
    before = _digest(str(timeline) + ".meta.json")
    code = cli.main(["report", str(timeline), "-o", str(timeline) + ".meta.json", "--format", "json",
                     "--overwrite", "-q"])
    assert code == cli.EXIT_USAGE and "refusing to write" in capsys.readouterr().err
    assert _digest(str(timeline) + ".meta.json") == before


def test_an_existing_sidecar_alone_is_not_overwritten_without_overwrite(tmp_path, capsys):
    output = tmp_path / "t.jsonl"
    sidecar = tmp_path / "t.jsonl.meta.json"
    sidecar.write_text('{"keep": "me"}')
    code = cli.main(["extract", HOST[0], "-o", str(output), "-q", "--parsers", "wsb"])
    assert code == cli.EXIT_USAGE
    assert f"output exists: {sidecar}" in capsys.readouterr().err
    assert sidecar.read_text() == '{"keep": "me"}' and not output.exists()
    assert cli.main(["extract", HOST[0], "-o", str(output), "-q", "--parsers", "wsb", "--overwrite"]) == 0
    assert json.loads(sidecar.read_text())["command_line"]
