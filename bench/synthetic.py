"""A larger synthetic case for the benchmarks: an MBR disk with two NTFS volumes.

Each volume (C: and D:) holds ``copies`` (size / 64 MB) sets of event logs
under \\Windows\\System32\\winevt\\Logs with numbered names (the host
scenario's, test_images/host_evtx.py, plus five real logs from
the test corpus's evtx folder when present, docs/test-data.md), its registry hives (config hives once; an NTUSER.DAT per
user profile), a .wsb per profile and filler files of random data that no
parser targets. C: also holds the sandbox scenario: the four Windows Sandbox
disks of test_images/disks under the Containers tree, where sandtrace opens
them (and plaso does with ``--archives vhdi``). ``copies`` grows with the
size, so doubling the size doubles every part of the content.

Needs root, mkntfs and ntfs-3g (a FUSE mount of each volume file; no loop
device). ``build`` raises ``Unavailable`` with the reason otherwise.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONTAINERS = os.path.join("ProgramData", "Microsoft", "Windows", "Containers")
SECTOR = 512
from bench import CORPUS  # noqa: E402

CORPUS_EVTX = os.path.join(CORPUS, "evtx")
REAL_LOGS = ("plaso/System.evtx", "python-evtx/security.evtx", "python-evtx/system.evtx",
             "omerbenamram-evtx/2-vss_7-System.evtx", "omerbenamram-evtx/post-Security.evtx")


class Unavailable(RuntimeError):
    pass


def _check() -> None:
    if os.geteuid() != 0:
        raise Unavailable("building the synthetic image needs root (ntfs-3g FUSE mount)")
    for tool in ("mkntfs", "ntfs-3g"):
        if shutil.which(tool) is None:
            raise Unavailable(f"building the synthetic image needs {tool} (apt-get install ntfs-3g)")


def _content():
    from test_images import host_registry
    from test_images.host_evtx import host_logs

    logs, _ = host_logs()
    for relative in REAL_LOGS:  # real logs with thousands of records, when the corpus is there
        path = os.path.join(CORPUS_EVTX, relative)
        if os.path.exists(path):
            with open(path, "rb") as handle:
                logs[relative.replace("/", "_")] = handle.read()
    hives = {name: getattr(host_registry, f"{name.lower()}_hive")()[0] for name in ("SYSTEM", "SOFTWARE", "SAM")}
    return logs, hives, host_registry.ntuser_hive()[0]


def _populate(mount: str, copies: int, filler_bytes: int, sandbox: bool, seed: int, reserve: int) -> dict:
    logs, hives, ntuser = _content()
    counts = {"evtx_files": 0, "hives": 0, "wsb": 0, "filler_files": 0, "sandbox_disks": 0}
    logs_dir = os.path.join(mount, "Windows", "System32", "winevt", "Logs")
    config = os.path.join(mount, "Windows", "System32", "config")
    os.makedirs(logs_dir)
    os.makedirs(config)
    for name, data in hives.items():
        with open(os.path.join(config, name), "wb") as handle:
            handle.write(data)
        counts["hives"] += 1
    for copy in range(copies):
        for name, data in logs.items():
            stem, extension = os.path.splitext(name)
            with open(os.path.join(logs_dir, f"{stem}-{copy:04d}{extension}"), "wb") as handle:
                handle.write(data)
            counts["evtx_files"] += 1
        profile = os.path.join(mount, "Users", f"user{copy:04d}")
        os.makedirs(os.path.join(profile, "Documents"))
        with open(os.path.join(profile, "NTUSER.DAT"), "wb") as handle:
            handle.write(ntuser)
        counts["hives"] += 1
        with open(os.path.join(profile, "Documents", "tools.wsb"), "w") as handle:
            handle.write(f"<Configuration><Networking>Disable</Networking><MemoryInMB>{1024 + copy}</MemoryInMB></Configuration>\n")
        counts["wsb"] += 1
    if sandbox:
        disks = os.path.join(ROOT, "test_images", "disks")
        for name in sorted(os.listdir(disks)):
            role, rest = name.split("-", 1)
            guid = rest[:36]
            if role == "BaseLayer":
                target = os.path.join(mount, CONTAINERS, "BaseImages", guid, "BaseLayer.vhdx")
            else:
                target = os.path.join(mount, CONTAINERS, "ContainerStorages", guid, "sandbox.vhdx")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with gzip.open(os.path.join(disks, name)) as source, open(target, "wb") as handle:
                shutil.copyfileobj(source, handle)
            counts["sandbox_disks"] += 1
    data_dir = os.path.join(mount, "Data")
    os.makedirs(data_dir)
    block = 4 * 1024 * 1024
    state = seed.to_bytes(8, "little")
    written = 0
    def free() -> int:
        status = os.statvfs(mount)
        return status.f_bavail * status.f_frsize

    while written + block <= filler_bytes and free() - block > reserve:
        import hashlib

        state = hashlib.sha256(state).digest()
        with open(os.path.join(data_dir, f"blob{counts['filler_files']:05d}.bin"), "wb") as handle:
            handle.write(hashlib.shake_256(state).digest(block))  # incompressible, not targeted
        written += block
        counts["filler_files"] += 1
    counts["filler_bytes"] = written
    return counts


def _volume(path: str, size: int, start_sector: int, label: str, copies: int, sandbox: bool, seed: int) -> dict:
    with open(path, "wb") as handle:
        handle.truncate(size)
    subprocess.run(["mkntfs", "-F", "-Q", "-q", "-L", label, "-c", "4096", "-s", str(SECTOR),
                    "-p", str(start_sector), "-H", "255", "-S", "63", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # "not a block device": intended
    mount = tempfile.mkdtemp(prefix="sandtrace-bench-mnt-")
    subprocess.run(["ntfs-3g", path, mount], check=True)
    try:
        return _populate(mount, copies, int(size * 0.6), sandbox, seed, reserve=size // 5)
    finally:
        subprocess.run(["umount", mount], check=True)
        os.rmdir(mount)


def build(path: str, size_mb: int = 256) -> dict:
    """Writes the disk to ``path`` (raw); returns what it holds."""
    _check()
    if size_mb < 128:
        raise ValueError("the synthetic disk needs at least 128 MB (the sandbox disks alone take 40 MB)")
    volume_bytes = (size_mb // 2 - 1) * 1024 * 1024
    copies = max(1, size_mb // 64)  # per volume: about 8 MB of event logs each
    starts = [2048, 2048 + volume_bytes // SECTOR]
    info = {"size_mb": size_mb, "copies_per_volume": copies, "volumes": []}
    work = tempfile.mkdtemp(prefix="sandtrace-bench-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        parts = []
        for index, start in enumerate(starts):
            part = os.path.join(work, f"volume{index}.raw")
            counts = _volume(part, volume_bytes, start, "CD"[index], copies, sandbox=index == 0, seed=index + size_mb)
            info["volumes"].append(counts)
            parts.append(part)
        mbr = bytearray(SECTOR)
        for index, start in enumerate(starts):
            entry = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", 0x07, b"\xfe\xff\xff", start, volume_bytes // SECTOR)
            mbr[446 + 16 * index: 446 + 16 * (index + 1)] = entry
        mbr[510:512] = b"\x55\xaa"
        temporary = path + ".tmp"
        with open(temporary, "wb") as disk:
            disk.write(mbr)
            disk.write(b"\0" * (2048 * SECTOR - SECTOR))
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, disk, 16 * 1024 * 1024)
            disk.write(b"\0" * 1024 * 1024)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["bytes"] = os.path.getsize(path)
    return info


if __name__ == "__main__":
    import json

    print(json.dumps(build(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 256), indent=2))
