"""The command line as an examiner uses it: outputs, sidecar, exit codes, parity with psort."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from sandtrace import cli
from tests.conftest import corpus_file

pytestmark = pytest.mark.corpus


def _run(*argv: str) -> int:
    return cli.main(list(argv))


def test_extract_writes_timeline_and_sidecar(tmp_path):
    image = corpus_file("images", "dfvfs", "vsstest.qcow2")
    out = tmp_path / "t.csv"
    assert _run("extract", image, "--paths", "\\syslog*", "-o", str(out), "--format", "l2tcsv", "-q") == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("date,time,timezone,MACB,source,")
    assert {row.split(",")[12] for row in rows[1:]} == {"NTFS:\\syslog.gz", "VSS1:NTFS:\\syslog", "VSS2:NTFS:\\syslog.gz"}
    meta = json.loads((tmp_path / "t.csv.meta.json").read_text())
    [source] = meta["sources"]
    assert source["kind"] == "QCOW"
    assert source["files"][0]["sha256"] == hashlib.sha256(open(image, "rb").read()).hexdigest()
    assert [v["label"] for v in source["volumes"]] == ["volume", "vss1", "vss2"]
    assert meta["summary"]["files_per_volume"] == {"volume": 1, "vss1": 1, "vss2": 1}
    assert meta["summary"]["events_written"] == 3 * 2 * 4  # 3 files x ($SI + $FN) x 4 times
    assert meta["command_line"][:2] == ["sandtrace", "extract"]
    assert meta["warnings"] == []
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_timesketch_lines_have_what_the_importer_needs(tmp_path):
    image = corpus_file("images", "dfvfs", "vsstest.qcow2")
    out = tmp_path / "t.jsonl"
    assert _run("extract", image, "--paths", "**", "-o", str(out), "--format", "timesketch", "-q") == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) > 100
    for line in lines:
        assert {"message", "datetime", "timestamp_desc", "timestamp", "data_type", "parser", "display_name"} <= set(line)
        moment = datetime.datetime.fromisoformat(line["datetime"])
        assert moment.year >= 1700
        delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        assert line["timestamp"] == delta // datetime.timedelta(microseconds=1)


def test_missing_segment_exits_3_with_one_line(tmp_path, capsys):
    shutil.copy(corpus_file("images", "dfvfs", "ext2.split.E01"), tmp_path / "case.E01")
    code = _run("extract", str(tmp_path / "case.E01"), "-o", str(tmp_path / "o.csv"), "-q")
    err = capsys.readouterr().err
    assert code == cli.EXIT_SOURCE == 3
    assert err.strip().splitlines() == [err.strip()]
    assert "missing segment case.E02" in err
    assert not (tmp_path / "o.csv").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    image = corpus_file("images", "dfvfs", "image.E01")
    assert _run("extract", image, "-o", str(tmp_path / "a"), "--format", "nope") == 2
    assert _run("extract", image, "-o", str(tmp_path / "a"), "--parsers", "nope") == 2
    (tmp_path / "exists.csv").write_text("keep me")
    assert _run("extract", image, "-o", str(tmp_path / "exists.csv")) == 2
    assert (tmp_path / "exists.csv").read_text() == "keep me"
    err = capsys.readouterr().err
    assert "unknown output format: nope" in err and "unknown parser or preset: nope" in err
    assert "output exists" in err


def test_parsers_can_be_excluded(tmp_path):
    image = corpus_file("images", "dfvfs", "image.E01")
    out = tmp_path / "t.jsonl"
    assert _run("extract", image, "--paths", "**", "--parsers", "!filestat", "-o", str(out), "--format", "json_line", "-q") == 0
    assert out.read_text() == ""


def test_info_json_lists_volumes_and_ewf_metadata(capsys):
    assert _run("info", corpus_file("images", "dfvfs", "ext2.split.E01"), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "EWF"
    assert [os.path.basename(s) for s in info["ewf"]["segments"]] == ["ext2.split.E01", "ext2.split.E02"]
    assert [v["display_prefix"] for v in info["volumes"]] == ["EXT:"]


def test_plugins_lists_parsers_and_formats(capsys):
    assert _run("plugins") == 0
    out = capsys.readouterr().out
    assert "filestat" in out and "fs:stat:ntfs" in out
    for name in ("dynamic", "json_line", "l2tcsv", "plaso", "timesketch"):
        assert name in out


def test_real_extraction_equals_psort_of_the_same_events(tmp_path):
    """The same run written as .plaso and rendered by psort equals sandtrace's own outputs."""
    pytest.importorskip("plaso")
    image = corpus_file("images", "dfvfs", "vsstest.qcow2")
    store = tmp_path / "case.plaso"
    assert _run("extract", image, "--paths", "**", "-o", str(store), "--format", "plaso", "-q") == 0
    psort = os.path.join(os.path.dirname(sys.executable), "psort")
    cases = {"l2tcsv": ["--output_fallback_path"], "dynamic": [], "json_line": []}
    running = {
        fmt: subprocess.Popen(
            [psort, "-q", "-u", "--status_view", "none", "--logfile", str(tmp_path / f"{fmt}.log"),
             "-o", fmt, "-w", str(tmp_path / f"psort.{fmt}"), *flags, str(store)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        for fmt, flags in cases.items()
    }
    for fmt in cases:
        assert _run("extract", image, "--paths", "**", "-o", str(tmp_path / f"st.{fmt}"), "--format", fmt, "-q") == 0
    for fmt, process in running.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode(errors="replace")
        ours = (tmp_path / f"st.{fmt}").read_text().splitlines()
        theirs = (tmp_path / f"psort.{fmt}").read_text().splitlines()
        assert len(ours) > 100
        assert ours == theirs, fmt


@pytest.mark.parametrize("command", [["plugins"], ["info", "test_images/host.E01"], ["info", "test_images/host.E01", "--json"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(command):
    """Issue 20 item 10: ``sandtrace info --json | head -1`` and ``plugins | head`` ended in
    BrokenPipeError with exit 1; the reader gone, sandtrace stops, says nothing, exits 0."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen([sys.executable, "-m", "sandtrace.cli", *command], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": root})
    process.stdout.close()  # the reader is gone before the first line
    _, err = process.communicate(timeout=120)
    assert (process.returncode, err) == (0, b"")


def test_info_lists_the_partitions_of_an_image_none_of_which_holds_a_file_system(tmp_path, capsys):
    """Issue 20 item 10: an MBR whose partitions hold no known file system is listed, not refused as
    "not a disk image" (exit 3); a file with no partition table either is still refused."""
    import struct

    mbr = bytearray(512)
    for number, (kind, start, count) in enumerate([(0x07, 2048, 4096), (0x83, 6144, 8192)]):
        mbr[446 + 16 * number:462 + 16 * number] = struct.pack("<B3sB3sII", 0, b"\0" * 3, kind, b"\0" * 3, start, count)
    mbr[510:] = b"\x55\xaa"
    image = tmp_path / "mbr.raw"
    with open(image, "wb") as handle:
        handle.write(bytes(mbr))
        handle.truncate(8 << 20)
    assert cli.main(["info", str(image), "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert [(p["identifier"], p["offset"], p["size"]) for p in described["partitions"]] == [
        ("p1", 2048 * 512, 4096 * 512), ("p2", 6144 * 512, 8192 * 512)]
    assert described["volumes"] == [] and "no partition holds a file system" in described["note"]
    assert cli.main(["info", str(image)]) == 0
    assert "volumes: none" in capsys.readouterr().out
    blank = tmp_path / "blank.raw"
    blank.write_bytes(bytes(2 << 20))
    assert cli.main(["info", str(blank)]) == cli.EXIT_SOURCE
