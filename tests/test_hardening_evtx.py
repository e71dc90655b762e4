"""One flipped bit in an event log costs at most that record's reading, never the log (issue 17, item 3)."""

from __future__ import annotations

import json
import os

import pytest

from sandtrace import cli
from sandtrace.plugins.winevtx import catalogue
from tests.fuzz.test_fuzz_evtx import seed

LOGS = ("Windows", "System32", "winevt", "Logs")


def _flipped() -> bytes:
    """The fuzz seed with bit 1 of byte 5896 flipped: record 1's provider name decodes as a number."""
    data = bytearray(seed())
    data[5896] ^= 0b10
    return bytes(data)


def _extract(tmp_path, data: bytes, *extra: str) -> tuple[dict[int, dict], list[str]]:
    folder = tmp_path.joinpath("T", *LOGS)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Security.evtx").write_bytes(data)
    output = tmp_path / "t.jsonl"
    code = cli.main(["extract", str(tmp_path / "T"), "-o", str(output), "--format", "json_line", "-q",
                     "--workers", "0", "--overwrite", *extra])
    assert code == cli.EXIT_OK
    records, warnings = {}, []
    for line in output.read_text().splitlines():
        event = json.loads(line)
        if event["data_type"] == "windows:evtx:record":
            records[event["record_number"]] = event
        elif event["data_type"] == "sandtrace:warning":
            warnings.append(event["error"])
    return records, warnings


@pytest.mark.parametrize("backend", ["pyevtx-rs", "python-evtx"])
def test_a_flipped_bit_costs_no_record(tmp_path, backend):
    records, warnings = _extract(tmp_path, _flipped(), "--evtx-backend", backend)
    untouched = [records[n] for n in range(2, 25)]
    if backend == "pyevtx-rs":
        assert sorted(records) == list(range(1, 25))
        assert isinstance(records[1]["source_name"], str)  # whatever the damaged record holds, as text
    else:  # python-evtx refuses the damaged substitution: that record only, named
        assert sorted(records) == list(range(2, 25))
        assert any("record 1 at chunk offset 512: ParseException" in w for w in warnings)
    assert {r["source_name"] for r in untouched} == {"Microsoft-Windows-Security-Auditing"}
    assert [r["event_data"]["TargetUserName"] for r in untouched] == [f"user{n}\u202e" for n in range(1, 24)]
    assert not [w for w in warnings if "AttributeError" in w]
    assert any("record data checksum mismatch" in w for w in warnings)


def test_a_catalogue_failure_costs_that_records_reading_only(tmp_path, monkeypatch):
    original = catalogue.EvtxCataloguePlugin.process

    def fails_on_record_7(self, data):
        if data.values.get("record_number") == 7:
            raise KeyError("boom")
        return original(self, data)

    monkeypatch.setattr(catalogue.EvtxCataloguePlugin, "process", fails_on_record_7)
    records, warnings = _extract(tmp_path, seed())
    assert sorted(records) == list(range(1, 25))
    assert [w for w in warnings if "record 7 (chunk 0): the event catalogue failed on it (KeyError" in w]
