"""The .plaso store: plaso reads back what sandtrace wrote."""

from __future__ import annotations

import builtins

import pytest

from sandtrace.output import OutputOptions, create_writer
from sandtrace.output import plaso_store
from sandtrace.core.plaso_view import PlasoView
from tests.output_fixtures import pinfo_report, realistic_events


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


def _write_store(path, events, session=None):
    with create_writer("plaso", str(path), OutputOptions()) as writer:
        if session is not None:
            writer.set_session(session)
        for event in events:
            writer.write(event)
    return writer


def test_pinfo_reports_session_sources_and_counts_as_for_log2timeline(tmp_path):
    """pinfo shows what sandtrace wrote: its session, the files as event sources, the counts per
    parser (last element of the chain, as plaso's timeliner counts), data type and label."""
    pytest.importorskip("plaso")
    from collections import Counter

    from sandtrace.output import fields
    from sandtrace.output.plaso_session import RunSession

    events = realistic_events()
    session = RunSession(command_line="sandtrace extract host.E01 -o t.plaso --format plaso",
                         parser_filter_expression="filestat,winevtx",
                         enabled_parser_names=["filestat", "winevtx"], start_time=1_700_000_000_000_000)
    _write_store(tmp_path / "t.plaso", events, session)
    report = pinfo_report(tmp_path / "t.plaso")

    [stored] = report["sessions"]
    assert stored["product_name"] == "sandtrace" and stored["product_version"] == __import__("sandtrace").__version__
    assert stored["command_line_arguments"] == session.command_line
    assert stored["enabled_parser_names"] == ["filestat", "winevtx"]
    assert stored["parser_filter_expression"] == "filestat,winevtx"
    assert stored["start_time"] == 1_700_000_000_000_000 < stored["completion_time"]
    files = {event.data.provenance.path_spec.comparable for event in events if event.data.provenance.path_spec}
    assert len(report["event_sources"]) == len(files) > 3

    parsers = Counter(event.data.parser.rsplit("/", 1)[-1] for event in events if event.data.parser)
    assert report["parsers"] == {**parsers, "total": len(events)}
    data_types = Counter(event.data.data_type for event in events)
    assert report["data_types"] == {**data_types, "total": len(events)}
    labels = Counter(label for event in events for label in fields.labels(event))
    assert report["event_labels"] == {**labels, "total": sum(labels.values())} and labels


def test_a_store_without_a_run_still_has_a_session(tmp_path):
    pytest.importorskip("plaso")
    _write_store(tmp_path / "t.plaso", realistic_events()[:3])
    [stored] = pinfo_report(tmp_path / "t.plaso")["sessions"]
    assert stored["product_name"] == "sandtrace" and stored["start_time"] <= stored["completion_time"]


def test_values_plaso_cannot_store_are_stored_as_sandtrace_shows_them(tmp_path):
    """dicts, bytes and lists holding them: the text l2tcsv's extra shows, so psort renders the same."""
    pytest.importorskip("plaso")
    from dataclasses import replace

    from plaso.storage import factory

    event = realistic_events()[0]
    values = {"settings": {"b": True, "a": 1}, "blob": b"\x00ab\xff", "folders": [{"x": "1"}],
              "names": ["a", "b"], "pairs": [("n", "REG_SZ", "v")]}
    data = replace(event.data, values={**event.data.values, **values})
    _write_store(tmp_path / "t.plaso", [replace(event, data=data)])
    reader = factory.StorageFactory.CreateStorageReaderForFile(str(tmp_path / "t.plaso"))
    [stored] = list(reader.GetAttributeContainers("event_data"))
    reader.Close()
    assert stored.settings == "{'b': True, 'a': 1}"
    assert stored.blob == "\x00ab\\xff"  # as plaso decodes bytes for l2tcsv: UTF-8, backslashreplace
    assert stored.folders == "[{'x': '1'}]"
    assert stored.names == ["a", "b"] and [list(pair) for pair in stored.pairs] == [["n", "REG_SZ", "v"]]  # stored as is


def test_preprocessing_keeps_out_user_accounts_and_eventlog_providers():
    """psort would name only the first event per SID, and with providers it no longer uses its message database."""
    from sandtrace.output import plaso_session

    class Container:
        def __init__(self, kind):
            self.CONTAINER_TYPE = kind

    added = []

    class Storage:
        def AddAttributeContainer(self, container):
            added.append(container.CONTAINER_TYPE)

        UpdateAttributeContainer = AddAttributeContainer

    filtered = plaso_session._Filtered(Storage())
    for kind in ("user_account", "windows_eventlog_provider", "environment_variable", "windows_service_configuration"):
        filtered.AddAttributeContainer(Container(kind))
        filtered.UpdateAttributeContainer(Container(kind))
    assert added == ["environment_variable"] * 2 + ["windows_service_configuration"] * 2


def test_enabled_parser_names_as_plaso_lists_them():
    from sandtrace.output.plaso_session import enabled_parser_names
    from sandtrace.parsers import manager

    names = enabled_parser_names(manager.create(["filestat", "winreg"], {}, "filestat,winreg/bam"))
    assert names == ["filestat", "winreg/bam"]
    every = enabled_parser_names(manager.create(["winreg"]))
    assert len(every) == len(manager.parser_classes()["winreg"].plugins()) > 5
    assert all(name.startswith("winreg/") for name in every)


def _plaso_event_data_attributes() -> dict[str, set[str]]:
    """Each plaso data type's attributes, from the EventData classes of plaso's parsers."""
    import importlib
    import pkgutil
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plaso's text parsers use pyparsing's deprecated names
        from plaso import parsers  # imports every parser of plaso
        from plaso.containers import events

        for module in pkgutil.walk_packages(parsers.__path__, "plaso.parsers."):
            try:
                importlib.import_module(module.name)
            except ImportError:
                continue  # a parser whose optional library is missing
    found: dict[str, set[str]] = {}
    classes = list(events.EventData.__subclasses__())
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        data_type = getattr(cls, "DATA_TYPE", None)
        if data_type:
            try:
                found.setdefault(data_type, set()).update(k for k in vars(cls()) if not k.startswith("_"))
            except TypeError:
                continue  # a constructor that needs arguments
    return found


def test_the_hashed_attributes_are_plaso_s_own():
    """psort's order of ties hashes plaso's own attributes of a plaso data type
    (data/plaso_attributes.yaml): the list must be what plaso's classes set, so an
    upgrade of plaso that adds one is noticed here."""
    pytest.importorskip("plaso")
    from sandtrace.core.plaso_view import PLASO_ATTRIBUTES

    plaso = _plaso_event_data_attributes()
    assert len(PLASO_ATTRIBUTES) >= 19 and "windows:evtx:record" in PLASO_ATTRIBUTES
    for data_type, names in PLASO_ATTRIBUTES.items():
        assert names == plaso[data_type] - {"data_type"}, data_type
