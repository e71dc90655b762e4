"""Messages read as plaso writes them, from YAML definitions alone."""

from __future__ import annotations

from sandtrace.core.events import EventData
from sandtrace.output.base import EventView
from sandtrace.output.formatting import Formatters, default_formatters
from tests.output_fixtures import ntfs_stat, realistic_events, T0

TIMES = {"access_time": T0, "creation_time": T0, "entry_modification_time": T0,
         "modification_time": T0}


def view(data: EventData) -> EventView:
    from sandtrace.core.events import Event
    return EventView(Event(1, "Creation Time", None, data), default_formatters())


def test_ntfs_file_name_message_uses_the_helpers():
    data = ntfs_stat("\\Users\\Alice\\x.wsb", 1022, 2, 0x30, TIMES, name="x.wsb", parent=(77, 3))
    assert view(data).message() == (
        "NTFS:\\Users\\Alice\\x.wsb File reference: 1022-2 Attribute name: $FILE_NAME "
        "Name: x.wsb Parent file reference: 77-3 Path hints: \\Users\\Alice\\x.wsb")


def test_unallocated_and_unknown_attribute_type():
    data = ntfs_stat("\\gone.txt", 66, 9, 0x80, TIMES, allocated=False)
    message = view(data).message()
    assert "Attribute name: UNKNOWN" in message and message.endswith("(unallocated)")


def test_short_message_is_cut_to_77_characters_and_dots():
    data = ntfs_stat("\\" + "d" * 100 + "\\file.txt", 5, 1, 0x10, TIMES)
    short = view(data).message_short()
    assert len(short) == 80 and short.endswith("...")
    assert short[:77] == ("\\" + "d" * 100)[:77]


def test_unknown_data_type_falls_back_to_plaso_default_formatter():
    data = EventData("windows:sandbox:unknown", {"a": 1, "b": "x\r\ny", "t": None})
    assert view(data).message() == "<WARNING DEFAULT FORMATTER> Attributes: a: 1 b: xy"
    assert view(data).message_short() == "<DEFAULT> a: 1 b: xy"
    assert default_formatters().source("windows:sandbox:unknown") == ("N/A", "N/A")


def test_warning_formatter_and_sources():
    warning_event = realistic_events()[-2]
    assert warning_event.data.data_type == "sandtrace:warning"
    assert default_formatters().source("sandtrace:warning") == ("LOG", "sandtrace warning")
    assert view(warning_event.data).message().startswith("unable to open EVTX file")
    assert default_formatters().source("fs:stat:ntfs") == ("FILE", "NTFS file stat")
    assert default_formatters().source("FS:STAT") == ("FILE", "File stat")


def test_adding_a_yaml_entry_is_all_it_takes():
    formatters = Formatters()
    formatters.load_yaml("""
type: 'basic'
data_type: 'windows:sandbox:launch'
message: 'Sandbox started by {user} ({flag})'
short_message: 'Sandbox started'
short_source: 'LOG'
source: 'Windows Sandbox'
boolean_helpers:
- input_attribute: 'networking'
  output_attribute: 'flag'
  value_if_true: 'network on'
  value_if_false: 'network off'
""")
    formatter = formatters.get("windows:sandbox:launch")
    assert formatter.message({"user": "alice", "networking": False}) == \
        "Sandbox started by alice (network off)"
    assert formatter.attribute_names() == {"user", "flag"}
    assert formatters.source("windows:sandbox:launch") == ("LOG", "Windows Sandbox")


def test_plaso_formatter_definitions_are_the_same_as_plasos():
    plaso_yaml = __import__("pytest").importorskip("plaso.formatters.yaml_formatters_file")
    import os
    import plaso
    path = os.path.join(os.path.dirname(plaso.__file__), "data", "formatters", "generic.yaml")
    theirs = {f.data_type: f for f in plaso_yaml.YAMLFormattersFile().ReadFromFile(path)}
    for data_type in ("fs:stat", "fs:stat:ntfs"):
        mine = default_formatters().get(data_type)
        assert mine.pieces == theirs[data_type]._format_string_pieces
        assert mine.short_pieces == theirs[data_type]._format_string_short_pieces
        assert (mine.source_short, mine.source_long) == theirs[data_type].source_mapping


def test_a_piece_naming_two_attributes_is_refused_as_plaso_refuses_it():
    """plaso's ConditionalEventFormatter raises on such a piece, and psort then loads no formatter at all."""
    import pytest

    definition = """
type: 'conditional'
data_type: 'test:two'
message:
- '{present} of {written} blocks'
short_message:
- '{present}'
short_source: 'TEST'
source: 'Test'
"""
    with pytest.raises(ValueError, match="names more than 1 attribute"):
        Formatters().load_yaml(definition)
    Formatters().load_yaml(definition.replace("- '{present} of {written} blocks'",
                                              "- '{present} of'\n- '{written} blocks'"))
