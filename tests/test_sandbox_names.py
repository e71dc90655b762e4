"""One name, one verdict: every parser that tags execution traces asks core/sandbox_names.

The examiner's question: is vmwp.exe in this trace a sandbox launch? No parser
may answer it differently from another. A folder holds, for each name of the
table, a Prefetch file, a Recent shortcut, jump lists, a scheduled task, a
user's UserAssist/RunMRU/TypedPaths, BAM and AppCompatCache entries, an Amcache
entry and a TaskCache task; the extractor runs every parser over it once.
"""

from __future__ import annotations

import codecs
import json
import re
import struct

import pytest

from sandtrace.core import sandbox_names
from sandtrace.core.sandbox_names import SHARED, SPECIFIC, file_verdict, verdict
from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from test_images.writers.regf import REG_BINARY, REG_DWORD, REG_QWORD, REG_SZ, Hive
from tests.test_lnk import build_custom_destinations, build_dest_list, build_lnk, build_olecf
from tests.test_prefetch import VOLUME, build_pf, filetime
from tests.test_task_xml import NS
from tests.test_winreg import exec_actions, userassist_entry

# (name, verdict): every binary of data/sandbox_names.yaml, and names that are neither.
NAMES = [
    ("WindowsSandbox.exe", SPECIFIC),
    ("WindowsSandboxClient.exe", SPECIFIC),
    ("WindowsSandboxServer.exe", SPECIFIC),
    ("WindowsSandboxRemoteSession.exe", SPECIFIC),  # Prefetch keeps 29 characters of it
    ("wsb.exe", SPECIFIC),
    ("vmwp.exe", SHARED),
    ("vmcompute.exe", SHARED),
    ("cmproxyd.exe", SHARED),
    ("ManagedWindowsVM.exe", SHARED),
    ("notepad.exe", None),
    ("wsbackup.exe", None),
]
WHEN = filetime(2025, 1, 15, 10, 0, 1)
ALICE = "S-1-5-21-1111111111-2222222222-3333333333-1001"
EXPLORER = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
USERASSIST = f"{EXPLORER}\\UserAssist\\{{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}}"
TASKCACHE = "Microsoft\\Windows NT\\CurrentVersion\\Schedule\\TaskCache"
# What each parser and plugin calls its records: (data type, parser) -> the artifact.
ARTIFACTS = {
    ("windows:prefetch:execution", "prefetch"): "Prefetch",
    ("windows:lnk:link", "lnk"): "shortcut",
    ("windows:lnk:link", "custom_destinations/lnk"): "custom jump list",
    ("olecf:dest_list:entry", "automatic_destinations"): "DestList",
    ("windows:sandbox:scheduled_task", "task_xml"): "task XML",
    ("windows:registry:bam", "winreg/bam"): "BAM",
    ("windows:registry:userassist", "winreg/userassist"): "UserAssist",
    ("windows:registry:appcompatcache", "winreg/appcompatcache"): "AppCompatCache",
    ("windows:registry:amcache", "winreg/amcache"): "Amcache",
    ("windows:registry:mrulist", "winreg/windows_run_mru"): "RunMRU",
    ("windows:registry:typedurls", "winreg/windows_typed_paths"): "TypedPaths",
    ("windows:registry:task_scheduler:task_cache:entry", "winreg/windows_task_cache"): "TaskCache",
}


def path_of(index: int, name: str) -> str:
    return f"C:\\Tools{index}\\{name}"  # the folder says which name a record is about


def _shim_cache(paths: list[str]) -> bytes:
    """A Windows 10 AppCompatCache value."""
    entries = b""
    for path in paths:
        raw, data = path.encode("utf-16-le"), b"\x02\x00\x00\x00"
        body = struct.pack("<H", len(raw)) + raw + struct.pack("<QI", WHEN, len(data)) + data
        entries += b"10ts" + struct.pack("<II", 0x1234, len(body)) + body
    return struct.pack("<II28sI", 0x34, 0, bytes(28), len(paths)).ljust(0x34, b"\0") + entries


def _task_xml(command: str) -> str:
    return (f'<Task xmlns="{NS}"><Triggers><BootTrigger/></Triggers><Actions><Exec>'
            f"<Command>{command}</Command><Arguments>--quiet</Arguments></Exec></Actions></Task>")


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    windows = root / "Windows"
    for folder in ("Prefetch", "System32/Tasks", "System32/config", "AppCompat/Programs"):
        (windows / folder).mkdir(parents=True)
    system = Hive(root_name="ROOT", last_written=WHEN, default_time=WHEN)
    system.key("Select", WHEN).set_value("Current", REG_DWORD, 1)
    bam = system.key(f"ControlSet001\\Services\\bam\\State\\UserSettings\\{ALICE}", WHEN)
    software = Hive(root_name="ROOT", last_written=WHEN, default_time=WHEN)
    software.key("Microsoft\\Windows NT\\CurrentVersion", WHEN).set_value("ProductName", REG_SZ, "Windows 11 Pro")
    amcache = Hive(root_name="{11517B7C-E79D-4e20-961B-75A811715ADD}", last_written=WHEN, default_time=WHEN)
    for index, (name, _) in enumerate(NAMES):
        path = path_of(index, name)
        executable = name.upper()
        (windows / "Prefetch" / f"{executable[:29]}-{index:08X}.pf").write_bytes(build_pf(
            executable, index, [WHEN], 1, [f"{VOLUME}\\TOOLS{index}\\{executable}"]))
        (windows / "System32" / "Tasks" / f"Task{index}").write_text(_task_xml(path), encoding="utf-8")
        bam.set_value(f"\\Device\\HarddiskVolume3\\Tools{index}\\{name}", REG_BINARY, struct.pack("<QQQ", WHEN, 0, 2))
        entry = amcache.key(f"Root\\InventoryApplicationFile\\{name.lower()}|{index:016x}", WHEN)
        entry.set_value("LowerCaseLongPath", REG_SZ, path.lower())
        entry.set_value("Name", REG_SZ, name.lower())
        entry.set_value("Size", REG_QWORD, 1024)
        guid = f"{{00000000-0000-0000-0000-{index:012d}}}"
        software.key(f"{TASKCACHE}\\Tree\\Task{index}", WHEN).set_value("Id", REG_SZ, guid)
        task = software.key(f"{TASKCACHE}\\Tasks\\{guid}", WHEN)
        task.set_value("Path", REG_SZ, f"\\Task{index}")
        task.set_value("Actions", REG_BINARY, exec_actions((path, "--quiet")))

        user = root / "Users" / f"user{index}"
        recent = user / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Recent"
        (recent / "AutomaticDestinations").mkdir(parents=True)
        (recent / "CustomDestinations").mkdir()
        (recent / f"{name}.lnk").write_bytes(build_lnk(path))
        (recent / "AutomaticDestinations" / "f01b4d95cf55d32a.automaticDestinations-ms").write_bytes(
            build_olecf({"DestList": build_dest_list([(1, path, WHEN, 0)])}))
        (recent / "CustomDestinations" / "7e4dca80246863e3.customDestinations-ms").write_bytes(
            build_custom_destinations([build_lnk(path)]))
        ntuser = Hive(root_name="ROOT", last_written=WHEN, default_time=WHEN)
        ntuser.key("Control Panel", WHEN)
        ntuser.key(USERASSIST, WHEN).set_value("Version", REG_DWORD, 5)
        ntuser.key(f"{USERASSIST}\\Count", WHEN).set_value(
            codecs.encode(path, "rot13"), REG_BINARY, userassist_entry(1, 1, 1000, WHEN))
        run = ntuser.key(f"{EXPLORER}\\RunMRU", WHEN)
        run.set_value("MRUList", REG_SZ, "a")
        run.set_value("a", REG_SZ, f"{path} --quiet\\1")
        ntuser.key(f"{EXPLORER}\\TypedPaths", WHEN).set_value("url1", REG_SZ, path)
        (user / "NTUSER.DAT").write_bytes(ntuser.to_bytes())
    shim = system.key("ControlSet001\\Control\\Session Manager\\AppCompatCache", WHEN)
    shim.set_value("AppCompatCache", REG_BINARY, _shim_cache([path_of(i, name) for i, (name, _) in enumerate(NAMES)]))
    (windows / "System32" / "config" / "SYSTEM").write_bytes(system.to_bytes())
    (windows / "System32" / "config" / "SOFTWARE").write_bytes(software.to_bytes())
    (windows / "AppCompat" / "Programs" / "Amcache.hve").write_bytes(amcache.to_bytes())
    parsers = "prefetch,lnk,automatic_destinations,custom_destinations,task_xml,winreg"
    return list(Extractor(ExtractionOptions(parsers=parsers)).run(sources.open_source(str(root))))


def _verdict_of(tags: list[str]) -> str | None:
    if "sandbox_execution_trace" in tags or "sandbox_launch_task" in tags:
        return SPECIFIC
    return SHARED if "hyperv_host_trace" in tags else None


def test_the_same_name_gets_the_same_verdict_in_every_parser(evidence):
    assert [d.values for d in evidence if d.data_type == "sandtrace:warning"] == []
    found: dict[str, dict[str, str | None]] = {artifact: {} for artifact in ARTIFACTS.values()}
    for data in evidence:
        artifact = ARTIFACTS.get((data.data_type, data.parser))
        if artifact is None:
            continue
        index = re.search(r"tools(\d+)\\", json.dumps(data.values, default=str), re.IGNORECASE)
        assert index, (artifact, data.values)
        name = NAMES[int(index.group(1))][0]
        assert name not in found[artifact], f"{artifact}: two records for {name}"
        found[artifact][name] = _verdict_of(data.tags)
    expected = dict(NAMES)
    for artifact, verdicts in found.items():
        assert verdicts == expected, artifact


@pytest.mark.parametrize(("name", "expected"), NAMES)
def test_the_reader_gives_the_table_s_verdict(name, expected):
    assert verdict(name) == verdict(f"C:\\Windows\\System32\\{name}") == file_verdict(name) == expected
    assert verdict(f'"C:\\Windows\\System32\\{name}" --config x') == expected


def test_prefetch_s_cut_short_name_still_counts():
    assert file_verdict("WINDOWSSANDBOXREMOTESESSION.E") == SPECIFIC  # 29 characters
    assert file_verdict("WINDOWSSANDBOXREMOTESESSIONX") is None  # 28: not cut, not a sandbox binary
    assert file_verdict("MANAGEDWINDOWSVM.EXE") == SHARED


def test_what_else_names_the_sandbox_and_what_does_not():
    for text in ("wsb start --config x", "cmd /c wsb exec --id 1 -c whoami -r System", "Path: update.wsb",
                 "MicrosoftWindows.WindowsSandbox_cw5n1h2txyewy!App",
                 "{A77F5D77-2E2B-44C3-A6A2-ABA601054A51}\\Windows Sandbox.lnk", "update.wsb.lnk",
                 "C:\\Windows\\System32\\vmwp.exe C:\\ProgramData\\x.wsb"):
        assert verdict(text) == SPECIFIC, text
    for text in ("C:\\tools\\wsbackup.exe", "notes.wsbx", "MyWindowsSandboxNotes.txt", "C:\\tools\\wsb",
                 "C:\\Windows\\System32\\wsb.exe.bak", None, 7):
        assert verdict(text) is None, text
    assert verdict("C:\\Windows\\System32\\notepad.exe", "C:\\Windows\\System32\\vmcompute.exe") == SHARED


def test_the_table_covers_every_binary_of_the_data_file():
    listed = {name.name.lower() for name in sandbox_names.sandbox_names() if name.kind == "binary" and "*" not in name.name}
    assert listed <= {name.lower() for name, _ in NAMES}


def test_every_name_says_how_specific_how_sure_and_where_from():
    names = sandbox_names.sandbox_names()
    assert {name.kind for name in names} == {"binary", "alias", "package", "shortcut", "extension", "service", "driver"}
    for name in names:
        assert name.specificity in (SPECIFIC, SHARED), name
        assert name.confidence in ("C", "S", "I"), name
        assert name.source.startswith(("https://", "docs/domain.md", "inferred")), name
    shared = {name.name for name in names if name.specificity == SHARED and name.kind == "binary"}
    assert shared == {"vmwp.exe", "vmcompute.exe", "cmproxyd.exe", "ManagedWindowsVM.exe"}
    assert all(name.specificity == SHARED for name in names if name.kind in ("service", "driver"))


def test_services_and_drivers_are_not_execution_traces():
    assert verdict("C:\\Windows\\System32\\drivers\\wcifs.sys", "hns", "CmService", "Hyper-V Host Compute") is None


def test_select_picks_names_by_their_properties_in_file_order():
    launchers = {name.name: name.launcher for name in sandbox_names.select(launcher=True)}
    assert launchers == {"WindowsSandbox.exe": "start", "WindowsSandboxClient.exe": "window", "wsb.exe": "cli"}
    assert [name.name for name in sandbox_names.select(kind=("service", "driver"))] == [
        "CmService", "vmcompute", "hns", "HvHost", "vmms", "CExecSvc", "wcifs", "bindflt"]
    assert [name.name for name in sandbox_names.select(kind="SERVICE", guest=True)] == ["CExecSvc"]
    assert [name.name for name in sandbox_names.select(kind="binary", prefetch=False)] == ["ManagedWindowsVM.exe"]
    with pytest.raises(ValueError, match="no property colour"):
        sandbox_names.select(colour="red")
