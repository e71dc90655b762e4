"""Windows Sandbox as a Store-serviced app (Windows 11 24H2 and later), issue 19 item 2.

A 24H2-style host is laid out at test time, as a triage folder (every run) and
as a raw NTFS volume made with mkntfs and ntfs-3g (where they and root are
available: reparse points and deleted records): the package folder, the
wsb.exe execution alias, and event logs in which the Store app's server runs
without its window (a headless session), the Hyper-V worker writes into a
mapped folder, Sysmon records the sandbox binaries and an inline configuration,
and the client-diagnostics and Host Compute channels have records. Every
planted trace must come out with its tags and its confidence mark.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import struct
import subprocess
import time

import pytest

from sandtrace import cli
from sandtrace.report.findings.meanings import meaning_of
from sandtrace.report.model import Record
from test_images.writers.evtx import EvtxLog, Sid

FT = 133814880000000000  # 2025-01-16T00:00:00Z
SECOND = 10_000_000
PACKAGE = "MicrosoftWindows.WindowsSandbox_0.5.3.0_x64__cw5n1h2txyewy"
OLD_PACKAGE = "MicrosoftWindows.WindowsSandbox_0.4.31.0_x64__cw5n1h2txyewy"
FAMILY = "MicrosoftWindows.WindowsSandbox_cw5n1h2txyewy"
APPS = "C:\\Program Files\\WindowsApps"
SERVER = f"{APPS}\\{PACKAGE}\\WindowsSandboxServer.exe"
WSB = f"{APPS}\\{PACKAGE}\\wsb.exe"
LOOT = "C:\\Users\\alice\\Documents\\loot"
INLINE = ('wsb start --config "<Configuration><MappedFolders><MappedFolder><HostFolder>' + LOOT
          + '</HostFolder><ReadOnly>false</ReadOnly></MappedFolder></MappedFolders>'
          '<LogonCommand><Command>C:\\Users\\WDAGUtilityAccount\\Desktop\\loot\\run.bat</Command></LogonCommand>'
          '</Configuration>"')
MANIFEST = f"""<?xml version="1.0" encoding="utf-8"?>
<Package xmlns="http://schemas.microsoft.com/appx/manifest/foundation/windows10"
         xmlns:uap5="http://schemas.microsoft.com/appx/manifest/uap/windows10/5">
  <Identity Name="MicrosoftWindows.WindowsSandbox" Version="0.5.3.0" ProcessorArchitecture="x64"
            Publisher="CN=Microsoft Windows, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"/>
  <Applications>
    <Application Id="App" Executable="WindowsSandboxServer.exe">
      <Extensions>
        <uap5:Extension Category="windows.appExecutionAlias" Executable="wsb.exe">
          <uap5:AppExecutionAlias><uap5:ExecutionAlias Alias="wsb.exe"/></uap5:AppExecutionAlias>
        </uap5:Extension>
      </Extensions>
    </Application>
  </Applications>
</Package>
"""
# The package folder's modification time, and a host file a sandbox wrote.
FOLDER_TIME = 1736985600  # 2025-01-16T00:00:00Z
LOGS = ("Windows", "System32", "winevt", "Logs")


def _security() -> bytes:
    log = EvtxLog("Security", "WIN11-HOST")
    alice = Sid("S-1-5-21-1111111111-2222222222-3333333333-1001")
    log.add("Microsoft-Windows-Security-Auditing", 4688, FT, data=[
        ("SubjectUserSid", alice), ("SubjectUserName", "alice"), ("NewProcessId", "0x2b6c"), ("NewProcessName", WSB),
        ("CommandLine", INLINE), ("ParentProcessName", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")])
    log.add("Microsoft-Windows-Security-Auditing", 4688, FT + SECOND, data=[
        ("SubjectUserSid", alice), ("SubjectUserName", "alice"), ("NewProcessId", "0x2c10"), ("NewProcessName", SERVER),
        ("CommandLine", f'"{SERVER}"'), ("ParentProcessName", "C:\\Windows\\System32\\svchost.exe")])
    log.add("Microsoft-Windows-Security-Auditing", 4689, FT + 600 * SECOND, data=[
        ("SubjectUserSid", alice), ("SubjectUserName", "alice"), ("ProcessId", "0x2c10"), ("ProcessName", SERVER)])
    log.add("Microsoft-Windows-Security-Auditing", 4688, FT + 2 * SECOND, data=[  # negative
        ("SubjectUserName", "alice"), ("NewProcessName", "C:\\Windows\\System32\\notepad.exe"),
        ("CommandLine", "notepad.exe C:\\notes\\WindowsSandboxServer.exe.txt")])
    return log.to_bytes()


def _sysmon() -> bytes:
    log = EvtxLog("Microsoft-Windows-Sysmon/Operational", "WIN11-HOST")

    def process(image: str, command_line: str, offset: int, original: str = "") -> None:
        log.add("Microsoft-Windows-Sysmon", 1, FT + offset * SECOND, data=[
            ("UtcTime", "2025-01-16 00:00:00.000"), ("ProcessGuid", "{5770385f-0000-0000-0000-000000000001}"),
            ("Image", image), ("OriginalFileName", original), ("CommandLine", command_line), ("User", "WIN11-HOST\\alice"),
            ("ParentImage", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")])

    def file_create(image: str, target: str, offset: int) -> None:
        log.add("Microsoft-Windows-Sysmon", 11, FT + offset * SECOND, data=[
            ("UtcTime", "2025-01-16 00:01:00.000"), ("Image", image), ("TargetFilename", target),
            ("CreationUtcTime", "2025-01-16 00:01:00.000"), ("User", "NT VIRTUAL MACHINE\\5D1F3A2B")])

    process(WSB, INLINE, 0, "wsb.exe")                                                          # record 1
    process(SERVER, f'"{SERVER}"', 1)                                                           # 2
    process(f"{APPS}\\{PACKAGE}\\WindowsSandboxTelemetry.exe", "WindowsSandboxTelemetry.exe", 2)  # 3: a WindowsSandbox*.exe
    process("C:\\Windows\\System32\\CmProxyD.exe", "CmProxyD.exe -Embedding", 3)                # 4
    process("C:\\Windows\\System32\\vmcompute.exe", "vmcompute.exe", 4)                          # 5
    process("C:\\Windows\\System32\\notepad.exe", "notepad.exe wsb.exe.txt", 5)                  # 6: negative
    file_create("C:\\Windows\\System32\\vmwp.exe", f"{LOOT}\\payload.exe", 60)                  # 7
    file_create("C:\\Windows\\System32\\vmwp.exe",                                              # 8: the VM's own disk
                "C:\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\x\\sandbox.vhdx", 61)
    file_create("C:\\Windows\\explorer.exe", f"{LOOT}\\notes.txt", 62)                           # 9: negative
    log.add("Microsoft-Windows-Sysmon", 5, FT + 600 * SECOND, data=[                             # 10
        ("UtcTime", "2025-01-16 00:10:00.000"), ("ProcessGuid", "{5770385f-0000-0000-0000-000000000001}"),
        ("Image", SERVER)])
    return log.to_bytes()


def _client_diagnostics() -> bytes:
    log = EvtxLog("Microsoft-Windows-Sandbox-Client-Diagnostics/Admin", "WIN11-HOST")
    log.add("Microsoft-Windows-Sandbox-Client-Diagnostics", 1, FT + SECOND, data=[("SandboxId", "c3b9e7f1")])
    return log.to_bytes()


def _compute() -> bytes:
    log = EvtxLog("Microsoft-Windows-Hyper-V-Compute-Operational", "WIN11-HOST")
    log.add("Microsoft-Windows-Hyper-V-Compute", 2010, FT + SECOND, data=[("SystemId", "5D1F3A2B-7C4E-4B8A")],
            user_data=("VmlEventLog", "http://www.microsoft.com/Windows/Virtualization/Events"))
    return log.to_bytes()


def _package_folder(root: pathlib.Path, name: str, manifest: bool) -> None:
    folder = root / "Program Files" / "WindowsApps" / name
    folder.mkdir(parents=True)
    for binary in ("WindowsSandboxServer.exe", "WindowsSandboxRemoteSession.exe", "wsb.exe", "SandboxCommon.dll"):
        (folder / binary).write_bytes(b"MZ" + bytes(62))
    if manifest:
        (folder / "AppxManifest.xml").write_text(MANIFEST, encoding="utf-8")
    os.utime(folder, (FOLDER_TIME, FOLDER_TIME))


def _lay_out(root: pathlib.Path) -> None:
    """The 24H2 host as a triage folder (no reparse points)."""
    _package_folder(root, PACKAGE, manifest=True)
    (root / "Program Files" / "WindowsApps" / "Microsoft.WindowsNotepad_11.2.0.0_x64__8wekyb3d8bbwe").mkdir()
    aliases = root / "Users" / "alice" / "AppData" / "Local" / "Microsoft" / "WindowsApps"
    (aliases / FAMILY).mkdir(parents=True)
    for alias in (aliases / "wsb.exe", aliases / FAMILY / "wsb.exe", aliases / "winget.exe"):
        alias.write_bytes(b"")
        os.utime(alias, (FOLDER_TIME + 5, FOLDER_TIME + 5))
    logs = root.joinpath(*LOGS)
    logs.mkdir(parents=True)
    for name, data in (("Security", _security()), ("Microsoft-Windows-Sysmon%4Operational", _sysmon()),
                       ("Microsoft-Windows-Sandbox-Client-Diagnostics%4Admin", _client_diagnostics()),
                       ("Microsoft-Windows-Hyper-V-Compute-Operational", _compute())):
        (logs / f"{name}.evtx").write_bytes(data)


def _extract(source: pathlib.Path, out: pathlib.Path) -> list[dict]:
    code = cli.main(["extract", str(source), "-o", str(out), "--format", "json_line", "-q", "--workers", "0"])
    assert code == cli.EXIT_OK
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _labels(event: dict) -> set[str]:
    return set((event.get("tag") or {}).get("labels") or [])


def _one_per_record(events: list[dict], data_type: str) -> list[dict]:
    """An event per event data (the first of its timestamps)."""
    seen, found = set(), []
    for event in events:
        if event["data_type"] != data_type:
            continue
        key = (event.get("display_name"), event.get("filename"), event.get("channel"), event.get("record_number"))
        if key not in seen:
            seen.add(key)
            found.append(event)
    return found


def _mark(event: dict) -> str:
    """The confidence mark the report gives the event's kind of record."""
    values = {k: v for k, v in event.items() if k not in ("tag", "timestamp", "timestamp_desc")}
    return meaning_of(Record(event["data_type"], event.get("display_name", ""), values, _labels(event)))[0]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("host24h2")
    source = root / "C"
    _lay_out(source)
    return _extract(source, root / "out.jsonl")


def _records(events: list[dict], channel: str) -> dict[int, dict]:
    return {e["record_number"]: e for e in _one_per_record(events, "windows:evtx:record") if e["channel"] == channel}


def test_the_package_folder_gives_its_version_and_binaries(host):
    folders = _one_per_record(host, "windows:sandbox:package_folder")
    assert [f["filename"] for f in folders] == [f"\\Program Files\\WindowsApps\\{PACKAGE}"]  # not Notepad's
    folder = folders[0]
    assert (folder["version"], folder["architecture"], folder["publisher_id"]) == ("0.5.3.0", "x64", "cw5n1h2txyewy")
    assert folder["package_family_name"] == FAMILY
    assert folder["binaries"] == ["WindowsSandboxRemoteSession.exe", "WindowsSandboxServer.exe", "wsb.exe"]
    assert folder["sandbox_binaries"] == folder["binaries"]
    assert (folder["manifest_version"], folder["execution_aliases"]) == ("0.5.3.0", ["wsb.exe"])
    assert "sandbox_store_package" in _labels(folder) and _mark(folder) == "C"
    times = {e["timestamp_desc"]: e["timestamp"] for e in host if e["data_type"] == "windows:sandbox:package_folder"}
    assert times["Content Modification Time"] == FOLDER_TIME * 1_000_000
    stat = {e["filename"].rsplit("/", 1)[-1] for e in host if e["data_type"] == "fs:stat"  # a folder source's paths
            and "/Program Files/WindowsApps/" in e["filename"]}
    assert {"WindowsSandboxServer.exe", "wsb.exe", PACKAGE} <= stat


def test_the_execution_alias_names_its_user(host):
    aliases = _one_per_record(host, "windows:sandbox:execution_alias")
    assert sorted((a["filename"], a["user_name"], a["in_package_family_folder"]) for a in aliases) == [
        ("\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\MicrosoftWindows.WindowsSandbox_cw5n1h2txyewy\\wsb.exe",
         "alice", True),
        ("\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe", "alice", False)]  # not winget.exe
    assert all("sandbox_execution_alias" in _labels(a) and _mark(a) == "C" for a in aliases)
    assert "alias wsb.exe of user alice" in aliases[0]["message"]


def test_a_server_without_its_window_is_tagged_for_a_headless_session(host):
    security = _records(host, "Security")
    sysmon = _records(host, "Microsoft-Windows-Sysmon/Operational")
    started, exited = security[2], security[3]
    assert {"sandbox_process", "sandbox_server_process"} <= _labels(started)
    assert started["catalogue_id"] == "sandbox_process_creation" and _mark(started) == "C"
    assert "sandbox_server_exit" in _labels(exited) and exited["catalogue_id"] == "sandbox_server_process"
    assert _mark(exited) == "I"  # an exit taken as the session's end is inferred
    assert "sandbox_server_process" in _labels(sysmon[2]) and "sandbox_server_exit" in _labels(sysmon[10])
    assert not [e for e in host if _labels(e) & {"sandbox_remote_session", "sandbox_remote_session_exit"}]
    assert _labels(security[4]) == set()


def _sessions(tmp_path, events: list[dict]) -> list[dict]:
    tmp_path.mkdir()
    timeline, report = tmp_path / "t.jsonl", tmp_path / "r.json"
    timeline.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events), encoding="utf-8")
    assert cli.main(["report", str(timeline), "-o", str(report), "-q"]) == 0
    return json.loads(report.read_text(encoding="utf-8"))["sessions"]


def test_the_report_calls_a_session_without_its_window_headless_and_one_with_it_connected(tmp_path, host):
    [session] = _sessions(tmp_path / "headless", host)
    assert session["connection"]["state"] == "headless"
    assert {e["ref"] for e in session["connection"]["evidence"]} >= {"Security event 4688, record 2"}
    # The same host where the window also ran: connected.
    server = next(e for e in host if e.get("channel") == "Security" and e.get("record_number") == 2)
    window = dict(server, record_number=99, tag={"labels": ["sandbox_remote_session"]},
                  timestamp=server["timestamp"] + 3_000_000)
    [session] = _sessions(tmp_path / "connected", host + [window])
    assert session["connection"]["state"] == "connected"


def test_sysmon_process_records_of_every_sandbox_binary_and_the_inline_configuration(host):
    sysmon = _records(host, "Microsoft-Windows-Sysmon/Operational")
    start = sysmon[1]
    assert {"sandbox_process", "wsb_cli", "wsb_inline_config", "wsb_inline_logon_command", "sandbox_launch",
            "wsb_writable_mapping"} <= _labels(start)
    assert start["wsb_subcommand"] == "start"
    assert start["wsb_mapped_folders"][0]["host_folder"] == LOOT
    assert start["wsb_logon_command"].endswith("run.bat") and "writable_mapped_folder" in start["wsb_risk_flags"]
    security_start = _records(host, "Security")[1]
    assert security_start["wsb_inline_config"] == start["wsb_inline_config"]  # rebuilt the same from either log
    for number in (3, 4, 5):  # WindowsSandbox*.exe, CmProxyD, vmcompute
        assert "sandbox_process" in _labels(sysmon[number]), sysmon[number]["event_data"]["Image"]
        assert sysmon[number]["catalogue_id"] == "sandbox_process_creation_sysmon"
    assert _labels(sysmon[6]) == set()


def test_the_worker_s_writes_into_a_mapped_folder(host):
    sysmon = _records(host, "Microsoft-Windows-Sysmon/Operational")
    write = sysmon[7]
    assert "sandbox_mapped_folder_write" in _labels(write) and write["catalogue_id"] == "sandbox_mapped_folder_write"
    assert (write["written_file"], write["written_folder"]) == (f"{LOOT}\\payload.exe", LOOT)
    assert _mark(write) == "I"
    assert _labels(sysmon[8]) == set() and _labels(sysmon[9]) == set()  # the VM's own disk; another process


def test_the_client_diagnostics_and_host_compute_channels(host):
    diagnostics = _records(host, "Microsoft-Windows-Sandbox-Client-Diagnostics/Admin")[1]
    assert "sandbox_lifecycle" in _labels(diagnostics) and _mark(diagnostics) == "C"
    compute = _records(host, "Microsoft-Windows-Hyper-V-Compute-Operational")[1]
    assert "hyperv_compute_event" in _labels(compute) and _mark(compute) == "I"
    assert compute["catalogue_message"] == "Host Compute Service event 2010 (compute system 5D1F3A2B-7C4E-4B8A)"


# -- the same host on NTFS: the alias's reparse point, a deleted older package -----------------

_TOOLS = ("mkntfs", "ntfs-3g", "umount")


def _alias_reparse(target: str) -> bytes:
    strings = "\0".join((FAMILY, f"{FAMILY}!App", target, "0")) + "\0"
    payload = struct.pack("<I", 3) + strings.encode("utf-16-le")
    return struct.pack("<IHH", 0x8000001B, len(payload), 0) + payload


@pytest.fixture(scope="module")
def ntfs_host(tmp_path_factory):
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in _TOOLS) or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root, mkntfs, ntfs-3g and FUSE")
    work = tmp_path_factory.mktemp("ntfs24h2")
    image, point = work / "c.raw", work / "mnt"
    with open(image, "wb") as handle:
        handle.truncate(16 << 20)
    subprocess.run(["mkntfs", "-q", "-F", "-f", str(image)], check=True, capture_output=True)
    point.mkdir()
    mount = subprocess.Popen(["ntfs-3g", "-o", "no_detach", str(image), str(point)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(point):
            if mount.poll() is not None or time.monotonic() > deadline:
                pytest.skip("ntfs-3g could not mount the image")
            time.sleep(0.05)
        _package_folder(point, OLD_PACKAGE, manifest=False)
        _package_folder(point, PACKAGE, manifest=True)
        for user in ("alice", "bob"):
            aliases = point / "Users" / user / "AppData" / "Local" / "Microsoft" / "WindowsApps"
            aliases.mkdir(parents=True)
            (aliases / "wsb.exe").write_bytes(b"")
            os.setxattr(aliases / "wsb.exe", "system.ntfs_reparse_data", _alias_reparse(WSB))
        # Deleted last, so that no later file takes their MFT records: the old version updated
        # away, and bob's alias.
        shutil.rmtree(point / "Program Files" / "WindowsApps" / OLD_PACKAGE)
        os.remove(point / "Users" / "bob" / "AppData" / "Local" / "Microsoft" / "WindowsApps" / "wsb.exe")
    finally:
        subprocess.run(["umount", str(point)], check=False, capture_output=True)
        mount.wait(timeout=60)
    return _extract(image, work / "out.jsonl")


def test_on_ntfs_the_alias_reparse_point_names_the_package_it_starts(ntfs_host):
    aliases = {a["user_name"]: a for a in _one_per_record(ntfs_host, "windows:sandbox:execution_alias")}
    alice = aliases["alice"]
    assert alice["is_reparse_point"] is True and alice["reparse_tag"] == "0x8000001b"
    assert (alice["package_family_name"], alice["app_user_model_id"]) == (FAMILY, f"{FAMILY}!App")
    assert alice["target_path"] == WSB and alice["application_type"] == "0"
    assert (alice["package_full_name"], alice["package_version"]) == (PACKAGE, "0.5.3.0")
    assert alice["is_allocated"] is True and aliases["bob"]["is_allocated"] is False  # bob's alias was removed


def test_on_ntfs_a_deleted_package_folder_is_found_with_its_version(ntfs_host):
    folders = {f["version"]: f for f in _one_per_record(ntfs_host, "windows:sandbox:package_folder")}
    assert set(folders) == {"0.5.3.0", "0.4.31.0"}
    assert folders["0.5.3.0"]["is_allocated"] is True and folders["0.4.31.0"]["is_allocated"] is False
    assert all("sandbox_store_package" in _labels(f) for f in folders.values())
    assert folders["0.5.3.0"]["binaries"] == ["WindowsSandboxRemoteSession.exe", "WindowsSandboxServer.exe", "wsb.exe"]


def test_reparse_data_and_package_names_that_are_not_what_they_should_be():
    from sandtrace.parsers.execution_alias import decode_appexeclink
    from sandtrace.parsers.sandbox_package import parse_full_name

    assert decode_appexeclink(_alias_reparse(WSB))["target_path"] == WSB
    assert decode_appexeclink(struct.pack("<IHH", 0xA000000C, 4, 0) + bytes(4)) == {"reparse_tag": "0xa000000c"}
    for junk in (b"", b"\x1b\x00\x00\x80", struct.pack("<IHH", 0x8000001B, 2, 0) + b"\x03\x00"):
        with pytest.raises(ValueError):
            decode_appexeclink(junk)
    cut = decode_appexeclink(_alias_reparse(WSB)[:120])  # cut inside the second string: the first only
    assert cut["package_family_name"] == FAMILY and "app_user_model_id" not in cut and "reparse_problem" in cut
    assert parse_full_name(f"{APPS}\\{PACKAGE}\\wsb.exe")["version"] == "0.5.3.0"
    assert parse_full_name("MicrosoftWindows.WindowsSandbox_cw5n1h2txyewy") == {}
