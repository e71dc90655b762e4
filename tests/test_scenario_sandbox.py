"""test_images/scenario_sandbox.py builds the sandbox disks its truth describes.

The builder runs here (root, ntfs-3g and libfaketime needed; otherwise the
module skips: the committed host image is tested elsewhere). Every check
reads the built bytes with readers the builder does not use: libvhdi
(with set_parent for the differencing disks), libfsntfs and The Sleuth Kit
for the inner NTFS volumes, libregf for the hives, libevtx and pyevtx-rs for
the event logs, dfdatetime for plaso's timestamp rounding.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import struct
from typing import Any

import pytest

pyvhdi = pytest.importorskip("pyvhdi")
pyfsntfs = pytest.importorskip("pyfsntfs")
pyregf = pytest.importorskip("pyregf")
pyevtx = pytest.importorskip("pyevtx")
pytsk3 = pytest.importorskip("pytsk3")
evtx_rs = pytest.importorskip("evtx")
dfdatetime_filetime = pytest.importorskip("dfdatetime.filetime")

from test_images import scenario_sandbox as sb  # noqa: E402

pytestmark = pytest.mark.skipif(bool(sb.environment_problems()),
                                reason="needs root, ntfs-3g, mkntfs and libfaketime: "
                                       + ", ".join(sb.environment_problems()))

KINDS = ("creation", "modification", "access", "entry_modification")
VHDX_ROLES = ("base_layer", "sandbox_disk")


# ------------------------------------------------------------------ fixtures --

@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list]:
    """Two independent builds (for the determinism check)."""
    first = sb.build(tmp_path_factory.mktemp("sandbox-a"))
    second = sb.build(tmp_path_factory.mktemp("sandbox-b"))
    return first, second


@pytest.fixture(scope="module")
def planted(builds: tuple[list, list]) -> dict[str, Any]:
    return {p.path: p for p in builds[0]}


@pytest.fixture(scope="module")
def host_tree(planted: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The returned bytes written out as on the host (not the builder's files)."""
    root = tmp_path_factory.mktemp("host")
    for path, item in planted.items():
        target = root / path.lstrip("\\").replace("\\", "/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data)
    return root


def on_host(root: pathlib.Path, path: str) -> str:
    return str(root / path.lstrip("\\").replace("\\", "/"))


@pytest.fixture(scope="module")
def media(planted: dict[str, Any], host_tree: pathlib.Path) -> dict[str, bytes]:
    """Each disk's virtual media as libvhdi reads it (chains resolved)."""
    out = {}
    for path, item in planted.items():
        if item.truth["role"] not in VHDX_ROLES:
            continue
        disk = pyvhdi.file()
        disk.open(on_host(host_tree, path))
        parents = []
        if item.truth["parent_chain"]:
            parent = pyvhdi.file()
            parent.open(on_host(host_tree, item.truth["parent_chain"][0]["host_path"]))
            disk.set_parent(parent)
            parents.append(parent)
        out[path] = disk.read_buffer_at_offset(disk.get_media_size(), 0)
        disk.close()
        for parent in parents:
            parent.close()
    return out


def partition(raw: bytes) -> bytes:
    """The first MBR partition, found by reading the MBR here."""
    assert raw[510:512] == b"\x55\xaa"
    ptype, = struct.unpack_from("<B", raw, 0x1BE + 4)
    start, count = struct.unpack_from("<II", raw, 0x1BE + 8)
    assert ptype == 0x07
    return raw[start * 512:(start + count) * 512]


@pytest.fixture(scope="module")
def volumes(media: dict[str, bytes]) -> dict[str, Any]:
    out = {}
    for path, raw in media.items():
        volume = pyfsntfs.volume()
        volume.open_file_object(io.BytesIO(partition(raw)))
        out[path] = volume
    return out


def disks(planted: dict[str, Any]) -> list[Any]:
    return [p for p in planted.values() if p.truth["role"] in VHDX_ROLES]


def entry(volumes: dict[str, Any], host_path: str, inner_path: str) -> Any:
    file_entry = volumes[host_path].get_file_entry_by_path(inner_path)
    assert file_entry is not None, inner_path
    return file_entry


def inner_data(volumes: dict[str, Any], host_path: str, inner_path: str) -> bytes:
    file_entry = entry(volumes, host_path, inner_path)
    return file_entry.read_buffer_at_offset(file_entry.get_size(), 0) if file_entry.size else b""


def plaso(filetime: int) -> int:
    return dfdatetime_filetime.Filetime(timestamp=filetime).GetPlasoTimestamp()


# --------------------------------------------------------------------- API --

def test_planted_files_and_states(builds: tuple[list, list]) -> None:
    files = builds[0]
    assert [(p.truth["role"], p.state) for p in files] == [
        ("base_layer", "live"), ("sandbox_disk", "live"), ("vmgs", "live"),
        ("bindings", "live"), ("sandbox_disk", "deleted"), ("sandbox_disk", "carvable")]
    for item in files:
        assert set(item.times) == set(KINDS)
        assert item.times["entry_modification"] % 10_000_000 == \
            sb.FILETIME_EPOCH_DELTA % 10_000_000, "ntfs-3g sets whole seconds"
        assert (item.deleted_at is None) == (item.state == "live")
        if item.deleted_at:
            assert item.deleted_at > item.times["entry_modification"]
        assert item.path.startswith(sb.CONTAINERS + "\\")
        assert item.truth["host_path"] == item.path
        assert item.truth["size"] == len(item.data)
    by_guid = {p.truth["guid"]: p for p in files if p.truth["role"] in VHDX_ROLES}
    assert by_guid[sb.SANDBOX2_GUID].deleted_at == sb.ft("2025-01-15 10:30:05")
    assert by_guid[sb.SANDBOX3_GUID].deleted_at == sb.ft("2025-01-16 09:20:00")


def test_two_builds_are_identical(builds: tuple[list, list]) -> None:
    first, second = builds
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.path == b.path
        assert a.data == b.data, a.path
        assert a.times == b.times
        assert json.dumps(a.truth, sort_keys=True) == json.dumps(b.truth, sort_keys=True)


def test_truth_is_json(builds: tuple[list, list]) -> None:
    for item in builds[0]:
        json.dumps(item.truth)


# -------------------------------------------------------------------- VHDX --

def test_vhdx_files_as_libvhdi_sees_them(planted: dict[str, Any], host_tree: pathlib.Path,
                                         media: dict[str, bytes]) -> None:
    for item in disks(planted):
        truth = item.truth["vhdx"]
        assert item.data[:8] == b"vhdxfile", "signature at offset 0, so at a cluster boundary"
        disk = pyvhdi.file()
        disk.open(on_host(host_tree, item.path))
        assert disk.get_media_size() == truth["virtual_size"] == len(media[item.path])
        assert disk.get_bytes_per_sector() == truth["logical_sector_size"]
        # libvhdi's identifier is the data write GUID, which a child's
        # parent_linkage must name.
        assert str(disk.get_identifier()) == truth["data_write_guid"]
        if truth["disk_type"] == "differencing":
            assert disk.get_disk_type() == 4
            assert disk.get_parent_filename() == sb.BASE_VHDX_ABSOLUTE
            base = planted[sb.BASE_VHDX].truth["vhdx"]
            assert str(disk.get_parent_identifier()) == base["data_write_guid"]
            locator = truth["parent_locator"]
            assert locator["absolute_win32_path"] == sb.BASE_VHDX_ABSOLUTE
            assert locator["relative_path"] == sb.BASE_VHDX_RELATIVE
            # The relative path resolves from the disk's folder to the base layer.
            folder = pathlib.Path(on_host(host_tree, item.path)).parent
            target = folder / locator["relative_path"].replace("\\", "/")
            assert target.resolve() == pathlib.Path(on_host(host_tree, sb.BASE_VHDX)).resolve()
        else:
            assert disk.get_disk_type() == 3  # dynamic
            assert not item.truth["parent_chain"]
        disk.close()


def test_disk_models(planted: dict[str, Any]) -> None:
    models = {p.truth["guid"]: (p.truth["layout"], p.truth["disk_model"],
                                p.truth["vhdx"]["disk_type"]) for p in disks(planted)}
    assert models == {
        sb.BASE_GUID: ("classic BaseImages", "base layer", "dynamic"),
        sb.SANDBOX1_GUID: ("ContainerStorages", "block-level differencing", "differencing"),
        sb.SANDBOX2_GUID: ("ContainerStorages", "block-level differencing", "differencing"),
        sb.SANDBOX3_GUID: ("ContainerStorages", "standalone with WCI placeholders", "dynamic"),
    }


def test_allocated_blocks_match_the_bat(planted: dict[str, Any]) -> None:
    """Read the BAT here (entry = 64 bits, state in bits 0-2, offset MiB in bits 20-63)."""
    for item in disks(planted):
        truth = item.truth["vhdx"]
        bat = item.data[3 * 1024 * 1024:4 * 1024 * 1024]
        ratio = 2**23 * truth["logical_sector_size"] // truth["block_size"]
        present = {}
        for block in range(truth["total_blocks"]):
            value, = struct.unpack_from("<Q", bat, 8 * (block + block // ratio))
            if value & 7 in (6, 7):
                present[block] = (value >> 20) * 1024 * 1024
        assert sorted(present) == truth["allocated_block_numbers"]
        assert {str(k): v for k, v in present.items()} == truth["block_file_offsets"]


def test_carvable_disk_is_self_contained(planted: dict[str, Any], media: dict[str, bytes]) -> None:
    item = next(p for p in disks(planted) if p.state == "carvable")
    carving = item.truth["carving"]
    assert carving["blocks_present"] == len(item.truth["vhdx"]["allocated_block_numbers"])
    # Rebuild the media from the file's blocks alone (what a carver does).
    size, block = item.truth["vhdx"]["virtual_size"], item.truth["vhdx"]["block_size"]
    rebuilt = bytearray(size)
    for number, offset in item.truth["vhdx"]["block_file_offsets"].items():
        start = int(number) * block
        rebuilt[start:start + block] = item.data[offset:offset + block]
    assert bytes(rebuilt) == media[item.path]


# ------------------------------------------------------------ inner NTFS --

def test_volume_labels(planted: dict[str, Any], volumes: dict[str, Any]) -> None:
    for item in disks(planted):
        assert (volumes[item.path].get_name() or "") == item.truth["volume"]["label"]
    labels = {p.truth["guid"]: p.truth["volume"]["label"] for p in disks(planted)}
    assert labels[sb.BASE_GUID] == "PortableBaseLayer"


def test_inner_file_times_and_content(planted: dict[str, Any], volumes: dict[str, Any]) -> None:
    checked = 0
    for item in disks(planted):
        for inner in item.truth["inner_files"]:
            file_entry = entry(volumes, item.path, inner["path"])
            si = [file_entry.get_creation_time_as_integer(),
                  file_entry.get_modification_time_as_integer(),
                  file_entry.get_access_time_as_integer(),
                  file_entry.get_entry_modification_time_as_integer()]
            assert si == [inner["standard_information"][k]["filetime"] for k in KINDS], \
                inner["path"]
            names = [file_entry.get_attribute(i) for i in range(file_entry.number_of_attributes)
                     if file_entry.get_attribute(i).attribute_type == 0x30]
            assert len(names) == 1
            fn = [names[0].get_creation_time_as_integer(),
                  names[0].get_modification_time_as_integer(),
                  names[0].get_access_time_as_integer(),
                  names[0].get_entry_modification_time_as_integer()]
            assert fn == [inner["file_name"][k]["filetime"] for k in KINDS], inner["path"]
            assert file_entry.get_file_reference() == \
                inner["mft_entry"] | inner["mft_sequence"] << 48
            assert file_entry.get_size() == inner["size"]
            data = inner_data(volumes, item.path, inner["path"])
            assert hashlib.sha256(data).hexdigest() == inner["sha256"]
            for kind in KINDS:
                value = inner["standard_information"][kind]
                assert value["timestamp"] == plaso(value["filetime"])
            checked += 1
    assert checked >= 20


def test_base_files_visible_through_the_chain(planted: dict[str, Any],
                                              volumes: dict[str, Any]) -> None:
    """A differencing disk's volume still holds the base layer's template files."""
    base = next(p for p in disks(planted) if p.truth["role"] == "base_layer")
    for item in disks(planted):
        if item.truth["vhdx"]["disk_type"] != "differencing":
            continue
        assert item.truth["inherited_template_paths"] == [
            f["path"] for f in base.truth["inner_files"]]
        for inner in base.truth["inner_files"]:
            assert inner_data(volumes, item.path, inner["path"]) == \
                inner_data(volumes, base.path, inner["path"])


def test_wci_placeholders(planted: dict[str, Any], volumes: dict[str, Any],
                          media: dict[str, bytes]) -> None:
    found = 0
    for item in disks(planted):
        for inner in item.truth["inner_files"]:
            if inner["kind"] != "wci_placeholder":
                continue
            found += 1
            file_entry = entry(volumes, item.path, inner["path"])
            reparse = [file_entry.get_attribute(i) for i in range(file_entry.number_of_attributes)
                       if file_entry.get_attribute(i).attribute_type == 0xC0]
            assert len(reparse) == 1 and reparse[0].tag == 0x80000018
            assert file_entry.get_file_attribute_flags() & 0x400  # REPARSE_POINT
            # The Sleuth Kit reads the raw reparse buffer.
            raw = tsk_attribute(partition(media[item.path]), inner["path"], 0xC0)
            assert raw.hex() == inner["reparse_data_hex"]
            tag, length = struct.unpack_from("<IH", raw)
            assert (tag, length + 8) == (0x80000018, len(raw))
            version, _flags = struct.unpack_from("<II", raw, 8)
            name_length, = struct.unpack_from("<H", raw, 32)
            name = raw[34:34 + name_length].decode("utf-16-le")
            event = next(e for e in item.truth["expected_events"]
                         if e["data_type"] == "windows:sandbox:wci_placeholder")
            assert version == 1 and name == event["layer_relative_name"]
            assert event["resolves_to"] == "Files\\" + name
            base_volume = next(volumes[p.path] for p in disks(planted)
                               if p.truth["role"] == "base_layer")
            assert base_volume.get_file_entry_by_path("\\" + event["resolves_to"]) is not None
    assert found == 2


class _Image(pytsk3.Img_Info):
    def __init__(self, data: bytes) -> None:
        self._data = data
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        return self._data[offset:offset + size]

    def get_size(self) -> int:
        return len(self._data)


def tsk_attribute(volume: bytes, path: str, attribute_type: int) -> bytes:
    fs = pytsk3.FS_Info(_Image(volume))
    handle = fs.open(path.replace("\\", "/"))
    for attribute in handle:
        if int(attribute.info.type) == attribute_type:
            return handle.read_random(0, attribute.info.size, attribute.info.type,
                                      attribute.info.id)
    raise AssertionError(f"{path}: no attribute {attribute_type:#x}")


# ------------------------------------------------------- events vs readers --

def events_of(item: Any, data_type: str) -> list[dict]:
    return [e for e in item.truth["expected_events"] if e["data_type"] == data_type]


def test_fs_stat_events_match_libfsntfs(planted: dict[str, Any], volumes: dict[str, Any]) -> None:
    for item in disks(planted):
        for event in events_of(item, "fs:stat:ntfs"):
            path = event["inner_display_name"][len("NTFS:"):]
            file_entry = entry(volumes, item.path, path)
            kind = {v: k for k, v in sb.TIME_DESC.items()}[event["timestamp_desc"]]
            getter = {"creation": "get_creation_time_as_integer",
                      "modification": "get_modification_time_as_integer",
                      "access": "get_access_time_as_integer",
                      "entry_modification": "get_entry_modification_time_as_integer"}[kind]
            source = file_entry if event["attribute_type"] == 0x10 else next(
                file_entry.get_attribute(i) for i in range(file_entry.number_of_attributes)
                if file_entry.get_attribute(i).attribute_type == 0x30)
            assert getattr(source, getter)() == event["filetime"]
            assert event["timestamp"] == plaso(event["filetime"])
            assert event["display_name"] == f"NTFS:{item.path}>{event['inner_display_name']}"
            assert event["container_guid"] == item.truth["guid"]


def read_libevtx(data: bytes) -> dict[int, Any]:
    log = pyevtx.file()
    log.open_file_object(io.BytesIO(data))
    return {log.get_record(i).identifier: log.get_record(i)
            for i in range(log.number_of_records)}


def read_evtx_rs(data: bytes, tmp: pathlib.Path) -> dict[int, dict]:
    path = tmp / "log.evtx"
    path.write_bytes(data)
    parser = evtx_rs.PyEvtxParser(str(path))
    return {r["event_record_id"]: json.loads(r["data"]) for r in parser.records_json()}


def test_evtx_events_match_libevtx_and_pyevtx_rs(planted: dict[str, Any], volumes: dict[str, Any],
                                                 tmp_path: pathlib.Path) -> None:
    seen = set()
    for item in disks(planted):
        for event in events_of(item, "windows:evtx:record"):
            data = inner_data(volumes, item.path, event["file"])
            record = read_libevtx(data)[event["record_number"]]
            rs = read_evtx_rs(data, tmp_path)[event["record_number"]]["Event"]
            getter = {"creation_time": record.get_creation_time_as_integer,
                      "written_time": record.get_written_time_as_integer}[event["time_attribute"]]
            assert getter() == event["filetime"]
            assert event["timestamp"] == plaso(event["filetime"])
            assert record.event_identifier == event["event_identifier"]
            assert record.source_name == event["source_name"]
            assert record.computer_name == event["hostname"] == event["computer_name"]
            assert record.user_security_identifier == event["user_sid"]
            event_id = rs["System"]["EventID"]
            if isinstance(event_id, dict):  # classic providers carry Qualifiers
                event_id = event_id["#text"]
            assert event_id == event["event_identifier"]
            assert rs["System"]["Computer"] == event["computer_name"]
            for name, value in event["event_data"].items():
                if isinstance(value, str) and value.startswith("{"):  # GUID: rs drops braces
                    assert str(rs["EventData"][name]).upper() == value.strip("{}").upper()
                elif isinstance(value, str) and not value.startswith("0x"):
                    assert str(rs["EventData"][name]) == value, name
            seen.add((item.truth["guid"], event["event_identifier"], event["template"]))
    assert {(sb.SANDBOX1_GUID, i, False) for i in (4624, 4672, 4648, 4625, 7045, 7036)} <= seen
    assert (sb.SANDBOX2_GUID, 4624, False) in seen and (sb.SANDBOX3_GUID, 4624, False) in seen
    assert (sb.BASE_GUID, 4608, True) in seen


def test_logon_times_follow_the_scenario(planted: dict[str, Any]) -> None:
    logons = {}
    for item in disks(planted):
        for event in events_of(item, "windows:evtx:record"):
            if event["event_identifier"] == 4624 and event["time_attribute"] == "creation_time":
                assert event["event_data"]["TargetUserSid"] == sb.WDAG_SID
                assert event["event_data"]["TargetUserSid"].endswith("-504")
                assert event["event_data"]["LogonType"] == 2
                logons[item.truth["guid"]] = sb.iso(event["filetime"])[:19]
    assert logons == {sb.SANDBOX1_GUID: "2025-01-14T06:20:40",
                      sb.SANDBOX2_GUID: "2025-01-15T10:00:20",
                      sb.SANDBOX3_GUID: "2025-01-16T09:00:30"}


def open_hive(data: bytes) -> Any:
    hive = pyregf.file()
    hive.open_file_object(io.BytesIO(data))
    return hive


def strip_root(key_path: str) -> str:
    for prefix in ("HKEY_CURRENT_USER\\", "HKEY_LOCAL_MACHINE\\SAM\\"):
        if key_path.startswith(prefix):
            return key_path[len(prefix):]
    raise AssertionError(key_path)


def test_registry_events_match_libregf(planted: dict[str, Any], volumes: dict[str, Any]) -> None:
    s1 = next(p for p in disks(planted) if p.truth["guid"] == sb.SANDBOX1_GUID)
    ntuser = open_hive(inner_data(volumes, s1.path, "\\Users\\WDAGUtilityAccount\\NTUSER.DAT"))
    (userassist_ps, userassist_cmd) = events_of(s1, "windows:registry:userassist")
    for event in (userassist_ps, userassist_cmd):
        key = ntuser.get_key_by_path(strip_root(event["key_path"]))
        value = key.get_value_by_name(sb.rot13(event["value_name_rot13_decoded"]))
        assert len(value.data) == 72
        count, focus, focus_ms = struct.unpack_from("<III", value.data, 4)
        last_run, = struct.unpack_from("<Q", value.data, 60)
        assert (count, focus, focus_ms, last_run) == (
            event["number_of_executions"], event["application_focus_count"],
            event["application_focus_duration"], event["filetime"])
    assert userassist_cmd["expanded_path"] == "C:\\Windows\\System32\\cmd.exe"
    (mru,) = events_of(s1, "windows:registry:mrulist")
    key = ntuser.get_key_by_path(strip_root(mru["key_path"]))
    assert key.get_last_written_time_as_integer() == mru["filetime"]
    assert key.get_value_by_name("a").get_data_as_string() == \
        "cmd /c C:\\Users\\WDAGUtilityAccount\\Desktop\\share\\run.bat\\1"
    assert key.get_value_by_name("MRUList").get_data_as_string() == "a"
    (typed,) = events_of(s1, "windows:registry:typedurls")
    key = ntuser.get_key_by_path(strip_root(typed["key_path"]))
    assert key.get_last_written_time_as_integer() == typed["filetime"]

    sam_hive = open_hive(inner_data(volumes, s1.path, "\\Windows\\System32\\config\\SAM"))
    users = sam_hive.get_key_by_path("SAM\\Domains\\Account\\Users")
    f_value = users.get_sub_key_by_name("000001F8").get_value_by_name("F").data
    last_login, = struct.unpack_from("<Q", f_value, 8)
    password_set, = struct.unpack_from("<Q", f_value, 24)
    rid, _, flags = struct.unpack_from("<III", f_value, 48)
    logons, = struct.unpack_from("<H", f_value, 66)
    assert (rid, logons, flags & 1) == (504, 1, 0)  # enabled, one logon
    by_desc = {e["timestamp_desc"]: e for e in events_of(s1, "windows:registry:sam_users")}
    assert by_desc["Last Login Time"]["filetime"] == last_login
    assert sb.iso(last_login)[:19] == "2025-01-14T06:20:40"
    assert by_desc["Last Password Set Time"]["filetime"] == password_set
    names = users.get_sub_key_by_name("Names").get_sub_key_by_name("WDAGUtilityAccount")
    assert by_desc["Content Modification Time"]["filetime"] == \
        names.get_last_written_time_as_integer()


def test_template_hives(planted: dict[str, Any], volumes: dict[str, Any]) -> None:
    base = next(p for p in disks(planted) if p.truth["role"] == "base_layer")
    ntuser = open_hive(inner_data(volumes, base.path,
                                  "\\Files\\Users\\WDAGUtilityAccount\\ntuser.dat"))
    for event in events_of(base, "windows:registry:key_value"):
        key = ntuser.get_key_by_path(strip_root(event["key_path"]))
        assert plaso(key.get_last_written_time_as_integer()) == event["timestamp"]
        assert event["template"] and "sandbox_template" in event["tags"]
    sam_hive = open_hive(inner_data(volumes, base.path, "\\Files\\Windows\\System32\\config\\SAM"))
    f_value = sam_hive.get_key_by_path(
        "SAM\\Domains\\Account\\Users\\000001F8").get_value_by_name("F").data
    assert struct.unpack_from("<I", f_value, 56)[0] & 1  # disabled in the template
    assert struct.unpack_from("<H", f_value, 66)[0] == 0
    template_users = {e["account_rid"]: e for e in events_of(base, "windows:registry:sam_users")}
    assert sorted(template_users) == [500, 501, 503, 504]
    assert not template_users[504]["account_enabled"] and template_users[504]["template"]
    for name in ("DefaultUser_Delta", "Sam_Delta"):
        open_hive(inner_data(volumes, base.path, "\\Hives\\" + name))


def test_psreadline_events(planted: dict[str, Any], volumes: dict[str, Any]) -> None:
    s1 = next(p for p in disks(planted) if p.truth["guid"] == sb.SANDBOX1_GUID)
    events = events_of(s1, "windows:sandbox:psreadline")
    path = ("\\Users\\WDAGUtilityAccount\\AppData\\Roaming\\Microsoft\\Windows\\PowerShell\\"
            "PSReadLine\\ConsoleHost_history.txt")
    lines = inner_data(volumes, s1.path, path).decode("utf-8").splitlines()
    assert len(lines) == 4
    assert [(e["line_number"], e["command"]) for e in sorted(
        events, key=lambda e: e["line_number"])] == list(enumerate(lines, start=1))
    modified = entry(volumes, s1.path, path).get_modification_time_as_integer()
    assert {e["filetime"] for e in events} == {modified}


def test_template_content_never_passes_for_activity(planted: dict[str, Any]) -> None:
    for item in disks(planted):
        for event in item.truth["expected_events"]:
            assert event["template"] == ("sandbox_template" in event["tags"])
            if item.truth["role"] == "base_layer":
                assert event["template"]
            else:
                assert not event["template"]
    tags = {p.truth["guid"]: p.truth["tags"] for p in disks(planted)}
    assert tags[sb.SANDBOX2_GUID] == ["recovered_deleted"]
    assert tags[sb.SANDBOX3_GUID] == ["carved"]


def test_bindings_config_names_the_chain(planted: dict[str, Any]) -> None:
    item = next(p for p in planted.values() if p.truth["role"] == "bindings")
    config = json.loads(item.data)
    assert config["BaseLayer"]["Path"] == sb.BASE_VHDX_ABSOLUTE
    assert config["MappedDirectories"][0]["HostPath"] == "C:\\ProgramData\\SysCache\\share"
    assert os.path.basename(item.path.replace("\\", "/")) == "config.json"
