"""Sandbox disks inside the evidence: opened with their parent chain, parsed like any volume."""

from __future__ import annotations

import os

import pytest

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from tests.conftest import corpus_file

vhdx = pytest.importorskip("test_images.writers.vhdx")

BASE_GUID = "0949cec7-8165-4167-8c7d-67cf14eeede0"
SANDBOX_GUID = "5d1f3a2b-7c4e-4b8a-9f10-2a3b4c5d6e71"
CONTAINERS = ("ProgramData", "Microsoft", "Windows", "Containers")


def _triage(tmp_path, raw: bytes, changed: bytes, with_parent: bool = True) -> str:
    """A triage folder holding a base layer and a differencing sandbox disk in the real layout."""
    base_dir = tmp_path.joinpath(*CONTAINERS, "BaseImages", BASE_GUID)
    child_dir = tmp_path.joinpath(*CONTAINERS, "ContainerStorages", SANDBOX_GUID)
    base_dir.mkdir(parents=True)
    child_dir.mkdir(parents=True)
    base = base_dir / "BaseLayer.vhdx"
    vhdx.write_dynamic(raw, base)
    vhdx.write_differencing(
        changed,
        base,
        child_dir / "sandbox.vhdx",
        parent_relative_path=f"..\\..\\BaseImages\\{BASE_GUID}\\BaseLayer.vhdx",
        parent_absolute_path=f"C:\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\{BASE_GUID}\\BaseLayer.vhdx",
    )
    if not with_parent:
        base.unlink()
    return str(tmp_path)


def _extract(path: str):
    source = sources.open_source(path)
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**"]))
    return list(extractor.run(source)), extractor


def test_differencing_sandbox_disk_opens_through_its_absolute_parent_path(tmp_path):
    raw = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    changed = raw.replace(b"superrich", b"sandtrace")
    assert changed != raw
    data, extractor = _extract(_triage(tmp_path, raw, changed))
    inner = [d for d in data if ">" in d.provenance.display_name]
    by_disk = {}
    for item in inner:
        outer, _, name = item.provenance.display_name.partition(">")
        by_disk.setdefault(os.path.basename(outer), set()).add(name)
    assert by_disk["BaseLayer.vhdx"] >= {"EXT:/passwords.txt", "EXT:/a_directory/another_file"}
    assert by_disk["sandbox.vhdx"] == by_disk["BaseLayer.vhdx"]
    sandbox = [d for d in inner if "sandbox.vhdx>" in d.provenance.display_name]
    assert {d.values["container_guid"] for d in sandbox} == {SANDBOX_GUID}
    assert all(d.values["container_path"].endswith("sandbox.vhdx") for d in sandbox)
    assert extractor.stats.nested_sources == 2
    assert extractor.stats.warnings == 0


def test_missing_parent_is_a_warning_and_the_rest_is_read(tmp_path):
    raw = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    data, extractor = _extract(_triage(tmp_path, raw, raw.replace(b"superrich", b"sandtrace"), with_parent=False))
    warnings = [d for d in data if d.data_type == "sandtrace:warning"]
    assert len(warnings) == 1
    assert "its parent image was not found" in warnings[0].values["error"]
    assert warnings[0].values["path"].endswith("sandbox.vhdx")
    assert any(d.provenance.display_name.endswith("sandbox.vhdx") for d in data if d.data_type == "fs:stat")


def test_corpus_differencing_vhd_opens_through_the_same_code_path():
    """dfVFS's own differencing sample: parent beside the child, found by the same resolver."""
    source = sources.open_source(corpus_file("images", "dfvfs", "image-differential.vhd"))
    assert [v.type_indicator for v in source.volumes] == ["EXT"]
    from dfvfs.resolver import resolver
    from sandtrace.engine.vhdi_parents import SandboxAwareVHDIFile

    file_object = resolver.Resolver.OpenFileObject(source.volumes[0].path_spec.parent)
    assert isinstance(file_object, SandboxAwareVHDIFile)


def test_container_inventory_names_each_item_and_the_disk_model(tmp_path):
    raw = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    source = sources.open_source(_triage(tmp_path, raw, raw.replace(b"superrich", b"sandtrace")))
    extractor = Extractor(ExtractionOptions(parsers="container_inventory", nested="none"))
    items = {d.values["role"]: d.values for d in extractor.run(source) if d.data_type == "windows:sandbox:container"}
    assert set(items) == {"base_layer", "base_image_folder", "sandbox_disk", "sandbox_storage_folder"}
    base, disk = items["base_layer"], items["sandbox_disk"]
    assert (base["container_guid"], base["layout"], base["disk_type"], base["disk_model"]) == (
        BASE_GUID, "classic", "dynamic", "standalone disk")
    assert (disk["container_guid"], disk["layout"], disk["disk_type"], disk["disk_model"]) == (
        SANDBOX_GUID, "store_app", "differencing", "block-level differencing disk")
    assert disk["parent_filename"].endswith(f"BaseImages\\{BASE_GUID}\\BaseLayer.vhdx")
    assert disk["virtual_size"] == len(raw) and disk["is_allocated"] is True
    assert (base["disk_format"], disk["disk_format"]) == ("VHDX", "VHDX")


def _ntfs_with_one_record_changed() -> tuple[bytes, bytes]:
    """A real NTFS volume (dfir_ntfs test data) and a copy whose \\test\\2.txt record differs."""
    import gzip

    raw = gzip.open(corpus_file("ntfs", "dfir_ntfs", "ntfs3.raw.gz")).read()
    import struct

    bytes_per_sector, sectors_per_cluster = struct.unpack_from("<HB", raw, 0x0B)
    (mft_cluster,) = struct.unpack_from("<Q", raw, 0x30)
    record = mft_cluster * bytes_per_sector * sectors_per_cluster + 29 * 1024  # \test\2.txt is MFT entry 29
    assert "2.txt".encode("utf-16-le") in raw[record:record + 1024]
    changed = bytearray(raw)
    changed[record + 0x60] ^= 0xFF  # inside $STANDARD_INFORMATION's times, away from the fixups
    return raw, bytes(changed)


def test_only_files_the_sandbox_rewrote_are_activity(tmp_path):
    raw, changed = _ntfs_with_one_record_changed()
    source = sources.open_source(_triage(tmp_path, raw, changed))
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["\\test\\*"]))
    data = list(extractor.run(source))
    inner = [d for d in data if "sandbox.vhdx>NTFS:" in d.provenance.display_name]
    tagged = {d.provenance.display_name.split(">")[1]: "sandbox_template" in d.tags for d in inner}
    assert tagged == {"NTFS:\\test\\2.txt": False, "NTFS:\\test\\3.txt": True}
    base = [d for d in data if "BaseLayer.vhdx>NTFS:" in d.provenance.display_name]
    assert base and all("sandbox_template" in d.tags for d in base)


def test_no_templates_leaves_template_content_out(tmp_path):
    raw, changed = _ntfs_with_one_record_changed()
    source = sources.open_source(_triage(tmp_path, raw, changed))
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["\\test\\*"], templates=False))
    names = {d.provenance.display_name.split(">", 1)[-1] for d in extractor.run(source) if ">" in d.provenance.display_name}
    assert names == {"NTFS:\\test\\2.txt"}
    assert extractor.stats.template_event_data_skipped == 3  # 3.txt in the sandbox disk, 2.txt and 3.txt in the base layer


def test_a_second_run_over_the_same_source_finds_the_same(tmp_path):
    """dfVFS caches file objects; a reader that does not rewind would miss the disks next time."""
    raw, changed = _ntfs_with_one_record_changed()
    source = sources.open_source(_triage(tmp_path, raw, changed))
    extractor = Extractor(ExtractionOptions(parsers="filestat,wsb,container_inventory", extra_patterns=["\\test\\*"]))
    first = [(d.provenance.display_name, d.data_type) for d in extractor.run(source)]
    second = [(d.provenance.display_name, d.data_type) for d in extractor.run(source)]
    assert first == second and len(first) > 10


def test_the_same_disk_in_two_places_is_parsed_once_and_both_copies_are_kept(tmp_path):
    import shutil

    raw = open(corpus_file("images", "dfvfs", "image.dd"), "rb").read()
    root = _triage(tmp_path, raw, raw.replace(b"superrich", b"sandtrace"))
    storages = tmp_path.joinpath(*CONTAINERS, "ContainerStorages")
    copy_dir = storages / "11111111-2222-3333-4444-555555555555"
    copy_dir.mkdir()
    shutil.copy(storages / SANDBOX_GUID / "sandbox.vhdx", copy_dir / "sandbox.vhdx")
    altered_dir = storages / "66666666-7777-8888-9999-000000000000"
    altered_dir.mkdir()
    altered = bytearray((storages / SANDBOX_GUID / "sandbox.vhdx").read_bytes())
    altered[-1] ^= 0xFF  # same identifiers, other content
    (altered_dir / "sandbox.vhdx").write_bytes(bytes(altered))
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["\\passwords.txt"]))
    data = list(extractor.run(sources.open_source(root)))
    copies = [d for d in data if d.data_type == "windows:sandbox:disk_copy"]
    assert len(copies) == 1
    first, second = sorted([SANDBOX_GUID, "11111111-2222-3333-4444-555555555555"])
    assert copies[0].values["parsed_as"].endswith(f"{first}/sandbox.vhdx")
    assert copies[0].provenance.display_name.endswith(f"{second}/sandbox.vhdx")
    parsed = {d.provenance.display_name.split(">")[0].rsplit("/", 2)[-2] for d in data if ">" in d.provenance.display_name}
    assert parsed == {BASE_GUID, first, "66666666-7777-8888-9999-000000000000"}
