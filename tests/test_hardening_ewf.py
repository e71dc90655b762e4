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
