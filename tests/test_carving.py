"""Carving: a sandbox disk that survives only as blocks in free clusters comes back."""

from __future__ import annotations

import gzip
import io

import pyfsntfs
import pytest

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from tests.conftest import corpus_file

vhdx_writer = pytest.importorskip("test_images.writers.vhdx")


def _free_run(raw: bytes, clusters_needed: int) -> tuple[int, int, list[tuple[int, int]]]:
    """(cluster size, first cluster of a free run, $Bitmap extents) of an NTFS volume."""
    volume = pyfsntfs.volume()
    volume.open_file_object(io.BytesIO(raw))
    cluster = volume.cluster_block_size
    entry = volume.get_file_entry(6)  # $Bitmap
    bitmap = entry.read_buffer(entry.size)
    extents = [entry.get_extent(i)[:2] for i in range(entry.number_of_extents)]
    run = 0
    for index in range(len(bitmap) * 8):
        run = run + 1 if not (bitmap[index >> 3] >> (index & 7)) & 1 else 0
        if run == clusters_needed + 16:
            first = index - run + 17
            return cluster, first - first % 16 + 16, extents
    raise AssertionError("no free run large enough")


def _plant(tmp_path, mark_allocated: int = 0) -> tuple[str, bytes, int]:
    """An NTFS image with a deleted VHDX (of an ext2 disk) left in its free clusters."""
    raw = bytearray(gzip.open(corpus_file("ntfs", "dfir_ntfs", "ntfs3.raw.gz")).read())
    inner = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    disk_path = tmp_path / "gone.vhdx"
    vhdx_writer.write_dynamic(inner, disk_path)
    disk = disk_path.read_bytes()
    cluster, first, bitmap_extents = _free_run(bytes(raw), len(disk) // 4096 + 2)
    offset = first * cluster
    raw[offset:offset + len(disk)] = disk
    if mark_allocated:
        # Something new took the payload block's first cluster: set its bit in $Bitmap.
        info = vhdx_writer.read_info(disk_path)
        payload = next(e["file_offset_mb"] for e in info["bat"] if e["file_offset_mb"]) * 1024 * 1024
        taken = (offset + payload) // cluster
        bitmap_offset = bitmap_extents[0][0]
        raw[bitmap_offset + taken // 8] |= 1 << (taken % 8)
    image = tmp_path / "host.raw"
    image.write_bytes(bytes(raw))
    return str(image), inner, offset


def test_a_deleted_vhdx_in_free_space_is_rebuilt_and_parsed(tmp_path):
    image, inner, offset = _plant(tmp_path)
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**"], carve=True, nested="none"))
    data = list(extractor.run(sources.open_source(image)))
    [carved] = [d for d in data if d.data_type == "windows:sandbox:carved_disk"]
    assert carved.values["volume_offset"] == offset
    assert (carved.values["blocks_present"], carved.values["blocks_written"]) == (1, 1)
    assert carved.values["virtual_size"] == len(inner)
    assert carved.values["recovered_fraction"] == 1.0
    assert "carved" in carved.tags
    inside = [d for d in data if "$Unallocated@" in d.provenance.display_name and d is not carved]
    names = {d.provenance.display_name.split(">", 1)[1] for d in inside}
    assert {"EXT:/passwords.txt", "EXT:/a_directory/another_file"} <= names
    assert all("carved" in d.tags for d in inside)
    assert carved.provenance.display_name == f"NTFS:\\$Unallocated@{offset:#x}"
    extractor.close()


def test_blocks_reallocated_since_are_reported_missing(tmp_path):
    image, _, offset = _plant(tmp_path, mark_allocated=1)
    extractor = Extractor(ExtractionOptions(parsers="filestat", carve=True, nested="none"))
    data = list(extractor.run(sources.open_source(image)))
    [carved] = [d for d in data if d.data_type == "windows:sandbox:carved_disk"]
    assert carved.values["blocks_missing"] == [0]
    assert carved.values["blocks_present"] == 0 and carved.values["recovered_fraction"] == 0.0
    extractor.close()


def test_no_carving_unless_asked(tmp_path):
    image, _, _ = _plant(tmp_path)
    extractor = Extractor(ExtractionOptions(parsers="filestat", nested="none"))
    assert not [d for d in extractor.run(sources.open_source(image)) if d.data_type == "windows:sandbox:carved_disk"]
