"""l2tcsv, dynamic and json_line rows for known events; atomic files."""

from __future__ import annotations

import json

import pytest
from dfdatetime import filetime, semantic_time

from sandtrace.core.events import Event, EventData, Provenance
from sandtrace.timeline.sorter import sort_events
from sandtrace.output import OutputOptions, create_writer, names
from tests.output_fixtures import T0, ntfs_path_spec, ntfs_stat, realistic_events

TIMES = {"access_time": T0, "creation_time": T0, "entry_modification_time": T0,
         "modification_time": T0}


def render(tmp_path, name, events, **options):
    path = tmp_path / f"out.{name}"
    with create_writer(name, str(path), OutputOptions(**options)) as writer:
        for event in sort_events(events, include_all=options.get("include_all", False)):
            writer.write(event)
    return path.read_text(encoding="utf-8").splitlines(), writer


def test_formats_are_registered():
    assert names() == ["dynamic", "json_line", "l2tcsv", "plaso", "timesketch"]
    with pytest.raises(ValueError, match="unknown output format"):
        create_writer("xml", "/tmp/x", OutputOptions())


def test_l2tcsv_merges_a_macb_group_into_one_row(tmp_path):
    data = ntfs_stat("\\Users\\Alice\\Desktop\\a,b.wsb", 1022, 2, 0x10, TIMES, tags=["sandbox"])
    events = [Event(1705526400000000, desc, filetime.Filetime(timestamp=T0), data, sequence=i)
              for i, desc in enumerate(["Last Access Time", "Creation Time",
                                        "Metadata Modification Time", "Content Modification Time"])]
    rows, writer = render(tmp_path, "l2tcsv", events)
    assert rows[0].split(",") == ["date", "time", "timezone", "MACB", "source", "sourcetype",
                                  "type", "user", "host", "short", "desc", "version",
                                  "filename", "inode", "notes", "format", "extra"]
    assert len(rows) == 2 and writer.events_written == 4
    columns = rows[1].split(",")
    assert len(columns) == 17
    assert columns[:7] == ["01/17/2024", "21:20:00", "UTC", "MACB", "FILE", "NTFS file stat",
                           "Content Modification Time; Creation Time; Last Access Time; "
                           "Metadata Modification Time"]
    assert columns[7:9] == ["-", "-"]
    assert columns[12:16] == ["NTFS:\\Users\\Alice\\Desktop\\a b.wsb", "1022", "sandbox", "filestat"]
    assert columns[16] == ("attribute_type: 16; file_attribute_flags: 32; "
                           "file_system_type: NTFS; is_allocated: True")


def test_l2tcsv_time_zone_and_placeholder(tmp_path):
    data = ntfs_stat("\\x", 40, 1, 0x10, TIMES)
    events = [Event(1705526400000000, "Creation Time", filetime.Filetime(timestamp=T0), data),
              Event(0, "Not a time", semantic_time.NotSet(), EventData("x:y", {"a": 1}))]
    rows, _ = render(tmp_path, "l2tcsv", events, timezone="Asia/Tokyo")
    assert rows[1].startswith("01/18/2024,06:20:00,JST,...B,")
    assert rows[2].startswith("00/00/0000,--:--:--,-,....,N/A,N/A,Not a time,")
    assert rows[2].split(",")[13] == "-"  # no path spec, no inode


def test_dynamic_default_and_chosen_fields(tmp_path):
    events = realistic_events()
    rows, _ = render(tmp_path, "dynamic", events)
    assert rows[0] == "datetime,timestamp_desc,source,source_long,message,parser,display_name,tag"
    assert all(row.startswith("1601-01-01T00:00:00.000000+00:00,") for row in rows[1:5])
    assert rows[5].startswith("0000-00-00T00:00:00.000000+00:00,Not a time,")
    launch = [row for row in rows if "sandbox_log" in row]
    assert launch == ["2024-01-20T09:20:01.234567+00:00,Creation Time,N/A,N/A,"
                      "<WARNING DEFAULT FORMATTER> Attributes: command: WindowsSandbox.exe x.wsb "
                      "pid: 4242,sandbox_log,NTFS:\\Users\\Alice\\Desktop\\sandbox.wsb,sandbox_launch"]
    rows, _ = render(tmp_path / "f", "dynamic", events, fields=["date", "macb", "pid", "nothing"])
    assert rows[0] == "date,macb,pid,nothing"
    assert "2024-01-20,...B,4242,-" in rows


def test_dynamic_datetime_keeps_plasos_fraction_rounding(tmp_path):
    data = ntfs_stat("\\x", 40, 1, 0x10, TIMES)
    date_time = filetime.Filetime(timestamp=T0 + 5)  # 500 ns after the second
    rows, _ = render(tmp_path, "dynamic", [Event(1705526400000000, "Creation Time", date_time, data)])
    assert rows[1].startswith("2024-01-17T21:20:00.500000+00:00,")  # plaso's reading


def test_json_line_has_plasos_keys(tmp_path):
    data = ntfs_stat("\\Windows\\x.dll", 42, 1, 0x30, TIMES, name="x.dll", tags=["bad label!"])
    data.values["blob"] = b"\x00\xff"
    event = Event(1705526400000000, "Creation Time", filetime.Filetime(timestamp=T0), data)
    rows, _ = render(tmp_path, "json_line", [event])
    record = json.loads(rows[0])
    assert list(record) == sorted(record)
    assert record["__container_type__"] == "event" and record["__type__"] == "AttributeContainer"
    assert record["date_time"] == {"__class_name__": "Filetime", "__type__": "DateTimeValues",
                                   "timestamp": T0}
    assert record["pathspec"]["type_indicator"] == "NTFS"
    assert record["pathspec"]["mft_entry"] == 42
    assert record["pathspec"]["parent"]["location"] == "/p1"
    assert record["parser"] == "filestat" and record["timestamp"] == 1705526400000000
    assert record["tag"] == {"__container_type__": "event_tag", "__type__": "AttributeContainer",
                             "labels": ["bad_label_"]}
    assert record["blob"] == {"__encoding__": "base64url", "__type__": "bytes", "stream": "AP8="}
    assert "datetime" not in record and "creation_time" not in record
    assert record["message"].startswith("NTFS:\\Windows\\x.dll File reference: 42-1")


def test_json_line_assembled_line_is_json_dumps_of_the_record():
    """The line is spliced from cached pieces (pathspec once per path spec, a
    record's keys once): it must equal json.dumps(record, sort_keys=True)."""
    writer = create_writer("json_line", None, OutputOptions())
    events = realistic_events()
    no_path_spec = EventData("windows:sandbox:config", {"pathspec": "an attribute", "zeta": 1}, parser="wsb_config",
                             provenance=Provenance(source="s", display_name="TSK:\\x.wsb"))
    events.append(Event(5, "Creation Time", filetime.Filetime(timestamp=T0), no_path_spec))
    assert any(event.data.provenance.path_spec is None for event in events)
    for event in events + events[:3]:  # a record seen again after others: its path spec text is cached
        expected = json.dumps(writer.record(event), sort_keys=True, default=str)
        assert writer.line(event) == expected


def test_json_line_runs_cut_from_one_encoding_equal_the_runs_encoded_apart(monkeypatch):
    from sandtrace.output import json_line

    writer = create_writer("json_line", None, OutputOptions())
    records = [writer.record(event) for event in realistic_events()]
    records.append({"a": "x", "date_time_like": '"date_time": "\x00"', "zz": [1, {"tag": "t"}]})  # look-alikes
    for record in records:
        assert json_line._shared_runs(record) == json_line._shared_runs_apart(record)
    monkeypatch.setitem(json_line._TOKENS, "tag", '"tag": "not there"')  # a cut that fails: the other way
    for record in records:
        assert json_line._shared_runs(record) == json_line._shared_runs_apart(record)


@pytest.mark.parametrize("value", [
    "plain", "ünïcode \u202e \x00 \ud800", 1.5, float("nan"), float("inf"), -0.0, 10**30, True, None,
    {"b": [1, {"z": 2, "a": b"\x00"}], "a": (1, 2), "c": {}}, [], {"k": object.__new__(object)},
])
def test_json_line_encoder_is_json_dumps(value):
    from sandtrace.output import json_line

    assert json_line._encode(value) == json.dumps(value, sort_keys=True, default=str)


def test_display_name_from_path_spec_and_vss():
    from sandtrace.core.display import display_name_for_path_spec
    assert display_name_for_path_spec(ntfs_path_spec("\\a\\b", 7)) == "NTFS:\\a\\b"
    assert display_name_for_path_spec(ntfs_path_spec("\\a\\b", 7, 1)) == "VSS2:NTFS:\\a\\b"
    plaso_helper = pytest.importorskip("plaso.engine.path_helper").PathHelper
    for spec in (ntfs_path_spec("\\a\\b\x07", 7), ntfs_path_spec("\\a", 7, 0)):
        assert display_name_for_path_spec(spec) == plaso_helper.GetDisplayNameForPathSpec(spec)


def test_close_is_atomic_and_abort_leaves_nothing(tmp_path):
    path = tmp_path / "timeline.csv"
    writer = create_writer("l2tcsv", str(path), OutputOptions())
    writer.write(realistic_events()[0])
    assert not path.exists()  # only the temp file exists while writing
    assert [p.name for p in tmp_path.iterdir()][0].startswith(".timeline.csv.")
    writer.close()
    assert path.read_text().count("\n") == 2 and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(FileExistsError):
        create_writer("l2tcsv", str(path), OutputOptions())
    writer = create_writer("l2tcsv", str(path), OutputOptions(overwrite=True))
    writer.abort()
    assert path.read_text().count("\n") == 2 and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(RuntimeError):
        with create_writer("dynamic", str(tmp_path / "b.csv"), OutputOptions()):
            raise RuntimeError("extraction failed")
    assert not (tmp_path / "b.csv").exists() and len(list(tmp_path.iterdir())) == 1


def test_provenance_display_name_that_plaso_cannot_derive_is_kept(tmp_path):
    spec = ntfs_path_spec("\\x.txt", 9)
    data = EventData("fs:stat", {"filename": "\\x.txt"}, parser="filestat",
                     provenance=Provenance(path_spec=spec, display_name="p1/vss1:NTFS:\\x.txt"))
    rows, _ = render(tmp_path, "json_line", [Event(5, "Creation Time", None, data)])
    assert json.loads(rows[0])["display_name"] == "p1/vss1:NTFS:\\x.txt"
