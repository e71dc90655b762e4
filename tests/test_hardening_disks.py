"""A sandbox disk without a readable file system costs that disk's contents, never the run (issue 17, item 1)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import pytest

from sandtrace import cli
from sandtrace.engine import vhdx
from tests.test_hardening_vhdx import _regions

writer = pytest.importorskip("test_images.writers.vhdx")
MiB = 1 << 20
STORAGE = ("ProgramData", "Microsoft", "Windows", "Containers", "ContainerStorages",
           "11111111-2222-3333-4444-555555555555")
WSB = b"<Configuration><LogonCommand><Command>cmd.exe /c run.bat</Command></LogonCommand></Configuration>"


def _blank(path) -> None:
    """qemu-img's blank VHDX when qemu-img is here (an independent writer), else ours."""
    if shutil.which("qemu-img"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(path), "64M"], check=True)
    else:
        writer.write_dynamic(bytes(4 * MiB), path)


def _one_block_for_all(path) -> None:
    """Every BAT entry of a written disk points at its first payload block."""
    raw = bytes(range(256)) * (4 * MiB // 256)
    writer.write_dynamic(raw, path)
    data = bytearray(open(path, "rb").read())
    bat = _regions(data)[vhdx.BAT_REGION_GUID]
    first = struct.unpack_from("<Q", data, bat.file_offset)[0]
    for index in range(4):  # 4 payload blocks of 1 MiB (no sector-bitmap entries before chunk_ratio)
        struct.pack_into("<Q", data, bat.file_offset + 8 * index, first)
    open(path, "wb").write(bytes(data))


@pytest.fixture(params=["blank", "one_block_for_all"])
def evidence(request, tmp_path):
    root = tmp_path / "T"
    storage = root.joinpath(*STORAGE)
    storage.mkdir(parents=True)
    {"blank": _blank, "one_block_for_all": _one_block_for_all}[request.param](storage / "sandbox.vhdx")
    (root / "Users" / "a").mkdir(parents=True)
    (root / "Users" / "a" / "attack.wsb").write_bytes(WSB)
    (root / ".sandtrace-triage").write_text("")
    return root


def _events(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def _check(events: list[dict]) -> None:
    configs = [e for e in events if e["data_type"] == "windows:sandbox:wsb_config"]
    assert configs and configs[0]["logon_command"] == "cmd.exe /c run.bat"
    disk_files = [e for e in events if e["data_type"] == "fs:stat" and e["filename"].endswith("sandbox.vhdx")]
    assert disk_files  # the disk file itself is timelined
    warnings = [e["error"] for e in events if e["data_type"] == "sandtrace:warning"]
    assert [w for w in warnings if w.startswith("no file system found in the virtual disk")
            and "sandbox.vhdx" in w], warnings


def test_extract_reads_everything_else_around_a_disk_without_a_file_system(evidence, tmp_path):
    output = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(evidence), "-o", str(output), "--format", "json_line", "-q"]) == cli.EXIT_OK
    _check(_events(output))


def test_batch_reads_everything_else_around_a_disk_without_a_file_system(evidence, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["batch", str(evidence), "-o", str(out), "-q", "--workers", "1"]) == cli.EXIT_OK
    _check(_events(out / "merged.jsonl"))
