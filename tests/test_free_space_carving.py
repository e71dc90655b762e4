"""Event log chunks and hive bins in free clusters come back once, tagged ``carved`` (issue 19, item 4).

The images are made here (tests/free_space_images.py): ntfs-3g writes a log
chunk (twice), hive bins and garbage into a file whose data it then frees,
beside live files that hold part of the same evidence.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sandtrace import cli
from sandtrace.engine import carving, free_space, sources
from sandtrace.parsers import carved_cells
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from tests import free_space_images as images

pytestmark = pytest.mark.skipif(not images.available(), reason="needs ntfs-3g (mkntfs, ntfscp, ntfstruncate)")


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> images.Planted:
    return images.host_volume(str(tmp_path_factory.mktemp("host")))


@pytest.fixture(scope="module")
def nested(tmp_path_factory) -> images.Nested:
    return images.nested_host(str(tmp_path_factory.mktemp("nested")))


def _extract(path: str, carve: bool = True, parsers: str = "winevtx,winreg,filestat") -> list:
    extractor = Extractor(ExtractionOptions(parsers=parsers, extra_patterns=["**"], carve=carve, nested="none",
                                            parser_options={"evtx_anywhere": True}))
    try:
        return list(extractor.run(sources.open_source(path)))
    finally:
        extractor.close()


def _records(data: list) -> list:
    return [d for d in data if d.data_type == "windows:evtx:record"]


def test_the_scan_finds_the_chunk_copies_and_bins_in_free_clusters(host):
    volume = next(v for v in sources.open_source(host.path).volumes if v.type_indicator == "NTFS")
    space = carving.open_space(volume)
    found = list(free_space.scan(space, (free_space.EVTX_CHUNK, free_space.HIVE_BIN)))
    chunks = [c.offset for c in found if c.kind == free_space.EVTX_CHUNK]
    bins = [c.offset for c in found if c.kind == free_space.HIVE_BIN]
    assert host.chunk_copies == chunks[:2] and len(chunks) == 3  # two copies, one stray signature
    assert bins[0] == host.bins_offset and carved_cells.read_bin_header(space.read(bins[0], 32)) == (0, 4096)
    assert not list(free_space.scan(space, (free_space.VHDX,)))


def test_each_record_comes_out_once_and_only_the_live_log_lacks_is_carved(host):
    data = _extract(host.path)
    records = _records(data)
    assert Counter(r.values["record_number"] for r in records) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    for record in records:
        number = record.values["record_number"]
        if number in host.live_records:
            assert "carved" not in record.tags and "volume_offset" not in record.values
            assert record.provenance.display_name == "NTFS:\\Security.evtx"
        else:
            assert "carved" in record.tags
            assert record.values["volume_offset"] == host.chunk_offset + host.record_offsets[number]
            assert record.provenance.display_name == f"NTFS:\\$Unallocated@{host.chunk_offset:#x}"
            assert "offset" not in record.values and record.values["channel"] == "Security"
    carved_launch = next(r for r in records if r.values["record_number"] == 5)
    assert carved_launch.values["catalogue_id"] == "sandbox_process_creation"  # the catalogue as for any record
    assert carved_launch.values["event_data"]["CommandLine"].endswith("run5.wsb")
    assert not [d for d in data if d.data_type == "sandtrace:warning"]  # garbage is skipped without a word


def test_carved_cells_give_changed_and_removed_keys_once_with_their_paths(host):
    data = _extract(host.path)
    keys = [d for d in data if d.data_type == "windows:registry:key_value"]
    by_path = Counter(d.values["key_path"] for d in keys)
    assert by_path == {"HKEY_LOCAL_MACHINE\\Software\\Classes\\.wsb": 1,
                       "HKEY_LOCAL_MACHINE\\Software\\Policies\\Microsoft\\Windows\\Sandbox": 1}
    wsb = next(d for d in keys if d.values["key_path"].endswith(".wsb"))
    assert wsb.values["values"] == [("", "REG_SZ", "Windows.Sandbox")] and wsb.values["key_path_complete"] is True
    assert wsb.values["last_written_time"].timestamp == images.T0 + 200 * images.SECOND
    assert "carved" in wsb.tags and wsb.parser == "winreg/carved_cells"
    assert host.bins_offset < wsb.values["volume_offset"] < host.bins_offset + 4096
    policies = [d for d in data if d.data_type == "windows:sandbox:policy"]
    assert sorted(("carved" in d.tags, d.values["values"]["AllowNetworking"]) for d in policies) == [(False, 0), (True, 1)]
    association = [d for d in data if d.data_type == "windows:sandbox:file_association"]
    assert len(association) == 1 and "carved" in association[0].tags


def test_a_key_whose_ancestors_are_gone_says_its_path_is_partial():
    hive = images.software_hive(earlier=True)[4096:]
    copy = carved_cells.HiveCopy(base=0)
    copy.add(0, hive)
    keys = {"\\".join(k.path): k for k in copy.keys()}
    assert keys["Policies\\Microsoft\\Windows\\Sandbox"].complete
    root = copy.root_offset()
    data = bytearray(hive)
    data[root + 4:root + 6] = b"xx"  # the root cell no longer a key
    broken = carved_cells.HiveCopy(base=0)
    broken.add(0, bytes(data))
    partial = {"\\".join(k.path): k for k in broken.keys()}
    assert not partial["Policies\\Microsoft\\Windows\\Sandbox"].complete
    assert broken.hive_type() == "UNKNOWN" and broken.wrapped() is None


def test_records_in_a_rebuilt_disks_free_space_are_carved_inside_it_not_again_on_the_host(nested):
    records = _records(_extract(nested.path, parsers="winevtx"))
    assert Counter(r.values["record_number"] for r in records) == {10: 1, 11: 1, 12: 1, 13: 1, 14: 1}
    disk = f"NTFS:\\$Unallocated@{nested.disk_offset:#x}"
    for record in records:
        assert "carved" in record.tags and record.provenance.display_name.startswith(disk + ">")
    free = [r for r in records if "volume_offset" in r.values]
    assert sorted(r.values["record_number"] for r in free) == [13, 14]
    for record in free:
        assert record.values["volume_offset"] == nested.inner_chunk_offset + nested.record_offsets[record.values["record_number"]]
        assert record.provenance.display_name == f"{disk}>NTFS:\\$Unallocated@{nested.inner_chunk_offset:#x}"


def test_nothing_is_carved_without_carve_or_without_the_parsers(host):
    assert Counter(r.values["record_number"] for r in _records(_extract(host.path, carve=False))) == {1: 1, 2: 1, 3: 1}
    assert not [d for d in _extract(host.path, parsers="filestat") if "carved" in d.tags]


def test_the_cli_output_is_the_same_with_workers_and_host_records_are_not_sandbox_activity(nested, host, tmp_path):
    outputs = []
    for workers in ("0", "2"):
        output = tmp_path / f"n{workers}.jsonl"
        assert cli.main(["extract", nested.path, "--carve", "--evtx-anywhere", "-q", "-o", str(output),
                         "--format", "json_line", "--workers", workers]) == cli.EXIT_OK
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
    output = tmp_path / "h.jsonl"
    assert cli.main(["extract", host.path, "--carve", "--evtx-anywhere", "-q", "-o", str(output),
                     "--format", "json_line", "--workers", "0"]) == cli.EXIT_OK
    carved = [e for e in map(json.loads, output.read_text().splitlines()) if "carved" in e.get("tag", {}).get("labels", [])]
    assert carved and all("sandbox_inner_activity" not in e["tag"]["labels"] for e in carved)
    assert {e["timestamp_desc"] for e in carved} <= {"Creation Time", "Content Modification Time"}


def test_damaged_bins_cost_their_cells_not_the_run():
    """Bytes flipped anywhere in a carved bin: its cells are read as far as they go, nothing raises."""
    import random

    hive = images.software_hive(earlier=True)[4096:]
    noise = random.Random(19)
    for _ in range(200):
        data = bytearray(hive)
        for _ in range(noise.randint(1, 40)):
            data[noise.randrange(len(data))] = noise.getrandbits(8)
        copy = carved_cells.HiveCopy(base=0)
        copy.add(0, bytes(data))
        keys = list(copy.keys())
        assert all(isinstance(key.path, list) for key in keys)
        copy.hive_type()
        copy.wrapped()


def test_chunks_in_the_clusters_of_deleted_disks_are_read_as_those_disks_not_carved():
    """On the committed host image both chunks in the host's free clusters lie in deleted
    sandbox disks (one opened from its MFT record, one rebuilt): their records come from the
    disks' own logs, none again from free space. When the first disk is not opened (no
    parser asks for disks), its chunk is all there is of its log: then it is carved, once."""
    from tests.conftest import ROOT

    path = f"{ROOT}/test_images/host.E01"
    volume = next(v for v in sources.open_source(path).volumes if v.type_indicator == "NTFS")
    assert len(list(free_space.scan(carving.open_space(volume), (free_space.EVTX_CHUNK,)))) == 2

    def free_space_records(parsers):
        extractor = Extractor(ExtractionOptions(parsers=parsers, carve=True))
        try:
            data = list(extractor.run(sources.open_source(path)))
        finally:
            extractor.close()
        return data, [d for d in data if "volume_offset" in d.values and d.data_type != "windows:sandbox:carved_disk"]

    data, carved = free_space_records(None)
    assert not carved
    assert [d for d in data if d.data_type == "windows:evtx:record" and "8e2a6c1d" in d.provenance.display_name]
    data, carved = free_space_records("winevtx,winreg")
    assert carved and {d.values["computer_name"] for d in carved} == {"A8DC5139-5E6D-4"}
    assert len({d.values["record_number"] for d in carved}) == len(carved)
    assert not [d for d in data if "8e2a6c1d" in d.provenance.display_name]
