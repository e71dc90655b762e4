"""The host's event logs: Security, System, Setup, AppModel-Runtime, Sandbox-Client-Diagnostics.

Why: process creation (4688 with command lines), servicing (Setup 7/9/13),
the reboot and the container lifecycle events are how a host log shows that
Windows Sandbox was enabled and used (docs/domain.md §5). Records follow the
shapes Windows writes (providers, GUIDs, versions, tasks, keywords); where
the exact fields of an event are not documented, the choice is marked [I]
in the artifact. Each builder returns {file name: bytes} and the artifacts.
"""

from __future__ import annotations

import datetime
from typing import Optional

from test_images.host_common import (
    ALICE_SID, COMPUTER, SANDBOX1_GUID, SANDBOX2_GUID, SANDBOX3_GUID, SYSTEM_SID, UPDATE_WSB_PATH,
    WSB_CLI_ID, WSB_EXE, artifact, event, ft,
)
from test_images.writers.evtx import EvtxLog, FileTime, HexInt32, HexInt64, Sid, UInt32

LOGS = "\\Windows\\System32\\winevt\\Logs"
SECURITY_AUDITING = ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-A5BA-3E3B0328C30D}")
KERNEL_GENERAL = ("Microsoft-Windows-Kernel-General", "{A68CA8B7-004F-D7B6-A698-07E2DE0F1F5D}")
SERVICING = ("Microsoft-Windows-Servicing", "{BD12F3B8-FC40-4A61-A307-B7A013A069C1}")
APPMODEL = ("Microsoft-Windows-AppModel-Runtime", "{F1EF270A-0D32-4352-BA52-DBAB41E1D859}")
SANDBOX_DIAG = ("Microsoft-Windows-Sandbox-Client-Diagnostics", "{4F8B2A5E-1C3D-4B6E-9F70-8A1B2C3D4E5F}")  # GUID [I]
ALICE_LOGON = 0x3E1F27
SYSTEM_LOGON = 0x3E7
SANDBOX_CONFIG_INLINE = ('<Configuration><Networking>Enable</Networking><LogonCommand>'
                         '<Command>cmd /c whoami</Command></LogonCommand></Configuration>')

# (time, user, logon id, new pid, image, parent pid, parent image, command line, elevation)
PROCESSES = [
    ("2025-01-14 06:05:10.4431200", "alice", 0x1A3C, "C:\\Windows\\System32\\Dism.exe", 0x2A10,
     "C:\\Windows\\System32\\cmd.exe",
     "Dism  /online /Enable-Feature /FeatureName:Containers-DisposableClientVM /All", "%%1937"),
    ("2025-01-14 06:20:01.2031250", "SYSTEM", 0x1F44, "C:\\Windows\\System32\\WindowsSandbox.exe", 0x5C4,
     "C:\\Windows\\System32\\svchost.exe",
     f'"C:\\Windows\\System32\\WindowsSandbox.exe" {UPDATE_WSB_PATH}', "%%1936"),
    ("2025-01-14 06:20:05.6093750", "SYSTEM", 0x2204, "C:\\Windows\\System32\\WindowsSandboxClient.exe", 0x1F44,
     "C:\\Windows\\System32\\WindowsSandbox.exe",
     f'"C:\\Windows\\System32\\WindowsSandboxClient.exe" {UPDATE_WSB_PATH}', "%%1936"),
    ("2025-01-14 06:20:06.0156250", "SYSTEM", 0x2290, "C:\\Windows\\System32\\vmwp.exe", 0x11B0,
     "C:\\Windows\\System32\\vmcompute.exe",
     f'"C:\\Windows\\System32\\vmwp.exe" {SANDBOX1_GUID.upper()} 0x0000000000000A40', "%%1936"),
    ("2025-01-15 10:00:01.0781250", "alice", 0x3150, "C:\\Windows\\System32\\WindowsSandbox.exe", 0x1D8C,
     "C:\\Windows\\explorer.exe", f'"C:\\Windows\\System32\\WindowsSandbox.exe" "{UPDATE_WSB_PATH}"', "%%1938"),
    ("2025-01-15 10:00:02.4843750", "alice", 0x31A8, "C:\\Windows\\System32\\WindowsSandboxClient.exe", 0x3150,
     "C:\\Windows\\System32\\WindowsSandbox.exe",
     f'"C:\\Windows\\System32\\WindowsSandboxClient.exe" "{UPDATE_WSB_PATH}"', "%%1938"),
    ("2025-01-16 09:00:00.1250000", "alice", 0x2B6C, WSB_EXE, 0x2A48,
     "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
     f'wsb.exe  start --config "{SANDBOX_CONFIG_INLINE}"', "%%1938"),
    ("2025-01-16 09:01:00.2500000", "alice", 0x2C30, WSB_EXE, 0x2A48,
     "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
     f"wsb.exe  share --id {WSB_CLI_ID} -f C:\\Users\\alice\\Documents\\loot -s C:\\loot --allow-write",
     "%%1938"),
    ("2025-01-16 09:02:00.3750000", "alice", 0x2D04, WSB_EXE, 0x2A48,
     "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
     f"wsb.exe  exec --id {WSB_CLI_ID} -c cmd.exe -r System", "%%1938"),
]
PROCESS_NOTES = {
    "WindowsSandboxClient.exe": "[I] the client's command-line arguments are not documented",
    "vmwp.exe": "[I] vmwp.exe arguments modelled on Hyper-V worker processes (VM GUID, handle)",
}


def _security() -> tuple[bytes, list[dict]]:
    log = EvtxLog("Security", COMPUTER, first_record_id=18234)
    artifacts = []
    for when, user, pid, image, ppid, parent, cmd, elevation in PROCESSES:
        sid, name, domain, logon = ((ALICE_SID, "alice", COMPUTER, ALICE_LOGON) if user == "alice"
                                    else (SYSTEM_SID, f"{COMPUTER}$", "WORKGROUP", SYSTEM_LOGON))
        data = [("SubjectUserSid", Sid(sid)), ("SubjectUserName", name), ("SubjectDomainName", domain),
                ("SubjectLogonId", HexInt64(logon)), ("NewProcessId", HexInt64(pid)),
                ("NewProcessName", image), ("TokenElevationType", elevation),
                ("ProcessId", HexInt64(ppid)), ("CommandLine", cmd), ("TargetUserSid", Sid("S-1-0-0")),
                ("TargetUserName", "-"), ("TargetDomainName", "-"), ("TargetLogonId", HexInt64(0)),
                ("ParentProcessName", parent),
                ("MandatoryLabel", Sid("S-1-16-16384" if user == "SYSTEM" else "S-1-16-12288"))]
        t = ft(when)
        ev = log.add(SECURITY_AUDITING[0], 4688, t, provider_guid=SECURITY_AUDITING[1], version=2, level=0,
                     task=13312, opcode=0, keywords=0x8020000000000000, process_id=4, thread_id=9128,
                     data=data)
        exe = image.rsplit("\\", 1)[1]
        strings = None
        artifacts.append(artifact(
            f"host-4688-{ev.record_id}", "evtx", f"{LOGS}\\Security.evtx",
            "docs/domain.md §5 Host – sandbox start and stop / §7 SigmaHQ PR #6168", "C",
            [_evtx_event(ev, t, strings, "Security"),
             ], event_identifier=4688, image=image, command_line=cmd, parent_image=parent, user_sid=sid,
            note=PROCESS_NOTES.get(exe, "")))
    return log.to_bytes(), artifacts


def _string(value) -> Optional[str]:
    """A substitution value as libevtx renders it (plaso's ``strings``)."""
    if isinstance(value, HexInt64):
        return "0x%016x" % value
    if isinstance(value, HexInt32):
        return "0x%08x" % value
    if isinstance(value, FileTime):
        seconds, ticks = divmod(value - 116444736000000000, 10_000_000)
        moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ticks * 100)
    return str(value) if value != "" else None


def _evtx_event(ev, t: int, strings: Optional[list] = None, channel: str = "") -> list[dict]:
    """The two plaso events (creation, written) of one record, returned flat by callers."""
    strings = [_string(v) for _, v in (ev.data or [])]
    attrs = dict(event_identifier=ev.event_id, record_number=ev.record_id, source_name=ev.provider,
                 provider_identifier=ev.provider_guid and ev.provider_guid.lower(), hostname=COMPUTER, computer_name=COMPUTER, channel=channel,
                 user_sid=ev.user_sid, event_version=ev.version, event_level=ev.level, strings=strings)
    return [event("windows:evtx:record", t, "Creation Time", **attrs),
            event("windows:evtx:record", ev.written_time, "Content Modification Time", **attrs)]


def _flatten(artifacts: list[dict]) -> list[dict]:
    for a in artifacts:
        a["events"] = [e for group in a["events"] for e in (group if isinstance(group, list) else [group])]
    return artifacts


def _system() -> tuple[bytes, list[dict]]:
    log = EvtxLog("System", COMPUTER, first_record_id=4211)
    recs = []
    param = ["C:\\Windows\\system32\\shutdown.exe (WIN11-HOST)", COMPUTER,
             "Operating System: Reconfiguration (Planned)", "0x80040001", "restart", "", f"{COMPUTER}\\alice"]
    recs.append((log.add("User32", 1074, ft("2025-01-14 06:08:30.5312500"), qualifiers=0x8000, level=4,
                         keywords=0x8080000000000000, process_id=1284, thread_id=4400, user_sid=ALICE_SID,
                         data=[(f"param{i + 1}", v) for i, v in enumerate(param)]), param))
    recs.append((log.add("EventLog", 6006, ft("2025-01-14 06:08:41.9843750"), qualifiers=0x8000, level=4,
                         keywords=0x80000000000000, data=[]), []))
    recs.append((log.add(KERNEL_GENERAL[0], 13, ft("2025-01-14 06:08:45.7500000"),
                         provider_guid=KERNEL_GENERAL[1], version=0, level=4, task=2, keywords=0x8000000000000000,
                         process_id=4, thread_id=8, user_sid=SYSTEM_SID,
                         data=[("StopTime", FileTime(ft("2025-01-14 06:08:45.7343750")))]),
                 ["2025-01-14T06:08:45.7343750Z"]))
    start = ft("2025-01-14 06:08:58.5000000")
    kg12 = [("MajorVersion", UInt32(10)), ("MinorVersion", UInt32(0)), ("BuildVersion", UInt32(26100)),
            ("QfeVersion", UInt32(2605)), ("ServiceVersion", UInt32(0)), ("BootMode", UInt32(0)),
            ("StartTime", FileTime(start))]
    recs.append((log.add(KERNEL_GENERAL[0], 12, ft("2025-01-14 06:09:05.1250000"), provider_guid=KERNEL_GENERAL[1],
                         version=1, level=4, task=1, keywords=0x8000000000000000, process_id=4, thread_id=8,
                         user_sid=SYSTEM_SID, data=kg12),
                 ["10", "0", "26100", "2605", "0", "0", "2025-01-14T06:08:58.5000000Z"]))
    recs.append((log.add("EventLog", 6005, ft("2025-01-14 06:09:15.0000000"), qualifiers=0x8000, level=4,
                         keywords=0x80000000000000, data=[]), []))
    artifacts = [artifact(f"host-system-{ev.event_id}", "evtx", f"{LOGS}\\System.evtx",
                          "docs/domain.md §5 (feature enabled; takes effect after a reboot)", "C",
                          _evtx_event(ev, ev.time_created, strings, "System"), event_identifier=ev.event_id)
                 for ev, strings in recs]
    return log.to_bytes(), artifacts


def _setup() -> tuple[bytes, list[dict]]:
    log = EvtxLog("Setup", COMPUTER, first_record_id=112)
    artifacts = []
    ns = ("CbsUpdateChangeState", "http://manifests.microsoft.com/win/2004/08/windows/setup_provider")
    for eid, when, state in ((7, "2025-01-14 06:05:12.7187500", "Installed"),
                             (9, "2025-01-14 06:07:40.2343750", "Installed"),
                             (13, "2025-01-14 06:07:41.0000000", "Installed")):
        data = [("UpdateName", "Containers-DisposableClientVM"),
                ("PackageIdentifier", "Microsoft-Windows-Containers-DisposableClientVM-Package"),
                ("ErrorCode", HexInt32(0)), ("Client", "DISM Package Manager Provider")]
        ev = log.add(SERVICING[0], eid, ft(when), provider_guid=SERVICING[1], version=0, level=0,
                     task=1, keywords=0x8000000000000000, process_id=6072, thread_id=6520,
                     user_sid=SYSTEM_SID, data=data, user_data=ns)
        strings = ["Containers-DisposableClientVM", "Microsoft-Windows-Containers-DisposableClientVM-Package",
                   "0x0", "DISM Package Manager Provider"]
        artifacts.append(artifact(f"host-setup-{eid}", "evtx", f"{LOGS}\\Setup.evtx",
                                  "docs/domain.md §5 Host – feature enabled", "C",
                                  _evtx_event(ev, ev.time_created, strings, "Setup"), event_identifier=eid,
                                  note="event ids [C]; the UserData element/field names are [I]"))
    return log.to_bytes(), artifacts


SESSIONS = [  # (guid, start, stop, config)
    (SANDBOX1_GUID, "2025-01-14 06:20:07.5000000", "2025-01-14 07:45:00.0000000", UPDATE_WSB_PATH),
    (SANDBOX2_GUID, "2025-01-15 10:00:03.2500000", "2025-01-15 10:30:05.0000000", UPDATE_WSB_PATH),
    (SANDBOX3_GUID, "2025-01-16 09:00:02.5000000", "2025-01-16 09:20:00.0000000", "wsb.exe --config (inline)"),
]


def _lifecycle() -> tuple[dict[str, bytes], list[dict]]:
    appmodel = EvtxLog("Microsoft-Windows-AppModel-Runtime/Admin", COMPUTER, first_record_id=2018)
    diag = EvtxLog("Microsoft-Windows-Sandbox-Client-Diagnostics/Admin", COMPUTER, first_record_id=1)
    artifacts = []
    for guid, start, stop, config in SESSIONS:
        for eid, when in ((39, start), (41, stop)):
            data = [("ContainerId", "{%s}" % guid.upper()), ("HostProcess", "CmProxyD"),
                    ("Status", HexInt32(0))]
            ev = appmodel.add(APPMODEL[0], eid, ft(when), provider_guid=APPMODEL[1], level=4, task=0,
                              keywords=0x4000000000000000, process_id=3364, thread_id=5120,
                              user_sid=SYSTEM_SID, data=data)
            artifacts.append(artifact(
                f"host-appmodel-{ev.record_id}", "evtx", f"{LOGS}\\Microsoft-Windows-AppModel-Runtime%4Admin.evtx",
                "docs/domain.md §5 (TRR: 39 = start, 41 = end, keyword CmProxyD)", "S",
                _evtx_event(ev, ev.time_created, ["{%s}" % guid.upper(), "CmProxyD", "0x0"],
                            "Microsoft-Windows-AppModel-Runtime/Admin"),
                event_identifier=eid, container_guid=guid,
                note="event ids [S]; field names and message text [I]"))
        for eid, when, name in ((1, start, "SandboxStarted"), (2, stop, "SandboxStopped")):
            data = [("SandboxId", guid), ("Configuration", config), ("Operation", name)]
            ev = diag.add(SANDBOX_DIAG[0], eid, ft(when), provider_guid=SANDBOX_DIAG[1], level=4,
                          keywords=0x8000000000000000, process_id=7304, thread_id=7310,
                          user_sid=SYSTEM_SID if guid == SANDBOX1_GUID else ALICE_SID, data=data)
            artifacts.append(artifact(
                f"host-sandboxdiag-{ev.record_id}", "evtx",
                f"{LOGS}\\Microsoft-Windows-Sandbox-Client-Diagnostics%4Admin.evtx",
                "docs/domain.md §5 (LOLBAS: lifecycle events in this channel)", "I",
                _evtx_event(ev, ev.time_created, [guid, config, name],
                            "Microsoft-Windows-Sandbox-Client-Diagnostics/Admin"),
                event_identifier=eid, container_guid=guid,
                note="the channel is [C]; provider GUID, event ids and fields are [I]"))
    return ({"Microsoft-Windows-AppModel-Runtime%4Admin.evtx": appmodel.to_bytes(),
             "Microsoft-Windows-Sandbox-Client-Diagnostics%4Admin.evtx": diag.to_bytes()}, artifacts)


def host_logs() -> tuple[dict[str, bytes], list[dict]]:
    """{file name under Windows\\System32\\winevt\\Logs: bytes}, artifacts."""
    security, a1 = _security()
    system, a2 = _system()
    setup, a3 = _setup()
    lifecycle, a4 = _lifecycle()
    logs = {"Security.evtx": security, "System.evtx": system, "Setup.evtx": setup, **lifecycle}
    return logs, _flatten(a1 + a2 + a3 + a4)


def record_time(when: Optional[str]) -> Optional[int]:
    return None if when is None else ft(when)
