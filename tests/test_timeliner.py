"""The timeliner's plaso timestamps: integer arithmetic for FILETIMEs, dfdatetime for the rest."""

from __future__ import annotations

import random

import pytest
from dfdatetime import filetime, posix_time, semantic_time

from sandtrace.core.events import EventData
from sandtrace.timeline.timeliner import Timeliner, plaso_timestamp

EPOCH = 116_444_736_000_000_000  # 1970-01-01 as a FILETIME


def _edges() -> list[int]:
    # Around 0, the POSIX epoch, ties at .5 µs on both sides of it, and the top of the range.
    near = [EPOCH + delta for delta in range(-40, 41)]
    return [0, 1, 4, 5, 6, 9, 10, 15, *near, (1 << 64) - 16, (1 << 64) - 5, (1 << 64) - 1]


def test_filetimes_give_what_dfdatetime_gives_to_the_microsecond():
    generator = random.Random(20261126)
    values = _edges()
    values += [generator.randrange(0, 1 << 64) for _ in range(20_000)]
    values += [EPOCH + generator.randrange(-10**13, 10**13) for _ in range(20_000)]
    for value in values:
        expected = filetime.Filetime(timestamp=value).GetPlasoTimestamp()
        assert plaso_timestamp(filetime.Filetime(timestamp=value)) == expected, value


def test_a_negative_tie_rounds_away_from_zero_as_decimal_half_up_does():
    assert plaso_timestamp(filetime.Filetime(timestamp=EPOCH - 15)) == -2
    assert plaso_timestamp(filetime.Filetime(timestamp=EPOCH + 15)) == 2
    assert plaso_timestamp(filetime.Filetime(timestamp=EPOCH - 14)) == -1


@pytest.mark.parametrize("value", [
    filetime.Filetime(timestamp=EPOCH + 123_456_789, time_zone_offset=60),  # local time: dfdatetime's path
    filetime.Filetime(timestamp=1 << 64),  # out of range: None, as dfdatetime says
    filetime.Filetime(),
    posix_time.PosixTime(timestamp=1_700_000_000),
    semantic_time.NotSet(),
])
def test_other_values_take_dfdatetime_s_path(value):
    assert plaso_timestamp(value) == value.GetPlasoTimestamp()


def test_the_timeliner_uses_it_for_every_mapped_time():
    data = EventData("windows:evtx:record", {
        "creation_time": filetime.Filetime(timestamp=EPOCH + 17_000_000_005),
        "written_time": filetime.Filetime(timestamp=EPOCH + 17_000_000_004),
    })
    events = sorted((e.timestamp_desc, e.timestamp) for e in Timeliner().events(data))
    assert events == [("Content Modification Time", 1_700_000_000), ("Creation Time", 1_700_000_001)]


@pytest.mark.unmapped_data_types
def test_an_unmapped_data_type_is_kept_counted_and_recorded_in_the_sidecar():
    """A data type without a timeliner entry is a bug: its dates stay, as 'Unknown Time', it is
    counted, and the sidecar says so (the conftest fixture fails any other test that makes one)."""
    from types import SimpleNamespace

    from sandtrace.engine.provenance import RunRecord
    from sandtrace.pipeline.event_path import EventPath
    from sandtrace.pipeline.extraction import ExtractionStats

    path = EventPath()
    data = EventData("test:nobody:maps", {"some_time": filetime.Filetime(timestamp=133_000_000_000_000_000)})
    events = path.events(data)
    assert [event.timestamp_desc for event in events] == ["Unknown Time"]
    assert path.counts()["unmapped"] == {"test:nobody:maps": 1}
    other = EventPath()
    other.add_counts(path.counts())  # a worker's counts reach the main process
    record = RunRecord.start([])
    record.finish(ExtractionStats(), other.timeliner, SimpleNamespace(events_written=1), "out", "json_line")
    assert record.summary["data_types_without_timeliner_entry"] == {"test:nobody:maps": 1}
    clean = RunRecord.start([])
    clean.finish(ExtractionStats(), EventPath().timeliner, SimpleNamespace(events_written=0), "out", "json_line")
    assert "data_types_without_timeliner_entry" not in clean.summary
