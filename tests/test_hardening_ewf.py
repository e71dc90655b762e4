"""E01 diagnostics an examiner can act on: a truncated segment named as such, bad chunks
named by sector range with the files in them (issue 17, items 13 and 14)."""

from __future__ import annotations

import os
import shutil

import pytest

from sandtrace import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEGMENTS = [os.path.join(ROOT, "test_images", f"host.E0{n}") for n in (1, 2)]


@pytest.fixture
def case(tmp_path):
    for segment in SEGMENTS:
        shutil.copy(segment, tmp_path)
    return tmp_path


@pytest.mark.parametrize("segment, size, goes_on", [("host.E02", 400_000, 802_619), ("host.E01", 575_000, 1_127_814)])
def test_a_segment_cut_short_is_named_as_truncated_not_missing(case, capsys, segment, size, goes_on):
    os.truncate(case / segment, size)
    code = cli.main(["extract", str(case / "host.E01"), "-o", str(case / "t.jsonl"), "-q"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_SOURCE
    assert err.strip() == (f"sandtrace: truncated segment {segment}: {size:,} bytes, but its section chain goes on "
                           f"at offset {goes_on:,} (at least {goes_on + 76:,} bytes expected); cut short while copying?")
    assert not (case / "t.jsonl").exists()


def test_a_missing_last_segment_is_still_called_missing(case, capsys):
    os.unlink(case / "host.E02")
    assert cli.main(["extract", str(case / "host.E01"), "-o", str(case / "t.jsonl"), "-q"]) == cli.EXIT_SOURCE
    assert "missing segment host.E02 (have 1 segment(s) of host.E01)" in capsys.readouterr().err


def _flipped_foundation(folder) -> str:
    for name in ("foundation.E01", "foundation.E02"):
        shutil.copy(os.path.join(ROOT, "test_images", name), folder / name)
    data = bytearray((folder / "foundation.E01").read_bytes())
    data[300_000] ^= 0xFF  # inside the compressed data of one chunk of the first segment
    (folder / "foundation.E01").write_bytes(bytes(data))
    return str(folder / "foundation.E01")


def _ewfverify_ranges(image: str) -> list[tuple[int, int, int]]:
    """(first, last, count) of each 'at sector(s): A - B (number: N)' line of ewfverify, the reference."""
    import re
    import subprocess

    if not shutil.which("ewfverify"):
        pytest.skip("ewfverify (ewf-tools) is not installed")
    text = subprocess.run(["ewfverify", "-q", image], capture_output=True, text=True).stdout
    return [tuple(map(int, m)) for m in re.findall(r"at sector\(s\): (\d+) - (\d+) \(number: (\d+)\)", text)]


def test_a_bad_chunk_is_named_by_sector_range_with_the_files_in_it(tmp_path, capsys):
    import json

    image = _flipped_foundation(tmp_path)
    reference = _ewfverify_ranges(image)
    assert reference == [(42240, 42303, 64)]
    first, last, count = reference[0]
    said = (f"E01 chunk checksum error: sectors {first} - {last} ({count} sectors, media bytes 0x14a0000-0x14a7fff) in "
            "foundation.E01: the data there is damaged; files with data there: NTFS:\\Users\\alice\\Documents\\archive.bin")
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", image, "-o", str(out), "--format", "json_line"]) == cli.EXIT_OK  # no --verify
    assert f"sandtrace: warning: {said}" in capsys.readouterr().err
    timeline = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["error"] for e in timeline if e["data_type"] == "sandtrace:warning" and e["parser"] == "ewf"] == [said]
    meta = json.loads((tmp_path / "t.jsonl.meta.json").read_text())
    assert meta["sources"][0]["chunk_errors"] == [{"first_sector": first, "sectors": count, "segment": image,
                                                   "files": ["NTFS:\\Users\\alice\\Documents\\archive.bin"]}]
    assert [w["error"] for w in meta["warnings"] if w["parser"] == "ewf"] == [said]
    # batch records the same in each source's sidecar
    assert cli.main(["batch", str(tmp_path / "foundation.E01"), "-o", str(tmp_path / "b"), "-q", "--workers", "1"]) == 0
    meta = json.loads((tmp_path / "b" / "sources" / "foundation" / "timeline.meta.json").read_text())
    assert [w["error"] for w in meta["warnings"] if w["parser"] == "ewf"] == [said]


def test_an_undamaged_e01_has_no_chunk_error(tmp_path):
    import json

    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", SEGMENTS[0], "-o", str(out), "--format", "json_line", "-q", "--parsers", "wsb"]) == 0
    meta = json.loads((tmp_path / "t.jsonl.meta.json").read_text())
    assert meta["sources"][0]["chunk_errors"] == []  # checked, none damaged
    assert not [w for w in meta["warnings"] if w["parser"] == "ewf"]
    assert cli.main(["extract", SEGMENTS[0], "-o", str(out), "--format", "json_line", "-q", "--parsers", "wsb",
                     "--no-hash", "--overwrite"]) == 0
    assert "chunk_errors" not in json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]
