"""Shortcuts and jump lists: the user opened a .wsb, and Windows remembered it.

The shortcuts are built here to MS-SHLLINK (header, LinkInfo with a local
base path, StringData, a tracker block) with construct, the automatic
destinations jump list as a minimal OLE compound file; liblnk and libolecf,
plaso's readers, must read them back.
"""

from __future__ import annotations

import datetime
import os
import struct
import uuid

import pytest
from construct import Bytes, Const, CString, Int16ul, Int32sl, Int32ul, Int64ul, Padding, Struct, this

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.timeline.timeliner import Timeliner
from sandtrace.parsers.jumplist import parse_dest_list
from sandtrace.parsers.lnk import LNK_CLSID

HAS_TARGET_ID_LIST, HAS_LINK_INFO, HAS_NAME, HAS_RELATIVE_PATH, HAS_WORKING_DIR, HAS_ARGUMENTS, HAS_ICON, IS_UNICODE = (
    1 << bit for bit in range(8)
)
DRIVE_FIXED = 3
RECENT = ("Users", "alice", "AppData", "Roaming", "Microsoft", "Windows", "Recent")

ShellLinkHeader = Struct(
    "header_size" / Const(0x4C, Int32ul),
    "clsid" / Const(LNK_CLSID),
    "link_flags" / Int32ul,
    "file_attributes" / Int32ul,
    "creation_time" / Int64ul,
    "access_time" / Int64ul,
    "write_time" / Int64ul,
    "file_size" / Int32ul,
    "icon_index" / Int32sl,
    "show_command" / Int32ul,
    "hot_key" / Int16ul,
    Padding(10),
)
VolumeId = Struct(
    "size" / Int32ul,
    "drive_type" / Int32ul,
    "drive_serial_number" / Int32ul,
    "volume_label_offset" / Const(0x10, Int32ul),
    "volume_label" / CString("ascii"),
)
LinkInfo = Struct(
    "size" / Int32ul,
    "header_size" / Const(0x1C, Int32ul),
    "flags" / Const(1, Int32ul),  # VolumeIDAndLocalBasePath
    "volume_id_offset" / Const(0x1C, Int32ul),
    "local_base_path_offset" / Int32ul,
    "common_network_relative_link_offset" / Const(0, Int32ul),
    "common_path_suffix_offset" / Int32ul,
    "volume_id" / VolumeId,
    "local_base_path" / CString("ascii"),
    "common_path_suffix" / CString("ascii"),
)
CountedString = Struct("characters" / Int16ul, "text" / Bytes(this.characters * 2))
TrackerDataBlock = Struct(
    "size" / Const(0x60, Int32ul),
    "signature" / Const(0xA0000003, Int32ul),
    "length" / Const(0x58, Int32ul),
    "version" / Const(0, Int32ul),
    "machine_id" / Bytes(16),
    "droid" / Bytes(32),
    "droid_birth" / Bytes(32),
)


def filetime(*args: int) -> int:
    return (datetime.datetime(*args) - datetime.datetime(1601, 1, 1)) // datetime.timedelta(microseconds=1) * 10


def micros(*args: int) -> int:
    return (datetime.datetime(*args) - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)


DROID_VOLUME = uuid.UUID("9d2c0b1a-3e4f-4a5b-8c6d-7e8f90a1b2c3")
DROID_FILE = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427")  # version 1, as Windows makes them


def build_lnk(local_path, arguments=None, working_dir=None, description=None, times=(0, 0, 0), file_size=0,
              serial=0x5A6B7C8D, label="", machine="win11-host"):
    flags = HAS_LINK_INFO | IS_UNICODE
    strings = b""
    for flag, text in ((HAS_NAME, description), (HAS_WORKING_DIR, working_dir), (HAS_ARGUMENTS, arguments)):
        if text is not None:
            flags |= flag
            strings += CountedString.build({"characters": len(text), "text": text.encode("utf-16-le")})
    header = ShellLinkHeader.build({
        "link_flags": flags, "file_attributes": 0x20, "creation_time": times[0], "access_time": times[1],
        "write_time": times[2], "file_size": file_size, "icon_index": 0, "show_command": 1, "hot_key": 0,
    })
    volume_size = 16 + len(label) + 1
    base_offset = 0x1C + volume_size
    suffix_offset = base_offset + len(local_path) + 1
    link_info = LinkInfo.build({
        "size": suffix_offset + 1, "local_base_path_offset": base_offset, "common_path_suffix_offset": suffix_offset,
        "volume_id": {"size": volume_size, "drive_type": DRIVE_FIXED, "drive_serial_number": serial, "volume_label": label},
        "local_base_path": local_path, "common_path_suffix": "",
    })
    tracker = TrackerDataBlock.build({
        "machine_id": machine.encode("ascii").ljust(16, b"\0"),
        "droid": DROID_VOLUME.bytes_le + DROID_FILE.bytes_le,
        "droid_birth": DROID_VOLUME.bytes_le + DROID_FILE.bytes_le,
    })
    return header + link_info + strings + tracker + b"\0\0\0\0"


# -- a minimal OLE compound file (MS-CFB version 3), enough for a jump list ------------

_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def _dir_entry(name, kind, start=_END, size=0, child=_FREE, right=_FREE):
    encoded = (name.encode("utf-16-le") + b"\0\0") if name else b""
    return struct.pack(
        "<64sHBBIII16sIQQIQ", encoded, len(encoded), kind, 1, _FREE, right, child, b"\0" * 16, 0, 0, 0, start, size,
    )


def build_olecf(streams: dict[str, bytes]) -> bytes:
    """Root storage with small streams in the mini stream; all siblings a right-leaning chain."""
    names = sorted(streams, key=lambda n: (len(n), n.upper()))
    mini, mini_fat, starts = b"", [], {}
    for name in names:
        data = streams[name]
        count = max(1, -(-len(data) // 64)) if data else 0
        starts[name] = len(mini) // 64 if data else _END
        for index in range(count):
            mini_fat.append(len(mini_fat) + 1 if index < count - 1 else _END)
        mini += data.ljust(count * 64, b"\0")
    entries = [b""]  # root, filled below
    for position, name in enumerate(names):
        right = position + 2 if position + 1 < len(names) else _FREE
        entries.append(_dir_entry(name, 2, starts[name], len(streams[name]), right=right))
    directory = b"".join(entries[1:])
    dir_sectors = -(-(len(entries) * 128) // 512)
    mini_fat_bytes = b"".join(struct.pack("<I", v) for v in mini_fat)
    mini_fat_sectors = -(-len(mini_fat_bytes) // 512)
    mini_sectors = -(-len(mini) // 512)
    first_dir, first_mini_fat = 1, 1 + dir_sectors
    first_mini = first_mini_fat + mini_fat_sectors
    fat = [_FAT]
    for first, count in ((first_dir, dir_sectors), (first_mini_fat, mini_fat_sectors), (first_mini, mini_sectors)):
        fat += [first + i + 1 if i < count - 1 else _END for i in range(count)]
    root = _dir_entry("Root Entry", 5, first_mini if mini else _END, len(mini), child=1 if names else _FREE)
    directory = (root + directory).ljust(dir_sectors * 512, b"\0")
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6,
        0, 1, first_dir, 0, 4096, first_mini_fat if mini_fat else _END, mini_fat_sectors, _END, 0,
    ) + struct.pack("<109I", 0, *([_FREE] * 108))
    fat_sector = b"".join(struct.pack("<I", v) for v in fat).ljust(512, b"\xff")
    return (header + fat_sector + directory + mini_fat_bytes.ljust(mini_fat_sectors * 512, b"\xff")
            + mini.ljust(mini_sectors * 512, b"\0"))


def build_dest_list(entries, version=4):
    """DestList stream: 32-byte header, then one entry per (number, path, FILETIME, pinned)."""
    data = struct.pack("<3If3I4x", version, len(entries), 0, 0.0, len(entries), 0, 1)
    for number, path, modified, pin in entries:
        data += struct.pack("<Q", 0) + DROID_VOLUME.bytes_le + DROID_FILE.bytes_le + DROID_VOLUME.bytes_le + DROID_FILE.bytes_le
        data += b"win11-host".ljust(16, b"\0") + struct.pack("<IIfQi", number, 0, 1.0, modified, pin)
        if version > 1:
            data += struct.pack("<iIQ", 0, 3, 0)
        data += struct.pack("<H", len(path)) + path.encode("utf-16-le") + (b"\0\0\0\0" if version > 1 else b"")
    return data


def build_custom_destinations(shortcuts):
    """One 'tasks' category holding the shortcuts, then the footer."""
    data = struct.pack("<3I", 2, 1, 0) + struct.pack("<II", 2, len(shortcuts))
    for shortcut in shortcuts:
        data += LNK_CLSID + shortcut
    return data + b"\xab\xfb\xbf\xba"


WSB = "C:\\ProgramData\\SysCache\\update.wsb"
WSB_TIMES = (filetime(2025, 1, 14, 6, 12, 33), filetime(2025, 1, 15, 10, 0, 0), filetime(2025, 1, 14, 6, 12, 34))
EXPLORER_APP_ID = "f01b4d95cf55d32a"


@pytest.fixture
def profile(tmp_path):
    recent = tmp_path.joinpath(*RECENT)
    (recent / "AutomaticDestinations").mkdir(parents=True)
    (recent / "CustomDestinations").mkdir()
    (recent / "update.wsb.lnk").write_bytes(
        build_lnk(WSB, working_dir="C:\\ProgramData\\SysCache", times=WSB_TIMES, file_size=612, label="OS"))
    (recent / "report.docx.lnk").write_bytes(
        build_lnk("C:\\Users\\alice\\Documents\\report.docx", times=(filetime(2024, 5, 2, 9, 0), 0, 0), file_size=20480))
    (recent / "broken.lnk").write_bytes(b"L\x00\x00\x00" + LNK_CLSID + os.urandom(40))
    desktop = tmp_path / "Users" / "alice" / "Desktop" / "tools"
    desktop.mkdir(parents=True)
    (desktop / "Sandbox.lnk").write_bytes(build_lnk(
        "C:\\Windows\\System32\\WindowsSandbox.exe", arguments=WSB, description="Windows Sandbox",
        times=(filetime(2024, 3, 4, 8, 20), 0, filetime(2024, 3, 4, 8, 20))))
    (recent / "AutomaticDestinations" / f"{EXPLORER_APP_ID}.automaticDestinations-ms").write_bytes(build_olecf({
        "DestList": build_dest_list([
            (1, "C:\\Users\\alice\\Documents\\report.docx", filetime(2024, 5, 2, 9, 0, 5), -1),
            (2, WSB, filetime(2025, 1, 15, 10, 0, 0), 0),
        ]),
        "1": build_lnk("C:\\Users\\alice\\Documents\\report.docx"),
        "2": build_lnk(WSB, times=WSB_TIMES),
    }))
    (recent / "AutomaticDestinations" / "junk.automaticDestinations-ms").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    (recent / "CustomDestinations" / "7e4dca80246863e3.customDestinations-ms").write_bytes(build_custom_destinations([
        build_lnk("C:\\Windows\\System32\\wsb.exe", arguments="start --config \"<Configuration/>\""),
        build_lnk("C:\\Windows\\notepad.exe"),
    ]))
    (recent / "CustomDestinations" / "bad.customDestinations-ms").write_bytes(struct.pack("<3I", 2, 3, 0) + b"\x07\0\0\0")
    return tmp_path


def _extract(root, parsers="lnk,automatic_destinations,custom_destinations"):
    extractor = Extractor(ExtractionOptions(parsers=parsers))
    return list(extractor.run(sources.open_source(str(root))))


def _shortcuts(data):
    return [d for d in data if d.data_type == "windows:lnk:link"]


def test_the_recent_shortcut_of_a_wsb_gives_its_path_volume_and_times(profile):
    data = _extract(profile, "lnk")
    [wsb] = [d for d in _shortcuts(data) if d.values.get("local_path") == WSB]
    values = wsb.values
    assert values["working_directory"] == "C:\\ProgramData\\SysCache"
    assert values["file_size"] == 612
    assert values["drive_serial_number"] == 0x5A6B7C8D
    assert values["drive_type"] == DRIVE_FIXED
    assert values["volume_label"] == "OS"
    assert values["machine_identifier"] == "win11-host"
    assert values["droid_file_identifier"] == str(DROID_FILE)
    assert wsb.tags == ["sandbox_execution_trace"]
    events = sorted((e.timestamp_desc, e.timestamp) for e in Timeliner().events(wsb))
    assert events == [
        ("Content Modification Time", micros(2025, 1, 14, 6, 12, 34)),
        ("Creation Time", micros(2025, 1, 14, 6, 12, 33)),
        ("Last Access Time", micros(2025, 1, 15, 10, 0, 0)),
    ]


def test_a_desktop_shortcut_launching_the_sandbox_with_a_wsb_argument_is_tagged(profile):
    data = _extract(profile, "lnk")
    [sandbox] = [d for d in _shortcuts(data) if d.values.get("description") == "Windows Sandbox"]
    assert sandbox.values["local_path"] == "C:\\Windows\\System32\\WindowsSandbox.exe"
    assert sandbox.values["command_line_arguments"] == WSB
    assert sandbox.tags == ["sandbox_execution_trace"]


def test_an_ordinary_document_shortcut_is_kept_untagged_and_junk_warns(profile):
    data = _extract(profile, "lnk")
    [report] = [d for d in _shortcuts(data) if d.values.get("local_path", "").endswith("report.docx")]
    assert report.tags == []
    assert report.values["file_size"] == 20480
    assert "access_time" not in report.values  # an unset FILETIME is no time
    warnings = [d for d in data if d.data_type == "sandtrace:warning"]
    assert [os.path.basename(w.values["path"]) for w in warnings] == ["broken.lnk"]
    assert len(_shortcuts(data)) == 3


def test_the_explorer_jump_list_remembers_when_the_wsb_was_opened(profile):
    data = _extract(profile, "automatic_destinations")
    entries = {d.values["entry_number"]: d for d in data if d.data_type == "olecf:dest_list:entry"}
    assert set(entries) == {1, 2}
    wsb = entries[2]
    assert wsb.values["path"] == WSB
    assert wsb.values["hostname"] == "win11-host"
    assert wsb.values["pin_status"] == 0
    assert wsb.values["droid_volume_identifier"] == f"{{{DROID_VOLUME}}}"
    assert wsb.tags == ["sandbox_execution_trace"]
    assert entries[1].tags == [] and entries[1].values["pin_status"] == -1
    [event] = Timeliner().events(wsb)
    assert (event.timestamp_desc, event.timestamp) == ("Content Modification Time", micros(2025, 1, 15, 10, 0, 0))

    shortcuts = {d.values["display_name"].rsplit(" # ", 1)[1]: d for d in _shortcuts(data)}
    assert set(shortcuts) == {"1", "2"}
    assert shortcuts["2"].values["local_path"] == WSB and shortcuts["2"].tags == ["sandbox_execution_trace"]
    assert shortcuts["2"].parser == "automatic_destinations/lnk"
    warnings = [d for d in data if d.data_type == "sandtrace:warning"]
    assert [os.path.basename(w.values["path"]) for w in warnings] == ["junk.automaticDestinations-ms"]


def test_custom_destinations_shortcuts_naming_wsb_exe_are_tagged(profile):
    data = _extract(profile, "custom_destinations")
    shortcuts = _shortcuts(data)
    assert [d.values["local_path"] for d in shortcuts] == ["C:\\Windows\\System32\\wsb.exe", "C:\\Windows\\notepad.exe"]
    assert [d.tags for d in shortcuts] == [["sandbox_execution_trace"], []]
    assert shortcuts[0].values["command_line_arguments"] == "start --config \"<Configuration/>\""
    warnings = [d for d in data if d.data_type == "sandtrace:warning"]
    assert [os.path.basename(w.values["path"]) for w in warnings] == ["bad.customDestinations-ms"]


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_dest_list_versions_and_truncation(version):
    stream = build_dest_list([(5, "D:\\x.wsb", filetime(2025, 1, 1), 0)], version=version)
    [entry] = parse_dest_list(stream)
    assert (entry["entry_number"], entry["path"], entry["modification_time"].timestamp) == (5, "D:\\x.wsb", filetime(2025, 1, 1))
    with pytest.raises(ValueError):
        list(parse_dest_list(stream[:-12]))
