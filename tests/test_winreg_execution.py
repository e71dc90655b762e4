"""AppCompatCache (SYSTEM) and Amcache.hve: hives built with known entries, then the real corpus Amcache."""

from __future__ import annotations

import glob
import lzma
import os
import struct

import pytest

from sandtrace.core.events import WARNING_DATA_TYPE
from sandtrace.timeline.timeliner import Timeliner
from sandtrace.output.formatting import default_formatters
from sandtrace.plugins.winreg.appcompatcache import parse_cache
from test_images.writers.regf import REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD, REG_SZ, Hive
from tests.conftest import corpus_file
from tests.test_winreg import ft, of, parse_bytes, parse_file

SHIM = "HKEY_LOCAL_MACHINE\\System\\ControlSet002\\Control\\Session Manager\\AppCompatCache"
SANDBOX_EXE = "C:\\Windows\\System32\\WindowsSandbox.exe"
WSB_EXE = "C:\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe"
NOTEPAD = "C:\\Windows\\System32\\notepad.exe"
VMWP = "C:\\Windows\\System32\\vmwp.exe"
BUILT, SHIM_WRITTEN, INVENTORIED = ft("2024-03-04 08:20:00"), ft("2025-01-14 06:30:00"), ft("2025-01-14 06:07:31.250000")
MODIFIED = {SANDBOX_EXE: ft("2024-11-12 03:04:05.123456"), WSB_EXE: ft("2025-01-10 17:00:00"),
            NOTEPAD: ft("2023-05-06 07:08:09"), VMWP: ft("2024-11-12 03:04:06")}
AMCACHE = "\\Windows\\AppCompat\\Programs\\Amcache.hve"
INVENTORY = "HKEY_LOCAL_MACHINE\\Amcache\\Root\\InventoryApplicationFile"
SHA1 = "2f1e0cd52c1d7f4c7b5d1e5c6e6a7b8c9d0e1f20"


def _micro(filetime: int) -> int:
    return (filetime - 116444736000000000) // 10


# --- AppCompatCache blobs, as Windows writes them -------------------------------------------

def win10_cache(paths, header_size=0x34) -> bytes:
    header = struct.pack("<II28sI", header_size, 0, bytes(28), len(paths)).ljust(header_size, b"\0")
    entries = b""
    for path in paths:
        raw, data = path.encode("utf-16-le"), b"\x02\x00\x00\x00" * 3
        body = struct.pack("<H", len(raw)) + raw + struct.pack("<QI", MODIFIED[path], len(data)) + data
        entries += b"10ts" + struct.pack("<II", 0x1234, len(body)) + body
    return header + entries


def win81_cache(paths) -> bytes:
    entries = b""
    for flags, path in enumerate(paths, 1):
        raw = path.encode("utf-16-le")
        body = struct.pack("<H", len(raw)) + raw + struct.pack("<IIHQI", flags, 0, 0, MODIFIED[path], 0)
        entries += b"10ts" + struct.pack("<II", 0, len(body)) + body
    return struct.pack("<I", 0x80).ljust(0x80, b"\0") + entries


def win7_cache(paths) -> bytes:
    """64-bit Windows 7: 48-byte records, paths after them (offsets from the value's start)."""
    records, strings = b"", b""
    base = 0x80 + 48 * len(paths)
    for flags, path in enumerate(paths, 1):
        raw = path.encode("utf-16-le") + b"\0\0"
        records += struct.pack("<HHIQQIIQQ", len(raw) - 2, len(raw), 0, base + len(strings), MODIFIED[path], flags, 0, 0, 0)
        strings += raw
    return struct.pack("<II", 0xBADC0FEE, len(paths)).ljust(0x80, b"\0") + records + strings


def system_hive(blob: bytes) -> bytes:
    hive = Hive(root_name="ROOT", last_written=SHIM_WRITTEN, default_time=BUILT)
    hive.key("Select", BUILT).set_value("Current", REG_DWORD, 2)
    hive.key("ControlSet001\\Control\\Session Manager\\AppCompatCache", BUILT).set_value("AppCompatCache", REG_BINARY, b"decoy")
    hive.key("ControlSet002\\Control\\Session Manager\\AppCompatCache", SHIM_WRITTEN).set_value("AppCompatCache", REG_BINARY, blob)
    return hive.to_bytes()


@pytest.fixture(scope="module")
def shimcache():
    return parse_bytes(system_hive(win10_cache([SANDBOX_EXE, WSB_EXE, NOTEPAD, VMWP])), "SYSTEM")


def test_appcompatcache_windows10_entries_with_paths_times_and_order(shimcache):
    assert not of(shimcache, WARNING_DATA_TYPE)
    entries = of(shimcache, "windows:registry:appcompatcache")
    assert [(d.values["entry_index"], d.values["path"]) for d in entries] == [
        (1, SANDBOX_EXE), (2, WSB_EXE), (3, NOTEPAD), (4, VMWP)]
    first = entries[0]
    assert first.parser == "appcompatcache"
    assert first.values["key_path"] == SHIM  # CurrentControlSet resolved through Select\Current
    assert first.values["control_set"] == 2 and first.values["offset"] == 0x34
    assert first.values["file_entry_modification_time"].timestamp == MODIFIED[SANDBOX_EXE]
    assert first.values["registry_last_written_time"].timestamp == SHIM_WRITTEN
    assert "insertion_flags" not in first.values  # Windows 10 entries have none
    size = 12 + 2 + 2 * len(SANDBOX_EXE) + 8 + 4 + 12
    assert entries[1].values["offset"] == 0x34 + size
    for entry in entries:
        assert entry.values["file_entry_modification_time"].timestamp == MODIFIED[entry.values["path"]]


def test_appcompatcache_tags_sandbox_binaries_and_hyper_v_host_binaries_apart(shimcache):
    tags = {d.values["path"]: d.tags for d in of(shimcache, "windows:registry:appcompatcache")}
    assert tags == {SANDBOX_EXE: ["sandbox_execution_trace"], WSB_EXE: ["sandbox_execution_trace"],
                    NOTEPAD: [], VMWP: ["hyperv_host_trace"]}  # vmwp.exe also serves other VMs


def test_appcompatcache_timeline_and_message(shimcache):
    first = of(shimcache, "windows:registry:appcompatcache")[0]
    events = [(e.timestamp_desc, e.timestamp) for e in Timeliner().events(first)]
    assert events == [("File Last Modification Time", _micro(MODIFIED[SANDBOX_EXE])),
                      ("Registry Last Written Time", _micro(SHIM_WRITTEN))]
    message = default_formatters().get("windows:registry:appcompatcache").message(first.values)
    assert message == f"[{SHIM}] Cached entry: 1 Path: {SANDBOX_EXE}"


@pytest.mark.parametrize("build,flags", [
    (lambda paths: win10_cache(paths, 0x30), [None, None, None]),
    (win81_cache, [1, 2, 3]),
    (win7_cache, [1, 2, 3]),
])
def test_appcompatcache_older_formats(build, flags):
    paths = [SANDBOX_EXE, NOTEPAD, WSB_EXE]
    found = list(parse_cache(build(paths)))
    assert [(path, modified, flag) for _, _, path, modified, flag in found] == [
        (path, MODIFIED[path], flag) for path, flag in zip(paths, flags)]


def test_corrupt_appcompatcache_warns_for_that_value_only():
    blob = bytearray(win10_cache([SANDBOX_EXE, NOTEPAD]))
    second = blob.index(b"10ts", 0x34 + 4)
    blob[second: second + 4] = b"XXXX"
    out = parse_bytes(system_hive(bytes(blob)), "SYSTEM")
    assert [d.values["path"] for d in of(out, "windows:registry:appcompatcache")] == [SANDBOX_EXE]
    warnings = of(out, WARNING_DATA_TYPE)
    assert len(warnings) == 1
    assert warnings[0].values["key_path"] == SHIM and warnings[0].parser == "winreg/appcompatcache"
    assert "entry 2" in warnings[0].values["error"] and "XXXX" in warnings[0].values["error"]
    for junk in (b"\x00\x00\x00", b"\xef\xbe\xad\xde" + bytes(60), struct.pack("<II", 0xBADC0FEE, 5) + bytes(0x80)):
        out = parse_bytes(system_hive(junk), "SYSTEM")
        assert not of(out, "windows:registry:appcompatcache") and len(of(out, WARNING_DATA_TYPE)) == 1


# --- Amcache.hve ------------------------------------------------------------------------------

def amcache_hive() -> bytes:
    hive = Hive(root_name="{11517B7C-E79D-4e20-961B-75A811715ADD}", last_written=INVENTORIED, default_time=BUILT)
    for name, path, written, link in (
        ("windowssandbox.exe|6f1d0a6e2d3c4b5a", SANDBOX_EXE.lower(), INVENTORIED, "11/12/2024 03:04:05"),
        ("notepad.exe|0a1b2c3d4e5f6a7b", NOTEPAD.lower(), BUILT, "05/06/2023 07:08:09"),
    ):
        key = hive.key(f"Root\\InventoryApplicationFile\\{name}", written)
        key.set_value("ProgramId", REG_SZ, "0000f519feec486de87ed73cb92d3cac802400000000")
        key.set_value("FileId", REG_SZ, "0000" + SHA1)
        key.set_value("LowerCaseLongPath", REG_SZ, path)
        key.set_value("Name", REG_SZ, path.rsplit("\\", 1)[-1])
        key.set_value("Publisher", REG_SZ, "microsoft corporation")
        key.set_value("Version", REG_SZ, "10.0.26100.1")
        key.set_value("ProductName", REG_SZ, "microsoft® windows® operating system")
        key.set_value("ProductVersion", REG_SZ, "10.0.26100.1")
        key.set_value("Size", REG_QWORD, 123904)
        key.set_value("LinkDate", REG_SZ, link)
    old = hive.key("Root\\File\\{b7ae1d8e-0000-0000-0000-100000000000}\\300000001a2b", INVENTORIED)
    old.set_value("15", REG_SZ, "C:\\Windows\\System32\\WindowsSandboxClient.exe")
    old.set_value("101", REG_SZ, "0000" + SHA1)
    old.set_value("17", REG_QWORD, INVENTORIED)
    old.set_value("11", REG_QWORD, MODIFIED[SANDBOX_EXE])
    old.set_value("12", REG_QWORD, BUILT)
    old.set_value("f", REG_DWORD, 1731380645)
    program = hive.key("Root\\Programs\\00000931f4d8fa1b9e536d7f9acd977cfba40000ffff", BUILT)
    program.set_value("0", REG_SZ, "7-Zip 16.04 (x64)")
    program.set_value("d", REG_MULTI_SZ, ["c:\\program files\\7-zip"])
    program.set_value("a", REG_QWORD, 1501593268)
    return hive.to_bytes()


@pytest.fixture(scope="module")
def amcache():
    return parse_bytes(amcache_hive(), "Amcache.hve", location=AMCACHE)


def test_amcache_inventory_application_file(amcache):
    assert not of(amcache, WARNING_DATA_TYPE)
    entries = {d.values["full_path"]: d for d in of(amcache, "windows:registry:amcache")}
    sandbox = entries[SANDBOX_EXE.lower()]
    assert sandbox.parser == "amcache" and sandbox.tags == ["sandbox_execution_trace"]
    assert sandbox.values["key_path"] == f"{INVENTORY}\\windowssandbox.exe|6f1d0a6e2d3c4b5a"
    assert sandbox.values["file_identifier"] == "0000" + SHA1 and sandbox.values["sha1"] == SHA1
    assert sandbox.values["filename"] == "windowssandbox.exe" and sandbox.values["file_size"] == 123904
    assert sandbox.values["file_version"] == "10.0.26100.1"
    assert sandbox.values["company_name"] == "microsoft corporation"
    assert sandbox.values["program_identifier"] == "0000f519feec486de87ed73cb92d3cac802400000000"
    assert sandbox.values["application_key_last_written_time"].timestamp == INVENTORIED
    events = [(e.timestamp_desc, e.timestamp) for e in Timeliner().events(sandbox)]
    assert events == [("Link Time", _micro(ft("2024-11-12 03:04:05"))),
                      ("Registry Last Written Time", _micro(INVENTORIED))]
    notepad = entries[NOTEPAD.lower()]
    assert notepad.tags == [] and notepad.values["application_key_last_written_time"].timestamp == BUILT
    message = default_formatters().get("windows:registry:amcache").message(sandbox.values)
    assert message.startswith(f"path: {SANDBOX_EXE.lower()} file_identifier: 0000{SHA1}")


def test_amcache_file_and_programs_entries(amcache):
    old = next(d for d in of(amcache, "windows:registry:amcache") if "file_reference" in d.values)
    assert old.values["full_path"] == "C:\\Windows\\System32\\WindowsSandboxClient.exe"
    assert old.tags == ["sandbox_execution_trace"]
    assert old.values["file_reference"] == "6699-3" and old.values["sha1"] == SHA1
    assert {name: old.values[name].timestamp for name in ("last_written_time", "file_modification_time", "file_creation_time", "link_time")} == {
        "last_written_time": INVENTORIED, "file_modification_time": MODIFIED[SANDBOX_EXE],
        "file_creation_time": BUILT, "link_time": 1731380645}
    program, = of(amcache, "windows:registry:amcache:programs")
    assert program.values["name"] == "7-Zip 16.04 (x64)" and program.values["file_paths"] == ["c:\\program files\\7-zip"]
    assert program.values["installation_time"].timestamp == 1501593268 and program.tags == []


def test_amcache_pattern_is_collected():
    from sandtrace.parsers.winreg import WinRegistryParser
    assert AMCACHE in WinRegistryParser.PATTERNS


# --- real hives -----------------------------------------------------------------------------

@pytest.mark.corpus
def test_corpus_amcache_agrees_with_plaso():
    path = corpus_file("registry", "plaso", "Amcache.hve")
    out = parse_file(path)
    ours = of(out, "windows:registry:amcache")
    assert len(ours) == 1367 and len(of(out, "windows:registry:amcache:programs")) == 26
    assert all(d.data_type != WARNING_DATA_TYPE or d.values.get("hive_dirty") for d in out)
    plaso = _plaso_amcache(path)
    if plaso is None:
        return

    def comparable(values: dict) -> dict:  # times as FILETIME/POSIX/text, no sandtrace-only extras
        found = {name: getattr(value, "timestamp", None) or getattr(value, "CopyToDateTimeString", lambda: value)()
                 for name, value in values.items() if value is not None and not name.startswith("_")}
        if "file_identifier" in found:  # plaso keeps FileId only; sandtrace adds the bare SHA-1
            found.pop("sha1", None)
        for name in ("key_path", "data_type"):
            found.pop(name, None)
        return found

    def order(values: dict):
        return tuple(str(values.get(name)) for name in ("full_path", "file_reference", "file_identifier", "program_identifier", "name"))
    for data_type in ("windows:registry:amcache", "windows:registry:amcache:programs"):
        theirs = sorted((comparable(d.CopyToDict()) for d in plaso if d.data_type == data_type), key=order)
        mine = sorted((comparable(d.values) for d in of(out, data_type)), key=order)
        assert mine == theirs
    mine = [comparable(d.values) for d in ours]
    assert sum("link_time" in values for values in mine) == 11
    assert sum("application_key_last_written_time" in values for values in mine) == 247


def _plaso_amcache(path):
    try:
        from dfwinreg import regf as dfwinreg_regf
        from plaso.parsers import mediator as mediator_module
        from plaso.parsers.winreg_plugins import amcache as plaso_amcache
        from plaso.storage.fake import writer as fake_writer
    except ImportError:
        return None
    with open(path, "rb") as stream:
        registry_file = dfwinreg_regf.REGFWinRegistryFile()
        registry_file.Open(stream)
        writer = fake_writer.FakeStorageWriter()
        writer.Open()
        mediator = mediator_module.ParserMediator()
        mediator.SetStorageWriter(writer)
        plaso_amcache.AMCachePlugin().Process(mediator, registry_file.GetKeyByPath("\\Root"))
        return list(writer.GetAttributeContainers("event_data"))


@pytest.mark.corpus
def test_both_plugins_run_on_every_corpus_hive(tmp_path):
    folder = os.path.dirname(os.path.dirname(corpus_file("registry", "plaso", "Amcache.hve")))
    paths = []
    for source in sorted(glob.glob(os.path.join(folder, "*", "*"))):
        if "LICENSE" in source or "transactions_" in source:
            continue
        if source.endswith(".xz"):
            target = tmp_path / os.path.basename(source)[:-3]
            target.write_bytes(lzma.decompress(open(source, "rb").read()))
            source = str(target)
        paths.append(source)
    assert len(paths) >= 8
    for source in paths:
        for data in parse_file(source):
            assert data.parser not in ("winreg/appcompatcache", "winreg/amcache"), (source, data.values)
