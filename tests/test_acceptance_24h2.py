r"""Issue 19's acceptance on a 24H2-style host image built at test time.

One raw NTFS host volume holds every trace the issue plants, made with the
builders of the tests that check each piece alone: the Store package folder
and the ``wsb.exe`` alias (tests/test_store_app.py), a Security and a Sysmon
log in which the server runs without its window and the Hyper-V worker writes
into a mapped folder, the client-diagnostics and Host Compute channels, a
``.wsb`` with a logon command and a writable mapping, an event log chunk and
hive bins left only in free clusters (tests/free_space_images.py), and a
deleted sandbox disk whose file is gone but whose MFT record and clusters
stay: inside it, a file the sandbox wrote and another chunk and bins left in
its own free clusters. ``sandtrace extract --carve`` and ``sandtrace report``
must find each of them, once.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
from collections import Counter

import pytest

from sandtrace import cli
from test_images import scenario_sandbox as scenario
from test_images.writers import regf as regf_writer
from test_images.writers import vhdx as vhdx_writer
from tests import free_space_images as free
from tests import test_store_app as store

pytestmark = pytest.mark.skipif(
    bool(scenario.environment_problems()) or not free.available() or not os.path.exists("/dev/fuse"),
    reason="needs root, FUSE, ntfs-3g tools and libfaketime")

GUID = "6F1C2A3B-9D4E-4F50-8A61-7B2C3D4E5F60"
DISK = f"ProgramData/Microsoft/Windows/Containers/ContainerStorages/{GUID}/sandbox.vhdx"
DROPPED = "Users/WDAGUtilityAccount/Desktop/dropped.exe"
DROPPED_DATA = b"MZ" + bytes(range(256)) * 8
GUEST = "A8DC5139-5E6D-4"
ATTACK_WSB = b"""<Configuration>
  <MappedFolders><MappedFolder><HostFolder>C:\\Users\\alice\\Documents\\loot</HostFolder>
    <ReadOnly>false</ReadOnly></MappedFolder></MappedFolders>
  <LogonCommand><Command>C:\\Users\\WDAGUtilityAccount\\Desktop\\loot\\run.bat</Command></LogonCommand>
</Configuration>
"""
HOST_RECORDS = (101, 102, 103, 104, 105)  # only in the host's free clusters
GUEST_RECORDS = (10, 11, 12, 13, 14)  # only in the deleted disk's free clusters
HOST_KEYS = ("HKEY_LOCAL_MACHINE\\Software\\Classes\\.wsb",
             "HKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows\\Sandbox")
GUEST_KEY = "Microsoft\\Windows\\CurrentVersion\\Run"


def _guest_hive() -> bytes:
    """The guest's SOFTWARE hive earlier: a Run value starting the dropped tool."""
    hive = regf_writer.Hive(root_name="CMI-CreateHive{199DAFC2}", last_written=free.T0, default_time=free.T0)
    run = hive.key(GUEST_KEY, last_written=free.T0 + 300 * free.SECOND)
    run.set_value("updater", regf_writer.REG_SZ, "C:\\Users\\WDAGUtilityAccount\\Desktop\\dropped.exe")
    return hive.to_bytes()


def _freed(log: free.evtx_writer.EvtxLog, hive: bytes) -> tuple[bytes, dict[str, int], dict[int, int]]:
    chunk, record_offsets = free._chunk(log)
    content, where = free.freed_content(chunk, hive[regf_writer.BASE_BLOCK_SIZE:])
    return content, where, record_offsets


def _free_in(root: pathlib.Path, content: bytes) -> None:
    """Write ``content`` through ntfs-3g and free its clusters: truncated, then deleted, the bytes stay."""
    path = root / "freed.bin"
    path.write_bytes(content)
    os.truncate(path, 0)
    path.unlink()


def _offset(image: pathlib.Path, content: bytes) -> int:
    """Where ntfs-3g put ``content`` in the volume."""
    offset = image.read_bytes().find(content[:8192])
    assert offset > 0 and offset % 4096 == 0, "ntfs-3g did not write the freed file where expected"
    return offset


def _build_disk(work: pathlib.Path) -> tuple[pathlib.Path, dict]:
    """The sandbox disk: an MBR disk whose NTFS volume holds the dropped tool and, in free clusters,
    the guest's Security chunk and SOFTWARE bins."""
    volume = work / "guest.ntfs"
    scenario.format_volume(volume, "", free.T0)
    content, where, records = _freed(free.security_log(5, first=GUEST_RECORDS[0], computer=GUEST), _guest_hive())
    clock = scenario.Clock(work / "guest.clock")
    clock.set(free.T0 + 60 * free.SECOND)
    with scenario.Mount(volume, work / "guest.mnt", clock) as root:
        target = root / DROPPED
        target.parent.mkdir(parents=True)
        target.write_bytes(DROPPED_DATA)
        _free_in(root, content)
    freed = _offset(volume, content)
    raw = work / "guest.raw"
    raw.write_bytes(scenario.mbr_disk(volume, 0x5EED0019))
    vhdx = work / "sandbox.vhdx"
    vhdx_writer.write_dynamic(raw, vhdx, seed="sandtrace-accept19")
    return vhdx, {"chunk": freed + where["chunk"], "bins": freed + where["bins"], "records": records}


def _build_host(work: pathlib.Path) -> tuple[pathlib.Path, dict]:
    """The 24H2 host volume, and where its freed data and the deleted disk lie."""
    disk, guest = _build_disk(work)
    image = work / "host.raw"
    with open(image, "wb") as handle:
        handle.truncate(64 << 20)
    scenario._run(["mkntfs", "-q", "-F", "-f", "-c", "4096", "-L", "C", str(image)])
    content, where, records = _freed(free.security_log(5, first=HOST_RECORDS[0]), free.software_hive(earlier=True))
    clock = scenario.Clock(work / "host.clock")
    clock.set(store.FT)
    with scenario.Mount(image, work / "host.mnt", clock) as root:
        store._package_folder(root, store.PACKAGE, manifest=True)
        aliases = root / "Users" / "alice" / "AppData" / "Local" / "Microsoft" / "WindowsApps"
        aliases.mkdir(parents=True)
        (aliases / "wsb.exe").write_bytes(b"")
        os.setxattr(aliases / "wsb.exe", "system.ntfs_reparse_data", store._alias_reparse(store.WSB))
        logs = root.joinpath(*store.LOGS)
        logs.mkdir(parents=True)
        for name, data in (("Security", store._security()), ("Microsoft-Windows-Sysmon%4Operational", store._sysmon()),
                           ("Microsoft-Windows-Sandbox-Client-Diagnostics%4Admin", store._client_diagnostics()),
                           ("Microsoft-Windows-Hyper-V-Compute-Operational", store._compute())):
            (logs / f"{name}.evtx").write_bytes(data)
        (root / "Users" / "alice" / "Desktop").mkdir(parents=True)
        (root / "Users" / "alice" / "Desktop" / "attack.wsb").write_bytes(ATTACK_WSB)
        (root / "Users" / "alice" / "Documents" / "loot").mkdir(parents=True)
        (root / "Users" / "alice" / "Documents" / "loot" / "payload.exe").write_bytes(b"MZ" + bytes(510))
        target = root / DISK
        target.parent.mkdir(parents=True)
        shutil.copyfile(disk, target)
        _free_in(root, content)
        target.unlink()  # last: nothing reuses its MFT record or clusters
    freed = _offset(image, content)
    disk_offset = _offset(image, disk.read_bytes())
    return image, {"chunk": freed + where["chunk"], "bins": freed + where["bins"], "records": records,
                   "disk": disk_offset, "guest": guest}


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("accept24h2")
    image, planted = _build_host(work)
    timeline, report = work / "timeline.jsonl", work / "report.json"
    assert cli.main(["extract", str(image), "--carve", "--format", "json_line", "-o", str(timeline), "-q",
                     "--workers", "0"]) == cli.EXIT_OK
    assert cli.main(["report", str(timeline), "-o", str(report), "-q"]) == cli.EXIT_OK
    events = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines()]
    return {"events": events, "report": json.loads(report.read_text(encoding="utf-8")), "planted": planted}


DISK_NAME = "NTFS:\\" + DISK.replace("/", "\\")
_labels = store._labels


def _evidence(report: dict) -> list[dict]:
    """Every evidence item the report cites, wherever it stands."""
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "ref" in node and "confidence" in node and "artifact" in node:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(report)
    return found


def _once(events: list[dict]) -> Counter:
    """How often each (source, record or key, time kind) was emitted: 1 each when nothing is repeated."""
    return Counter((e["display_name"], e.get("record_number") or e.get("key_path"), e["timestamp_desc"]) for e in events)


def test_the_file_the_sandbox_wrote_is_in_the_timeline_with_its_hash(case):
    name = "\\" + DROPPED.replace("/", "\\")
    written = [e for e in case["events"] if e.get("filename") == name]
    assert written and {e["display_name"] for e in written} == {f"{DISK_NAME}>NTFS:{name}"}  # read inside the deleted disk
    assert {e["timestamp_desc"] for e in written} >= {"Creation Time", "Content Modification Time"}
    for event in written:
        assert event["sha256_hash"] == hashlib.sha256(DROPPED_DATA).hexdigest()
        assert event["parser"] == "sandbox_files" and "sandbox_written_file" in _labels(event)
    [disk] = [d for d in case["report"]["disks"] if d["display_name"] == DISK_NAME]
    assert disk["state"] == "deleted"
    [listed] = [f for f in disk["contents"]["files_written"] if f["path"] == name]
    assert listed["sha256"] == hashlib.sha256(DROPPED_DATA).hexdigest() and listed["executable"] is True


def _trace(events: list[dict], data_type: str, where: str, record: int | None = None) -> dict:
    matches = [e for e in store._one_per_record(events, data_type)
               if e["display_name"].endswith(where) and (record is None or e.get("record_number") == record)]
    assert len(matches) == 1, (data_type, where, record)
    return matches[0]


PACKAGE_FOLDER = f"\\Program Files\\WindowsApps\\{store.PACKAGE}"
ALIAS = "\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe"
LOG = "\\Windows\\System32\\winevt\\Logs\\"
# (what, data type, where, record, labels, confidence mark)
TRACES = [
    ("package folder", "windows:sandbox:package_folder", PACKAGE_FOLDER, None, {"sandbox_store_package"}, "C"),
    ("wsb.exe alias", "windows:sandbox:execution_alias", ALIAS, None, {"sandbox_execution_alias"}, "C"),
    ("server (4688)", "windows:evtx:record", LOG + "Security.evtx", 2, {"sandbox_process", "sandbox_server_process"}, "C"),
    ("server (Sysmon 1)", "windows:evtx:record", LOG + "Microsoft-Windows-Sysmon%4Operational.evtx", 2,
     {"sandbox_process", "sandbox_server_process"}, "C"),
    ("vmwp write (Sysmon 11)", "windows:evtx:record", LOG + "Microsoft-Windows-Sysmon%4Operational.evtx", 7,
     {"sandbox_mapped_folder_write"}, "I"),
    ("client diagnostics", "windows:evtx:record", LOG + "Microsoft-Windows-Sandbox-Client-Diagnostics%4Admin.evtx", 1,
     {"sandbox_lifecycle"}, "C"),
    ("Host Compute", "windows:evtx:record", LOG + "Microsoft-Windows-Hyper-V-Compute-Operational.evtx", 1,
     {"hyperv_compute_event"}, "I"),
    (".wsb", "windows:sandbox:wsb_config", "\\Users\\alice\\Desktop\\attack.wsb", None,
     {"wsb_logon_command", "wsb_writable_mapping"}, "C"),
]


@pytest.mark.parametrize("what, data_type, where, record, labels, mark", TRACES, ids=[t[0] for t in TRACES])
def test_every_planted_trace_is_in_the_timeline_with_its_tags_and_confidence(case, what, data_type, where, record,
                                                                            labels, mark):
    trace = _trace(case["events"], data_type, where, record)
    assert labels <= _labels(trace) and store._mark(trace) == mark


def test_the_server_ran_without_its_window(case):
    events = case["events"]
    assert [e for e in events if "sandbox_server_process" in _labels(e)]
    assert not [e for e in events if _labels(e) & {"sandbox_remote_session", "sandbox_remote_session_exit"}]


def test_the_report_checked_each_24h2_artifact_and_found_it(case):
    checked = {c["what"]: c for c in case["report"]["checked"]}
    for what in ("Store package (Windows 11 24H2 and later)", "wsb.exe execution aliases (Store app)",
                 "Sandbox process creation, wsb.exe command lines", "Sandbox lifecycle",
                 "Host Compute Service (compute systems created, started, stopped)", "Configurations (.wsb, live and deleted)"):
        assert checked[what]["state"] == "found", what
    [write] = case["report"]["host_writes_to_mapped_folders"]
    assert write["path"] == "\\Users\\alice\\Documents\\loot\\payload.exe" and write["confidence"] == "I"


# What the report cites as evidence of each 24H2 trace: the package folder (the feature's state),
# the alias (context), the server's process records (the session is headless), the worker's
# Sysmon 11 write (under the written file) and the two channels (host traces of the session).
@pytest.mark.parametrize("what, data_type, where, record, labels, mark", [pytest.param(*t, id=t[0]) for t in TRACES])
def test_the_report_cites_every_planted_trace_with_its_confidence(case, what, data_type, where, record, labels, mark):
    cited = [e for e in _evidence(case["report"]) if e["artifact"].endswith(where)
             and (record is None or e["ref"].endswith(f", record {record}"))]
    assert cited and {e["confidence"] for e in cited} == {mark}


def test_the_mirrorface_sequence_lists_its_five_steps(case):
    sequence = case["report"]["mirrorface_sequence"]
    steps = {s["step"]: s for s in sequence["steps"]}
    assert list(steps) == ["feature enabled", ".wsb planted", "host rebooted",
                           "sandbox started unattended with that configuration", "guest network activity"]
    planted = steps[".wsb planted"]
    assert planted["found"] and planted["confidence"] == "C"
    assert planted["evidence"][0]["artifact"] == "NTFS:\\Users\\alice\\Desktop\\attack.wsb"
    for step in steps.values():
        assert step["text"]
        if not step["found"]:  # a gap is named
            assert step["evidence"] == [] and step["step"] in sequence["summary"]
    assert sequence["matched"] is False  # started by hand (wsb start), not at logon or by a task


def test_the_host_s_carved_chunk_and_cells_come_out_once(case):
    planted, events = case["planted"], case["events"]
    unallocated = f"NTFS:\\$Unallocated@{planted['chunk']:#x}"
    records = [e for e in events if e["data_type"] == "windows:evtx:record" and e["display_name"] == unallocated]
    assert {e["record_number"] for e in records} == set(HOST_RECORDS)
    assert set(_once(records).values()) == {1}
    for record in records:
        assert "carved" in _labels(record)
        assert record["volume_offset"] == planted["chunk"] + planted["records"][record["record_number"]]
    assert not [e for e in events if e.get("channel") == "Security" and e.get("record_number") in HOST_RECORDS
                and e not in records]
    keys = [e for e in events if e["data_type"] == "windows:registry:key_value"
            and e["display_name"] == f"NTFS:\\$Unallocated@{planted['bins']:#x}"]
    assert set(_once(keys).values()) == {1} and set(HOST_KEYS) <= {k["key_path"] for k in keys}
    for key in keys:
        assert "carved" in _labels(key) and planted["bins"] <= key["volume_offset"] < planted["bins"] + 4096


def test_the_deleted_disk_s_carved_chunk_and_cells_come_out_once_inside_it(case):
    guest, events = case["planted"]["guest"], case["events"]
    inside = f"{DISK_NAME}>NTFS:\\$Unallocated@"
    records = [e for e in events if e["data_type"] == "windows:evtx:record" and e["channel"] == "Security"
               and e["record_number"] in GUEST_RECORDS]
    assert {e["display_name"] for e in records} == {f"{inside}{guest['chunk']:#x}"}  # not again from the host's clusters
    assert {e["record_number"] for e in records} == set(GUEST_RECORDS) and set(_once(records).values()) == {1}
    for record in records:
        assert "carved" in _labels(record)
        assert record["volume_offset"] == guest["chunk"] + guest["records"][record["record_number"]]
    keys = [e for e in events if e["data_type"] == "windows:registry:key_value" and e["key_path"].endswith(GUEST_KEY)]
    assert len(keys) == 1 and keys[0]["display_name"] == f"{inside}{guest['bins']:#x}"
    assert "carved" in _labels(keys[0]) and guest["bins"] <= keys[0]["volume_offset"] < guest["bins"] + 4096
    [rebuilt] = [e for e in events if e["data_type"] == "windows:sandbox:carved_disk"]  # its clusters, read once
    assert rebuilt["volume_offset"] == case["planted"]["disk"]
    disk_keys = [e for e in events if e["data_type"] == "windows:registry:key_value" and e["display_name"].startswith(inside)]
    assert set(_once(disk_keys).values()) == {1}
