"""A never-used MFT record (all zero bytes) is counted, not reported as corruption (issue 17, item 7)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

from sandtrace import cli

RECORD = 1024


@pytest.fixture
def image(tmp_path):
    if not shutil.which("mkntfs"):
        pytest.skip("mkntfs (ntfs-3g) is not installed")
    path = tmp_path / "ntfs.raw"
    with open(path, "wb") as handle:
        handle.truncate(16 << 20)
    subprocess.run(["mkntfs", "-q", "-F", "-f", str(path)], check=True, capture_output=True)
    data = bytearray(path.read_bytes())
    cluster = struct.unpack_from("<H", data, 11)[0] * data[13]
    mft = struct.unpack_from("<Q", data, 0x30)[0] * cluster
    assert data[mft:mft + 4] == b"FILE"
    for index in (25, 26):  # room in the MFT that never held a file
        data[mft + index * RECORD:mft + (index + 1) * RECORD] = bytes(RECORD)
    struct.pack_into("<H", data, mft + 24 * RECORD + 0x14, 0xFFF0)  # damaged: attributes offset out of bounds
    path.write_bytes(bytes(data))
    return path


def test_never_used_records_are_counted_and_only_the_damaged_one_warns(image, tmp_path):
    output = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(image), "-o", str(output), "--format", "json_line", "-q"]) == cli.EXIT_OK
    warnings = [event["error"] for event in map(json.loads, output.read_text().splitlines())
                if event["data_type"] == "sandtrace:warning"]
    corrupt = [w for w in warnings if w.startswith("MFT entry")]
    assert len(corrupt) == 1 and corrupt[0].startswith("MFT entry 24 is corrupt"), warnings
    sidecar = json.loads((tmp_path / "t.jsonl.meta.json").read_text())
    assert sidecar["summary"]["collector"]["mft_entries_never_used"] == 2
