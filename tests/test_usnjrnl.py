"""USN change journal: records decoded as plaso decodes them; only sandbox records kept."""

from __future__ import annotations

import pytest

from sandtrace.parsers import usnjrnl
from tests.conftest import corpus_file


def _record(name: str, reasons: int, time: int, reference: int = 0x0001000000000040, parent: int = 0x0005000000000005) -> bytes:
    encoded = name.encode("utf-16-le")
    size = (60 + len(encoded) + 7) // 8 * 8
    return usnjrnl.USN_RECORD_V2.build({
        "size": size, "major_version": 2, "minor_version": 0, "file_reference": reference,
        "parent_file_reference": parent, "update_sequence_number": 4096, "update_date_time": time,
        "update_reason_flags": reasons, "update_source_flags": 0, "security_descriptor_identifier": 0x105,
        "file_attribute_flags": 0x20, "name_size": len(encoded), "name_offset": 60,
        "name": encoded.ljust(size - 60, b"\0"),
    })


@pytest.mark.parametrize("name", ["usnjrnlj.bin"])
def test_records_equal_plasos_decoding_of_a_real_journal(name):
    plaso_ntfs = pytest.importorskip("plaso.parsers.ntfs")
    data = open(corpus_file("ntfs", "dfir_ntfs", name), "rb").read()
    ours = list(usnjrnl.iter_stream(data))
    assert len(ours) > 50
    reference = plaso_ntfs.NTFSUsnJrnlParser()
    record_map = reference._GetDataTypeMap("usn_record_v2")
    for values in ours:
        offset = values["offset"]
        theirs = reference._ReadStructureFromByteStream(data[offset:], offset, record_map)
        start = theirs.name_offset - 60
        assert values["filename"] == theirs.name[start:start + theirs.name_size].decode("utf-16-le")
        assert values["file_reference"] == theirs.file_reference
        assert values["parent_file_reference"] == theirs.parent_file_reference
        assert values["update_reason_flags"] == theirs.update_reason_flags
        assert values["update_sequence_number"] == theirs.update_sequence_number
        assert values["update_time"].timestamp == theirs.update_date_time


def test_plaso_extract_of_usnjrnl_is_read():
    data = open(corpus_file("ntfs", "plaso", "UsnJrnl.raw"), "rb").read()
    records = list(usnjrnl.iter_stream(data))
    assert records and all(r["filename"] for r in records)


def test_sandbox_records_are_kept_and_bracket_a_session():
    created, deleted = 133815228030000000, 133815246050000000
    stream = (
        b"\0" * 64
        + _record("sandbox.vhdx", usnjrnl.FILE_CREATE, created)
        + _record("notes.txt", usnjrnl.FILE_CREATE, created)
        + _record("Update.WSB", usnjrnl.RENAME_NEW, created)
        + b"\xff" * 16  # junk between records
        + _record("sandbox.vhdx", usnjrnl.FILE_DELETE | 0x80000000, deleted)
    )
    records = list(usnjrnl.iter_stream(stream))
    assert [r["filename"] for r in records] == ["sandbox.vhdx", "notes.txt", "Update.WSB", "sandbox.vhdx"]
    kept = [r for r in records if usnjrnl.is_sandbox_record(r, None)]
    assert [r["filename"] for r in kept] == ["sandbox.vhdx", "Update.WSB", "sandbox.vhdx"]
    assert [usnjrnl.tags_for(r) for r in kept] == [["sandbox_disk_created"], ["wsb_file_change"], ["sandbox_disk_deleted"]]
    assert [r["update_time"].GetPlasoTimestamp() for r in kept][::2] == [1737049203000000, 1737051005000000]
    assert usnjrnl.is_sandbox_record(records[1], "\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\x")
