"""The sorter: psort's order and de-duplication, in bounded memory."""

from __future__ import annotations

import random
import tracemalloc

from dfdatetime import filetime

from sandtrace.core.events import Event, EventData, Provenance
from sandtrace.core.plaso_view import PlasoView
from sandtrace.timeline.sorter import sort_events
from tests.output_fixtures import ntfs_path_spec, realistic_events


def make_events(count: int, seed: int = 7, payload: int = 0):
    """Many ties (few timestamps), repeated records (duplicates), path specs."""
    rng = random.Random(seed)
    for sequence in range(count):
        record = rng.randrange(count // 3 + 1)
        spec = ntfs_path_spec(f"\\f{record % 97}", record % 97)
        data = EventData("fs:stat", {"filename": f"\\f{record % 97}", "n": record,
                                     "pad": "x" * payload},
                         parser="filestat", provenance=Provenance(path_spec=spec))
        timestamp = rng.randrange(50) * 1_000_000
        description = rng.choice(["Creation Time", "Last Access Time", "Unknown Time"])
        date_time = filetime.Filetime(timestamp=116444736000000000 + timestamp * 10)
        yield Event(timestamp, description, date_time, data, sequence=sequence)


def key(event):
    return event.timestamp, PlasoView(event.data).values_hash, event.timestamp_desc


def test_spilled_sort_equals_in_memory_sort():
    events = list(make_events(6000))
    in_memory = list(sort_events(events))
    spilled = list(sort_events(events, max_in_memory=250))
    assert [key(e) for e in spilled] == [key(e) for e in in_memory]
    assert [e.sequence for e in spilled] == [e.sequence for e in in_memory]


def test_order_is_timestamp_then_values_hash_then_description_without_duplicates():
    events = list(make_events(3000))
    result = list(sort_events(events, max_in_memory=100))
    keys = [key(e) for e in result]
    assert keys == sorted(set(keys))  # sorted, and each (time, hash, desc) once
    everything = list(sort_events(events, max_in_memory=100, include_all=True))
    assert len(everything) == len(events)
    assert sorted(key(e) for e in everything) == [key(e) for e in everything]


def test_path_specs_and_date_times_survive_the_spill():
    events = realistic_events()
    result = list(sort_events(events, max_in_memory=3, include_all=True))
    by_sequence = {e.sequence: e for e in events}
    assert len(result) == len(events)
    for event in result:
        original = by_sequence[event.sequence]
        assert event is not original  # it went through a pickle
        assert event.data.provenance.path_spec == original.data.provenance.path_spec
        assert type(event.date_time) is type(original.date_time)
        assert event.date_time.CopyToDateTimeString() == original.date_time.CopyToDateTimeString()
        assert PlasoView(event.data).values_hash == PlasoView(original.data).values_hash


def test_memory_stays_bounded_for_a_large_input():
    count, payload = 30_000, 2_000  # ~60 MB of payload if held at once
    tracemalloc.start()
    try:
        seen = 0
        for _ in sort_events(make_events(count, payload=payload), max_in_memory=1_000,
                             include_all=True):
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 25_000_000, peak  # runs of 1,000 events + one 50-way merge


def test_same_timestamp_chunks_follow_psort_heap_bound(monkeypatch):
    from sandtrace.timeline import sorter
    monkeypatch.setattr(sorter, "PSORT_HEAP_CHUNK", 4)
    data = EventData("x:y", {"a": 1})
    other = EventData("x:y", {"a": 2})
    events = [Event(10, "Creation Time", None, d, sequence=i)
              for i, d in enumerate([data, other, data, other, data, other])]
    # chunks [d, o, d, o] and [d, o]: duplicates only collapse inside a chunk
    assert len(list(sorter.sort_events(events))) == 4


def test_more_runs_than_are_read_at_once_are_merged_first(monkeypatch):
    from sandtrace.timeline import runs
    monkeypatch.setattr(runs, "_FAN_IN", 3)
    events = list(make_events(2000))
    assert [e.sequence for e in sort_events(events, max_in_memory=100)] == [e.sequence for e in sort_events(events)]


def test_the_sort_spills_into_a_scratch_folder_of_its_own_and_removes_it(tmp_path):
    events = list(make_events(500))
    assert len(list(sort_events(events, max_in_memory=500, tmp_dir=str(tmp_path)))) > 0
    assert list(tmp_path.iterdir()) == []  # everything fit: no file at all
    ordered = sort_events(events, max_in_memory=100, tmp_dir=str(tmp_path))
    next(ordered)
    folder, = tmp_path.iterdir()
    assert folder.name.startswith("sandtrace-sort-") and len(list(folder.glob("*.run"))) == 5
    list(ordered)
    assert list(tmp_path.iterdir()) == []


def test_a_block_of_events_shares_their_event_data_and_provenances(tmp_path):
    """A record's events come back with one event data, a file's records with one provenance."""
    from sandtrace.timeline import runs

    provenance = Provenance(path_spec=ntfs_path_spec("\\f", 5), display_name="NTFS:\\f")
    items = []
    for record in range(10):
        data = EventData("fs:stat", {"n": record}, parser="filestat", provenance=provenance)
        for number, description in enumerate(["Creation Time", "Last Access Time"]):
            date_time = filetime.Filetime(timestamp=116444736000000000 + record * 10)
            items.append((record, 2 * record + number, 0, Event(record, description, date_time, data,
                                                               sequence=2 * record + number)))
    run = runs.Run(str(tmp_path / "r.run"), runs.Events)
    with open(run.path, "wb") as stream:
        assert runs.write_run(stream, items, run) == 20
    back = list(runs.read_run(run))
    assert [item[:3] for item in back] == [item[:3] for item in items]
    events = [item[3] for item in back]
    assert all(a.data is b.data for a, b in zip(events[::2], events[1::2]))
    assert len({id(e.data) for e in events}) == 10 and len({id(e.data.provenance) for e in events}) == 1
    assert events[0].data.provenance.path_spec == provenance.path_spec
    assert [(e.timestamp, e.timestamp_desc, e.sequence, e.data.values) for e in events] == [
        (e.timestamp, e.timestamp_desc, e.sequence, e.data.values) for _, _, _, e in items]
