"""NTFS images, made at test time, whose free clusters hold an event log chunk and hive bins.

What is left in free space is written by ntfs-3g into a file (``ntfscp``)
whose data is then freed (``ntfstruncate`` to 0 bytes: the clusters are
unallocated and still hold the bytes, as after a deletion). Beside it stay
live files holding part of the same evidence, which must not come out twice:

- ``Security.evtx`` (live): records 1-3 of a Security log; the freed chunk
  is the same log later, records 1-5 (1-3 byte for byte the live ones);
- ``SOFTWARE`` (live): the Windows Sandbox policy key as it is now; the
  freed bins are the hive earlier, with that key written before (other
  values) and a ``.wsb`` file association since removed;
- garbage: an ``ElfChnk`` and an ``hbin`` signature followed by noise.

``nested`` puts a second such volume inside a VHDX whose file is freed on the
host too: ``--carve`` rebuilds it, and its own free space is carved at depth 1.
Used by tests/test_free_space_carving.py and bench/free_space_carving.py.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field

from test_images.writers import evtx as evtx_writer
from test_images.writers import regf as regf_writer

TOOLS = ("mkntfs", "ntfscp", "ntfstruncate", "ntfsls")
T0 = 133_500_000_000_000_000  # 2024-01-20, FILETIME
SECOND = 10_000_000
SANDBOX = "C:\\Windows\\System32\\WindowsSandbox.exe"


def available() -> bool:
    return all(shutil.which(tool) for tool in TOOLS)


@dataclass
class Planted:
    """An image and where its freed data lies."""

    path: str
    freed_offset: int  # volume offset of the freed file's first byte
    chunk_offset: int  # of the event log chunk (the first of its copies)
    chunk_copies: list[int] = field(default_factory=list)
    bins_offset: int = 0
    live_records: tuple[int, ...] = (1, 2, 3)
    carved_records: tuple[int, ...] = (4, 5)
    record_offsets: dict[int, int] = field(default_factory=dict)  # record id -> offset in its chunk


def security_log(count: int, first: int = 1, computer: str = "WIN11-HOST") -> evtx_writer.EvtxLog:
    """A Security log: 4688 of WindowsSandbox.exe, then logons, ``count`` records from ``first``."""
    log = evtx_writer.EvtxLog(channel="Security", computer=computer, first_record_id=first)
    for index in range(count):
        time = T0 + (first + index) * 60 * SECOND
        if index % 2 == 0:
            log.add("Microsoft-Windows-Security-Auditing", 4688, time, data=[
                ("SubjectUserName", "alice"), ("NewProcessName", SANDBOX),
                ("CommandLine", f"{SANDBOX} C:\\ProgramData\\run{first + index}.wsb")])
        else:
            log.add("Microsoft-Windows-Security-Auditing", 4624, time, data=[
                ("TargetUserName", "alice"), ("LogonType", evtx_writer.UInt32(2))])
    return log


def software_hive(earlier: bool) -> bytes:
    """A SOFTWARE hive: the sandbox policy (earlier: written before, networking on) and,
    earlier only, the ``.wsb`` association."""
    hive = regf_writer.Hive(root_name="CMI-CreateHive{199DAFC2}", last_written=T0, default_time=T0)
    hive.key("Microsoft\\Windows\\CurrentVersion")
    policy = hive.key("Policies\\Microsoft\\Windows\\Sandbox", last_written=T0 + (100 if earlier else 900) * SECOND)
    policy.set_value("AllowNetworking", regf_writer.REG_DWORD, 1 if earlier else 0)
    if earlier:
        hive.key("Classes\\.wsb", last_written=T0 + 200 * SECOND).set_value("", regf_writer.REG_SZ, "Windows.Sandbox")
    else:
        hive.key("Classes\\.txt", last_written=T0).set_value("", regf_writer.REG_SZ, "txtfile")
    return hive.to_bytes()


def freed_content(chunk: bytes, bins: bytes, seed: int = 7) -> tuple[bytes, dict[str, int]]:
    """The freed file: the chunk twice (two stale copies), the bins, garbage; and where each lies."""
    noise = random.Random(seed)
    garbage_chunk = b"ElfChnk\x00" + bytes(noise.getrandbits(8) for _ in range(4088))
    garbage_bin = b"hbin" + bytes(noise.getrandbits(8) for _ in range(4092))
    parts = [("chunk", chunk), ("copy", chunk), ("bins", bins), ("garbage", garbage_chunk + garbage_bin)]
    content, where = b"", {}
    for name, data in parts:
        where[name] = len(content)
        content += data
    return content, where


def build_volume(folder: str, name: str, size: int, live: dict[str, bytes], freed: bytes) -> tuple[str, int]:
    """An NTFS image with the ``live`` files and ``freed`` in freed clusters; (path, offset of ``freed``)."""
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
        handle.truncate(size)
    subprocess.run(["mkntfs", "-q", "-F", "-f", "-L", name.split(".")[0], path], check=True, capture_output=True)
    for file_name, data in {**live, "freed.bin": freed}.items():
        source = os.path.join(folder, f"{name}-{file_name}")
        with open(source, "wb") as handle:
            handle.write(data)
        subprocess.run(["ntfscp", "-q", path, source, file_name], check=True, capture_output=True)
    listing = subprocess.run(["ntfsls", "-i", path], check=True, capture_output=True, text=True).stdout
    inode = next(line.split()[0] for line in listing.splitlines() if line.split()[-1] == "freed.bin")
    subprocess.run(["ntfstruncate", path, inode, "0x80", "0"], check=True, capture_output=True)
    with open(path, "rb") as handle:
        image = handle.read()
    offset = image.find(freed[:4096])
    assert offset > 0 and offset % 4096 == 0, "ntfs-3g did not write the file where expected"
    return path, offset


def host_volume(folder: str) -> Planted:
    """The host volume: live Security.evtx (records 1-3) and SOFTWARE, the freed log and hive."""
    chunk, offsets = _chunk(security_log(5))
    bins = software_hive(earlier=True)[regf_writer.BASE_BLOCK_SIZE:]
    freed, where = freed_content(chunk, bins)
    live = {"Security.evtx": security_log(3).to_bytes(), "SOFTWARE": software_hive(earlier=False)}
    path, offset = build_volume(folder, "host.raw", 24 << 20, live, freed)
    return Planted(path, offset, offset + where["chunk"], [offset + where["chunk"], offset + where["copy"]],
                   offset + where["bins"], record_offsets=offsets)


def _chunk(log: evtx_writer.EvtxLog) -> tuple[bytes, dict[int, int]]:
    """The log's first chunk and its records' offsets in it."""
    raw = log.to_bytes()
    chunk = raw[evtx_writer.FILE_HEADER_SIZE:evtx_writer.FILE_HEADER_SIZE + evtx_writer.CHUNK_SIZE]
    from sandtrace.parsers import winevtx_recovery

    offsets = {slot.record_id: slot.offset for slot in winevtx_recovery.carve_records(chunk)}
    return chunk, offsets


@dataclass
class Nested:
    """A host volume whose free clusters hold a VHDX whose own volume's free clusters hold a chunk."""

    path: str
    disk_offset: int  # host volume offset of the freed VHDX
    inner_chunk_offset: int  # inner volume offset of the freed chunk
    record_offsets: dict[int, int] = field(default_factory=dict)


def nested_host(folder: str) -> Nested:
    """The guest's Security log (records 10-12 live, 10-14 in its free space) in a disk freed on the host."""
    from test_images.writers import vhdx as vhdx_writer

    guest = "A8DC5139-5E6D-4"
    chunk, offsets = _chunk(security_log(5, first=10, computer=guest))
    freed, where = freed_content(chunk, b"")
    live = {"Security.evtx": security_log(3, first=10, computer=guest).to_bytes()}
    inner, inner_offset = build_volume(folder, "guest.raw", 8 << 20, live, freed)
    disk = os.path.join(folder, "sandbox.vhdx")
    vhdx_writer.write_dynamic(inner, disk)
    with open(disk, "rb") as handle:
        disk_bytes = handle.read()
    path, offset = build_volume(folder, "nested-host.raw", 32 << 20, {}, disk_bytes)
    return Nested(path, offset, inner_offset + where["chunk"], offsets)
