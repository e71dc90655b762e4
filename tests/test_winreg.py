"""The winreg parser and its plugins on hives built with known keys, values and times."""

from __future__ import annotations

import codecs
import datetime
import os
import struct
import tempfile

import pytest
from dfvfs.path import factory as path_spec_factory

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import WARNING_DATA_TYPE, Provenance
from sandtrace.pipeline import parsing
from sandtrace.timeline.timeliner import Timeliner
from sandtrace.output.formatting import default_formatters
from sandtrace.parsers.winreg import WinRegistryParser
from test_images.writers.regf import REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_NONE, REG_SZ, Hive

ALICE = "S-1-5-21-1111111111-2222222222-3333333333-1001"
SANDBOX_EXE = "C:\\Windows\\System32\\WindowsSandbox.exe"
WSB = "C:\\ProgramData\\SysCache\\update.wsb"
HKLM_SOFTWARE = "HKEY_LOCAL_MACHINE\\Software"
EXPLORER = "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"


def ft(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text)
    return int((moment - datetime.datetime(1601, 1, 1)).total_seconds()) * 10**7 + moment.microsecond * 10


INSTALL, FEATURE, POLICY, TASK, RUN, CLICK = (
    ft("2024-03-04 08:20:00"), ft("2025-01-14 06:07:30"), ft("2025-01-14 06:11:00"),
    ft("2025-01-14 06:15:00"), ft("2025-01-14 06:20:01"), ft("2025-01-15 10:00:01"),
)


def parse_file(path: str, location: str | None = None, parser: WinRegistryParser | None = None):
    spec = path_spec_factory.Factory.NewPathSpec("OS", location=path)
    target = FileTarget(volume=None, path_spec=spec, location=location or path,
                        provenance=Provenance(display_name=location or path))
    return list((parser or WinRegistryParser()).parse(target))


def parse_bytes(data: bytes, name: str, location: str | None = None, parser=None):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as stream:
            stream.write(data)
        return parse_file(path, location, parser)


def of(out, data_type):
    return [d for d in out if d.data_type == data_type]


def times(data) -> dict[str, int]:
    return {name: value.timestamp for name, value in data.date_time_values().items()}


def exec_actions(*commands: tuple[str, str]) -> bytes:
    def text(value: str) -> bytes:
        raw = value.encode("utf-16-le")
        return struct.pack("<I", len(raw)) + raw
    blob = b"\x03\x00" + text("Author")
    for command, arguments in commands:
        blob += b"\x66\x66" + text("") + text(command) + text(arguments) + text("") + b"\x00\x00"
    return blob


def software_hive() -> bytes:
    hive = Hive(root_name="ROOT", last_written=CLICK, default_time=INSTALL)
    hive.key("Microsoft\\Windows NT\\CurrentVersion", INSTALL).set_value("ProductName", REG_SZ, "Windows 10 Pro")
    hive.key("Classes", INSTALL)
    cbs = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing"
    package = "Microsoft-Windows-Containers-DisposableClientVM-Package~31bf3856ad364e35~amd64~~10.0.26100.1"
    key = hive.key(f"{cbs}\\Packages\\{package}", FEATURE)
    key.set_value("CurrentState", REG_DWORD, 0x70)
    key.set_value("InstallTimeHigh", REG_DWORD, FEATURE >> 32)
    key.set_value("InstallTimeLow", REG_DWORD, FEATURE & 0xFFFFFFFF)
    key.set_value("InstallClient", REG_SZ, "DISM Package Manager Provider")
    key.set_value("InstallUser", REG_SZ, ALICE)
    hive.key(f"{cbs}\\Packages\\Microsoft-Windows-Notepad-Package~31bf3856ad364e35~amd64~~10.0.26100.1", INSTALL).set_value(
        "CurrentState", REG_DWORD, 0x70)
    hive.key(f"{cbs}\\Notifications\\OptionalFeatures\\Containers-DisposableClientVM", FEATURE).set_value(
        "Selection", REG_DWORD, 1)
    policy = hive.key("Policies\\Microsoft\\Windows\\Sandbox", POLICY)
    for name, value in (("AllowNetworking", 0), ("AllowMappedFolders", 1), ("AllowClipboardRedirection", 1), ("Bogus", 7)):
        policy.set_value(name, REG_DWORD, value)
    command = f'"{SANDBOX_EXE}" "%1"'
    hive.key("Classes\\.wsb", INSTALL).set_value("", REG_SZ, "Windows.Sandbox")
    progid = hive.key("Classes\\Windows.Sandbox", INSTALL)
    progid.set_value("", REG_SZ, "Windows Sandbox Configuration")
    progid.key("shell\\open\\command", POLICY).set_value("", REG_EXPAND_SZ, command)
    hive.key("Classes\\Applications\\WindowsSandbox.exe\\shell\\open\\command", INSTALL).set_value("", REG_EXPAND_SZ, command)
    caps = hive.key("Microsoft\\Windows Sandbox\\Capabilities", INSTALL)
    caps.set_value("ApplicationName", REG_SZ, "Windows Sandbox")
    caps.key("FileAssociations", INSTALL).set_value(".wsb", REG_SZ, "Windows.Sandbox")
    appx = "Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore"
    full_name = "MicrosoftWindows.WindowsSandbox_0.5.2.0_x64__cw5n1h2txyewy"
    hive.key(f"{appx}\\Applications\\{full_name}", CLICK).set_value("Path", REG_SZ, f"C:\\Program Files\\WindowsApps\\{full_name}\\AppxManifest.xml")
    hive.key(f"{appx}\\{ALICE}\\{full_name}", CLICK)
    hive.key(f"{appx}\\Applications\\Microsoft.WindowsNotepad_11.0.0.0_x64__8wekyb3d8bbwe", INSTALL)
    cache = "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
    for guid, path, actions, registered, launched in (
        ("{11111111-2222-3333-4444-555555555555}", "\\Microsoft\\Windows\\SysCache\\Update", exec_actions((SANDBOX_EXE, WSB)), TASK, RUN),
        ("{66666666-7777-8888-9999-000000000000}", "\\Backup", exec_actions(("C:\\Windows\\System32\\notepad.exe", "")), INSTALL, 0),
    ):
        hive.key(f"{cache}\\Tree{path}", registered).set_value("Id", REG_SZ, guid)
        task = hive.key(f"{cache}\\Tasks\\{guid}", launched or registered)
        task.set_value("Path", REG_SZ, path)
        task.set_value("Actions", REG_BINARY, actions)
        task.set_value("DynamicInfo", REG_BINARY, struct.pack("<IQQIIQ", 3, registered, launched, 0, 0, 0))
    return hive.to_bytes()


def system_hive() -> bytes:
    hive = Hive(root_name="ROOT", last_written=CLICK, default_time=INSTALL)
    hive.key("Select", INSTALL).set_value("Current", REG_DWORD, 2)
    hive.key("ControlSet001\\Services\\CmService", INSTALL).set_value("ImagePath", REG_EXPAND_SZ, "decoy.exe")
    for name, image, kind, start, dll in (
        ("CmService", "%SystemRoot%\\system32\\svchost.exe -k netsvcs -p", 0x20, 3, "%SystemRoot%\\System32\\CmService.dll"),
        ("vmcompute", "%SystemRoot%\\system32\\vmcompute.exe", 0x10, 3, None),
        ("hns", "%SystemRoot%\\system32\\svchost.exe -k NetSvcs -p", 0x20, 3, "%SystemRoot%\\system32\\HostNetSvc.dll"),
        ("HvHost", "%SystemRoot%\\system32\\svchost.exe -k LocalSystemNetworkRestricted -p", 0x20, 3, None),
        ("vmms", "%SystemRoot%\\system32\\vmms.exe", 0x10, 2, None),
        ("EventLog", "%SystemRoot%\\System32\\svchost.exe -k LocalServiceNetworkRestricted -p", 0x20, 2, None),
    ):
        key = hive.key(f"ControlSet002\\Services\\{name}", FEATURE)
        key.set_value("DisplayName", REG_SZ, name.upper())
        key.set_value("ErrorControl", REG_DWORD, 1)
        key.set_value("ImagePath", REG_EXPAND_SZ, image)
        key.set_value("ObjectName", REG_SZ, "LocalSystem")
        key.set_value("Start", REG_DWORD, start)
        key.set_value("Type", REG_DWORD, kind)
        if dll:
            key.key("Parameters", FEATURE).set_value("ServiceDll", REG_EXPAND_SZ, dll)
    bam = hive.key(f"ControlSet002\\Services\\bam\\State\\UserSettings\\{ALICE}", CLICK)
    bam.set_value("Version", REG_DWORD, 1)
    bam.set_value("SequenceNumber", REG_DWORD, 41)
    bam.set_value("\\Device\\HarddiskVolume3\\Windows\\System32\\WindowsSandbox.exe", REG_BINARY, struct.pack("<QQQ", CLICK, 0, 2))
    bam.set_value("\\Device\\HarddiskVolume3\\Windows\\System32\\notepad.exe", REG_BINARY, struct.pack("<QQQ", INSTALL, 0, 2))
    return hive.to_bytes()


def userassist_entry(runs: int, focus_count: int, focus_ms: int, last_run: int) -> bytes:
    return struct.pack("<IIII", 0, runs, focus_count, focus_ms) + struct.pack("<10f", *[-1.0] * 10) + struct.pack("<IQI", 0xFFFFFFFF, last_run, 0)


def ntuser_hive() -> bytes:
    hive = Hive(root_name="ROOT", last_written=CLICK, default_time=INSTALL)
    hive.key("Control Panel", INSTALL)
    hive.key("Environment", INSTALL)
    explorer = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
    guid = "{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}"
    hive.key(f"{explorer}\\UserAssist\\{guid}", INSTALL).set_value("Version", REG_DWORD, 5)
    count = hive.key(f"{explorer}\\UserAssist\\{guid}\\Count", CLICK)
    count.set_value(codecs.encode("{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\WindowsSandbox.exe", "rot13"), REG_BINARY,
                    userassist_entry(3, 2, 1_799_000, CLICK))
    count.set_value(codecs.encode("{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\notepad.exe", "rot13"), REG_BINARY,
                    userassist_entry(7, 5, 1000, INSTALL))
    count.set_value(codecs.encode("UEME_CTLSESSION", "rot13"), REG_BINARY, bytes(1612))
    recent = hive.key(f"{explorer}\\RecentDocs\\.wsb", ft("2025-01-15 10:00:00"))
    recent.set_value("MRUListEx", REG_BINARY, struct.pack("<iii", 1, 0, -1))
    item = struct.pack("<BBIIH", 0x32, 0, 0, 0x5A2F5000, 0x20) + b"update.wsb.lnk\0\0"
    recent.set_value("0", REG_BINARY, "old.wsb\0".encode("utf-16-le") + struct.pack("<H", len(item) + 2) + item + b"\0\0")
    recent.set_value("1", REG_BINARY, "update.wsb\0".encode("utf-16-le") + struct.pack("<H", len(item) + 2) + item + b"\0\0")
    run = hive.key(f"{explorer}\\RunMRU", CLICK)
    run.set_value("MRUList", REG_SZ, "ba")
    run.set_value("a", REG_SZ, "cmd\\1")
    run.set_value("b", REG_SZ, f"WindowsSandbox.exe {WSB}\\1")
    typed = hive.key(f"{explorer}\\TypedPaths", CLICK)
    typed.set_value("url1", REG_SZ, "C:\\ProgramData\\SysCache")
    return hive.to_bytes()


@pytest.fixture(scope="module")
def software():
    return parse_bytes(software_hive(), "SOFTWARE", "\\Windows\\System32\\config\\SOFTWARE")


@pytest.fixture(scope="module")
def system():
    return parse_bytes(system_hive(), "SYSTEM", "\\Windows\\System32\\config\\SYSTEM")


@pytest.fixture(scope="module")
def ntuser():
    return parse_bytes(ntuser_hive(), "NTUSER.DAT", "\\Users\\alice\\NTUSER.DAT")


def test_the_feature_was_installed_by_dism_and_selected(software):
    package, selection = sorted(of(software, "windows:sandbox:feature"), key=lambda d: d.values["source"])
    assert package.values["source"] == "cbs_package"
    assert package.values["package"].startswith("Microsoft-Windows-Containers-DisposableClientVM-Package~")
    assert (package.values["current_state"], package.values["state"], package.values["feature_enabled"]) == (0x70, "installed", True)
    assert package.values["install_client"] == "DISM Package Manager Provider"
    assert package.values["install_user"] == ALICE
    assert times(package) == {"install_time": FEATURE, "last_written_time": FEATURE}
    assert selection.values["source"] == "optional_features"
    assert (selection.values["selection"], selection.values["state"], selection.values["feature_enabled"]) == (1, "enabled", True)
    assert times(selection) == {"last_written_time": FEATURE}
    events = [(e.timestamp_desc, e.timestamp) for e in Timeliner().events(package)]
    microseconds = (FEATURE - 116444736000000000) // 10
    assert events == [("Installation Time", microseconds), ("Content Modification Time", microseconds)]
    assert not package.tags and not selection.tags


def test_policy_reports_every_setting_with_its_default(software):
    policy, = of(software, "windows:sandbox:policy")
    assert policy.values["key_path"] == f"{HKLM_SOFTWARE}\\Policies\\Microsoft\\Windows\\Sandbox"
    assert times(policy) == {"last_written_time": POLICY}
    assert policy.values["values"] == {"AllowNetworking": 0, "AllowMappedFolders": 1, "AllowClipboardRedirection": 1, "Bogus": 7}
    assert policy.values["effective"] == {
        "AllowAudioInput": True, "AllowClipboardRedirection": True, "AllowNetworking": False,
        "AllowPrinterRedirection": False, "AllowVGPU": True, "AllowVideoInput": False,
        "AllowMappedFolders": True, "AllowWriteToMappedFolders": True,
    }
    settings = {item["name"]: item for item in policy.values["settings"]}
    assert len(settings) == 8
    assert settings["AllowNetworking"]["configured"] == 0 and settings["AllowVGPU"]["configured"] is None
    assert "AllowMappedFolders" in settings["AllowWriteToMappedFolders"]["note"]
    assert policy.values["unknown_values"] == ["Bogus"]
    message = default_formatters().get("windows:sandbox:policy").message(policy.values)
    assert "AllowNetworking off" in message and "AllowVGPU on (default)" in message


def test_mapped_folders_off_makes_writing_off():
    hive = Hive(root_name="ROOT", last_written=POLICY)
    hive.key("Microsoft", POLICY)
    hive.key("Policies\\Microsoft\\Windows\\Sandbox", POLICY).set_value("AllowMappedFolders", REG_DWORD, 0)
    policy, = of(parse_bytes(hive.to_bytes(), "SOFTWARE"), "windows:sandbox:policy")
    assert policy.values["effective"]["AllowWriteToMappedFolders"] is False


def test_wsb_association_and_store_package(software):
    associations = {d.values["association"]: d for d in of(software, "windows:sandbox:file_association")}
    assert set(associations) == {"extension", "prog_id", "application", "capabilities"}
    command = f'"{SANDBOX_EXE}" "%1"'
    progid = associations["prog_id"]
    assert progid.values["key_path"] == f"{HKLM_SOFTWARE}\\Classes\\Windows.Sandbox\\shell\\open\\command"
    assert (progid.values["extension"], progid.values["prog_id"], progid.values["command"]) == (".wsb", "Windows.Sandbox", command)
    assert times(progid) == {"last_written_time": POLICY}
    assert associations["extension"].values["prog_id"] == "Windows.Sandbox"
    assert associations["application"].values["command"] == command
    assert associations["capabilities"].values["file_associations"] == [".wsb: Windows.Sandbox"]
    packages = of(software, "windows:sandbox:appx_package")
    assert len(packages) == 2  # the notepad package is not reported
    machine, user = sorted(packages, key=lambda d: "user_sid" in d.values)
    assert machine.values["version"] == "0.5.2.0" and machine.values["architecture"] == "x64"
    assert machine.values["package_family_name"] == "MicrosoftWindows.WindowsSandbox_cw5n1h2txyewy"
    assert machine.values["manifest_path"].endswith("AppxManifest.xml")
    assert user.values["user_sid"] == ALICE
    assert times(machine) == times(user) == {"last_written_time": CLICK}


def test_task_launching_the_sandbox_is_tagged_and_the_other_is_not(software):
    tasks = {d.values["task_name"]: d for d in of(software, "windows:registry:task_scheduler:task_cache:entry")}
    update, backup = tasks["Update"], tasks["Backup"]
    assert update.values["task_path"] == "\\Microsoft\\Windows\\SysCache\\Update"
    assert update.values["task_identifier"] == "{11111111-2222-3333-4444-555555555555}"
    assert update.values["key_path"] == f"{HKLM_SOFTWARE}\\Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
    assert update.values["actions"] == [f"{SANDBOX_EXE} {WSB}"]
    assert times(update) == {"last_registered_time": TASK, "launch_time": RUN, "last_written_time": RUN}
    assert update.tags == ["sandbox_execution_trace"]
    assert backup.values["actions"] == ["C:\\Windows\\System32\\notepad.exe"] and not backup.tags
    assert update.parser == "windows_task_cache"


def test_a_simplified_actions_blob_still_shows_the_binary():
    hive = Hive(root_name="ROOT", last_written=RUN)
    hive.key("Microsoft", RUN)
    task = hive.key("Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tasks\\{AB}", RUN)
    task.set_value("Actions", REG_BINARY, b"\x03\x00" + struct.pack("<I", 12) + "Author".encode("utf-16-le")
                   + b"\x66\x66\x00\x00\x00\x00" + SANDBOX_EXE.encode("utf-16-le"))
    hive.key("Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache\\Tree", RUN)
    entry, = of(parse_bytes(hive.to_bytes(), "SOFTWARE"), "windows:registry:task_scheduler:task_cache:entry")
    assert entry.values["actions"] == [SANDBOX_EXE] and entry.tags == ["sandbox_execution_trace"]


def test_services_come_from_the_current_control_set(system):
    services = {d.values["name"]: d for d in of(system, "windows:registry:service")}
    assert set(services) == {"CmService", "vmcompute", "hns", "HvHost", "vmms"}
    cm = services["CmService"].values
    assert cm["key_path"] == "HKEY_LOCAL_MACHINE\\System\\ControlSet002\\Services\\CmService"
    assert (cm["service_type"], cm["start_type"], cm["error_control"]) == (0x20, 3, 1)
    assert cm["image_path"] == "%SystemRoot%\\system32\\svchost.exe -k netsvcs -p"
    assert cm["service_dll"] == "%SystemRoot%\\System32\\CmService.dll"
    assert cm["object_name"] == "LocalSystem"
    assert cm["values"] == [("DisplayName", "REG_SZ", "CMSERVICE")]
    assert times(services["vmms"]) == {"last_written_time": FEATURE}
    assert "service_dll" not in services["vmcompute"].values
    message = default_formatters().get("windows:registry:service").message(cm)
    assert "Type: Service - Share Process (0x20) Start: Manual (3)" in message


def test_bam_tags_only_the_sandbox_binary(system):
    entries = {d.values["path"].rsplit("\\", 1)[-1]: d for d in of(system, "windows:registry:bam")}
    assert set(entries) == {"WindowsSandbox.exe", "notepad.exe"}
    sandbox = entries["WindowsSandbox.exe"]
    assert sandbox.values["user_identifier"] == ALICE and sandbox.values["moderator"] == "bam"
    assert times(sandbox) == {"last_run_time": CLICK}
    assert sandbox.tags == ["sandbox_execution_trace"] and not entries["notepad.exe"].tags


def test_userassist_counts_the_sandbox_and_leaves_notepad_untagged(ntuser):
    entries = {d.values["value_name"].rsplit("\\", 1)[-1]: d for d in of(ntuser, "windows:registry:userassist")}
    assert set(entries) == {"WindowsSandbox.exe", "notepad.exe"}
    sandbox = entries["WindowsSandbox.exe"].values
    # As plaso: the known folder resolved and %SystemRoot% expanded; the stored name kept beside it.
    assert sandbox["value_name"] == "\\Windows\\System32\\WindowsSandbox.exe"
    assert sandbox["raw_value_name"] == "{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\WindowsSandbox.exe"
    assert (sandbox["number_of_executions"], sandbox["application_focus_count"], sandbox["application_focus_duration"]) == (3, 2, 1_799_000)
    assert sandbox["key_path"].endswith("\\UserAssist\\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\\Count")
    assert times(entries["WindowsSandbox.exe"]) == {"last_execution_time": CLICK}
    assert entries["WindowsSandbox.exe"].tags == ["sandbox_execution_trace"]
    assert entries["notepad.exe"].tags == [] and entries["notepad.exe"].values["number_of_executions"] == 7


def test_recentdocs_runmru_and_typed_paths(ntuser):
    recent, = of(ntuser, "windows:registry:mrulistex")
    assert recent.values["entries"] == [
        "Index: 1 [MRU Value 1]: update.wsb",
        "Index: 2 [MRU Value 0]: old.wsb",
    ]
    assert recent.values["key_path"] == f"{EXPLORER}\\RecentDocs\\.wsb"
    assert times(recent) == {"last_written_time": ft("2025-01-15 10:00:00")}
    assert recent.tags == ["sandbox_execution_trace"]
    run, = of(ntuser, "windows:registry:mrulist")
    assert run.values["entries"] == [f"Index: 1 [MRU Value b]: WindowsSandbox.exe {WSB}\\1", "Index: 2 [MRU Value a]: cmd\\1"]
    assert run.values["sandbox_entries"] == [run.values["entries"][0]] and run.tags == ["sandbox_execution_trace"]
    typed, = of(ntuser, "windows:registry:typedurls")
    assert typed.values["entries"] == ["url1: C:\\ProgramData\\SysCache"] and typed.tags == []


def test_usrclass_association_is_read_under_hkcu_classes():
    hive = Hive(root_name="S-1-5-21-1-2-3-1001_Classes", last_written=CLICK)
    hive.key("Local Settings", INSTALL)
    hive.key(".wsb", CLICK).set_value("", REG_SZ, "Windows.Sandbox")
    association, = of(parse_bytes(hive.to_bytes(), "UsrClass.dat"), "windows:sandbox:file_association")
    assert association.values["key_path"] == "HKEY_CURRENT_USER\\Software\\Classes\\.wsb"


def _sam(wdag_flags: int, login_count: int = 0, last_login: int = 0, password_set: int = 0) -> bytes:
    sam = pytest.importorskip("test_images.sam")
    accounts = [
        sam.SamAccount(500, "Administrator", comment="Built-in account", flags=sam.ACB_DISABLED | sam.ACB_NORMAL),
        sam.SamAccount(504, "WDAGUtilityAccount", comment="A user account managed and used by the system for "
                       "Windows Defender Application Guard scenarios.", flags=wdag_flags, login_count=login_count,
                       last_login=last_login, password_last_set=password_set or INSTALL + 41 * 10**7, has_password=True),
        sam.SamAccount(1001, "alice", full_name="Alice", flags=sam.ACB_NORMAL, login_count=37,
                       last_login=CLICK, password_last_set=INSTALL + 240 * 10**7, last_failed_login=POLICY),
    ]
    return sam.build_sam_hive("S-1-5-21-1111111111-2222222222-3333333333", accounts, INSTALL)


def test_sam_accounts_with_plaso_attributes_and_a_quiet_wdag_account():
    out = parse_bytes(_sam(0x0011), "SAM", "\\Windows\\System32\\config\\SAM")
    accounts = {d.values["account_rid"]: d for d in of(out, "windows:registry:sam_users")}
    assert set(accounts) == {500, 504, 1001}
    alice = accounts[1001].values
    assert (alice["username"], alice["fullname"], alice["login_count"], alice["account_disabled"]) == ("alice", "Alice", 37, False)
    assert alice["key_path"] == "HKEY_LOCAL_MACHINE\\SAM\\SAM\\Domains\\Account\\Users"
    assert times(accounts[1001]) == {
        "last_login_time": CLICK, "last_password_set_time": INSTALL + 240 * 10**7,
        "last_password_failure_time": POLICY, "last_written_time": INSTALL,
    }
    wdag = accounts[504]
    assert wdag.values["account_disabled"] is True and wdag.values["comments"].startswith("A user account managed")
    assert not wdag.tags and len(out) == 3  # present and disabled on a host: context only


@pytest.mark.parametrize("flags, logins, last_login, password_set, reasons", [
    (0x0010, 0, 0, 0, ["account enabled"]),
    (0x0011, 2, CLICK, 0, ["account has logged on"]),
    (0x0011, 0, 0, CLICK, ["password changed after the account was created"]),
])
def test_wdag_account_touched_on_a_host_is_an_anomaly(flags, logins, last_login, password_set, reasons):
    data = _sam(flags, logins, last_login, password_set)
    wdag, = [d for d in of(parse_bytes(data, "SAM", "\\Windows\\System32\\config\\SAM"), "windows:registry:sam_users")
             if d.values["account_rid"] == 504]
    assert wdag.tags == ["wdag_anomaly"] and wdag.values["wdag_anomalies"] == reasons
    guest_path = "\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\{0949cec7}\\BaseLayer\\Files\\Windows\\System32\\config\\SAM"
    inside, = [d for d in of(parse_bytes(data, "SAM", guest_path), "windows:registry:sam_users") if d.values["account_rid"] == 504]
    assert not inside.tags and "wdag_anomalies" not in inside.values


def test_a_junk_hive_gives_one_warning():
    out = parse_bytes(os.urandom(8192), "SYSTEM", "\\Windows\\System32\\config\\SYSTEM")
    assert len(out) == 1 and out[0].data_type == WARNING_DATA_TYPE
    assert out[0].values["error"] == "not a registry hive (no regf signature)"
    truncated = parse_bytes(system_hive()[:4096 + 100], "SYSTEM")
    assert [d.data_type for d in truncated] == [WARNING_DATA_TYPE]


def test_a_dirty_hive_is_reported_and_still_read():
    hive = Hive(root_name="ROOT", last_written=POLICY, dirty=True, sequence=7)
    hive.key("Microsoft", POLICY)
    hive.key("Policies\\Microsoft\\Windows\\Sandbox", POLICY).set_value("AllowVGPU", REG_DWORD, 0)
    out = parse_bytes(hive.to_bytes(), "SOFTWARE")
    warning, = of(out, WARNING_DATA_TYPE)
    assert warning.values["hive_dirty"] is True
    assert (warning.values["primary_sequence_number"], warning.values["secondary_sequence_number"]) == (8, 7)
    assert len(of(out, "windows:sandbox:policy")) == 1


def test_a_plugin_failing_on_one_key_costs_that_key_only(monkeypatch):
    from sandtrace.plugins.winreg.services import SandboxServicesPlugin

    original = SandboxServicesPlugin.parse_key

    def broken(self, key, hive):
        if key.name == "hns":
            raise ValueError("bad data")
        yield from original(self, key, hive)

    monkeypatch.setattr(SandboxServicesPlugin, "parse_key", broken)
    out = parse_bytes(system_hive(), "SYSTEM")
    warning, = of(out, WARNING_DATA_TYPE)
    assert warning.values["key_path"] == "HKEY_LOCAL_MACHINE\\System\\ControlSet002\\Services\\hns"
    assert warning.values["parser_name"] == "winreg/windows_services"
    assert len(of(out, "windows:registry:service")) == 4 and len(of(out, "windows:registry:bam")) == 2


def test_the_extractor_names_the_plugin_in_the_parser_chain(system):
    data = of(system, "windows:registry:bam")[0]
    target = FileTarget(volume=None, path_spec=None, location="\\Windows\\System32\\config\\SYSTEM")
    assert parsing.finish(data, "winreg", target, None).parser == "winreg/bam"


def test_hive_type_comes_from_content_not_the_file_name(system):
    renamed = parse_bytes(system_hive(), "carved-0001.bin")
    assert len(of(renamed, "windows:registry:service")) == 5

