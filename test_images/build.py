#!/usr/bin/env python3
"""Build sandtrace's test images and their ground truth, deterministically.

Run as root (``make test-images``). Needs Debian's ntfs-3g, gdisk,
dosfstools, ewf-tools and faketime (see README.md). The image is described
by data (``FOUNDATION`` below: a disk layout and a list of planted files with
the times they must carry); each build step is one function:

    make_esp -> make_ntfs -> populate_ntfs -> patch_mft -> assemble_disk
    -> acquire_ewf -> ground_truth (foundation.expected.json) -> update_readme

A later, larger scenario (registry hives, EVTX files, nested VHDX disks) is
another Scenario value; a file's content may be a function that builds it.

Every clock the tools read is faked with libfaketime, so two builds give a
byte-identical raw disk (and, with the same libewf and zlib, identical E01
segments). The ground truth is what this script *set*; the build re-reads
the MFT records to confirm it, and tests/test_test_images.py checks the
committed E01 against it with independent readers (libewf, libfsntfs, TSK).
"""

import argparse
import dataclasses
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional, Union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for test_images.*
import ntfs_raw  # noqa: E402  (a sibling build helper, not a package)
from wsb_fixtures import OLD_CONFIG_WSB, SANDBOX_DEMO_WSB, UPDATE_WSB, crlf  # noqa: E402  (shared with the host image)

HERE = os.path.dirname(os.path.abspath(__file__))
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))),
                   "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SECTOR = 512
FILETIME_EPOCH_DELTA = 116444736000000000  # 100ns ticks from 1601 to 1970

REQUIRED_TOOLS = ("sgdisk", "mkfs.fat", "mkntfs", "ntfs-3g", "ewfacquire", "umount")


# --- time helpers ----------------------------------------------------------

def filetime(text):
    """FILETIME (100ns ticks since 1601, UTC) from 'YYYY-MM-DD HH:MM:SS[.fffffff]'."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{1,7}))?", text)
    if not match:
        raise ValueError("bad time %r" % text)
    whole = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    seconds = int(whole.replace(tzinfo=datetime.timezone.utc).timestamp())
    ticks = int((match.group(2) or "0").ljust(7, "0"))
    return seconds * 10_000_000 + FILETIME_EPOCH_DELTA + ticks


def filetime_to_posix_us(value):
    """Microseconds since 1970 as plaso stores them: dfdatetime's
    Filetime.GetPlasoTimestamp rounds the 100ns digit half up (it does not
    truncate), so x.xxxxxx5 becomes x.xxxxx(x+1)."""
    return (value - FILETIME_EPOCH_DELTA + 5) // 10


def filetime_to_iso(value):
    """ISO-8601 UTC string of the plaso timestamp (microseconds, rounded)."""
    micros = filetime_to_posix_us(value)
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(microseconds=micros)
    return moment.isoformat(timespec="microseconds")


def filetime_to_iso_100ns(value):
    """ISO-8601 UTC string with all seven fractional digits of the FILETIME."""
    seconds, ticks = divmod(value - FILETIME_EPOCH_DELTA, 10_000_000)
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
        datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".%07d+00:00" % ticks


def clock_string(value):
    """libfaketime's absolute-time format; whole seconds only."""
    if (value - FILETIME_EPOCH_DELTA) % 10_000_000:
        raise ValueError("a faked clock reading has no sub-second part")
    seconds = (value - FILETIME_EPOCH_DELTA) // 10_000_000
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass(frozen=True)
class Times:
    """The four NTFS timestamps of one attribute, named as plaso names them."""
    creation: str
    modification: str
    access: str
    entry_modification: str

    def as_filetimes(self):
        return {kind: filetime(getattr(self, kind)) for kind in TIME_KINDS}


# attribute name -> plaso timestamp_desc (plaso/lib/definitions.py)
TIME_KINDS = {
    "creation": "Creation Time",
    "modification": "Content Modification Time",
    "access": "Last Access Time",
    "entry_modification": "Metadata Modification Time",
}


# --- the scenario, as data ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PlantedFile:
    """A file put on the NTFS volume with known times.

    ``si`` is written through ntfs-3g's ``system.ntfs_times`` xattr; its
    entry_modification (change) time is whatever ntfs-3g's clock reads at
    that moment, so it must be a whole second. ``fn`` is written into the
    $FILE_NAME attribute of the MFT record after unmounting. The ntfs-3g
    clock reads ``fn.creation`` (whole seconds) while the file is created.
    """
    path: str
    content: Union[bytes, Callable[[], bytes]]
    si: Times
    fn: Times
    deleted_at: Optional[str] = None
    corrupt: bool = False
    note: str = ""

    def data(self):
        return self.content() if callable(self.content) else self.content

    @property
    def posix_path(self):
        return self.path.replace("\\", "/")


@dataclasses.dataclass(frozen=True)
class Partition:
    number: int
    name: str
    type_code: str  # sgdisk type code
    type_name: str
    guid: str
    first_sector: int
    last_sector: int
    filesystem: str
    label: str


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    disk_size: int
    disk_guid: str
    esp: Partition
    esp_volume_id: str
    ntfs: Partition
    format_time: str  # ntfs-3g/mkntfs clock when the volume is made
    files: tuple
    acquisition_time: str
    ewf: dict
    segment_size: int
    narrative: str


def placeholder(signature, label, size):
    """Signature, a readable label, then a repeating filler up to size."""
    head = signature + ("sandtrace foundation placeholder: %s\n" % label).encode()
    filler = hashlib.sha256(label.encode()).hexdigest().encode()
    body = (filler * (size // len(filler) + 1))[:size - len(head)]
    return head + body


def incompressible(seed, size):
    """Deterministic random bytes (SHAKE-256 stream), so the E01 must split."""
    return hashlib.shake_256(seed.encode()).digest(size)




RUN_BAT = crlf(r"""
@echo off
REM sandtrace test fixture: inert, the files it names do not exist.
cd /d C:\Users\WDAGUtilityAccount\Desktop\share
7z.exe x -y -pP@ssw0rd2025 data.7z -o%TEMP%\svc >nul
start "" /b %TEMP%\svc\LilimRAT.exe
""")


CORRUPTION = ("MFT record damaged on purpose: first attribute length 0x10000 "
              "(past the record) and a broken update-sequence value in sector 1")

BASE_IMAGE_GUID = "0949cec7-8165-4167-8c7d-67cf14eeede0"

FOUNDATION = Scenario(
    name="foundation",
    disk_size=32 * 1024 * 1024,
    disk_guid="5A4E7B1C-2D3E-4F50-8A9B-0C1D2E3F4A5B",
    esp=Partition(1, "EFI system partition", "ef00", "EFI System",
                  "7C3F0E12-9A4B-4C5D-8E6F-102132435465", 2048, 10239,
                  "FAT16", "ESP"),
    esp_volume_id="5A4E2024",
    ntfs=Partition(2, "Basic data partition", "0700", "Microsoft basic data",
                   "9D1B2C3A-4E5F-4A6B-9C7D-8E9FA0B1C2D3", 10240, 65502,
                   "NTFS", "Windows"),
    format_time="2024-03-04 08:15:00",
    acquisition_time="2025-01-20 10:30:00",
    segment_size=1024 * 1024,
    ewf={
        "case_number": "SBX-2025-0117",
        "evidence_number": "WS-ALICE-01",
        "examiner_name": "J. Doe (sandtrace test fixture)",
        "description": "sandtrace foundation test image: Windows-like NTFS host with Windows Sandbox traces",
        "notes": "Synthetic. Built by test_images/build.py; ground truth in test_images/foundation.expected.json",
    },
    narrative=(
        "Workstation WS-ALICE (user alice). Windows installed 2024-03-04. "
        "alice tried Windows Sandbox in June 2024 with a locked-down "
        "profile, and deleted an older profile in December 2024. On "
        "2025-01-14 an intruder, MirrorFace-style, enabled the feature, "
        "planted C:\\ProgramData\\SysCache\\update.wsb (networking on, a "
        "writable mapped folder, a LogonCommand running share\\run.bat) and "
        "backdated its $STANDARD_INFORMATION times to the install date; its "
        "$FILE_NAME times still show 2025-01-14. The disk was imaged on "
        "2025-01-20."),
    files=(
        PlantedFile(
            r"\Windows\System32\config\SYSTEM",
            lambda: placeholder(b"regf", "SYSTEM hive", 16384),
            si=Times("2024-03-04 08:21:17.4012345", "2025-01-14 07:55:02.1234567",
                     "2025-01-14 07:54:40.5550001", "2025-01-14 07:55:03"),
            fn=Times("2024-03-04 08:21:17.4012345", "2024-03-04 08:21:17.4012345",
                     "2024-03-04 08:21:18.0625000", "2024-03-04 08:21:19.8750003"),
            note="registry hive placeholder (regf signature only)"),
        PlantedFile(
            r"\Windows\System32\winevt\Logs\System.evtx",
            lambda: placeholder(b"ElfFile\x00", "System.evtx", 8192),
            si=Times("2024-03-04 08:31:05.7770000", "2025-01-14 06:25:41.0000001",
                     "2025-01-14 06:25:40.9876543", "2025-01-14 06:25:42"),
            fn=Times("2024-03-04 08:31:05.7770000", "2024-03-04 08:31:05.7780000",
                     "2024-03-04 08:31:05.7790000", "2024-03-04 08:31:05.7800000"),
            note="event log placeholder (ElfFile signature only)"),
        PlantedFile(
            r"\Windows\System32\winevt\Logs\Broken.evtx",
            lambda: placeholder(b"ElfFile\x00", "Broken.evtx", 4096),
            si=Times("2024-03-04 08:31:06.1000000", "2025-01-14 06:26:00.5000000",
                     "2025-01-14 06:26:00.2500000", "2025-01-14 06:26:01"),
            fn=Times("2024-03-04 08:31:06.1000000", "2024-03-04 08:31:06.1000000",
                     "2024-03-04 08:31:06.1000000", "2024-03-04 08:31:06.1000000"),
            corrupt=True,
            note="MFT record corrupted after unmount (see CORRUPTION); still named by the Logs $I30 index"),
        PlantedFile(
            r"\Users\alice\Documents\sandbox-demo.wsb", SANDBOX_DEMO_WSB,
            si=Times("2024-06-11 14:02:09.3141592", "2024-06-11 14:05:33.2718281",
                     "2024-06-12 09:12:45.1618033", "2024-06-11 14:05:34"),
            fn=Times("2024-06-11 14:02:09.3141592", "2024-06-11 14:02:09.3141593",
                     "2024-06-11 14:02:10.0000000", "2024-06-11 14:02:11.5000005"),
            note="benign .wsb: networking off, read-only mapped folder"),
        PlantedFile(
            r"\Users\alice\Documents\archive.bin",
            lambda: incompressible("sandtrace-foundation-archive.bin", 1536 * 1024),
            si=Times("2024-09-02 11:40:00.0000000", "2024-09-02 11:40:07.6543210",
                     "2024-10-15 16:20:31.0000009", "2024-09-02 11:40:08"),
            fn=Times("2024-09-02 11:40:00.0000000", "2024-09-02 11:40:00.0000000",
                     "2024-09-02 11:40:00.0000000", "2024-09-02 11:40:00.0000000"),
            note="1.5 MiB of seeded random bytes, so the E01 splits"),
        PlantedFile(
            r"\Users\alice\Downloads\old-config.wsb", OLD_CONFIG_WSB,
            si=Times("2024-11-20 17:45:12.0101010", "2024-11-20 17:45:12.3030303",
                     "2024-11-21 08:00:01.5050505", "2024-11-20 17:45:13"),
            fn=Times("2024-11-20 17:45:12.0101010", "2024-11-20 17:45:12.0202020",
                     "2024-11-20 17:45:12.0303030", "2024-11-20 17:45:12.0404045"),
            deleted_at="2024-12-02 09:30:00",
            note="deleted: MFT record unallocated, name, times and clusters intact"),
        PlantedFile(
            r"\ProgramData\SysCache\update.wsb", UPDATE_WSB,
            # Backdated $SI (timestomped to the install date); $FN keeps the truth.
            si=Times("2024-03-04 08:22:40.0000000", "2024-03-04 08:22:41.0000000",
                     "2024-03-04 08:22:42.0000000", "2024-03-04 08:22:43"),
            fn=Times("2025-01-14 06:12:33.8765432", "2025-01-14 06:12:33.8765432",
                     "2025-01-14 06:12:34.0000001", "2025-01-14 06:12:35.4242424"),
            note="MirrorFace-style .wsb, $STANDARD_INFORMATION timestomped"),
        PlantedFile(
            r"\ProgramData\SysCache\share\run.bat", RUN_BAT,
            si=Times("2025-01-14 06:12:40.1111111", "2025-01-14 06:13:02.2222222",
                     "2025-01-14 06:20:15.3333333", "2025-01-14 06:13:03"),
            fn=Times("2025-01-14 06:12:40.1111111", "2025-01-14 06:12:41.5555555",
                     "2025-01-14 06:12:42.6666666", "2025-01-14 06:12:43.7777777"),
            note="LogonCommand batch file in the writable mapped folder"),
        PlantedFile(
            "\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\%s\\BaseLayer.vhdx"
            % BASE_IMAGE_GUID,
            lambda: placeholder(b"", "BaseLayer.vhdx (not a VHDX yet)", 8192),
            si=Times("2025-01-14 06:18:09.9000000", "2025-01-14 06:19:55.4500000",
                     "2025-01-14 06:20:14.7000000", "2025-01-14 06:19:56"),
            fn=Times("2025-01-14 06:18:09.9000000", "2025-01-14 06:18:09.9000000",
                     "2025-01-14 06:18:09.9000000", "2025-01-14 06:18:09.9000000"),
            note="Windows Sandbox base layer placeholder (plain bytes, no vhdxfile signature)"),
    ),
)


# --- running tools -------------------------------------------------------------

def run(args, env=None, quiet=True):
    result = subprocess.run(args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        raise RuntimeError("%s failed (%d):\n%s" % (args[0], result.returncode,
                                                   result.stdout))
    return result.stdout


def faked(time_text):
    """Environment that freezes a tool's clock at time_text (UTC)."""
    return dict(os.environ, TZ="UTC", LD_PRELOAD=LIBFAKETIME,
                FAKETIME=time_text)


class FakedClock:
    """A clock file that libfaketime re-reads on every call, so the build
    can move the FUSE daemon's time while it runs."""

    def __init__(self, path):
        self.path = path

    def set(self, text):
        with open(self.path + ".new", "w") as handle:
            handle.write(text + "\n")
        os.replace(self.path + ".new", self.path)

    def env(self):
        env = dict(os.environ, TZ="UTC", LD_PRELOAD=LIBFAKETIME,
                   FAKETIME_TIMESTAMP_FILE=self.path, FAKETIME_NO_CACHE="1")
        env.pop("FAKETIME", None)
        return env


class NtfsMount:
    """ntfs-3g in the foreground (no_detach), so unmounting is synchronous."""

    def __init__(self, image, mount_point, clock):
        self.image, self.mount_point, self.clock = image, mount_point, clock

    def __enter__(self):
        os.makedirs(self.mount_point, exist_ok=True)
        self.process = subprocess.Popen(
            ["ntfs-3g", "-o", "noatime,no_detach", self.image, self.mount_point],
            env=self.clock.env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mount_point):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ntfs-3g did not mount %s" % self.image)
            time.sleep(0.05)
        return self.mount_point

    def __exit__(self, *exc):
        run(["umount", self.mount_point])
        if self.process.wait(timeout=60):
            raise RuntimeError("ntfs-3g exited with %d" % self.process.returncode)


# --- build steps ------------------------------------------------------------------

def check_environment():
    if os.geteuid() != 0:
        sys.exit("build.py must run as root (mkntfs, FUSE mounts)")
    missing = [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    if not os.path.exists(LIBFAKETIME):
        missing.append(LIBFAKETIME)
    if missing:
        sys.exit("missing: %s (see test_images/README.md)" % ", ".join(missing))


def partition_size(partition):
    return (partition.last_sector - partition.first_sector + 1) * SECTOR


def make_esp(scenario, work):
    path = os.path.join(work, "esp.img")
    with open(path, "wb") as handle:
        handle.truncate(partition_size(scenario.esp))
    run(["mkfs.fat", "--invariant", "-F", "16", "-s", "1", "-S", str(SECTOR),
         "-i", scenario.esp_volume_id, "-n", scenario.esp.label,
         "-h", str(scenario.esp.first_sector), path],
        env=faked(scenario.format_time))
    return path


def make_ntfs(scenario, work):
    path = os.path.join(work, "ntfs.img")
    with open(path, "wb") as handle:
        handle.truncate(partition_size(scenario.ntfs))
    # mkntfs seeds its serial number and GUIDs from the clock: freezing the
    # clock makes them fixed.
    run(["mkntfs", "-q", "-F", "-f", "-L", scenario.ntfs.label, "-s", str(SECTOR),
         "-c", "4096", "-p", str(scenario.ntfs.first_sector), "-H", "255",
         "-S", "63", path], env=faked(scenario.format_time))
    return path


def populate_ntfs(scenario, image, work):
    """Create the planted files in the order they were created in the story,
    with ntfs-3g's clock following along. Returns {path: MFT entry}."""
    clock = FakedClock(os.path.join(work, "clock"))
    clock.set(scenario.format_time)
    entries = {}
    with NtfsMount(image, os.path.join(work, "mnt"), clock) as root:
        for planted in sorted(scenario.files, key=lambda f: filetime(f.fn.creation)):
            target = root + planted.posix_path
            created = filetime(planted.fn.creation)
            clock.set(clock_string(created - (created - FILETIME_EPOCH_DELTA) % 10_000_000))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(planted.data())
            si = planted.si.as_filetimes()
            clock.set(clock_string(si["entry_modification"]))
            os.setxattr(target, "system.ntfs_times", struct.pack(
                "<3Q", si["creation"], si["modification"], si["access"]))
            got = struct.unpack("<4Q", os.getxattr(target, "system.ntfs_times"))
            want = (si["creation"], si["modification"], si["access"],
                    si["entry_modification"])
            if got != want:
                raise RuntimeError("%s: ntfs-3g kept %r, wanted %r"
                                   % (planted.path, got, want))
            entries[planted.path] = os.stat(target).st_ino
        # Delete last, so nothing created afterwards reuses the freed MFT
        # record or clusters.
        for planted in scenario.files:
            if planted.deleted_at:
                clock.set(planted.deleted_at)
                os.remove(root + planted.posix_path)
    return entries


def patch_mft(scenario, image, entries):
    """Write the $FILE_NAME times, check every record, corrupt the ones meant
    to be corrupt. Returns per-file facts read back from the records."""
    volume = ntfs_raw.NtfsVolume(image, 0)
    facts = {}
    for planted in scenario.files:
        entry = entries[planted.path]
        record = volume.read_record(entry)
        header = ntfs_raw.record_header(record)
        attrs = list(ntfs_raw.attributes(record))
        names = [a for a in attrs if a["type"] == ntfs_raw.ATTR_FILE_NAME]
        if len(names) != 1:
            raise RuntimeError("%s: expected one $FILE_NAME" % planted.path)
        name = names[0]["value"][0x42:0x42 + 2 * names[0]["value"][0x40]]
        if name.decode("utf-16-le") != planted.path.rsplit("\\", 1)[1]:
            raise RuntimeError("%s: MFT entry %d is %r" % (planted.path, entry, name))
        fn = planted.fn.as_filetimes()
        offset = names[0]["value_offset"] + 8
        record[offset:offset + 32] = ntfs_raw.pack_times(
            fn["creation"], fn["modification"], fn["entry_modification"], fn["access"])
        volume.write_record(entry, record)

        record = volume.read_record(entry)
        attrs = {a["type"]: a for a in ntfs_raw.attributes(record)}
        si = planted.si.as_filetimes()
        stored_si = ntfs_raw.filetimes(attrs[ntfs_raw.ATTR_STANDARD_INFORMATION]["value"])
        if stored_si != (si["creation"], si["modification"],
                         si["entry_modification"], si["access"]):
            raise RuntimeError("%s: $SI on disk is %r" % (planted.path, stored_si))
        if header["in_use"] == bool(planted.deleted_at):
            raise RuntimeError("%s: allocation state is wrong" % planted.path)
        data = planted.data()
        data_attr = attrs[ntfs_raw.ATTR_DATA]
        runs = data_attr.get("runs", [])
        if data_attr["non_resident"]:
            clusters = b"".join(volume.read_clusters(lcn, length)
                                for _, length, lcn in runs)
            if clusters[:len(data)] != data:
                raise RuntimeError("%s: clusters do not hold the data" % planted.path)
        elif planted.deleted_at:
            raise RuntimeError("%s: a deleted file must be non-resident" % planted.path)
        facts[planted.path] = {
            "mft_entry": entry,
            "mft_sequence": header["sequence"],
            "parent_mft_entry": struct.unpack_from(
                "<Q", attrs[ntfs_raw.ATTR_FILE_NAME]["value"])[0] & (2**48 - 1),
            "parent_mft_sequence": struct.unpack_from(
                "<Q", attrs[ntfs_raw.ATTR_FILE_NAME]["value"])[0] >> 48,
            "record_offset": volume.record_offset(entry),
            "data_resident": not data_attr["non_resident"],
            "data_runs": [{"lcn": lcn, "clusters": length} for _, length, lcn in runs],
        }
    for planted in scenario.files:
        if planted.corrupt:
            corrupt_record(volume, entries[planted.path])
    return volume, facts


def corrupt_record(volume, entry):
    """Damage one MFT record so that both libfsntfs and TSK reject it.

    A bad signature alone is not enough: libfsntfs then reads the record as
    an empty entry and TSK ignores the signature. So the record keeps its
    FILE signature, but (1) its first attribute claims a length past the end
    of the record, which libfsntfs rejects, and (2) the check value at the
    end of sector 1 no longer matches the update sequence number, which TSK
    rejects ("Incorrect update sequence value")."""
    record = volume.read_record(entry)
    first = struct.unpack_from("<H", record, 0x14)[0]
    struct.pack_into("<I", record, first + 4, 0x10000)
    raw = bytearray(volume.encode(record))
    end = volume.bytes_per_sector
    raw[end - 2:end] = bytes(b ^ 0xFF for b in raw[end - 2:end])
    volume.write_raw(entry, 0, bytes(raw))


def assemble_disk(scenario, work, esp, ntfs):
    disk = os.path.join(work, scenario.name + ".raw")
    with open(disk, "wb") as handle:
        handle.truncate(scenario.disk_size)
    args = ["sgdisk", "-o"]
    for part in (scenario.esp, scenario.ntfs):
        args += ["-n", "%d:%d:%d" % (part.number, part.first_sector, part.last_sector),
                 "-t", "%d:%s" % (part.number, part.type_code)]
    run(args + [disk])
    args = ["sgdisk", "-U", scenario.disk_guid]
    for part in (scenario.esp, scenario.ntfs):
        args += ["-u", "%d:%s" % (part.number, part.guid),
                 "-c", "%d:%s" % (part.number, part.name)]
    run(args + [disk])
    with open(disk, "r+b") as handle:
        for part, image in ((scenario.esp, esp), (scenario.ntfs, ntfs)):
            handle.seek(part.first_sector * SECTOR)
            with open(image, "rb") as source:
                handle.write(source.read())
    return disk


def hash_file(path):
    md5, sha1 = hashlib.md5(), hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            md5.update(block)
            sha1.update(block)
    return md5.hexdigest(), sha1.hexdigest()


def acquire_ewf(scenario, disk, work, out_dir):
    target = os.path.join(work, "ewf", scenario.name)
    os.makedirs(os.path.dirname(target))
    meta = scenario.ewf
    output = run(["ewfacquire", "-u", "-q", "-c", "deflate:best", "-b", "64",
                  "-S", str(scenario.segment_size), "-d", "sha1", "-f", "encase6",
                  "-m", "fixed", "-M", "physical",
                  "-C", meta["case_number"], "-E", meta["evidence_number"],
                  "-e", meta["examiner_name"], "-D", meta["description"],
                  "-N", meta["notes"], "-t", target, disk],
                 env=faked(scenario.acquisition_time))
    segments = sorted(os.listdir(os.path.dirname(target)))
    if segments != [scenario.name + ".E01", scenario.name + ".E02"]:
        raise RuntimeError("expected two segments, got %r" % segments)
    md5 = re.search(r"MD5 hash calculated over data:\s+([0-9a-f]{32})", output)
    for segment in segments:
        shutil.move(os.path.join(os.path.dirname(target), segment),
                    os.path.join(out_dir, segment))
    return segments, md5.group(1) if md5 else None


def times_record(times):
    return {kind: {"filetime": value,
                   "timestamp": filetime_to_posix_us(value),
                   "iso8601": filetime_to_iso(value),
                   "iso8601_100ns": filetime_to_iso_100ns(value)}
            for kind, value in times.as_filetimes().items()}


def expected_events(scenario, facts):
    """The fs:stat:ntfs events sandtrace must emit for the planted files."""
    events = []
    for planted in scenario.files:
        if planted.corrupt:
            continue
        for attribute_type, times in ((0x10, planted.si), (0x30, planted.fn)):
            for kind, value in times.as_filetimes().items():
                events.append({
                    "data_type": "fs:stat:ntfs",
                    "display_name": "NTFS:" + planted.path,
                    "timestamp": filetime_to_posix_us(value),
                    "timestamp_desc": TIME_KINDS[kind],
                    "filetime": value,
                    "attribute_type": attribute_type,
                    "is_allocated": not planted.deleted_at,
                    "file_reference": facts[planted.path]["mft_entry"]
                    | facts[planted.path]["mft_sequence"] << 48,
                })
    events.sort(key=lambda e: (e["timestamp"], e["display_name"],
                               e["attribute_type"], e["timestamp_desc"]))
    return events


def ground_truth(scenario, segments, disk, volume, facts):
    md5, sha1 = hash_file(disk)
    files = []
    for planted in scenario.files:
        data = planted.data()
        fact = facts[planted.path]
        files.append({
            "path": planted.path,
            "name": planted.path.rsplit("\\", 1)[1],
            **{k: fact[k] for k in ("mft_entry", "mft_sequence",
                                    "parent_mft_entry", "parent_mft_sequence")},
            "file_reference": fact["mft_entry"] | fact["mft_sequence"] << 48,
            "is_allocated": not planted.deleted_at,
            "is_corrupt": planted.corrupt,
            "deleted_at": planted.deleted_at and planted.deleted_at.replace(" ", "T") + "+00:00",
            "size": len(data),
            "md5": hashlib.md5(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "data_resident": fact["data_resident"],
            "data_runs": fact["data_runs"],
            "mft_record_offset_in_volume": fact["record_offset"],
            "standard_information": times_record(planted.si),
            "file_name": times_record(planted.fn),
            # ntfs-3g copies the $SI times into the parent's $I30 entry when
            # the file is closed; the deleted file's entry is gone.
            "i30_entry_times": None if planted.deleted_at else "standard_information",
            "note": planted.note,
        })

    def partition_record(part, extra):
        return {"number": part.number, "name": part.name, "type": part.type_name,
                "type_code": part.type_code, "guid": part.guid,
                "first_sector": part.first_sector, "last_sector": part.last_sector,
                "offset": part.first_sector * SECTOR, "size": partition_size(part),
                "filesystem": part.filesystem, "volume_label": part.label, **extra}

    return {
        "format_version": 1,
        "generator": "test_images/build.py",
        "narrative": scenario.narrative,
        "image": {
            "name": scenario.name,
            "segments": segments,
            "ewf_format": "EnCase 6",
            "compression": "deflate:best",
            "segment_file_size": scenario.segment_size,
            "acquisition_date": scenario.acquisition_time.replace(" ", "T") + "+00:00",
            "ewf_metadata": scenario.ewf,
            "media_type": "fixed",
            "media_flags": "physical",
            "bytes_per_sector": SECTOR,
            "media_size": scenario.disk_size,
            "md5": md5,
            "sha1": sha1,
        },
        "partition_table": {
            "type": "gpt",
            "disk_guid": scenario.disk_guid,
            "partitions": [
                partition_record(scenario.esp, {"volume_id": scenario.esp_volume_id}),
                partition_record(scenario.ntfs, {
                    "volume_serial_number": "%016X" % volume.serial_number,
                    "cluster_size": volume.cluster_size,
                    "mft_record_size": volume.record_size,
                    "format_time": scenario.format_time.replace(" ", "T") + "+00:00",
                }),
            ],
        },
        "files": files,
        "expected_events": expected_events(scenario, facts),
        "expected_warnings": [
            {"display_name": "NTFS:" + f.path,
             "mft_entry": facts[f.path]["mft_entry"],
             "reason": CORRUPTION}
            for f in scenario.files if f.corrupt],
    }


def readme_table(truth):
    rows = ["| path | MFT entry-seq | state | size | $SI C / M / A / E (UTC) | $FN C / M / A / E (UTC) |",
            "|---|---|---|---|---|---|"]
    for entry in truth["files"]:
        state = ("corrupt record" if entry["is_corrupt"] else
                 "allocated" if entry["is_allocated"] else "deleted")

        def times(kind):
            return "<br>".join(entry[kind][k]["iso8601_100ns"][:-6].replace("T", " ")
                               for k in TIME_KINDS)

        rows.append("| `%s` | %d-%d | %s | %d | %s | %s |" % (
            entry["path"], entry["mft_entry"], entry["mft_sequence"], state,
            entry["size"], times("standard_information"), times("file_name")))
    return "\n".join(rows)


def update_readme(truth, out_dir):
    path = os.path.join(out_dir, "README.md")
    if not os.path.exists(path):
        return
    with open(path) as handle:
        text = handle.read()
    begin, end = "<!-- files:begin -->", "<!-- files:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + readme_table(truth) + "\n" + end + rest.split(end, 1)[1]
        with open(path, "w") as handle:
            handle.write(text)


def build(scenario, out_dir, keep_raw=None):
    with tempfile.TemporaryDirectory(prefix="sandtrace-images-") as work:
        esp = make_esp(scenario, work)
        ntfs = make_ntfs(scenario, work)
        entries = populate_ntfs(scenario, ntfs, work)
        volume, facts = patch_mft(scenario, ntfs, entries)
        disk = assemble_disk(scenario, work, esp, ntfs)
        segments, ewf_md5 = acquire_ewf(scenario, disk, work, out_dir)
        truth = ground_truth(scenario, segments, disk, volume, facts)
        if ewf_md5 and ewf_md5 != truth["image"]["md5"]:
            raise RuntimeError("ewfacquire hashed %s, raw disk is %s"
                               % (ewf_md5, truth["image"]["md5"]))
        if keep_raw:
            shutil.copyfile(disk, keep_raw)
    with open(os.path.join(out_dir, "foundation.expected.json"), "w") as handle:
        json.dump(truth, handle, indent=1)
        handle.write("\n")
    update_readme(truth, out_dir)
    return truth


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", default=HERE)
    parser.add_argument("--keep-raw", metavar="PATH",
                        help="also keep the raw disk(s) here (not for git); with --target all, "
                             "PATH gets a .foundation/.host suffix")
    parser.add_argument("--target", choices=("all", "foundation", "host", "hardening"), default="all",
                        help="which image to build (default: all)")
    args = parser.parse_args()
    check_environment()
    if args.target in ("all", "foundation"):
        keep = args.keep_raw and (args.keep_raw + ".foundation" if args.target == "all" else args.keep_raw)
        truth = build(FOUNDATION, args.output_dir, keep)
        print("%s: raw md5 %s sha1 %s, %d files, %d expected events" % (
            truth["image"]["name"], truth["image"]["md5"], truth["image"]["sha1"],
            len(truth["files"]), len(truth["expected_events"])))
    if args.target in ("all", "host"):
        import build_host  # noqa: E402  (the host scenario; imports this module as "build")
        keep = args.keep_raw and (args.keep_raw + ".host" if args.target == "all" else args.keep_raw)
        truth = build_host.build_host(args.output_dir, keep)
        print("%s: raw md5 %s sha1 %s, %d files, %d artifacts, %d expected events" % (
            truth["image"]["name"], truth["image"]["md5"], truth["image"]["sha1"],
            len(truth["files"]), len(truth["artifacts"]), sum(truth["event_counts"].values())))
    if args.target in ("all", "hardening"):
        import build_hardening  # noqa: E402  (crafted NTFS loops for tests/test_hardening_limits.py)
        build_hardening.main(os.path.join(args.output_dir, "hardening"))


if __name__ == "__main__":
    main()
