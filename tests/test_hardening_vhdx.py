"""Hostile VHDX: damaged structures, absurd sizes, a BAT pointing outside the file, a parent cycle.

The first two are the minimal inputs tests/fuzz/test_fuzz_vhdx.py found (construct
errors escaped ``vhdx.describe`` as non-ValueErrors); they are described here as
edits to a small valid disk.
"""

from __future__ import annotations

import functools
import os
import struct
import tempfile

import pytest

from sandtrace.engine import carving, sources, vhdx
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from tests.conftest import corpus_file
from tests.fuzz.test_fuzz_vhdx import _Space, _reseal

writer = pytest.importorskip("test_images.writers.vhdx")
MiB = 1024 * 1024
SANDBOX_GUID = "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"


@functools.lru_cache(maxsize=1)
def disk() -> bytes:
    raw = bytearray(2 * MiB)
    raw[100:110] = b"sandtrace!"
    with tempfile.TemporaryDirectory() as folder:
        writer.write_dynamic(bytes(raw), f"{folder}/d.vhdx")
        return open(f"{folder}/d.vhdx", "rb").read()


def _regions(data: bytes) -> dict:
    table = vhdx.REGION_TABLE.parse(data[192 * 1024:256 * 1024])
    return {entry.guid: entry for entry in table.entries}


def _region_entry_offset(data: bytes, guid) -> int:
    return data.index(guid.bytes_le, 192 * 1024)


def _metadata_item_offset(data: bytes, item) -> int:
    base = _regions(data)[vhdx.METADATA_REGION_GUID].file_offset
    table = vhdx.METADATA_TABLE.parse(data[base:base + 64 * 1024])
    return base + next(entry.offset for entry in table.entries if entry.item_id == item)


def _describe(data: bytes):
    return vhdx.describe(lambda at, size: data[at:at + size] if at >= 0 else b"")


def test_metadata_region_outside_the_file_is_a_vhdx_error():
    # fuzz regression: construct.StreamError ("stream read less than specified amount")
    data = bytearray(disk())
    at = _region_entry_offset(data, vhdx.METADATA_REGION_GUID) + 16
    data[at:at + 8] = struct.pack("<Q", 1 << 40)
    with pytest.raises(vhdx.VhdxError, match="damaged VHDX structure"):
        _describe(_reseal(bytes(data)))


def test_a_damaged_metadata_table_signature_is_a_vhdx_error():
    # fuzz regression: construct.ConstError ("expected b'metadata' but parsed b'\x00metadat'")
    data = bytearray(disk())
    base = _regions(data)[vhdx.METADATA_REGION_GUID].file_offset
    data[base:base + 8] = b"\x00metadat"
    with pytest.raises(vhdx.VhdxError, match="damaged VHDX structure"):
        _describe(bytes(data))


@pytest.mark.parametrize("item,value,message", [
    (vhdx.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 1 << 62), "absurd VHDX virtual size"),
    (vhdx.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 0), "absurd VHDX virtual size"),
    (vhdx.FILE_PARAMETERS_GUID, struct.pack("<I", 0), "block size 0"),
    (vhdx.FILE_PARAMETERS_GUID, struct.pack("<I", 3 * MiB), "not a power of two"),
    (vhdx.LOGICAL_SECTOR_SIZE_GUID, struct.pack("<I", 1), "logical sector size 1"),
])
def test_absurd_sizes_are_refused_before_anything_is_allocated(item, value, message):
    data = bytearray(disk())
    at = _metadata_item_offset(data, item)
    data[at:at + len(value)] = value
    with pytest.raises(vhdx.VhdxError, match=message):
        _describe(bytes(data))


def test_a_bat_cut_short_by_the_end_of_the_file_is_a_vhdx_error():
    data = bytearray(disk())
    at = _region_entry_offset(data, vhdx.BAT_REGION_GUID) + 16
    data[at:at + 8] = struct.pack("<Q", len(data) - 4)  # the BAT starts 4 bytes before the end
    with pytest.raises(vhdx.VhdxError, match="BAT cut short"):
        _describe(_reseal(bytes(data)))


def test_a_huge_bat_costs_its_bytes_not_gigabytes():
    """Found by make fuzz (the process grew to 24 GiB and was killed): a disk claiming
    4 TiB in 1 MiB blocks has 4 million BAT entries; decoded as construct containers
    they took gigabytes. Now the BAT stays as its 32 MiB of bytes, decoded on access."""
    import tracemalloc

    data = bytearray(disk())
    for item, value in ((vhdx.VIRTUAL_DISK_SIZE_GUID, struct.pack("<Q", 4 << 40)),
                        (vhdx.FILE_PARAMETERS_GUID, struct.pack("<I", MiB))):
        at = _metadata_item_offset(data, item)
        data[at:at + len(value)] = value
    data += bytes(40 * MiB)  # room for the BAT the header now implies
    data = bytes(data)
    tracemalloc.start()
    try:
        info = _describe(data)
        blocks = sum(1 for _ in info["bat"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    count = vhdx.bat_entry_count(4 << 40, MiB, 512, False)
    assert blocks == len(info["bat"]) == count > 4_000_000
    assert peak < 3 * count * 8 + 16 * MiB  # the BAT's bytes (a copy or two), nothing per entry
    assert info["bat"][0][0] in vhdx.BLOCK_STATES.values()


def test_a_bat_entry_pointing_outside_the_file_is_a_missing_block_not_a_crash(tmp_path):
    data = bytearray(disk())
    bat = _regions(data)[vhdx.BAT_REGION_GUID].file_offset
    entry = struct.unpack_from("<Q", data, bat)[0]
    struct.pack_into("<Q", data, bat, (entry & 0xFFFFF) | ((1 << 30) << 20))  # block 0 at 1 PiB
    carved = carving.carve(_Space(bytes(data)), 0, str(tmp_path))
    assert carved.blocks_missing == [0]
    assert carved.blocks_total == 2 and carved.blocks_absent == 1


def test_blocks_sharing_one_file_offset_are_written_once(tmp_path):
    """A hostile BAT pointing every block at one place would have the carver write the
    same bytes terabytes over: a block whose offset another block took is missing."""
    data = bytearray(disk())
    bat = _regions(data)[vhdx.BAT_REGION_GUID].file_offset
    first = struct.unpack_from("<Q", data, bat)[0]
    struct.pack_into("<Q", data, bat + 8, first)  # block 1: block 0's state and offset
    carved = carving.carve(_Space(bytes(data)), 0, str(tmp_path))
    assert carved.blocks_present == [0] and carved.blocks_missing == [1]
    assert carved.blocks_total == 2 and carved.blocks_absent == 0


def test_a_differencing_disk_that_is_its_own_parent_is_one_warning(tmp_path):
    """A parent cycle (child -> itself): dfVFS/libvhdi recurse until Python's limit; that is caught as a warning."""
    raw = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    writer.write_dynamic(raw, tmp_path / "parent.vhdx")
    folder = tmp_path / "triage" / "ProgramData" / "Microsoft" / "Windows" / "Containers" / "ContainerStorages" / SANDBOX_GUID
    folder.mkdir(parents=True)
    writer.write_differencing(
        raw.replace(b"superrich", b"sandtrace"), tmp_path / "parent.vhdx", folder / "sandbox.vhdx",
        parent_relative_path=".\\sandbox.vhdx",
        parent_absolute_path=f"C:\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\{SANDBOX_GUID}\\sandbox.vhdx",
    )
    os.unlink(tmp_path / "parent.vhdx")
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**"]))
    out = list(extractor.run(sources.open_source(str(tmp_path / "triage"))))
    warnings = [d for d in out if d.data_type == "sandtrace:warning"]
    assert len(warnings) == 1 and warnings[0].values["parser_name"] == "nested_disk"
    assert warnings[0].values["error"].startswith("cannot open the virtual disk")
    assert "parent cycle or parent chain too deep" in warnings[0].values["error"]
    assert any(d.values.get("filename", "").endswith("sandbox.vhdx") for d in out if d.data_type != "sandtrace:warning")


# -- registry: a fuzz finding (kept here with the other minimal inputs) ------------------


def test_a_damaged_select_key_is_a_warning_and_the_hive_is_still_read():
    """fuzz regression (tests/fuzz/test_fuzz_winreg.py::test_system_hive_anywhere): an OSError from
    libregf while reading Select\\Current escaped the winreg parser and cost the whole hive."""
    import io

    import pyregf

    from sandtrace.parsers.winreg_hive import current_control_set
    from tests.test_winreg import parse_bytes, system_hive

    data = bytearray(system_hive())
    data[0x2520:0x2524] = struct.pack("<I", 0x7FFFFFF0)  # a cell size beyond its hive bin
    regf = pyregf.file()
    regf.open_file_object(io.BytesIO(bytes(data)))
    with pytest.raises(OSError):  # precondition: still the input that used to escape
        current_control_set(regf)
    out = parse_bytes(bytes(data), "SYSTEM", "\\Windows\\System32\\config\\SYSTEM")
    errors = [d.values["error"] for d in out if d.data_type == "sandtrace:warning"]
    assert any(error.startswith("corrupt hive: cannot read the current control set:") for error in errors)


def test_a_two_disk_parent_cycle_is_one_warning_and_the_files_are_still_timelined(tmp_path):
    """A names B as parent and B names A: a warning per disk, never a hang or a crash."""
    from sandtrace.engine import sources
    from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
    from test_images.writers import vhdx as writer

    raw = bytes(range(256)) * 4096  # 1 MiB of non-zero data
    root = tmp_path / "ProgramData" / "Microsoft" / "Windows" / "Containers" / "ContainerStorages"
    a_dir, b_dir = root / "aaaaaaaa-0000-0000-0000-000000000001", root / "bbbbbbbb-0000-0000-0000-000000000002"
    a_dir.mkdir(parents=True)
    b_dir.mkdir(parents=True)
    seed = tmp_path / "seed.vhdx"
    writer.write_dynamic(raw, seed)
    writer.write_differencing(raw, seed, b_dir / "sandbox.vhdx", parent_relative_path="..\\aaaaaaaa-0000-0000-0000-000000000001\\sandbox.vhdx",
                              parent_absolute_path="C:\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\aaaaaaaa-0000-0000-0000-000000000001\\sandbox.vhdx")
    writer.write_differencing(raw, seed, a_dir / "sandbox.vhdx", parent_relative_path="..\\bbbbbbbb-0000-0000-0000-000000000002\\sandbox.vhdx",
                              parent_absolute_path="C:\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\bbbbbbbb-0000-0000-0000-000000000002\\sandbox.vhdx")
    seed.unlink()
    extractor = Extractor(ExtractionOptions(parsers="filestat,container_inventory"))
    data = list(extractor.run(sources.open_source(str(tmp_path))))
    warnings = [d for d in data if d.data_type == "sandtrace:warning"]
    assert len(warnings) == 2 and all(d.values["parser_name"] == "nested_disk" for d in warnings)
    timelined = {d.provenance.display_name.rsplit("/", 2)[-2] for d in data if d.data_type == "fs:stat"
                 and d.provenance.display_name.endswith("sandbox.vhdx")}
    assert timelined == {"aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"}
