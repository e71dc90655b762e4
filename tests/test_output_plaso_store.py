"""The .plaso store: plaso reads back what sandtrace wrote."""

from __future__ import annotations

import builtins

import pytest

from sandtrace.output import OutputOptions, create_writer
from sandtrace.output import plaso_store
from sandtrace.core.plaso_view import PlasoView
from tests.output_fixtures import realistic_events


def test_plaso_reads_the_store(tmp_path):
    pytest.importorskip("plaso")
    from plaso.containers import events as plaso_events
    from plaso.storage import factory

    events = realistic_events()
    path = tmp_path / "events.plaso"
    with create_writer("plaso", str(path), OutputOptions()) as writer:
        for event in events:
            writer.write(event)
    assert writer.events_written == len(events)
    reader = factory.StorageFactory.CreateStorageReaderForFile(str(path))
    stored = list(reader.GetSortedEvents())
    assert len(stored) == len(events)
    assert sorted(e.timestamp for e in stored) == sorted(e.timestamp for e in events)
    # Event data shared by a record's four times is stored once.
    assert reader.GetNumberOfAttributeContainers("event_data") == 11
    for event in stored:
        data = reader.GetAttributeContainerByIdentifier("event_data", event.GetEventDataIdentifier())
        stream_id = data.GetEventDataStreamIdentifier()
        stream = reader.GetAttributeContainerByIdentifier("event_data_stream", stream_id) \
            if stream_id else None
        # sandtrace's hash is plaso's own CalculateEventValuesHash
        assert data._event_values_hash == plaso_events.CalculateEventValuesHash(data, stream)
    labels = sorted(label for tag in reader.GetAttributeContainers("event_tag")
                    for label in tag.labels)
    assert labels == ["sandbox"] * 4 + ["sandbox_launch"]
    reader.Close()


def test_hash_matches_plaso_for_each_record():
    pytest.importorskip("plaso")
    from plaso.containers import events as plaso_events
    for event in realistic_events():
        data = plaso_events.EventData(data_type=event.data.data_type)
        for name, value in event.data.values.items():
            if value is not None:
                setattr(data, name, value)
        stream = None
        if event.data.provenance.path_spec is not None:
            stream = plaso_events.EventDataStream()
            stream.path_spec = event.data.provenance.path_spec
        assert PlasoView(event.data).values_hash == plaso_events.CalculateEventValuesHash(data, stream)


def test_clear_error_without_plaso(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_plaso(name, *args, **kwargs):
        if name.startswith("plaso"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_plaso)
    with pytest.raises(RuntimeError, match=r"pip install 'sandtrace\[plaso\]'"):
        create_writer("plaso", str(tmp_path / "x.plaso"), OutputOptions())
    assert plaso_store.PLASO_MISSING.startswith("the plaso output needs the plaso extra")
    assert list(tmp_path.iterdir()) == []
