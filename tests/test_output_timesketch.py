"""The Timesketch JSONL imports: mandatory fields, UTC, no date before 1700."""

from __future__ import annotations

import datetime as dt
import json

from dfdatetime import filetime

from sandtrace.core.events import Event, EventData
from sandtrace.timeline.sorter import sort_events
from sandtrace.output import OutputOptions, create_writer
from sandtrace.output.timesketch import MANDATORY_FIELDS, STANDARD_FIELDS
from tests.output_fixtures import realistic_events

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def render(tmp_path, events):
    path = tmp_path / "timeline.jsonl"
    with create_writer("timesketch", str(path), OutputOptions(timezone="Europe/Berlin")) as writer:
        for event in sort_events(events):
            writer.write(event)
    return [json.loads(line) for line in path.read_text().splitlines()], writer


def test_every_line_imports(tmp_path):
    records, writer = render(tmp_path, realistic_events())
    assert len(records) == writer.events_written + 1  # + the dropped-events warning
    for record in records:
        assert set(MANDATORY_FIELDS) <= set(record) and record["message"] is not None
        parsed = dt.datetime.fromisoformat(record["datetime"])
        assert parsed.utcoffset() == dt.timedelta(0) and record["datetime"].endswith("+00:00")
        assert len(record["datetime"]) == len("2024-01-02T03:04:05.123456+00:00")
        delta = parsed - EPOCH
        assert (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds \
            == record["timestamp"]
        assert parsed.year >= 1700
        assert isinstance(record["tag"], list)
        assert set(STANDARD_FIELDS) <= set(record)


def test_dates_before_1700_are_dropped_and_counted(tmp_path):
    records, writer = render(tmp_path, realistic_events())
    assert writer.events_dropped == 4  # the $MFT record's four FILETIME 0 (1601) times
    summary = records[-1]
    assert summary["data_type"] == "sandtrace:warning"
    assert summary["message"].startswith("4 events dated before 1700")
    assert not any(record["display_name"] == "NTFS:\\$MFT" for record in records)


def test_placeholders_stay_at_the_epoch(tmp_path):
    records, _ = render(tmp_path, realistic_events())
    warning = [r for r in records if r["data_type"] == "sandtrace:warning"][0]
    assert warning["datetime"] == "1970-01-01T00:00:00.000000+00:00"
    assert warning["timestamp_desc"] == "Not a time"
    assert warning["source_short"] == "LOG" and warning["error"].startswith("unable to open")


def test_field_names_stay_bounded(tmp_path):
    data = EventData("windows:evtx:record",
                     {"event_identifier": 4624, "event_data": {"TargetUserName": "alice",
                                                                "LogonType": 2},
                      "strings": ["alice", "2"], "raw": b"\x01",
                      "written_time": filetime.Filetime(timestamp=133500000000000000),
                      "message": "clash"},
                     parser="winevtx", tags=["logon"])
    event = Event(1705526400000000, "Content Modification Time", data.values["written_time"], data)
    records, _ = render(tmp_path, [event])
    record = records[0]
    assert record["event_data"] == '{"LogonType": 2, "TargetUserName": "alice"}'
    assert "TargetUserName" not in record and "written_time" not in record
    assert record["strings"] == ["alice", "2"] and record["raw"] == "AQ=="
    assert record["message"] != "clash"  # the formatted message wins
    assert record["tag"] == ["logon"] and record["parser"] == "winevtx"
    assert record["datetime"] == "2024-01-17T21:20:00.000000+00:00"


def test_shown_fields_escape_bidi_overrides_and_c1_controls(tmp_path):
    """A name like invoice\\u202efdp.exe must not read as invoiceexe.pdf in Timesketch."""
    import json as _json

    from dfdatetime import filetime as dfdatetime_filetime

    from sandtrace.core.events import Event, EventData
    from sandtrace.output import OutputOptions, create_writer

    data = EventData("fs:stat", {"filename": "\\invoice\u202efdp.exe\x85", "file_size": 1})
    data.provenance.display_name = "OS:\\invoice\u202efdp.exe\x85"
    event = Event(timestamp=1_700_000_000_000_000, timestamp_desc="Creation Time",
                  date_time=dfdatetime_filetime.Filetime(timestamp=133_000_000_000_000_000), data=data)
    out = tmp_path / "t.jsonl"
    with create_writer("timesketch", str(out), OutputOptions()) as writer:
        writer.write(event)
    record = _json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert record["display_name"] == "OS:\\invoice\\u202efdp.exe\\x85"
    assert "\u202e" not in record["message"] and "\x85" not in record["message"]
    assert record["filename"] == "\\invoice\u202efdp.exe\x85"  # the attribute keeps the evidence's bytes
