"""The VHDX test-evidence writer, checked against independent readers.

Each image is built from known raw bytes and read back by libvhdi (pyvhdi),
dfVFS and qemu-img, so the files sandtrace's tests rely on are VHDX that
real tools accept, not just what our own parser expects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from test_images.writers import vhdx
from tests.conftest import corpus_file

pyvhdi = pytest.importorskip("pyvhdi")

MiB = vhdx.MiB
SANDBOX_BASE = "C:\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\{0}\\BaseLayer.vhdx"
GEOMETRIES = [(1 * MiB, 512), (2 * MiB, 4096)]  # (block size, logical sector size)


# ---------------------------------------------------------------- helpers --

def pattern_disk(block_size: int, sector: int) -> bytes:
    """Four blocks plus a partial tail: data, zero, one data sector, zero, data."""
    raw = bytearray(4 * block_size + 3 * sector)
    raw[:block_size] = bytes(range(256)) * (block_size // 256)
    raw[2 * block_size + 5 * sector:2 * block_size + 6 * sector] = b"\xa5" * sector
    raw[4 * block_size:] = b"\x5a" * (3 * sector)
    return bytes(raw)


def change_child(parent: bytes, block_size: int, sector: int) -> tuple[bytes, list[str]]:
    """A child disk and the BAT state each of its five blocks must get."""
    child = bytearray(parent)
    child[sector:2 * sector] = b"\x01" * sector  # block 0: one sector over parent data
    # block 1 is absent from the parent (all zero there): two sectors
    child[block_size + 3 * sector:block_size + 5 * sector] = b"\x02" * 2 * sector
    child[2 * block_size:3 * block_size] = b"\x03" * block_size  # block 2: every sector
    child[-sector:] = bytes(sector)  # tail: zero over parent data
    states = ["PAYLOAD_BLOCK_PARTIALLY_PRESENT", "PAYLOAD_BLOCK_PARTIALLY_PRESENT",
              "PAYLOAD_BLOCK_FULLY_PRESENT", "PAYLOAD_BLOCK_NOT_PRESENT",
              "PAYLOAD_BLOCK_PARTIALLY_PRESENT"]
    return bytes(child), states


def payload_states(info: dict) -> list[str]:
    blocks = -(-info["virtual_disk_size"] // info["block_size"])
    return [info["bat"][vhdx.bat_index(n, info["chunk_ratio"])]["state"] for n in range(blocks)]


def pyvhdi_read(path: str, parent: str | None = None) -> bytes:
    handle = pyvhdi.file()
    handle.open(path)
    if parent is not None:
        parent_handle = pyvhdi.file()
        parent_handle.open(parent)
        handle.set_parent(parent_handle)
    return handle.read_buffer_at_offset(handle.media_size, 0)


def dfvfs_read(path: str) -> bytes:
    """Read through dfVFS OS -> VHDI, which finds a parent on its own."""
    from dfvfs.lib import definitions
    from dfvfs.path import factory
    from dfvfs.resolver import context, resolver

    os_spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_OS, location=path)
    spec = factory.Factory.NewPathSpec(definitions.TYPE_INDICATOR_VHDI, parent=os_spec)
    file_object = resolver.Resolver.OpenFileObject(spec, resolver_context=context.Context())
    return file_object.read(file_object.get_size())


def qemu_img() -> str:
    path = shutil.which("qemu-img")
    if path is None:
        pytest.skip("qemu-img is not installed")
    return path


def qemu_convert(path: str, out: str) -> subprocess.CompletedProcess:
    return subprocess.run([qemu_img(), "convert", "-f", "vhdx", "-O", "raw", path, out],
                          capture_output=True, text=True, cwd=os.path.dirname(path))


def stored_checksums_ok(path: str) -> list[bool]:
    """Recompute CRC32C over both headers (4 KiB) and region tables (64 KiB)."""
    with open(path, "rb") as handle:
        data = handle.read(vhdx.REGION_TABLE_OFFSETS[1] + vhdx.REGION_TABLE_SIZE)
    spans = [(o, vhdx.HEADER_SIZE) for o in vhdx.HEADER_OFFSETS]
    spans += [(o, vhdx.REGION_TABLE_SIZE) for o in vhdx.REGION_TABLE_OFFSETS]
    results = []
    for offset, size in spans:
        span = data[offset:offset + size]
        zeroed = span[:4] + bytes(4) + span[8:]
        results.append(int.from_bytes(span[4:8], "little") == vhdx.crc32c(zeroed))
    return results


# --------------------------------------------------------------- fixtures --

@pytest.fixture(params=GEOMETRIES, ids=lambda g: f"block{g[0] // MiB}M-sector{g[1]}")
def base(request, tmp_path) -> tuple[str, bytes, int, int]:
    block_size, sector = request.param
    raw = pattern_disk(block_size, sector)
    path = str(tmp_path / "BaseLayer.vhdx")
    vhdx.write_dynamic(raw, path, block_size=block_size, logical_sector_size=sector)
    return path, raw, block_size, sector


@pytest.fixture
def child(base) -> tuple[str, bytes, list[str], dict[str, str]]:
    parent_path, parent_raw, block_size, sector = base
    raw, states = change_child(parent_raw, block_size, sector)
    path = os.path.join(os.path.dirname(parent_path), "sandbox.vhdx")
    locator = {"relative_path": ".\\BaseLayer.vhdx",
               "volume_path": "\\\\?\\Volume{0e7b3c1a-0000-0000-0000-100000000000}"
                              "\\ProgramData\\BaseLayer.vhdx",
               "absolute_win32_path": SANDBOX_BASE.format("{9B2C4F3A-1D7E-4E42-8C11-5A6B7C8D9E0F}")}
    vhdx.write_differencing(raw, parent_path, path, parent_relative_path=locator["relative_path"],
                            parent_volume_path=locator["volume_path"],
                            parent_absolute_path=locator["absolute_win32_path"],
                            parent_linkage2=uuid.UUID(int=0), block_size=block_size)
    return path, raw, states, locator


# ------------------------------------------------------------ dynamic disk --

def test_crc32c_matches_the_castagnoli_check_value():
    assert vhdx.crc32c(b"123456789") == 0xE3069283
    assert vhdx.crc32c(b"") == 0


def test_dynamic_reads_back_through_pyvhdi(base):
    path, raw, _, sector = base
    handle = pyvhdi.file()
    handle.open(path)
    assert handle.media_size == len(raw)
    assert handle.bytes_per_sector == sector
    assert handle.get_parent_identifier() is None and handle.parent_filename is None
    assert handle.identifier == str(vhdx.read_info(path)["header"]["data_write_guid"])
    assert handle.read_buffer_at_offset(len(raw), 0) == raw
    middle = len(raw) // 2 - 1000  # a read crossing a block boundary
    assert handle.read_buffer_at_offset(5000, middle) == raw[middle:middle + 5000]


def test_dynamic_is_sparse_and_parses_back(base):
    path, raw, block_size, sector = base
    info = vhdx.read_info(path)
    present = "PAYLOAD_BLOCK_FULLY_PRESENT"
    absent = "PAYLOAD_BLOCK_NOT_PRESENT"
    assert payload_states(info) == [present, absent, present, absent, present]
    assert info["virtual_disk_size"] == len(raw) and info["block_size"] == block_size
    assert info["logical_sector_size"] == sector and not info["has_parent"]
    assert info["chunk_ratio"] == (2**23 * sector) // block_size
    assert info["parent_locator"] is None and info["creator"] == "sandtrace test_images"
    assert [h["sequence_number"] for h in info["headers"]] == [1, 2]
    assert info["header"]["version"] == 1 and info["header"]["log_guid"].int == 0
    assert set(info["regions"]) == {vhdx.BAT_REGION_GUID, vhdx.METADATA_REGION_GUID}
    bat_region = info["regions"][vhdx.BAT_REGION_GUID]
    assert os.path.getsize(path) == bat_region["file_offset"] + bat_region["length"] + 3 * block_size
    assert vhdx.read_raw(path) == raw


def test_dynamic_checksums_recompute(base):
    path = base[0]
    assert stored_checksums_ok(path) == [True] * 4
    assert all(h["checksum_ok"] for h in vhdx.read_info(path)["headers"])


def test_dynamic_qemu_check_and_convert(base, tmp_path):
    path, raw, _, sector = base
    check = subprocess.run([qemu_img(), "check", "-f", "vhdx", path], capture_output=True, text=True)
    if sector != 512:
        # qemu's vhdx driver opens only 512-byte logical sectors (ENOTSUP):
        # it has nothing more to check here, but its refusal must be that one.
        assert check.returncode != 0 and "not supported" in check.stderr, check.stderr
        return
    assert check.returncode == 0, check.stdout + check.stderr
    result = qemu_convert(path, str(tmp_path / "out.raw"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.raw").read_bytes() == raw


def test_reader_parses_a_qemu_written_vhdx(tmp_path):
    """Our parser and CRC32C against a third-party writer."""
    raw = pattern_disk(MiB, 512)
    (tmp_path / "in.raw").write_bytes(raw)
    out = str(tmp_path / "qemu.vhdx")
    subprocess.run([qemu_img(), "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M",
                    str(tmp_path / "in.raw"), out], check=True, capture_output=True)
    info = vhdx.read_info(out)
    assert info["creator"].startswith("QEMU") and info["virtual_disk_size"] == len(raw)
    assert stored_checksums_ok(out) == [True] * 4
    assert vhdx.read_raw(out) == raw


def test_dynamic_reads_back_through_dfvfs(base):
    path, raw = base[0], base[1]
    assert dfvfs_read(path) == raw


def test_output_is_deterministic(tmp_path):
    raw = pattern_disk(MiB, 512)
    first, second, other = (str(tmp_path / name) for name in ("a.vhdx", "b.vhdx", "c.vhdx"))
    vhdx.write_dynamic(raw, first)
    vhdx.write_dynamic(bytearray(raw), second)
    vhdx.write_dynamic(raw, other, seed="another")
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()
    assert vhdx.read_info(first)["disk_id"] != vhdx.read_info(other)["disk_id"]
    fixed = uuid.UUID("12345678-1234-5678-1234-567812345678")
    vhdx.write_dynamic(raw, other, disk_id=fixed, data_write_guid=fixed)
    info = vhdx.read_info(other)
    assert info["disk_id"] == fixed and info["header"]["data_write_guid"] == fixed


def test_construct_definitions_round_trip():
    entry = {"state": "PAYLOAD_BLOCK_PARTIALLY_PRESENT", "file_offset_mb": 0xABCDE}
    built = vhdx.BAT_ENTRY.build(entry)
    assert int.from_bytes(built, "little") == (0xABCDE << 20) | 7
    assert vhdx.BAT_ENTRY.parse(built).file_offset_mb == 0xABCDE
    locator = {"locator_type": vhdx.VHDX_PARENT_LOCATOR_TYPE,
               "entries": {"parent_linkage": "{%s}" % uuid.UUID(int=1), "relative_path": "a\\b"}}
    assert vhdx.PARENT_LOCATOR.parse(vhdx.PARENT_LOCATOR.build(locator)) == locator


# ------------------------------------------------------- differencing disk --

def test_differencing_stores_only_changed_sectors(base, child):
    parent_path, _, block_size, sector = base
    path, raw, states, _ = child
    info = vhdx.read_info(path)
    assert info["has_parent"] and payload_states(info) == states
    ratio = info["chunk_ratio"]
    bitmap_entry = info["bat"][ratio]  # the first chunk's sector bitmap entry
    assert bitmap_entry["state"] == "PAYLOAD_BLOCK_FULLY_PRESENT"  # == SB_BLOCK_PRESENT
    with open(path, "rb") as handle:
        handle.seek(bitmap_entry["file_offset_mb"] * MiB)
        bitmap = handle.read(vhdx.SECTOR_BITMAP_SIZE)
    per_block = block_size // sector
    assert sum(bin(byte).count("1") for byte in bitmap) == 1 + 2 + per_block + 1
    assert bitmap[0] == 0b10  # LSB first: sector 1 of block 0
    assert vhdx.read_raw(path) == raw
    assert stored_checksums_ok(path) == [True] * 4


def test_differencing_locator_reads_back(base, child):
    parent_path = base[0]
    path, _, _, locator = child
    info = vhdx.read_info(path)
    parent_guid = vhdx.read_info(parent_path)["header"]["data_write_guid"]
    entries = info["parent_locator"]["entries"]
    assert info["parent_locator"]["locator_type"] == vhdx.VHDX_PARENT_LOCATOR_TYPE
    assert entries == {"parent_linkage": "{%s}" % parent_guid,
                       "parent_linkage2": "{00000000-0000-0000-0000-000000000000}", **locator}
    handle = pyvhdi.file()
    handle.open(path)
    assert handle.get_parent_identifier() == str(parent_guid)
    assert handle.parent_filename == locator["absolute_win32_path"]  # libvhdi's first choice


def test_differencing_reads_back_through_pyvhdi(base, child):
    path, raw = child[0], child[1]
    assert pyvhdi_read(path, parent=base[0]) == raw


def test_pyvhdi_refuses_a_parent_with_another_data_write_guid(base, child, tmp_path):
    stranger = str(tmp_path / "stranger.vhdx")
    vhdx.write_dynamic(base[1], stranger, block_size=base[2], logical_sector_size=base[3],
                       seed="stranger")
    with pytest.raises(OSError, match="mismatch in identifier"):
        pyvhdi_read(child[0], parent=stranger)


def test_differencing_reads_back_through_dfvfs(child):
    path, raw = child[0], child[1]
    assert dfvfs_read(path) == raw


def test_differencing_qemu_convert(child, tmp_path):
    path, raw = child[0], child[1]
    result = qemu_convert(path, str(tmp_path / "child.raw"))
    if result.returncode != 0:
        # qemu's vhdx driver returns ENOTSUP for HasParent ("until differencing
        # files are supported"); only its structural checks apply, above. Any
        # other failure is ours.
        assert "not supported" in result.stderr, result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "child.raw").read_bytes() == raw


@pytest.mark.parametrize("keys, expected", [
    (("relative_path",), None),
    (("relative_path", "volume_path"), "volume_path"),
    (("relative_path", "volume_path", "absolute_win32_path"), "absolute_win32_path"),
])
def test_which_locator_path_libvhdi_and_dfvfs_use(tmp_path, keys, expected):
    """libvhdi tries absolute_win32_path, then volume_path, and misses
    relative_path (it compares 12 of its 13 characters), so dfVFS, which takes
    the parent's file name from libvhdi, fails on a relative-only locator."""
    parent_raw = pattern_disk(MiB, 512)
    raw, _ = change_child(parent_raw, MiB, 512)
    parent_path, path = str(tmp_path / "BaseLayer.vhdx"), str(tmp_path / "sandbox.vhdx")
    vhdx.write_dynamic(parent_raw, parent_path)
    paths = {"relative_path": ".\\BaseLayer.vhdx", "volume_path": "\\\\?\\Volume{1}\\BaseLayer.vhdx",
             "absolute_win32_path": SANDBOX_BASE.format("r")}
    vhdx.write_differencing(raw, parent_path, path, parent_relative_path=paths["relative_path"],
                            parent_volume_path=paths["volume_path"] if "volume_path" in keys else None,
                            parent_absolute_path=paths[keys[-1]] if len(keys) == 3 else "")
    entries = vhdx.read_info(path)["parent_locator"]["entries"]
    assert set(entries) == {"parent_linkage", *keys}
    handle = pyvhdi.file()
    handle.open(path)
    assert handle.parent_filename == (paths[expected] if expected else None)
    assert pyvhdi_read(path, parent=parent_path) == raw == vhdx.read_raw(path)
    # dfVFS alone fails on a relative-only locator (None.rpartition); sandtrace's
    # resolver reads relative_path itself (sandtrace/engine/vhdi_parents.py).
    from sandtrace.engine import vhdi_parents  # noqa: F401 (installs the resolver)

    assert dfvfs_read(path) == raw


def test_dfvfs_looks_for_the_parent_by_file_name_in_the_same_directory(tmp_path):
    """Windows Sandbox keeps sandbox.vhdx and BaseLayer.vhdx in different
    folders; dfVFS ignores the locator's folders and only tries the child's."""
    parent_raw = pattern_disk(MiB, 512)
    raw, _ = change_child(parent_raw, MiB, 512)
    images = tmp_path / "BaseImages" / "x"
    sandbox = tmp_path / "Sandboxes" / "y"
    images.mkdir(parents=True)
    sandbox.mkdir(parents=True)
    vhdx.write_dynamic(parent_raw, str(images / "BaseLayer.vhdx"))
    vhdx.write_differencing(raw, str(images / "BaseLayer.vhdx"), str(sandbox / "sandbox.vhdx"),
                            parent_relative_path="..\\..\\BaseImages\\x\\BaseLayer.vhdx",
                            parent_absolute_path=SANDBOX_BASE.format("x"))
    assert vhdx.read_raw(str(sandbox / "sandbox.vhdx")) == raw  # follows relative_path
    with pytest.raises(OSError, match="missing parent"):  # dfVFS opens no parent, reads fail
        dfvfs_read(str(sandbox / "sandbox.vhdx"))
    shutil.copy(images / "BaseLayer.vhdx", sandbox / "BaseLayer.vhdx")
    assert dfvfs_read(str(sandbox / "sandbox.vhdx")) == raw


# ------------------------------------------------------ a real file system --

def test_ext2_image_as_base_layer_and_sandbox_child(tmp_path):
    from dfvfs.helpers import volume_scanner
    from dfvfs.lib import definitions
    from dfvfs.path import factory
    from dfvfs.resolver import resolver

    with open(corpus_file("images", "dfvfs", "image.dd"), "rb") as handle:
        raw = handle.read()
    parent_path, path = str(tmp_path / "BaseLayer.vhdx"), str(tmp_path / "sandbox.vhdx")
    vhdx.write_dynamic(raw, parent_path)
    assert pyvhdi_read(parent_path) == raw
    if shutil.which("qemu-img"):
        assert qemu_convert(parent_path, str(tmp_path / "out.raw")).returncode == 0
        assert (tmp_path / "out.raw").read_bytes() == raw
    changed = raw.replace(b"joesmith,superrich", b"joesmith,sandtrace")
    assert changed != raw
    vhdx.write_differencing(changed, parent_path, path, parent_absolute_path=SANDBOX_BASE.format("e"))
    assert pyvhdi_read(path, parent=parent_path) == changed

    options = volume_scanner.VolumeScannerOptions()
    options.partitions, options.volumes, options.snapshots = ["all"], ["all"], ["none"]
    for image, secret in ((parent_path, b"superrich"), (path, b"sandtrace")):
        specs = volume_scanner.VolumeScanner().GetBasePathSpecs(image, options=options)
        assert [s.type_indicator for s in specs] in ([definitions.TYPE_INDICATOR_EXT],
                                                     [definitions.TYPE_INDICATOR_TSK])
        file_spec = factory.Factory.NewPathSpec(
            specs[0].type_indicator, location="/passwords.txt", parent=specs[0].parent)
        entry = resolver.Resolver.OpenFileEntry(file_spec)
        assert b"joesmith," + secret in entry.GetFileObject().read()
