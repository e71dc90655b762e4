"""The host's registry hives (SAM, SYSTEM, SOFTWARE, alice's NTUSER.DAT).

Why: the registry is where a host records that Windows Sandbox was enabled,
configured, associated, scheduled and run (docs/domain.md §3 and §4). Each
builder returns the hive bytes plus the artifacts (with expected events)
that sandtrace must report, so the ground truth is written next to the data
it describes. Key times follow SCENARIO.md; skeleton keys carry the OS
install time, as in a real hive.
"""

from __future__ import annotations

import codecs
import struct
import uuid

from test_images.host_common import (
    ALICE_SID, COMPUTER, MACHINE_SID, SANDBOX_APPX, TASK_GUID, TASK_PATH, UPDATE_WSB_PATH,
    artifact, event, ft,
)
from test_images.sam import ACB_DISABLED, ACB_DONT_EXPIRE, ACB_NORMAL, SamAccount, build_sam_hive
from test_images.writers.regf import (
    REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_NONE, REG_QWORD, REG_SZ, Hive,
)

INSTALL = ft("2024-03-04 08:20:00")
FEATURE_INSTALLED = ft("2025-01-14 06:07:30")
POLICY_SET = ft("2025-01-14 06:11:00")
TASK_REGISTERED = ft("2025-01-14 06:15:00")
SESSION1_START = ft("2025-01-14 06:20:01")
SESSION2_CLICK = ft("2025-01-15 10:00:01")
APPX_INSTALLED = ft("2025-01-16 08:55:00")      # [I] added detail: Store app before session 3

HKLM_SOFTWARE = "HKEY_LOCAL_MACHINE\\Software"
HKLM_SYSTEM = "HKEY_LOCAL_MACHINE\\System"
HKCU = "HKEY_CURRENT_USER"
CBS = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing"
CBS_PACKAGE = "Microsoft-Windows-Containers-DisposableClientVM-Package~31bf3856ad364e35~amd64~~10.0.26100.1"
SANDBOX_EXE = "C:\\Windows\\System32\\WindowsSandbox.exe"
USERASSIST_GUID = "{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}"
USERASSIST_NAME = "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\WindowsSandbox.exe"
BAM_NAME = "\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsSandbox.exe"


# --- SAM ------------------------------------------------------------------------------

HOST_ACCOUNTS = [
    SamAccount(500, "Administrator", comment="Built-in account for administering the computer/domain",
               flags=ACB_DISABLED | ACB_NORMAL | ACB_DONT_EXPIRE, key_last_written=INSTALL),
    SamAccount(501, "Guest", comment="Built-in account for guest access to the computer/domain",
               flags=ACB_DISABLED | ACB_NORMAL | ACB_DONT_EXPIRE | 0x4, key_last_written=INSTALL),
    SamAccount(503, "DefaultAccount", comment="A user account managed by the system.",
               flags=ACB_DISABLED | ACB_NORMAL | ACB_DONT_EXPIRE | 0x4, key_last_written=INSTALL),
    SamAccount(504, "WDAGUtilityAccount",
               comment="A user account managed and used by the system for Windows Defender "
                       "Application Guard scenarios.",
               flags=ACB_DISABLED | ACB_NORMAL, password_last_set=ft("2024-03-04 08:20:41.1234567"),
               key_last_written=ft("2024-03-04 08:20:41.1234567"), has_password=True),
    SamAccount(1001, "alice", full_name="Alice", flags=ACB_NORMAL | ACB_DONT_EXPIRE, login_count=37,
               last_login=ft("2025-01-16 08:50:12.4400000"),
               password_last_set=ft("2024-03-04 08:24:03.5000000"),
               last_failed_login=ft("2024-12-19 07:58:31.0000000"),
               key_last_written=ft("2025-01-16 08:50:12.4400000"), has_password=True),
]


def sam_hive() -> tuple[bytes, list[dict]]:
    data = build_sam_hive(MACHINE_SID, HOST_ACCOUNTS, INSTALL,
                          domain_modified=ft("2025-01-16 08:50:12.4400000"))
    events = []
    for acct in HOST_ACCOUNTS:
        attrs = dict(account_rid=acct.rid, username=acct.name, fullname=acct.full_name,
                     comments=acct.comment, login_count=acct.login_count,
                     key_path="HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users",
                     account_flags=acct.flags, account_disabled=bool(acct.flags & ACB_DISABLED))
        events.append(event("windows:registry:sam_users", INSTALL, "Content Modification Time",
                            **attrs))      # last_written_time = Users\Names\<name> key time
        if acct.last_login:
            events.append(event("windows:registry:sam_users", acct.last_login, "Last Login Time", **attrs))
        if acct.password_last_set:
            events.append(event("windows:registry:sam_users", acct.password_last_set,
                                "Last Password Set Time", **attrs))
    return data, [artifact(
        "host-sam-accounts", "registry", "\\Windows\\System32\\config\\SAM", "docs/domain.md §6", "C", events,
        hive="SAM", not_a_sandbox_trace=(
            "WDAGUtilityAccount (RID 504, disabled, never logged on) exists on every Windows 10/11 "
            "host: report it as context only, never as evidence that Windows Sandbox ran"))]


# --- SOFTWARE -----------------------------------------------------------------------------

def _cbs(hive: Hive) -> list[dict]:
    pkg = hive.key(f"{CBS}\\Packages\\{CBS_PACKAGE}", FEATURE_INSTALLED)
    pkg.set_value("CurrentState", REG_DWORD, 0x70)
    pkg.set_value("InstallClient", REG_SZ, "DISM Package Manager Provider")
    pkg.set_value("InstallLocation", REG_SZ, "\\\\?\\C:\\Windows\\Servicing\\Packages\\")
    pkg.set_value("InstallName", REG_SZ, CBS_PACKAGE + ".mum")
    pkg.set_value("InstallTimeHigh", REG_DWORD, FEATURE_INSTALLED >> 32)
    pkg.set_value("InstallTimeLow", REG_DWORD, FEATURE_INSTALLED & 0xFFFFFFFF)
    pkg.set_value("InstallUser", REG_SZ, ALICE_SID)
    pkg.set_value("LastError", REG_DWORD, 0)
    pkg.set_value("SelfUpdate", REG_DWORD, 0)
    pkg.set_value("Visibility", REG_DWORD, 2)
    opt = hive.key(f"{CBS}\\Notifications\\OptionalFeatures\\Containers-DisposableClientVM", FEATURE_INSTALLED)
    opt.set_value("Selection", REG_DWORD, 1)
    common = dict(feature="Containers-DisposableClientVM", package=CBS_PACKAGE)
    return [
        artifact("host-cbs-package", "registry", f"{HKLM_SOFTWARE}\\{CBS}\\Packages\\{CBS_PACKAGE}",
                 "docs/domain.md §4 Feature installed (TRR)", "S", [
                     event("windows:sandbox:feature", FEATURE_INSTALLED, "Content Modification Time",
                           source="cbs_package", current_state=0x70, state="installed",
                           install_client="DISM Package Manager Provider", install_user=ALICE_SID,
                           **common),
                     event("windows:sandbox:feature", FEATURE_INSTALLED, "Installation Time",
                           source="cbs_package", current_state=0x70, state="installed", **common)], hive="SOFTWARE"),
        artifact("host-optionalfeatures", "registry",
                 f"{HKLM_SOFTWARE}\\{CBS}\\Notifications\\OptionalFeatures\\Containers-DisposableClientVM",
                 "docs/domain.md §4 Feature installed", "I", [
                     event("windows:sandbox:feature", FEATURE_INSTALLED, "Content Modification Time",
                           source="optional_features", selection=1, state="enabled",
                           feature="Containers-DisposableClientVM")],  # the key names no package
                 hive="SOFTWARE"),
    ]


POLICY = {"AllowNetworking": 1, "AllowMappedFolders": 1, "AllowWriteToMappedFolders": 1,
          "AllowClipboardRedirection": 1}


def _policy(hive: Hive) -> list[dict]:
    key = hive.key("Policies\\Microsoft\\Windows\\Sandbox", POLICY_SET)
    for name, value in POLICY.items():
        key.set_value(name, REG_DWORD, value)
    return [artifact("host-sandbox-policy", "registry",
                     f"{HKLM_SOFTWARE}\\Policies\\Microsoft\\Windows\\Sandbox", "docs/domain.md §4 Group Policy",
                     "C", [event("windows:sandbox:policy", POLICY_SET, "Content Modification Time",
                                 key_path=f"{HKLM_SOFTWARE}\\Policies\\Microsoft\\Windows\\Sandbox",
                                 values=dict(POLICY))], hive="SOFTWARE")]


def _association(hive: Hive) -> list[dict]:
    command = f'"{SANDBOX_EXE}" "%1"'
    hive.key("Classes\\.wsb", INSTALL).key("OpenWithProgids", INSTALL).set_value("Windows.Sandbox", REG_NONE, b"")
    progid = hive.key("Classes\\Windows.Sandbox", INSTALL)
    progid.set_value("", REG_SZ, "Windows Sandbox Configuration")
    progid.key("DefaultIcon", INSTALL).set_value("", REG_EXPAND_SZ, "%SystemRoot%\\System32\\WindowsSandbox.exe,0")
    progid.key("shell\\open\\command", INSTALL).set_value("", REG_EXPAND_SZ, command)
    app = hive.key("Classes\\Applications\\WindowsSandbox.exe", INSTALL)
    app.key("shell\\open\\command", INSTALL).set_value("", REG_EXPAND_SZ, command)
    app.key("SupportedTypes", INSTALL).set_value(".wsb", REG_SZ, "")
    caps = hive.key("Microsoft\\Windows Sandbox\\Capabilities", INSTALL)
    caps.set_value("ApplicationName", REG_SZ, "Windows Sandbox")
    caps.set_value("ApplicationDescription", REG_SZ, "Windows Sandbox")
    caps.key("FileAssociations", INSTALL).set_value(".wsb", REG_SZ, "Windows.Sandbox")
    hive.key("RegisteredApplications", INSTALL).set_value(
        "Windows Sandbox", REG_SZ, "SOFTWARE\\Microsoft\\Windows Sandbox\\Capabilities")
    return [artifact("host-wsb-association", "registry", f"{HKLM_SOFTWARE}\\Classes\\Windows.Sandbox",
                     "docs/domain.md §4 File association (ITOCHU via SBS)", "S", [
                         event("windows:sandbox:file_association", INSTALL, "Content Modification Time",
                               key_path=f"{HKLM_SOFTWARE}\\Classes\\Windows.Sandbox\\shell\\open\\command",
                               extension=".wsb", prog_id="Windows.Sandbox", command=command)],
                     hive="SOFTWARE", keys=["Classes\\.wsb", "Classes\\Windows.Sandbox\\shell\\open\\command",
                                            "Classes\\Applications\\WindowsSandbox.exe",
                                            "Microsoft\\Windows Sandbox\\Capabilities\\FileAssociations"],
                     note="key times are the OS install: the association ships with the feature files; "
                          "it is context, not proof of use")]


def _appx(hive: Hive) -> list[dict]:
    base = "Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore"
    manifest = f"C:\\Program Files\\WindowsApps\\{SANDBOX_APPX}\\AppxManifest.xml"
    hive.key(f"{base}\\Applications\\{SANDBOX_APPX}", APPX_INSTALLED).set_value("Path", REG_SZ, manifest)
    hive.key(f"{base}\\{ALICE_SID}\\{SANDBOX_APPX}", APPX_INSTALLED)
    return [artifact("host-appx-registration", "registry", f"{HKLM_SOFTWARE}\\{base}\\Applications\\{SANDBOX_APPX}",
                     "docs/domain.md §2 wsb.exe CLI (Store app)", "I", [
                         # One record per key: the package's, then the user's registration of it.
                         event("windows:sandbox:appx_package", APPX_INSTALLED, "Content Modification Time",
                               package_full_name=SANDBOX_APPX, package_family_name="MicrosoftWindows.WindowsSandbox_cw5n1h2txyewy",
                               manifest_path=manifest),
                         event("windows:sandbox:appx_package", APPX_INSTALLED, "Content Modification Time",
                               package_full_name=SANDBOX_APPX, user_sid=ALICE_SID)], hive="SOFTWARE",
                     note="the package name is [C]; the AppxAllUserStore layout and version are [I]")]


def dynamic_info(registered: int, launched: int) -> bytes:
    """TaskCache DynamicInfo, Windows 10+ 36-byte form (plaso's dynamic_info2_record)."""
    return struct.pack("<IQQIIQ", 3, registered, launched, 0, 0, 0)


def _taskcache(hive: Hive) -> list[dict]:
    root = "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
    tree = hive.key(f"{root}\\Tree{TASK_PATH}", TASK_REGISTERED)
    tree.set_value("Id", REG_SZ, TASK_GUID)
    tree.set_value("Index", REG_DWORD, 3)
    tree.set_value("SD", REG_BINARY, bytes.fromhex("01000480") + bytes(16))
    last_run = ft("2025-01-14 06:20:01")
    task = hive.key(f"{root}\\Tasks\\{TASK_GUID}", last_run)
    task.set_value("Path", REG_SZ, TASK_PATH)
    task.set_value("Hash", REG_BINARY, uuid.uuid5(uuid.NAMESPACE_URL, TASK_PATH).bytes * 2)
    task.set_value("Schema", REG_DWORD, 0x00010002)
    task.set_value("URI", REG_SZ, TASK_PATH)
    task.set_value("Triggers", REG_BINARY, struct.pack("<IIQ", 0x17, 0, TASK_REGISTERED) + bytes(32))
    task.set_value("Actions", REG_BINARY, b"\x03\x00" + struct.pack("<I", 12) + "Author".encode("utf-16-le")
                   + b"\x66\x66\x00\x00\x00\x00" + SANDBOX_EXE.encode("utf-16-le"))
    task.set_value("DynamicInfo", REG_BINARY, dynamic_info(TASK_REGISTERED, last_run))
    hive.key(f"{root}\\Boot\\{TASK_GUID}", TASK_REGISTERED)
    hive.key(root, last_run)
    attrs = dict(task_name="Update", task_identifier=TASK_GUID, key_path=f"{HKLM_SOFTWARE}\\{root}")
    return [artifact("host-taskcache", "registry", f"{HKLM_SOFTWARE}\\{root}\\Tasks\\{TASK_GUID}",
                     "docs/domain.md §3 (scheduled task launching WindowsSandbox.exe)", "I", [
                         event("windows:registry:task_scheduler:task_cache:entry", last_run,
                               "Content Modification Time", **attrs),
                         event("windows:registry:task_scheduler:task_cache:entry", TASK_REGISTERED,
                               "Last registered Time", **attrs),
                         event("windows:registry:task_scheduler:task_cache:entry", last_run, "Launch Time",
                               **attrs)], hive="SOFTWARE", task_path=TASK_PATH,
                     action=f"{SANDBOX_EXE} {UPDATE_WSB_PATH}",
                     note="Actions is a simplified blob; the action is fully in the Tasks XML file")]


def software_hive() -> tuple[bytes, list[dict]]:
    hive = Hive(root_name="ROOT", last_written=APPX_INSTALLED, default_time=INSTALL,
                file_name="\\SystemRoot\\System32\\Config\\SOFTWARE")
    nt = hive.key("Microsoft\\Windows NT\\CurrentVersion", INSTALL)
    nt.set_value("ProductName", REG_SZ, "Windows 10 Pro")       # Windows 11 still says "Windows 10"
    nt.set_value("DisplayVersion", REG_SZ, "24H2")
    nt.set_value("CurrentBuild", REG_SZ, "26100")
    nt.set_value("CurrentBuildNumber", REG_SZ, "26100")
    nt.set_value("UBR", REG_DWORD, 2605)
    nt.set_value("InstallDate", REG_DWORD, 1709540400)
    nt.set_value("InstallTime", REG_QWORD, INSTALL)
    nt.set_value("RegisteredOwner", REG_SZ, "alice")
    profiles = hive.key("Microsoft\\Windows NT\\CurrentVersion\\ProfileList", INSTALL)
    alice = profiles.key(ALICE_SID, ft("2024-03-04 08:24:10"))
    alice.set_value("ProfileImagePath", REG_EXPAND_SZ, "C:\\Users\\alice")
    alice.set_value("Sid", REG_BINARY, b"")
    hive.key("Microsoft\\Windows\\CurrentVersion\\App Paths\\wordpad.exe", INSTALL).set_value(
        "", REG_EXPAND_SZ, "%ProgramFiles%\\Windows NT\\Accessories\\WORDPAD.EXE")
    hive.key("Microsoft\\Windows\\CurrentVersion\\Run", INSTALL).set_value(
        "SecurityHealth", REG_EXPAND_SZ, "%windir%\\system32\\SecurityHealthSystray.exe")
    artifacts = _cbs(hive) + _policy(hive) + _association(hive) + _appx(hive) + _taskcache(hive)
    return hive.to_bytes(), artifacts


# --- SYSTEM ---------------------------------------------------------------------------------

SERVICES = {
    # name: (display name, image path, type, start, ServiceDll or None, object name)
    "CmService": ("Container Manager Service", "%SystemRoot%\\system32\\svchost.exe -k netsvcs -p", 0x20, 3,
                  "%SystemRoot%\\System32\\CmService.dll", "LocalSystem"),
    "vmcompute": ("Hyper-V Host Compute Service", "%SystemRoot%\\system32\\vmcompute.exe", 0x10, 3, None,
                  "LocalSystem"),
    "hns": ("Host Network Service", "%SystemRoot%\\system32\\svchost.exe -k NetSvcs -p", 0x20, 3,
            "%SystemRoot%\\system32\\HostNetSvc.dll", "LocalSystem"),
    "HvHost": ("HV Host Service", "%SystemRoot%\\system32\\svchost.exe -k LocalSystemNetworkRestricted -p",
               0x20, 3, "%SystemRoot%\\System32\\hvhostsvc.dll", "LocalSystem"),
    "vmms": ("Hyper-V Virtual Machine Management", "%SystemRoot%\\system32\\vmms.exe", 0x10, 2, None,
             "LocalSystem"),
}
SERVICE_SOURCES = {"CmService": ("docs/domain.md §4 Feature installed (TRR)", "S"),
                   "vmcompute": ("docs/domain.md §4 (also check vmcompute, hns)", "I"),
                   "hns": ("docs/domain.md §4 (also check vmcompute, hns)", "I"),
                   "HvHost": ("docs/domain.md §3 (Hyper-V platform services)", "I"),
                   "vmms": ("docs/domain.md §3 (Hyper-V platform services)", "I")}


def system_hive() -> tuple[bytes, list[dict]]:
    hive = Hive(root_name="ROOT", last_written=ft("2025-01-16 09:20:00"), default_time=INSTALL,
                file_name="\\SystemRoot\\System32\\Config\\SYSTEM")
    select = hive.key("Select", INSTALL)
    for name, value in (("Current", 1), ("Default", 1), ("Failed", 0), ("LastKnownGood", 1)):
        select.set_value(name, REG_DWORD, value)
    hive.key("MountedDevices", INSTALL).set_value("\\DosDevices\\C:", REG_BINARY,
                                                  b"DMIO:ID:" + bytes.fromhex("e1d2c3b4a9f08c4b9d7e6f5a4b3c2d1e"))
    setup = hive.key("Setup", INSTALL)
    setup.set_value("SystemSetupInProgress", REG_DWORD, 0)
    setup.set_value("OOBEInProgress", REG_DWORD, 0)
    for sub in ("ComputerName\\ComputerName", "ComputerName\\ActiveComputerName"):
        hive.key(f"ControlSet001\\Control\\{sub}", INSTALL).set_value("ComputerName", REG_SZ, COMPUTER)
    hive.key("ControlSet001\\Control\\TimeZoneInformation", INSTALL).set_value(
        "TimeZoneKeyName", REG_SZ, "Tokyo Standard Time")
    artifacts = []
    for name, (display, image, stype, start, dll, obj) in SERVICES.items():
        key = hive.key(f"ControlSet001\\Services\\{name}", FEATURE_INSTALLED)
        key.set_value("DisplayName", REG_SZ, display)
        key.set_value("ErrorControl", REG_DWORD, 1)
        key.set_value("ImagePath", REG_EXPAND_SZ, image)
        key.set_value("ObjectName", REG_SZ, obj)
        key.set_value("Start", REG_DWORD, start)
        key.set_value("Type", REG_DWORD, stype)
        if dll:
            key.key("Parameters", FEATURE_INSTALLED).set_value("ServiceDll", REG_EXPAND_SZ, dll)
        source, confidence = SERVICE_SOURCES[name]
        artifacts.append(artifact(
            f"host-service-{name.lower()}", "registry", f"{HKLM_SYSTEM}\\ControlSet001\\Services\\{name}",
            source, confidence, [event("windows:registry:service", FEATURE_INSTALLED, "Content Modification Time",
                                       key_path=f"{HKLM_SYSTEM}\\ControlSet001\\Services\\{name}", name=name,
                                       image_path=image, service_type=stype, start_type=start,
                                       service_dll=dll, object_name=obj)], hive="SYSTEM"))
    for name, image in (("EventLog", "%SystemRoot%\\System32\\svchost.exe -k LocalServiceNetworkRestricted -p"),):
        key = hive.key(f"ControlSet001\\Services\\{name}", INSTALL)
        key.set_value("ImagePath", REG_EXPAND_SZ, image)
        key.set_value("Start", REG_DWORD, 2)
        key.set_value("Type", REG_DWORD, 0x20)
        artifacts.append(artifact(
            f"host-service-{name.lower()}", "registry", f"{HKLM_SYSTEM}\\ControlSet001\\Services\\{name}",
            "none (host context)", "C", [event("windows:registry:service", INSTALL, "Content Modification Time",
                                              key_path=f"{HKLM_SYSTEM}\\ControlSet001\\Services\\{name}",
                                              name=name, image_path=image, service_type=0x20, start_type=2)],
            hive="SYSTEM", not_a_sandbox_trace="an ordinary Windows service, listed so the service "
                                               "events of this hive are complete"))
    bam = hive.key(f"ControlSet001\\Services\\bam\\State\\UserSettings\\{ALICE_SID}", SESSION2_CLICK)
    bam.set_value("Version", REG_DWORD, 1)
    bam.set_value("SequenceNumber", REG_DWORD, 41)
    bam.set_value(BAM_NAME, REG_BINARY, struct.pack("<QQQ", SESSION2_CLICK, 0, 2))
    artifacts.append(artifact(
        "host-bam-windowssandbox", "registry",
        f"{HKLM_SYSTEM}\\ControlSet001\\Services\\bam\\State\\UserSettings\\{ALICE_SID}",
        "docs/domain.md §3/§4 HKCU (BAM for the sandbox binaries)", "I", [
            event("windows:registry:bam", SESSION2_CLICK, "Last Time Executed", path=BAM_NAME,
                  user_identifier=ALICE_SID)], hive="SYSTEM"))
    return hive.to_bytes(), artifacts


# --- alice's NTUSER.DAT -----------------------------------------------------------------------

def userassist_value(runs: int, focus_count: int, focus_ms: int, last_run: int) -> bytes:
    """Windows 7+ UserAssist entry: 72 bytes (counts at 4/8/12, last run at 60)."""
    return (struct.pack("<IIII", 0, runs, focus_count, focus_ms) + struct.pack("<10f", *([-1.0] * 10))
            + struct.pack("<IQI", 0xFFFFFFFF, last_run, 0))


def file_shell_item(name: str, size: int = 0) -> bytes:
    """A minimal file-entry shell item (class 0x32) with an ASCII primary name."""
    raw = name.encode("ascii") + b"\0"
    raw += b"\0" * (len(raw) % 2)
    body = struct.pack("<BBIHHH", 0x32, 0, size, 0x5A2F, 0x5000, 0x20)  # FAT 2025-01-15 10:00:00 + raw
    return struct.pack("<H", len(body) + 2) + body


def ntuser_hive() -> tuple[bytes, list[dict]]:
    hive = Hive(root_name="ROOT", last_written=SESSION2_CLICK, default_time=ft("2024-03-04 08:24:10"),
                file_name="\\??\\C:\\Users\\alice\\ntuser.dat")
    explorer = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
    hive.key(f"{explorer}\\UserAssist\\{USERASSIST_GUID}", ft("2024-03-04 08:24:10")).set_value(
        "Version", REG_DWORD, 5)
    count = hive.key(f"{explorer}\\UserAssist\\{USERASSIST_GUID}\\Count", SESSION2_CLICK)
    count.set_value(codecs.encode(USERASSIST_NAME, "rot13"), REG_BINARY,
                    userassist_value(1, 1, 1_799_000, SESSION2_CLICK))
    recent = hive.key(f"{explorer}\\RecentDocs\\.wsb", ft("2025-01-15 10:00:00"))
    recent.set_value("MRUListEx", REG_BINARY, struct.pack("<ii", 0, -1))
    recent.set_value("0", REG_BINARY, "update.wsb\0".encode("utf-16-le")
                     + file_shell_item("update.wsb.lnk", 0) + b"\0\0")
    hive.key(f"{explorer}\\RecentDocs", ft("2025-01-15 10:00:00"))
    hive.key("Environment", ft("2024-03-04 08:24:10")).set_value(
        "TEMP", REG_EXPAND_SZ, "%USERPROFILE%\\AppData\\Local\\Temp")
    hive.key("Software\\Microsoft\\Windows\\CurrentVersion\\Run", ft("2024-03-04 08:24:10")).set_value(
        "OneDrive", REG_SZ, '"C:\\Users\\alice\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /background')
    # top-level keys every NTUSER.DAT has (dfwinreg identifies the hive by them)
    profile = ft("2024-03-04 08:24:10")
    hive.key("AppEvents\\Schemes", profile).set_value("", REG_SZ, ".Default")
    hive.key("Console", profile).set_value("QuickEdit", REG_DWORD, 1)
    hive.key("Control Panel\\Desktop", profile).set_value("WallPaper", REG_SZ, "")
    hive.key("Keyboard Layout\\Preload", profile).set_value("1", REG_SZ, "00000411")
    return hive.to_bytes(), [
        artifact("host-userassist-windowssandbox", "registry",
                 f"{HKCU}\\{explorer}\\UserAssist\\{USERASSIST_GUID}\\Count", "docs/domain.md §3/§4 HKCU", "I", [
                     event("windows:registry:userassist", SESSION2_CLICK, "Last Time Executed",
                           value_name="\\Windows\\System32\\WindowsSandbox.exe", raw_value_name=USERASSIST_NAME,
                           entry_index=1, number_of_executions=1, application_focus_count=1,
                           application_focus_duration=1_799_000,
                           key_path=f"{HKCU}\\{explorer}\\UserAssist\\{USERASSIST_GUID}\\Count")],
                 hive="NTUSER.DAT (alice)"),
        artifact("host-recentdocs-wsb", "registry", f"{HKCU}\\{explorer}\\RecentDocs\\.wsb",
                 "docs/domain.md §3 (double-click leaves RecentDocs .wsb)", "I", [
                     event("windows:registry:mrulistex", ft("2025-01-15 10:00:00"), "Content Modification Time",
                           key_path=f"{HKCU}\\{explorer}\\RecentDocs\\.wsb",
                           entries=["Index: 1 [MRU Value 0]: update.wsb"])],
                 hive="NTUSER.DAT (alice)"),
    ]
