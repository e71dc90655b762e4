"""Folder sources: names that are not UTF-8, symbolic links, and the files listed in the sidecar."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from sandtrace import cli

WSB = (b"<Configuration><Networking>Disable</Networking>"
       b"<LogonCommand><Command>C:\\%s.cmd</Command></LogonCommand></Configuration>")


def _wsb(tag: str) -> bytes:
    return WSB % tag.encode()


def _records(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def _logon_commands(records) -> dict[str, str]:
    """filename -> logon command of every wsb event."""
    return {r["filename"]: r["logon_command"] for r in records if r["data_type"] == "windows:sandbox:wsb_config"}


@pytest.fixture
def bad_names(tmp_path):
    """A folder with a file and a folder whose names are not UTF-8 (bytes 0xff, 0xfe)."""
    root = os.fsencode(tmp_path / "triage")
    os.makedirs(os.path.join(root, b"bad\xfedir"))
    with open(os.path.join(root, b"bad\xffname.wsb"), "wb") as handle:
        handle.write(_wsb("file"))
    with open(os.path.join(root, b"bad\xfedir", b"ok.wsb"), "wb") as handle:
        handle.write(_wsb("folder"))
    with open(os.path.join(root, b"good.wsb"), "wb") as handle:
        handle.write(_wsb("good"))
    return tmp_path / "triage"


def test_names_that_are_not_utf8_are_parsed_and_shown_with_bytes_escaped(bad_names, tmp_path):
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(bad_names), "--format", "json_line", "-o", str(out), "-q"]) == cli.EXIT_OK
    records = _records(out)
    assert _logon_commands(records) == {
        "\\bad\\xffname.wsb": "C:\\file.cmd",
        "\\bad\\xfedir\\ok.wsb": "C:\\folder.cmd",
        "\\good.wsb": "C:\\good.cmd",
    }
    names = {r["display_name"] for r in records}
    assert f"OS:{bad_names}/bad\\xffname.wsb" in names and f"OS:{bad_names}/bad\\xfedir/ok.wsb" in names
    assert not [r for r in records if r["data_type"] == "sandtrace:warning"]


@pytest.mark.parametrize("output_format", ["l2tcsv", "dynamic", "timesketch", "plaso"])
def test_names_that_are_not_utf8_reach_every_output_and_report(bad_names, tmp_path, output_format):
    out = tmp_path / f"t.{output_format}"
    report = tmp_path / "report.html"
    assert cli.main(["extract", str(bad_names), "--format", output_format, "-o", str(out),
                     "--report", str(report), "-q"]) == cli.EXIT_OK
    if output_format != "plaso":
        text = out.read_text(encoding="utf-8")
        if output_format == "timesketch":
            text = " ".join(f"{r['display_name']} {r['message']}" for r in _records(out))  # JSON-decoded
        assert "bad\\xffname.wsb" in text and "bad\\xfedir" in text and "\udcff" not in text
    assert "bad\\xffname.wsb" in report.read_text(encoding="utf-8")


def test_batch_parses_a_triage_folder_with_names_that_are_not_utf8(bad_names, tmp_path):
    (bad_names / ".sandtrace-triage").write_bytes(b"")
    out = tmp_path / "batch"
    assert cli.main(["batch", str(bad_names), "-o", str(out), "-q"]) == cli.EXIT_OK
    assert _logon_commands(_records(out / "merged.jsonl")) == {
        "\\bad\\xffname.wsb": "C:\\file.cmd",
        "\\bad\\xfedir\\ok.wsb": "C:\\folder.cmd",
        "\\good.wsb": "C:\\good.cmd",
    }
