"""filestat: NTFS $SI/$FN times must equal an independent reader's (The Sleuth Kit)."""

from __future__ import annotations

import pytest
import pytsk3
import pyqcow

from sandtrace.engine import sources
from sandtrace.engine.collection import FileTarget
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.timeline.timeliner import Timeliner
from tests.conftest import corpus_file



class _QcowImg(pytsk3.Img_Info):
    """pytsk3 over pyqcow: an independent path from dfVFS to the same bytes."""

    def __init__(self, path: str) -> None:
        self._qcow = pyqcow.file()
        self._qcow.open(path)
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset, size):
        return self._qcow.read_buffer_at_offset(size, offset)

    def get_size(self):
        return self._qcow.get_media_size()


def _tsk_si_times(path: str, location: str) -> dict[str, int]:
    fs = pytsk3.FS_Info(_QcowImg(path))
    meta = fs.open(location.replace("\\", "/")).info.meta
    # TSK keeps the FILETIME's 100 ns; plaso rounds to µs half-up (dfdatetime GetPlasoTimestamp).
    as_micros = lambda seconds, nano: (seconds * 1_000_000) + (nano + 500) // 1000  # noqa: E731
    return {
        "Creation Time": as_micros(meta.crtime, meta.crtime_nano),
        "Content Modification Time": as_micros(meta.mtime, meta.mtime_nano),
        "Last Access Time": as_micros(meta.atime, meta.atime_nano),
        "Metadata Modification Time": as_micros(meta.ctime, meta.ctime_nano),
    }


def _events_for(path: str, patterns: list[str], vss: bool = False):
    source = sources.open_source(path, vss=vss)
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=patterns, vss=vss))
    timeliner = Timeliner()
    return [event for data in extractor.run(source) for event in timeliner.events(data)], extractor


def test_standard_information_times_equal_the_sleuth_kits():
    path = corpus_file("images", "dfvfs", "windows_volume.qcow2")
    events, extractor = _events_for(path, ["\\Windows\\System32\\config\\syslog"])
    assert extractor.stats.warnings == 0
    si = {e.timestamp_desc: e.timestamp for e in events if e.data.values["attribute_type"] == 0x10}
    assert si == _tsk_si_times(path, "\\Windows\\System32\\config\\syslog")
    fn = [e for e in events if e.data.values["attribute_type"] == 0x30]
    assert len(fn) == 4
    assert fn[0].data.values["name"] == "syslog"
    assert all(e.data.values["is_allocated"] is True for e in events)
    assert {e.data.data_type for e in events} == {"fs:stat:ntfs"}
    assert {e.data.provenance.display_name for e in events} == {"NTFS:\\Windows\\System32\\config\\syslog"}


def test_every_file_of_a_volume_matches_the_sleuth_kit():
    path = corpus_file("images", "dfvfs", "windows_volume.qcow2")
    events, _ = _events_for(path, ["**"])
    by_file: dict[str, dict[str, int]] = {}
    for event in events:
        if event.data.values["attribute_type"] == 0x10 and event.data.values["is_allocated"]:
            by_file.setdefault(event.data.values["filename"], {})[event.timestamp_desc] = event.timestamp
    checked = 0
    for location, times in by_file.items():
        if location == "\\" or "$" in location:
            continue
        assert times == _tsk_si_times(path, location), location
        checked += 1
    assert checked >= 4


def test_shadow_copies_get_vss_display_names():
    """vsstest.qcow2: syslog was gzipped and password.txt added after the snapshots."""
    path = corpus_file("images", "dfvfs", "vsstest.qcow2")
    events, extractor = _events_for(path, ["\\syslog*", "\\password.txt"], vss=True)
    names = {e.data.provenance.display_name for e in events}
    assert names == {
        "NTFS:\\syslog.gz",
        "NTFS:\\password.txt",
        "VSS1:NTFS:\\syslog",
        "VSS2:NTFS:\\syslog.gz",
    }
    assert extractor.stats.per_volume == {"volume": 2, "vss1": 1, "vss2": 1}


def test_a_failing_file_becomes_a_warning_and_the_run_goes_on(monkeypatch):
    path = corpus_file("images", "dfvfs", "windows_volume.qcow2")
    real = FileTarget.open_file_entry

    def flaky(self):
        if self.location.endswith("syslog"):
            raise OSError("simulated read error")
        return real(self)

    monkeypatch.setattr(FileTarget, "open_file_entry", flaky)
    events, extractor = _events_for(path, ["\\Windows\\System32\\config\\*", "\\Windows\\System32\\config"])
    warnings = [e for e in events if e.data.data_type == "sandtrace:warning"]
    assert len(warnings) == 1
    values = warnings[0].data.values
    assert values["error"] == "OSError: simulated read error"
    assert values["parser_name"] == "filestat"
    assert values["path"] == "NTFS:\\Windows\\System32\\config\\syslog"
    assert warnings[0].timestamp == 0 and warnings[0].timestamp_desc == "Not a time"
    assert any(e.data.values.get("filename") == "\\Windows\\System32\\config" for e in events)
