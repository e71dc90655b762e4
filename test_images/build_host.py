"""Build the "host" image (WIN11-HOST, SCENARIO.md) and test_images/expected.json.

Why a separate module: the foundation pipeline in build.py must stay
byte-identical, while the host needs more: allocation states planted in an
order that makes them happen (a deleted file whose MFT record survives, a
deleted file whose record is reused while its clusters stay free), a
two-segment E01 sized from the compressed data, and a ground truth made of
artifacts and events rather than files alone. It reuses build.py's steps for
the ESP, mkntfs, the GPT and ewfacquire.

Allocation mechanics (ntfs-3g): within one mount new MFT records are taken
after the last one handed out; after a fresh mount the lowest free record
(>= 64) is taken first. So: create everything, delete the "carvable" disk,
remount, create the small file that must reuse its record, then do the other
deletions (their folders' times follow the deletion clocks, their records
stay unused). The build then re-reads every record and $Bitmap to prove it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pathlib
import shutil
import struct
import tempfile
from typing import Any

import build as foundation          # test_images/build.py (run as a script, so a top-level module)
import ntfs_raw
from test_images import host_common, scenario_host
from test_images.scenario_host import REUSE_FILE, HostFile

SECTOR = 512
MiB = 1024 * 1024
HOST = foundation.Scenario(
    name="host",
    disk_size=128 * MiB,
    disk_guid="3C1F9A7E-5B2D-4E8C-9A10-2B3C4D5E6F70",
    esp=foundation.Partition(1, "EFI system partition", "ef00", "EFI System",
                             "8A2B4C6D-1E3F-4A5B-8C7D-9E0F1A2B3C4D", 2048, 34815, "FAT16", "ESP"),
    esp_volume_id="7E5A2024",
    ntfs=foundation.Partition(2, "Basic data partition", "0700", "Microsoft basic data",
                              "B4C3D2E1-F0A9-4B8C-9D7E-6F5A4B3C2D1E", 34816, 262110, "NTFS", "Windows"),
    format_time="2024-03-04 08:15:00",
    files=(),
    acquisition_time="2025-01-20 10:30:00",
    ewf={
        "case_number": "SBX-2025-0117",
        "evidence_number": "WIN11-HOST-C",
        "examiner_name": "J. Doe (sandtrace test fixture)",
        "description": "sandtrace host test image: WIN11-HOST, MirrorFace-style Windows Sandbox case",
        "notes": "Synthetic. Built by test_images/build.py; ground truth in test_images/expected.json",
    },
    segment_size=0,              # chosen from the compressed size so that there are two segments
    narrative=(
        "WIN11-HOST (user alice, administrator), Windows 11 24H2 installed 2024-03-04. alice tried "
        "Windows Sandbox in June 2024 (benign .wsb) and deleted an older profile in November 2024. On "
        "2025-01-14 the feature Containers-DisposableClientVM was enabled with DISM and the host "
        "rebooted; sandbox policy values were set, a MirrorFace-style update.wsb (networking on, "
        "writable mapped folder C:\\ProgramData\\SysCache\\share, LogonCommand run.bat) was planted "
        "with backdated $SI times, with run.bat, an archiver stand-in and an archive in the share, and "
        "a hidden SYSTEM boot task \\Microsoft\\Windows\\SysCache\\Update launches WindowsSandbox.exe "
        "with it. Session 1 (06:20-07:45) ran the LogonCommand, installed SysCacheSvc inside the "
        "sandbox and wrote out\\collect.log and out\\hosts.txt to the share; its disk is live. "
        "Session 2 (2025-01-15, double-click) left UserAssist, RecentDocs and BAM traces; its disk "
        "was deleted (MFT record intact). Session 3 (2025-01-16) used the wsb.exe CLI (inline "
        "--config LogonCommand, share --allow-write, exec -r System); its disk was deleted and its "
        "MFT record reused, its clusters are carvable. Imaged 2025-01-20."),
)


# --- planting -----------------------------------------------------------------------------

def _posix(path: str) -> str:
    return path.replace("\\", "/")


def _floor(filetime: int) -> int:
    return filetime - (filetime - foundation.FILETIME_EPOCH_DELTA) % 10_000_000


def _write(root: str, clock: foundation.FakedClock, item: HostFile) -> int:
    """Create one file with its $SI times; returns its MFT entry (inode)."""
    target = root + _posix(item.path)
    clock.set(foundation.clock_string(_floor(item.times["creation"])))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(item.data)
    e_time = item.times["entry_modification"]
    if e_time != _floor(e_time):
        raise ValueError(f"{item.path}: $SI entry_modification must be whole seconds")
    clock.set(foundation.clock_string(e_time))
    os.setxattr(target, "system.ntfs_times", struct.pack(
        "<3Q", item.times["creation"], item.times["modification"], item.times["access"]))
    got = struct.unpack("<4Q", os.getxattr(target, "system.ntfs_times"))
    want = tuple(item.times[k] for k in ("creation", "modification", "access", "entry_modification"))
    if got != want:
        raise RuntimeError(f"{item.path}: ntfs-3g kept {got}, wanted {want}")
    return os.stat(target).st_ino


def populate(image: str, work: str, files: list[HostFile]) -> dict[str, int]:
    clock = foundation.FakedClock(os.path.join(work, "clock"))
    clock.set(HOST.format_time)
    mnt = os.path.join(work, "mnt")
    entries: dict[str, int] = {}
    with foundation.NtfsMount(image, mnt, clock) as root:
        # alice's Temp folder exists from her first logon (the reuse file lands there later)
        clock.set("2024-03-04 08:24:10")
        os.makedirs(root + _posix(REUSE_FILE.path.rsplit("\\", 1)[0]))
        for item in sorted(files, key=lambda f: (f.times["creation"], f.path)):
            entries[item.path] = _write(root, clock, item)
    return entries


def delete_and_reuse(image: str, work: str, files: list[HostFile], entries: dict[str, int]) -> int:
    clock = foundation.FakedClock(os.path.join(work, "clock"))
    mnt = os.path.join(work, "mnt")
    carvable = [f for f in files if f.state == "carvable"]
    with foundation.NtfsMount(image, mnt, clock) as root:
        for item in carvable:
            clock.set(foundation.clock_string(item.deleted_at))
            os.remove(root + _posix(item.path))
    with foundation.NtfsMount(image, mnt, clock) as root:        # fresh mount: lowest free record first
        reuse = _write(root, clock, REUSE_FILE)
        for item in sorted((f for f in files if f.state == "deleted"), key=lambda f: f.deleted_at):
            clock.set(foundation.clock_string(item.deleted_at))
            os.remove(root + _posix(item.path))
    if carvable and reuse != entries[carvable[0].path]:
        raise RuntimeError(f"reuse file got MFT entry {reuse}, not {entries[carvable[0].path]}")
    return reuse


# --- reading back -------------------------------------------------------------------------

def record_facts(volume: ntfs_raw.NtfsVolume, entry: int) -> dict[str, Any]:
    record = volume.read_record(entry)
    header = ntfs_raw.record_header(record)
    attrs = {a["type"]: a for a in ntfs_raw.attributes(record)}
    fn_value = attrs[ntfs_raw.ATTR_FILE_NAME]["value"]
    data = attrs.get(ntfs_raw.ATTR_DATA, {})
    parent = struct.unpack_from("<Q", fn_value)[0]
    si = ntfs_raw.filetimes(attrs[ntfs_raw.ATTR_STANDARD_INFORMATION]["value"])
    fn = ntfs_raw.filetimes(fn_value, 8)
    order = ("creation", "modification", "entry_modification", "access")
    return {"mft_entry": entry, "mft_sequence": header["sequence"], "in_use": header["in_use"],
            "parent_mft_entry": parent & (2**48 - 1), "parent_mft_sequence": parent >> 48,
            "name": fn_value[0x42:0x42 + 2 * fn_value[0x40]].decode("utf-16-le"),
            "record_offset": volume.record_offset(entry),
            "data_resident": not data.get("non_resident", False),
            "data_runs": [{"lcn": lcn, "clusters": n} for _, n, lcn in data.get("runs", [])],
            "si": dict(zip(order, si)), "fn": dict(zip(order, fn))}


def cluster_bitmap(volume: ntfs_raw.NtfsVolume) -> bytes:
    facts = record_facts(volume, 6)                              # $Bitmap
    return b"".join(volume.read_clusters(r["lcn"], r["clusters"]) for r in facts["data_runs"])


def clusters_free(bitmap: bytes, runs: list[dict]) -> bool:
    return all(not bitmap[c // 8] >> (c % 8) & 1
               for r in runs for c in range(r["lcn"], r["lcn"] + r["clusters"]))


def patch_fn(volume: ntfs_raw.NtfsVolume, item: HostFile, entry: int) -> None:
    """Write the true $FILE_NAME times (the timestomped update.wsb keeps them there)."""
    record = volume.read_record(entry)
    attr = next(a for a in ntfs_raw.attributes(record) if a["type"] == ntfs_raw.ATTR_FILE_NAME)
    offset = attr["value_offset"] + 8
    fn = item.fn
    record[offset:offset + 32] = ntfs_raw.pack_times(fn["creation"], fn["modification"],
                                                     fn["entry_modification"], fn["access"])
    volume.write_record(entry, record)


def check_and_describe(image: str, files: list[HostFile], entries: dict[str, int], before: dict,
                       reuse_entry: int) -> tuple[ntfs_raw.NtfsVolume, dict[str, dict]]:
    """Patch $FN, then re-read every record; fail unless each file is in the state it must be."""
    volume = ntfs_raw.NtfsVolume(image, 0)
    for item in files:
        if item.fn:
            patch_fn(volume, item, entries[item.path])
    bitmap = cluster_bitmap(volume)
    facts: dict[str, dict] = {}
    for item in files + [REUSE_FILE]:
        entry = reuse_entry if item is REUSE_FILE else entries[item.path]
        if item.state == "carvable":
            fact = dict(before[item.path])
            now = record_facts(volume, entry)
            if now["name"] != REUSE_FILE.path.rsplit("\\", 1)[1] or not now["in_use"]:
                raise RuntimeError(f"{item.path}: record {entry} was not reused")
            fact.update(in_use=False, reused_by=REUSE_FILE.path, reused_sequence=now["mft_sequence"])
        else:
            fact = record_facts(volume, entry)
            if fact["name"] != item.path.rsplit("\\", 1)[1]:
                raise RuntimeError(f"{item.path}: record {entry} holds {fact['name']}")
            if fact["in_use"] != (item.state in ("live", "reuses_record")):
                raise RuntimeError(f"{item.path}: allocation state is wrong")
            if fact["si"] != item.times:
                raise RuntimeError(f"{item.path}: $SI is {fact['si']}")
        if not fact["data_resident"]:
            raw = b"".join(volume.read_clusters(r["lcn"], r["clusters"]) for r in fact["data_runs"])
            if raw[:len(item.data)] != item.data:
                raise RuntimeError(f"{item.path}: clusters do not hold the data")
            free = clusters_free(bitmap, fact["data_runs"])
            if free != (item.state in ("deleted", "carvable")):
                raise RuntimeError(f"{item.path}: cluster allocation is wrong (free={free})")
        elif item.state in ("deleted", "carvable"):
            raise RuntimeError(f"{item.path}: a deleted file must be non-resident")
        facts[item.path] = fact
    return volume, facts


# --- ground truth -----------------------------------------------------------------------------

TIME_DESC = foundation.TIME_KINDS


def _times_record(times: dict[str, int]) -> dict:
    return {k: {"filetime": v, "timestamp": host_common.plaso_ts(v), "iso8601": host_common.iso(v)}
            for k, v in times.items()}


def stat_events(item: HostFile, fact: dict) -> list[dict]:
    """fs:stat:ntfs events of one record ($SI and $FILE_NAME), as in foundation.expected.json."""
    if item.state == "carvable":
        return []
    out = []
    for attribute_type, key in ((0x10, "si"), (0x30, "fn")):
        for kind, value in fact[key].items():
            out.append(host_common.event(
                "fs:stat:ntfs", value, TIME_DESC[kind], display_name="NTFS:" + item.path,
                attribute_type=attribute_type, is_allocated=fact["in_use"],
                file_reference=fact["mft_entry"] | fact["mft_sequence"] << 48))
    return out


def file_record(item: HostFile, fact: dict, disk_names: dict[str, str]) -> dict:
    state = {"live": "allocated", "deleted": "deleted (MFT record unallocated, clusters intact)",
             "carvable": "deleted, MFT record reused, clusters unallocated and unwritten (carvable)",
             "reuses_record": "allocated (reuses a deleted file's MFT record)"}[item.state]
    record = {
        "path": item.path, "volume": "host:C:", "nesting": [], "origin": item.origin,
        "state": item.state, "allocation": state, "is_allocated": item.state in ("live", "reuses_record"),
        "deleted_at": None if item.deleted_at is None else host_common.iso(item.deleted_at),
        "size": len(item.data), "md5": hashlib.md5(item.data).hexdigest(),
        "sha256": hashlib.sha256(item.data).hexdigest(),
        **{k: fact[k] for k in ("mft_entry", "mft_sequence", "parent_mft_entry", "parent_mft_sequence",
                                "data_resident", "data_runs")},
        "mft_record_offset_in_volume": fact["record_offset"],
        "standard_information": _times_record(fact["si"]),
        "file_name": _times_record(fact["fn"]) if item.state != "carvable" else None,
        "note": item.note,
    }
    if item.state == "carvable":
        record["reused_by"] = {"path": fact["reused_by"], "mft_sequence": fact["reused_sequence"]}
        record["carving"] = {"signature": "vhdxfile", "first_cluster": fact["data_runs"][0]["lcn"],
                             "volume_offset": fact["data_runs"][0]["lcn"] * 4096}
    if item.path in disk_names:
        record["committed_copy"] = "test_images/disks/" + disk_names[item.path]
    return record


def disk_copy_names(files: list[HostFile]) -> dict[str, str]:
    names = {}
    for item in files:
        if item.path.lower().endswith(".vhdx"):
            guid = item.path.split("\\")[-2]
            role = "BaseLayer" if "BaseImages" in item.path else "sandbox"
            names[item.path] = f"{role}-{guid}-{item.state}.vhdx.gz"
    return names


def ground_truth(files: list[HostFile], facts: dict, volume: ntfs_raw.NtfsVolume, disk: str,
                 segments: list[str], segment_size: int) -> dict:
    md5, sha1 = foundation.hash_file(disk)
    names = disk_copy_names(files)
    all_files = files + [REUSE_FILE]
    artifacts = [a for f in all_files for a in f.artifacts]
    artifacts += [{"id": "host-ntfs-" + f.path.rsplit("\\", 1)[1], "kind": "ntfs_record", "path": f.path,
                   "volume": "host:C:", "domain_source": "docs/domain.md §2 Deletion and persistence ($MFT)",
                   "confidence": "S", "events": stat_events(f, facts[f.path])}
                  for f in all_files if f.state != "carvable"]
    sandbox = [dict(f.truth, host_path=f.path, mft_entry=facts[f.path]["mft_entry"])
               for f in files if f.origin == "sandbox"]
    part = HOST.ntfs
    return {
        "format_version": 1,
        "generator": "test_images/build.py (host target; test_images/build_host.py)",
        "narrative": HOST.narrative,
        "identifiers": {k: getattr(host_common, k) for k in (
            "COMPUTER", "MACHINE_SID", "ALICE_SID", "BASE_IMAGE_GUID", "SANDBOX1_GUID", "SANDBOX2_GUID",
            "SANDBOX3_GUID", "WSB_CLI_ID", "TASK_GUID", "TASK_PATH", "SANDBOX_APPX")},
        "image": {"name": HOST.name, "segments": segments, "ewf_format": "EnCase 6",
                  "compression": "deflate:best", "segment_file_size": segment_size,
                  "acquisition_date": HOST.acquisition_time.replace(" ", "T") + "+00:00",
                  "ewf_metadata": HOST.ewf, "media_type": "fixed", "media_flags": "physical",
                  "bytes_per_sector": SECTOR, "media_size": HOST.disk_size, "md5": md5, "sha1": sha1},
        "partition_table": {"type": "gpt", "disk_guid": HOST.disk_guid, "partitions": [
            {"number": 1, "name": HOST.esp.name, "type": HOST.esp.type_name, "guid": HOST.esp.guid,
             "offset": HOST.esp.first_sector * SECTOR, "size": foundation.partition_size(HOST.esp),
             "filesystem": "FAT16", "volume_label": "ESP", "volume_id": HOST.esp_volume_id},
            {"number": 2, "name": part.name, "type": part.type_name, "guid": part.guid,
             "offset": part.first_sector * SECTOR, "size": foundation.partition_size(part),
             "filesystem": "NTFS", "volume_label": part.label,
             "volume_serial_number": "%016X" % volume.serial_number, "cluster_size": volume.cluster_size,
             "mft_record_size": volume.record_size,
             "format_time": HOST.format_time.replace(" ", "T") + "+00:00"}]},
        "files": [file_record(f, facts[f.path], names) for f in all_files],
        "artifacts": artifacts,
        "sandbox_storage": sandbox,
        "not_sandbox_traces": scenario_host.NOT_SANDBOX_TRACES,
        "event_counts": _counts(artifacts),
    }


def _counts(artifacts: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in artifacts:
        for e in a["events"]:
            counts[e["data_type"]] = counts.get(e["data_type"], 0) + 1
    return dict(sorted(counts.items()))


# --- E01 ----------------------------------------------------------------------------------------

def acquire_two_segments(disk: str, work: str, out_dir: str) -> tuple[list[str], int]:
    """ewfacquire twice: once to learn the compressed size, then with a segment size that gives two."""
    import dataclasses
    probe = dataclasses.replace(HOST, segment_size=1 << 40)
    probe_dir = os.path.join(work, "probe")
    os.makedirs(probe_dir)
    try:
        foundation.acquire_ewf(probe, disk, os.path.join(work, "p"), probe_dir)
    except RuntimeError as error:            # one segment is expected here
        if "expected two segments" not in str(error):
            raise
    produced = os.path.join(work, "p", "ewf")
    total = sum(os.path.getsize(os.path.join(produced, n)) for n in os.listdir(produced))
    segment = max(1 * MiB, (total * 3 // 5 + 65535) // 65536 * 65536)
    scenario = dataclasses.replace(HOST, segment_size=segment)
    segments, ewf_md5 = foundation.acquire_ewf(scenario, disk, work, out_dir)
    if ewf_md5 and ewf_md5 != foundation.hash_file(disk)[0]:
        raise RuntimeError("ewfacquire hashed a different disk")
    return segments, segment


def build_host(out_dir: str, keep_raw: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="sandtrace-host-") as work:
        files = scenario_host.host_files() + scenario_host.sandbox_files(pathlib.Path(work) / "sandbox")
        esp = foundation.make_esp(HOST, work)
        ntfs = foundation.make_ntfs(HOST, work)
        entries = populate(ntfs, work, files)
        before = {f.path: record_facts(ntfs_raw.NtfsVolume(ntfs, 0), entries[f.path])
                  for f in files if f.state == "carvable"}
        reuse = delete_and_reuse(ntfs, work, files, entries)
        volume, facts = check_and_describe(ntfs, files, entries, before, reuse)
        disk = foundation.assemble_disk(HOST, work, esp, ntfs)
        segments, segment_size = acquire_two_segments(disk, work, out_dir)
        truth = ground_truth(files, facts, volume, disk, segments, segment_size)
        if keep_raw:
            shutil.copyfile(disk, keep_raw)
        write_disk_copies(files, os.path.join(out_dir, "disks"))
    with open(os.path.join(out_dir, "expected.json"), "w") as handle:
        json.dump(truth, handle, indent=1)
        handle.write("\n")
    return truth


def write_disk_copies(files: list[HostFile], disks_dir: str) -> None:
    """The inner disks as they sit in the image, gzip'd (mtime 0) to keep the repository small."""
    if os.path.isdir(disks_dir):
        shutil.rmtree(disks_dir)
    os.makedirs(disks_dir)
    for item in files:
        if item.path in (names := disk_copy_names(files)):
            with open(os.path.join(disks_dir, names[item.path]), "wb") as handle:
                handle.write(gzip.compress(item.data, 9, mtime=0))
