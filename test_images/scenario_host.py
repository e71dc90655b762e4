"""The host scenario of SCENARIO.md as data: every file planted on WIN11-HOST's C:.

Why: build.py needs one list of files (content, $SI times, allocation state)
in story order, and expected.json needs, for each, the artifacts and events
sandtrace must report. Registry and EVTX content come from host_registry.py
and host_evtx.py; the sandbox disks and Containers tree come from the
concurrently written scenario_sandbox.py (imported, never edited here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Optional

from test_images.host_common import (
    CONTAINERS, TASK_PATH, UPDATE_WSB_PATH, WSB_CLI_ID, artifact, event, ft,
)
from test_images import host_evtx, host_registry
from test_images.wsb_fixtures import OLD_CONFIG_WSB, SANDBOX_DEMO_WSB, UPDATE_WSB, crlf

LOGS = host_evtx.LOGS


@dataclasses.dataclass
class HostFile:
    """A file on the host volume. times are $SI FILETIMEs; fn (optional) is patched into $FILE_NAME."""

    path: str
    data: bytes
    times: dict[str, int]
    state: str = "live"                     # live | deleted | carvable | reuses_record
    deleted_at: Optional[int] = None
    fn: Optional[dict[str, int]] = None
    note: str = ""
    artifacts: list[dict] = dataclasses.field(default_factory=list)
    truth: dict = dataclasses.field(default_factory=dict)
    origin: str = "host"                    # host | sandbox (from scenario_sandbox.build)


def times(c: str, m: str, a: str, e: str) -> dict[str, int]:
    return {"creation": ft(c), "modification": ft(m), "access": ft(a), "entry_modification": ft(e)}





def seeded(seed: str, size: int, head: bytes = b"") -> bytes:
    """Deterministic incompressible bytes (SHAKE-256), after an optional magic header."""
    return head + hashlib.shake_256(seed.encode()).digest(size - len(head))




RUN_BAT = crlf(r"""
@echo off
REM sandtrace test fixture: inert, the files it names do not exist.
cd /d C:\Users\WDAGUtilityAccount\Desktop\share
7za.exe x -y -pP@ssw0rd2025 data.7z -o%TEMP%\svc >nul
sc create SysCacheSvc binPath= "%TEMP%\svc\LilimRAT.exe" start= auto >nul
start "" /b %TEMP%\svc\LilimRAT.exe
mkdir out 2>nul
whoami /all > out\collect.log
type C:\Windows\System32\drivers\etc\hosts > out\hosts.txt
""")


TASK_XML = ("\ufeff" + crlf(rf"""
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Date>2025-01-14T06:15:00.0000000</Date>
    <Author>WIN11-HOST\alice</Author>
    <Description>Keeps the system cache up to date.</Description>
    <URI>{TASK_PATH}</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>false</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>true</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>C:\Windows\System32\WindowsSandbox.exe</Command>
      <Arguments>{UPDATE_WSB_PATH}</Arguments>
    </Exec>
  </Actions>
</Task>
""").decode("utf-8")).encode("utf-16-le")

PSREADLINE = crlf(f"""
Get-AppxPackage -Name *WindowsSandbox*
wsb start --config "<Configuration><Networking>Enable</Networking><LogonCommand><Command>cmd /c whoami</Command></LogonCommand></Configuration>"
wsb list
wsb share --id {WSB_CLI_ID} -f C:\\Users\\alice\\Documents\\loot -s C:\\loot --allow-write
wsb exec --id {WSB_CLI_ID} -c cmd.exe -r System
""")

COLLECT_LOG = crlf(r"""
USER INFORMATION
----------------
User Name                                   SID
=========================================== ==============================================
a8dc5139-5e6d-4\wdagutilityaccount          S-1-5-21-3981409617-1736257203-2271235131-504
""")

HOSTS_TXT = crlf(r"""
# Copyright (c) 1993-2009 Microsoft Corp.
#
# This is a sample HOSTS file used by Microsoft TCP/IP for Windows.
#
# localhost name resolution is handled within DNS itself.
#	127.0.0.1       localhost
#	::1             localhost
""")


WSB_TIME_DESC = {"creation": "Creation Time", "modification": "Content Modification Time",
                 "access": "Last Access Time", "entry_modification": "Metadata Modification Time"}


def _wsb_artifact(path: str, aid: str, data: bytes, ftimes: dict[str, int], confidence: str,
                  allocated: bool = True) -> dict:
    """The windows:sandbox:wsb_config events of sandtrace/parsers/wsb.py (attributes from its parse_config)."""
    from sandtrace.parsers.wsb import parse_config
    attrs = parse_config(data).attributes()
    keep = {k: attrs[k] for k in ("networking_enabled", "logon_command", "memory_in_mb", "mapped_folders",
                                  "risk_flags") if k in attrs}
    return artifact(aid, "wsb", path, "docs/domain.md §1 The .wsb file format", confidence, [
        event("windows:sandbox:wsb_config", ftimes[kind], desc, filename=path, is_allocated=allocated,
              configuration_source="file", sha256_hash=hashlib.sha256(data).hexdigest(), **keep)
        for kind, desc in WSB_TIME_DESC.items()])


def host_files() -> list[HostFile]:
    """Files created by the host story (everything except the sandbox disks)."""
    files: list[HostFile] = []
    cfg = "\\Windows\\System32\\config"
    for name, builder, mtime in (("SAM", host_registry.sam_hive, "2025-01-16 08:50:12.4400000"),
                                 ("SYSTEM", host_registry.system_hive, "2025-01-16 09:20:00.5000000"),
                                 ("SOFTWARE", host_registry.software_hive, "2025-01-16 08:55:00.1000000")):
        data, arts = builder()
        files.append(HostFile(f"{cfg}\\{name}", data, times(
            "2024-03-04 08:20:05.1000000", mtime, mtime, mtime[:19]), artifacts=arts, note=f"{name} hive"))
    data, arts = host_registry.ntuser_hive()
    files.append(HostFile("\\Users\\alice\\NTUSER.DAT", data, times(
        "2024-03-04 08:24:10.2500000", "2025-01-15 10:00:01.5000000", "2025-01-15 10:00:01.5000000",
        "2025-01-15 10:00:02"), artifacts=arts, note="alice's user hive"))
    logs, arts = host_evtx.host_logs()
    last = {"Security.evtx": "2025-01-16 09:02:00.3750000", "System.evtx": "2025-01-14 06:09:15.0000000",
            "Setup.evtx": "2025-01-14 06:07:41.0000000",
            "Microsoft-Windows-AppModel-Runtime%4Admin.evtx": "2025-01-16 09:20:00.0000000",
            "Microsoft-Windows-Sandbox-Client-Diagnostics%4Admin.evtx": "2025-01-16 09:20:00.0000000"}
    for name, data in logs.items():
        path = f"{LOGS}\\{name}"
        created = "2024-03-04 08:31:05.7770000" if "%4" not in name else "2025-01-14 06:20:07.0000000"
        files.append(HostFile(path, data, times(created, last[name], last[name], last[name][:19]),
                              artifacts=[a for a in arts if a["path"] == path], note="event log"))
    demo_t = times("2024-06-11 14:02:09.3141592", "2024-06-11 14:05:33.2718281",
                   "2024-06-12 09:12:45.1618033", "2024-06-11 14:05:34")
    files.append(HostFile("\\Users\\alice\\Documents\\sandbox-demo.wsb", SANDBOX_DEMO_WSB, demo_t,
                          artifacts=[_wsb_artifact("\\Users\\alice\\Documents\\sandbox-demo.wsb",
                                                   "host-wsb-demo", SANDBOX_DEMO_WSB, demo_t, "C")],
                          note="benign .wsb: networking off, read-only mapped folder",
                          truth={"not_a_sandbox_trace": False}))
    old_t = times("2024-11-20 17:45:12.0101010", "2024-11-20 17:45:12.3030303",
                  "2024-11-21 08:00:00.0000000", "2024-11-20 17:45:13")
    files.append(HostFile("\\Users\\alice\\Downloads\\old-config.wsb", OLD_CONFIG_WSB, old_t, state="deleted",
                          deleted_at=ft("2024-11-21 08:00:00"),
                          artifacts=[_wsb_artifact("\\Users\\alice\\Downloads\\old-config.wsb",
                                                   "host-wsb-old-config", OLD_CONFIG_WSB, old_t, "C",
                                                   allocated=False)],
                          note="deleted .wsb: MFT record unallocated, clusters intact"))
    upd_t = times("2024-03-04 08:22:40.0000000", "2024-03-04 08:22:41.0000000",
                  "2025-01-15 10:00:00.9000000", "2024-03-04 08:22:43")
    files.append(HostFile("\\ProgramData\\SysCache\\update.wsb", UPDATE_WSB, upd_t,
                          fn=times("2025-01-14 06:12:33.8765432", "2025-01-14 06:12:33.8765432",
                                   "2025-01-14 06:12:34.0000001", "2025-01-14 06:12:35.4242424"),
                          artifacts=[_wsb_artifact("\\ProgramData\\SysCache\\update.wsb", "host-wsb-update",
                                                   UPDATE_WSB, upd_t, "S")],
                          note="MirrorFace-style .wsb planted 06:12:33; $SI timestomped to the install "
                               "date, $FILE_NAME keeps the truth"))
    share = "\\ProgramData\\SysCache\\share"
    for name, data, c in (("run.bat", RUN_BAT, "2025-01-14 06:13:05.1111111"),
                          ("7za.exe", seeded("7za.exe stand-in", 48 * 1024, b"MZ\x90\x00"), "2025-01-14 06:13:12.2222222"),
                          ("data.7z", seeded("data.7z archive", 1200 * 1024, b"7z\xbc\xaf\x27\x1c"), "2025-01-14 06:13:20.3333333")):
        files.append(HostFile(f"{share}\\{name}", data, times(c, c, "2025-01-14 06:20:45.5000000", c[:19]),
                              artifacts=[artifact(f"host-share-{name}", "file", f"{share}\\{name}",
                                                  "docs/domain.md §1 (files placed in the host folder)", "S", [])],
                              note="mapped host folder content (archiver stand-in / archive are seeded bytes)"))
    for name, data in (("collect.log", COLLECT_LOG), ("hosts.txt", HOSTS_TXT)):
        t = "2025-01-14 06:22:15.%07d" % (1000000 if name == "collect.log" else 2500000)
        files.append(HostFile(f"{share}\\out\\{name}", data, times(t, t, t, t[:19]),
                              artifacts=[artifact(f"host-share-out-{name}", "file", f"{share}\\out\\{name}",
                                                  "docs/domain.md §5 (writes to mapped folders appear only in the "
                                                  "host $MFT, by vmwp.exe)", "I", [])],
                              note="written from inside sandbox 1 through the writable mapping"))
    task_t = times("2025-01-14 06:15:00.2500000", "2025-01-14 06:15:00.2500000",
                   "2025-01-14 06:20:01.0000000", "2025-01-14 06:15:01")
    task_path = "\\Windows\\System32\\Tasks" + TASK_PATH
    files.append(HostFile(task_path, TASK_XML, task_t, artifacts=[artifact(
        "host-task-xml", "task_xml", task_path, "docs/domain.md §3 (SYSTEM task running WindowsSandbox.exe)", "I", [
            event("windows:sandbox:scheduled_task", ft("2025-01-14 06:15:00"), "Registration Time",
                  task_path=TASK_PATH, command="C:\\Windows\\System32\\WindowsSandbox.exe",
                  arguments=UPDATE_WSB_PATH, user_id="S-1-5-18", trigger="BootTrigger")])],
        note="Task Scheduler XML (UTF-16 LE with BOM)"))
    ps_path = "\\Users\\alice\\AppData\\Roaming\\Microsoft\\Windows\\PowerShell\\PSReadLine\\ConsoleHost_history.txt"
    files.append(HostFile(ps_path, PSREADLINE, times(
        "2025-01-16 08:59:40.0000000", "2025-01-16 09:02:00.5000000", "2025-01-16 09:02:00.5000000",
        "2025-01-16 09:02:01"), artifacts=[artifact(
            "host-psreadline", "text", ps_path, "docs/domain.md §2 wsb.exe CLI", "I", [],
            note="host-side command history of the session 3 wsb.exe commands")], note="PSReadLine history"))
    return files


REUSE_FILE = HostFile(
    "\\Users\\alice\\AppData\\Local\\Temp\\StructuredQuery.log",
    crlf("CConditionParser::RecordQuery hr = 0x80004005 (sandtrace fixture)"),
    times("2025-01-16 09:25:00.1000000", "2025-01-16 09:25:00.1000000", "2025-01-16 09:25:00.1000000",
          "2025-01-16 09:25:00"),
    state="reuses_record", note="small resident file created after sandbox 3's disk was deleted: "
                                "it takes over that disk's MFT record")


def sandbox_files(workdir: pathlib.Path) -> list[HostFile]:
    """The Containers tree from scenario_sandbox.build(), as HostFiles (origin "sandbox")."""
    from test_images import scenario_sandbox       # written by another helper; import late
    out = []
    for planted in scenario_sandbox.build(workdir):
        out.append(HostFile(planted.path, planted.data, dict(planted.times), state=planted.state,
                            deleted_at=planted.deleted_at, truth=dict(planted.truth), origin="sandbox",
                            note=planted.truth.get("note", "")))
    return out


NOT_SANDBOX_TRACES = [
    {"path": "\\Windows\\System32\\config\\SAM", "what": "WDAGUtilityAccount, RID 504, disabled, never logged on",
     "why": "present on every Windows 10/11 host (docs/domain.md §6 [C])"},
    {"path": CONTAINERS + "\\BaseImages\\0949cec7-8165-4167-8c7d-67cf14eeede0\\BaseLayer.vhdx",
     "what": "Files\\Users\\WDAGUtilityAccount\\ntuser.dat and Files\\Windows\\System32\\winevt\\Logs inside the "
             "base layer", "why": "pristine template copies (docs/domain.md §5/§6 [C]/[I]), not activity"},
    {"path": "\\Users\\alice\\Documents\\sandbox-demo.wsb", "what": "benign .wsb (networking off, read-only)",
     "why": "a sandbox configuration, but not risky: report it without risk flags"},
    {"path": "HKEY_LOCAL_MACHINE\\Software\\Classes\\Windows.Sandbox",
     "what": "the .wsb file association", "why": "ships with the feature; proves installation, not use"},
    {"path": "\\Users\\alice\\AppData\\Local\\Temp\\StructuredQuery.log",
     "what": "the file that reuses sandbox 3's MFT record", "why": "unrelated; its record is not a sandbox disk"},
]
