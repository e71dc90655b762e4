#!/usr/bin/env python3
"""Build the crafted NTFS volume of the hardening tests: attribute lists and a junction loop.

Run as root by ``build.py`` (``make test-images``); writes
``test_images/hardening/ntfs_loops.raw.gz`` (a 3 MiB NTFS volume, gzip,
mtime 0) and ``ntfs_loops.json`` (what was planted where). Clocks are faked
as in build.py, so a rebuild is byte-identical.

Planted, all under ``\\loop``:

- ``intact.txt``: 60 alternate data streams, so ntfs-3g moves attributes to
  extension MFT records and gives the file an $ATTRIBUTE_LIST; left intact.
  Its extension records must not appear as files of their own.
- ``selfref.txt``: the same, then every $ATTRIBUTE_LIST entry that names an
  extension record is patched to name the base record itself (a loop back to
  the record holding the list). Its $FILE_NAME lives in an extension record
  the list no longer names, so the entry is nameless to a reader that trusts
  the list: a warning, never a hang.
- ``back``: a directory junction (IO_REPARSE_TAG_MOUNT_POINT) whose target is
  ``\\??\\C:\\loop``, its own parent folder: following it would never end.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402  (sibling build helpers: faked clocks, the ntfs-3g mount)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "hardening")
FORMAT_TIME = "2025-02-03 10:00:00"
SIZE = 3 * 1024 * 1024
STREAMS = 60
JUNCTION_TARGET = "\\??\\C:\\loop"
MOUNT_POINT_TAG = 0xA0000003
ATTRIBUTE_LIST = 0x20


def junction_reparse_data(target: str, printed: str) -> bytes:
    """REPARSE_DATA_BUFFER of a mount point (MS-FSCC 2.1.2.5)."""
    substitute = target.encode("utf-16-le")
    shown = printed.encode("utf-16-le")
    buffer = substitute + b"\0\0" + shown + b"\0\0"
    body = struct.pack("<HHHH", 0, len(substitute), len(substitute) + 2, len(shown)) + buffer
    return struct.pack("<IHH", MOUNT_POINT_TAG, len(body), 0) + body


def populate(image: str, work: str) -> dict[str, int]:
    clock = build.FakedClock(os.path.join(work, "clock"))
    clock.set(FORMAT_TIME)
    entries = {}
    with build.NtfsMount(image, os.path.join(work, "mnt"), clock) as root:
        folder = os.path.join(root, "loop")
        os.mkdir(folder)
        for name in ("intact.txt", "selfref.txt"):
            path = os.path.join(folder, name)
            with open(path, "w") as handle:
                handle.write(f"{name}\n")
            for number in range(1, STREAMS + 1):
                # ntfs-3g's default streams interface: named data as user xattrs
                os.setxattr(path, f"user.s{number:03d}", f"stream {number}\n".encode())
            entries[name] = os.stat(path).st_ino
        os.mkdir(os.path.join(folder, "back"))
        entries["back"] = os.stat(os.path.join(folder, "back")).st_ino
        subprocess.run(["setfattr", "-n", "system.ntfs_reparse_data", "-v",
                        "0x" + junction_reparse_data(JUNCTION_TARGET, "C:\\loop").hex(),
                        os.path.join(folder, "back")], check=True)
        entries["loop"] = os.stat(folder).st_ino
    return entries


def _attributes(record: bytes):
    offset = struct.unpack_from("<H", record, 0x14)[0]
    while offset + 8 <= len(record):
        kind, length = struct.unpack_from("<II", record, offset)
        if kind == 0xFFFFFFFF or length == 0:
            return
        yield kind, offset
        offset += length


def loop_attribute_list(raw: bytearray, entry: int) -> list[int]:
    """Points every $ATTRIBUTE_LIST entry of ``entry`` at ``entry`` itself; returns the records it named before."""
    bytes_per_sector, sectors_per_cluster = struct.unpack_from("<HB", raw, 0x0B)
    cluster = bytes_per_sector * sectors_per_cluster
    (mft_cluster,) = struct.unpack_from("<Q", raw, 0x30)
    start = mft_cluster * cluster + entry * 1024
    record = bytes(raw[start:start + 1024])
    sequence = struct.unpack_from("<H", record, 0x10)[0]
    offset = next(o for kind, o in _attributes(record) if kind == ATTRIBUTE_LIST)
    if not record[offset + 8]:
        raise RuntimeError("the attribute list is resident; expected ntfs-3g to move it out")
    runs = offset + struct.unpack_from("<H", record, offset + 0x20)[0]
    size = struct.unpack_from("<Q", record, offset + 0x30)[0]
    header = record[runs]
    length_size, offset_size = header & 0x0F, header >> 4
    lcn = int.from_bytes(record[runs + 1 + length_size:runs + 1 + length_size + offset_size], "little")
    data = lcn * cluster
    named, position = [], 0
    while position < size:
        length = struct.unpack_from("<H", raw, data + position + 4)[0]
        reference = struct.unpack_from("<Q", raw, data + position + 16)[0] & 0xFFFFFFFFFFFF
        if reference != entry:
            named.append(reference)
            struct.pack_into("<Q", raw, data + position + 16, entry | (sequence << 48))
        position += length
    return sorted(set(named))


def main(out_dir: str = OUT_DIR) -> None:
    build.check_environment()
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sandtrace-hardening-") as work:
        image = os.path.join(work, "ntfs_loops.raw")
        with open(image, "wb") as handle:
            handle.truncate(SIZE)
        build.run(["mkntfs", "-q", "-F", "-f", "-L", "LOOPS", "-s", "512", "-c", "4096",
                   "-p", "0", "-H", "255", "-S", "63", image], env=build.faked(FORMAT_TIME))
        entries = populate(image, work)
        raw = bytearray(open(image, "rb").read())
        extension_records = loop_attribute_list(raw, entries["selfref.txt"])
        with open(os.path.join(out_dir, "ntfs_loops.raw.gz"), "wb") as handle:
            with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as packed:
                packed.write(bytes(raw))
    truth = {
        "entries": entries,
        "selfref_extension_records": extension_records,
        "junction_target": JUNCTION_TARGET,
        "streams_per_file": STREAMS,
        "format_time": FORMAT_TIME,
    }
    with open(os.path.join(out_dir, "ntfs_loops.json"), "w") as handle:
        json.dump(truth, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print(f"ntfs_loops.raw.gz: entries {entries}, selfref extension records {extension_records}")


if __name__ == "__main__":
    main()
