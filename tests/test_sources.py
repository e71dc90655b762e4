"""Opening evidence: the volumes found must be dfVFS's own, broken sources fail in one line."""

from __future__ import annotations

import os
import shutil

import pytest
import pyvshadow
from dfvfs.helpers import volume_scanner

from sandtrace.cli import describe_source
from sandtrace.engine import sources
from tests.conftest import corpus_file

pytestmark = pytest.mark.corpus


def _dfvfs_base_path_specs(path: str) -> set[str]:
    """The reference: dfVFS's volume scanner with every partition and snapshot."""
    options = volume_scanner.VolumeScannerOptions()
    options.partitions = ["all"]
    options.snapshots = ["all"]
    options.volumes = ["all"]
    options.scan_mode = options.SCAN_MODE_ALL
    specs = volume_scanner.VolumeScanner().GetBasePathSpecs(path, options=options)
    return {spec.comparable for spec in specs}


@pytest.mark.parametrize(
    "name, kind, labels",
    [
        ("ext2.split.E01", "EWF", ["volume"]),
        ("image-differential.vhd", "VHD/VHDX", ["volume"]),
        ("vsstest.qcow2", "QCOW", ["volume", "vss1", "vss2"]),
        ("image.E01", "EWF", ["volume"]),
        ("windows_volume.qcow2", "QCOW", ["volume"]),
    ],
)
def test_volumes_are_those_dfvfs_finds(name, kind, labels):
    path = corpus_file("images", "dfvfs", name)
    source = sources.open_source(path)
    assert source.kind == kind
    assert [volume.label for volume in source.volumes] == labels
    assert {volume.path_spec.comparable for volume in source.volumes} == _dfvfs_base_path_specs(path)


def test_vss_stores_carry_plaso_display_prefixes_and_creation_times():
    path = corpus_file("images", "dfvfs", "vsstest.qcow2")
    source = sources.open_source(path)
    prefixes = {volume.label: volume.display_prefix for volume in source.volumes}
    assert prefixes == {"volume": "NTFS:", "vss1": "VSS1:NTFS:", "vss2": "VSS2:NTFS:"}

    # Independent reading of the store creation times with pyqcow + pyvshadow.
    import pyqcow

    qcow = pyqcow.file()
    qcow.open(path)
    vss = pyvshadow.volume()
    vss.open_file_object(qcow)
    expected = {f"vss{i + 1}": vss.get_store(i).get_creation_time_as_integer() for i in range(vss.number_of_stores)}
    got = {v.label: v.vss_creation_time for v in source.volumes if v.is_snapshot}
    assert got == expected
    info = describe_source(source)
    assert [v["vss_creation_time"] for v in info["volumes"] if v["vss_store"] is not None] == [
        "2013-12-03T06:35:09.7363787+00:00",
        "2013-12-03T06:37:48.9190583+00:00",
    ]


def test_no_vss_skips_shadow_copies():
    path = corpus_file("images", "dfvfs", "vsstest.qcow2")
    assert [v.label for v in sources.open_source(path, vss=False).volumes] == ["volume"]


def test_split_e01_reports_its_segments_and_stored_hashes():
    path = corpus_file("images", "dfvfs", "ext2.split.E01")
    source = sources.open_source(path)
    assert [os.path.basename(s) for s in source.files] == ["ext2.split.E01", "ext2.split.E02"]
    assert source.ewf["media_size"] > 0
    assert set(source.ewf["stored_hashes"]) >= {"md5"}


def test_missing_second_segment_is_named(tmp_path):
    shutil.copy(corpus_file("images", "dfvfs", "ext2.split.E01"), tmp_path / "case.E01")
    with pytest.raises(sources.SourceError) as caught:
        sources.open_source(str(tmp_path / "case.E01"))
    assert str(caught.value).startswith("missing segment case.E02")


def test_truncated_e01_is_reported_as_such(tmp_path):
    data = open(corpus_file("images", "dfvfs", "image.E01"), "rb").read()
    (tmp_path / "cut.E01").write_bytes(data[:600])
    with pytest.raises(sources.SourceError) as caught:
        sources.open_source(str(tmp_path / "cut.E01"))
    assert str(caught.value).startswith("truncated segment cut.E01: 600 bytes, but its section chain goes on")
    assert "\n" not in str(caught.value)


def test_differencing_disk_without_parent_fails_in_one_line():
    with pytest.raises(sources.SourceError) as caught:
        sources.open_source(corpus_file("images", "dfvfs", "fat-differential.vhd"))
    assert "missing parent" in str(caught.value)


def test_not_a_disk_image(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(sources.SourceError) as caught:
        sources.open_source(str(tmp_path / "notes.txt"))
    assert str(caught.value).startswith("not a disk image:")


def test_missing_source():
    with pytest.raises(sources.SourceError, match="no such file"):
        sources.open_source("/nonexistent/case.E01")


def test_partitions_without_file_system_are_listed():
    found = sources.partitions(corpus_file("images", "dfvfs", "tsk_volume_system.raw"))
    assert [(p["identifier"], p["offset"], p["size"]) for p in found] == [("p1", 512, 179200), ("p5", 180224, 1294336)]


def test_split_raw_opens_from_its_first_part(tmp_path):
    data = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    half = len(data) // 2
    (tmp_path / "disk.001").write_bytes(data[:half])
    (tmp_path / "disk.002").write_bytes(data[half:])
    source = sources.open_source(str(tmp_path / "disk.001"))
    assert source.kind == "RAW"
    assert [os.path.basename(name) for name in source.files] == ["disk.001", "disk.002"]
    assert source.size == len(data)
    assert [v.type_indicator for v in source.volumes] == ["EXT"]


@pytest.mark.parametrize("fmt, kind", [("vmdk", "VMDK"), ("vhdx", "VHD/VHDX"), ("qcow2", "QCOW")])
def test_virtual_disk_formats_open(tmp_path, fmt, kind):
    """qemu-img (Debian's qemu-utils) makes each format from the same raw image."""
    import subprocess

    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    target = tmp_path / f"disk.{fmt}"
    subprocess.run(
        ["qemu-img", "convert", "-O", fmt, corpus_file("images", "dfvfs", "image.dd"), str(target)],
        check=True,
    )
    source = sources.open_source(str(target))
    assert source.kind == kind
    assert [v.type_indicator for v in source.volumes] == ["EXT"]


def test_a_renamed_segment_is_reported_as_the_missing_one(tmp_path):
    """case.E01 + case.E03: the set is read in segment order, so case.E02 is named as missing."""
    from tests.conftest import TEST_IMAGES

    shutil.copy(os.path.join(TEST_IMAGES, "foundation.E01"), tmp_path / "case.E01")
    shutil.copy(os.path.join(TEST_IMAGES, "foundation.E02"), tmp_path / "case.E03")
    with pytest.raises(sources.SourceError) as caught:
        sources.open_source(str(tmp_path / "case.E01"))
    assert str(caught.value).startswith("missing segment case.E02")


def test_segments_swapped_in_name_are_read_in_their_true_order(tmp_path):
    """E01 and E02 exchanged: libewf orders segments by the number each carries; the media reads right."""
    import hashlib

    import pyewf

    from tests.conftest import TEST_IMAGES

    shutil.copy(os.path.join(TEST_IMAGES, "foundation.E02"), tmp_path / "case.E01")
    shutil.copy(os.path.join(TEST_IMAGES, "foundation.E01"), tmp_path / "case.E02")
    source = sources.open_source(str(tmp_path / "case.E01"))
    assert [(v.label, v.type_indicator) for v in source.volumes] == [("p1", "FAT"), ("p2", "NTFS")]
    handle = pyewf.handle()
    handle.open(pyewf.glob(str(tmp_path / "case.E01")))
    digest, offset, size = hashlib.md5(), 0, handle.get_media_size()
    while offset < size:
        block = handle.read_buffer_at_offset(min(1 << 20, size - offset), offset)
        digest.update(block)
        offset += len(block)
    assert digest.hexdigest() == handle.get_hash_values()["MD5"] == source.ewf["stored_hashes"]["md5"]
