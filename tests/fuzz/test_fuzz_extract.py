"""End-to-end fuzzing through ``extract``: a damaged file or disk costs what it holds, nothing else.

The harnesses in this folder call parsers directly; these run the whole
pipeline (collection, parsers, plugins, timeliner, tagger, json_line writer)
in-process as the command line does, on a triage folder with one file or one
nested disk mutated, and assert what must survive: every line the undamaged
files give on their own is still in the output, byte for byte, and the run
ends with exit code 0. ``make test`` runs a few examples of each, ``make
fuzz`` a fifth of its budget (each example is a whole run).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandtrace import cli
from tests.fuzz.budget import fewer
from tests.fuzz.mutate import mutated

evtx_writer = pytest.importorskip("test_images.writers.evtx")
vhdx_writer = pytest.importorskip("test_images.writers.vhdx")

FT = 133814880000000000
FT_POSIX = 1_700_000_000
_CHANGING_HOST_TIMES = {"Last Access Time", "Metadata Modification Time", "Creation Time"}
LOGS = ("Windows", "System32", "winevt", "Logs")
STORAGE = ("ProgramData", "Microsoft", "Windows", "Containers", "ContainerStorages",
           "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71")
WSB = (b"<Configuration><MappedFolders><MappedFolder><HostFolder>C:\\Users\\Public\\drop</HostFolder>"
       b"<ReadOnly>false</ReadOnly></MappedFolder></MappedFolders>"
       b"<LogonCommand><Command>C:\\Users\\WDAGUtilityAccount\\Desktop\\drop\\run.cmd</Command></LogonCommand>"
       b"</Configuration>")


@functools.lru_cache(maxsize=1)
def two_chunk_log() -> bytes:
    """A Security log whose 30 records fill two chunks."""
    log = evtx_writer.EvtxLog("Security", "WIN11-HOST")
    for index in range(30):
        log.add("Microsoft-Windows-Security-Auditing", 4624, FT + index * 10_000_000,
                data=[("TargetUserName", f"user{index}"), ("LogonType", 2),
                      ("ProcessName", "C:\\Windows\\System32\\svchost.exe" + "x" * 1500)])
    data = log.to_bytes()
    assert len(data) == 4096 + 2 * 0x10000, "the seed log must span two chunks"
    return data


@functools.lru_cache(maxsize=1)
def system_hive() -> bytes:
    from tests.test_winreg import system_hive as build

    return build()


@functools.lru_cache(maxsize=1)
def nested_disk() -> bytes:
    """A sandbox disk (VHDX > FAT16) holding one .wsb, made with mkfs.fat."""
    from tests.test_hardening_limits import _fat_with_file

    with tempfile.TemporaryDirectory() as folder:
        fat = _fat_with_file(4, b"INNER   WSB", WSB, os.path.join(folder, "fat.img"))
        vhdx_writer.write_dynamic(fat, os.path.join(folder, "d.vhdx"))
        with open(os.path.join(folder, "d.vhdx"), "rb") as handle:
            return handle.read()


FILES = {
    "log": (LOGS + ("Security.evtx",), two_chunk_log),
    "hive": (("Windows", "System32", "config", "SYSTEM"), system_hive),
    "wsb": (("Users", "alice", "Desktop", "attack.wsb"), lambda: WSB),
    "disk": (STORAGE + ("sandbox.vhdx",), nested_disk),
}


def _lay_out(root: str, replaced: dict[str, bytes]) -> None:
    for name, (parts, seed) in FILES.items():
        path = os.path.join(root, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(replaced.get(name, seed()))
        os.utime(path, (FT_POSIX, FT_POSIX))


def _extract(replaced: dict[str, bytes]) -> list[str]:
    """The json_line lines of a run over the triage folder with ``replaced`` files.

    Each run gets a folder of its own (dfVFS caches what it opened by path: one
    process running twice over rewritten files at the same paths would read stale
    data, which no real run does) and the folder's path is written as ROOT."""
    root = tempfile.mkdtemp(prefix="triage-", dir=_workspace())
    try:
        _lay_out(root, replaced)
        output = root + ".jsonl"
        code = cli.main(["extract", root, "-o", output, "--format", "json_line", "-q", "--workers", "0",
                         "--overwrite", "--nested-disks", "all"])
        assert code == cli.EXIT_OK
        with open(output, encoding="utf-8") as handle:
            return handle.read().replace(root, "ROOT").splitlines()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        for leftover in (root + ".jsonl", root + ".jsonl.meta.json"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _of(lines: list[str], name: str) -> list[str]:
    """The lines a file (or what is inside it) gave: its display name names it. The host
    folder's own times of the file that each example changes (writing the files anew,
    reading them) are left out; the modification time is set (``_lay_out``)."""
    marker = "/".join(FILES[name][0])
    found = []
    for line in lines:
        record = json.loads(line)
        display_name = record.get("display_name", "")
        on_host = ">" not in display_name
        if marker in display_name and not (on_host and (record["data_type"] == "fs:stat" or record.get(
                "timestamp_desc") in _CHANGING_HOST_TIMES)):
            found.append(line)
    return found


@functools.lru_cache(maxsize=1)
def _workspace() -> str:
    return tempfile.mkdtemp(prefix="sandtrace-fuzz-e2e-")


@functools.lru_cache(maxsize=1)
def baseline() -> tuple[str, ...]:
    return tuple(_extract({}))


def test_the_baseline_holds_every_file():
    if not shutil.which("mkfs.fat"):
        pytest.skip("mkfs.fat (dosfstools) is not installed")
    lines = list(baseline())
    records = [json.loads(line) for line in _of(lines, "log")]
    assert sorted({r["record_number"] for r in records if r["data_type"] == "windows:evtx:record"}) == list(range(1, 31))
    configs = [json.loads(line) for line in _of(lines, "wsb")]
    assert {c.get("logon_command") for c in configs if c["data_type"] == "windows:sandbox:wsb_config"} == {
        "C:\\Users\\WDAGUtilityAccount\\Desktop\\drop\\run.cmd"}
    assert any(json.loads(line)["data_type"] == "windows:registry:service" for line in _of(lines, "hive"))
    inner = [json.loads(line) for line in _of(lines, "disk")]
    assert any(r["data_type"] == "windows:sandbox:wsb_config" and "INNER.WSB" in r["display_name"].upper() for r in inner)
    assert not [line for line in lines if '"sandtrace:warning"' in line]


@pytest.mark.parametrize("name", sorted(FILES))
def test_one_damaged_file_costs_nothing_else(name):
    if not shutil.which("mkfs.fat"):
        pytest.skip("mkfs.fat (dosfstools) is not installed")
    expected = {other: _of(list(baseline()), other) for other in FILES if other != name}
    seed = FILES[name][1]()

    @fewer(10)
    @given(mutation=mutated(seed))
    def run(mutation):
        lines = set(_extract({name: bytes(mutation)}))
        for other, wanted in expected.items():
            missing = [line for line in wanted if line not in lines]
            assert not missing, f"{len(missing)} lines of the undamaged {other} lost, first: {missing[0][:300]}"

    run()


def test_a_damaged_chunk_costs_no_record_of_the_other_chunk():
    """Bytes changed in chunk 1 only: every record of chunk 0 is emitted exactly as before."""
    log = two_chunk_log()
    wanted = [line for line in _of(list(baseline()), "log")
              if json.loads(line).get("record_number", 99) <= _last_in_chunk_0(log)]
    assert wanted

    wanted = [_without_file_hash(line) for line in wanted]

    @fewer(10)
    @given(mutation=mutated(log, region=(4096 + 0x10000, len(log))))
    def run(mutation):
        lines = {_without_file_hash(line) for line in _extract({"log": bytes(mutation)})}
        missing = [line for line in wanted if line not in lines]
        assert not missing, f"{len(missing)} records of the undamaged chunk lost, first: {missing[0][:300]}"

    run()


def _without_file_hash(line: str) -> str:
    """The line less sha256_hash: the hash of the whole file changes with any byte of it."""
    record = json.loads(line)
    record.pop("sha256_hash", None)
    return json.dumps(record, sort_keys=True)


def _last_in_chunk_0(log: bytes) -> int:
    return int.from_bytes(log[4096 + 16:4096 + 24], "little")  # the chunk header's last record number
