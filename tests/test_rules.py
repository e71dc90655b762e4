"""The one condition language (core/rules.py) that the tagging rules and the EVTX catalogue
are written in: each condition, dotted names, case, lists, and the sets of sandbox names."""

from __future__ import annotations

import pytest

from sandtrace.core import rules
from sandtrace.core.rules import RuleError, compile_clause, compile_when, holds, lookup_in, sandbox_set

PROCESS = {
    "event_identifier": 4688,
    "source_name": "Microsoft-Windows-Security-Auditing",
    "event_data": {"NewProcessName": "C:\\Windows\\System32\\WindowsSandbox.exe",
                   "CommandLine": '"C:\\Windows\\System32\\WindowsSandbox.exe" C:\\x\\Update.WSB',
                   "Nested": {"Deeper": "Value"}},
    "strings": ["alice", "Containers-DisposableClientVM", "", "/Enable-Feature"],
    "flag": True,
    "risk_flags": ["writable_mapped_folder", "logon_command"],
    "settings": [{"name": "AllowNetworking", "configured": 1}],
}


def holds_on(when, values=PROCESS, data_type="windows:evtx:record", timestamp_desc="", labels=()) -> bool:
    return holds(compile_when(when, "test"), data_type, timestamp_desc, set(labels), lookup_in(values))


@pytest.mark.parametrize(("clause", "expected"), [
    ({"data_type": "windows:evtx:record"}, True),
    ({"data_type": ["a", "b"]}, False),
    ({"timestamp_desc": "Creation Time"}, False),
    ({"tags_any": ["x", "wsb_cli"]}, True),
    ({"tags_any": ["x"]}, False),
    ({"tags_all": ["wsb_cli", "carved"]}, True),
    ({"tags_all": ["wsb_cli", "x"]}, False),
    ({"tags_none": ["carved"]}, False),
    ({"tags_none": ["x"]}, True),
    ({"exists": ["event_data.CommandLine"]}, True),
    ({"exists": ["container_guid"]}, False),
    ({"missing": ["container_guid", "event_data.Absent"]}, True),
    ({"missing": ["strings"]}, False),
    ({"equals": {"event_identifier": 4688}}, True),
    ({"equals": {"event_identifier": "4688"}}, False),  # a number is not its text
    ({"equals": {"flag": True}}, True),
    ({"equals": {"flag": 1}}, False),  # true is not 1
    ({"equals": {"source_name": ["x", "MICROSOFT-windows-security-auditing"]}}, True),
    ({"equals": {"strings": "containers-disposableclientvm"}}, True),  # one item of a list
    ({"basename": {"event_data.NewProcessName": ["notepad.exe", "WINDOWSSANDBOX.EXE"]}}, True),
    ({"basename": {"event_data.NewProcessName": "windowssandbox"}}, False),
    ({"basename": {"event_data.CommandLine": "update.wsb"}}, True),  # the last part, its space and quote gone
    ({"contains_all": {"strings": ["containers-disposableclientvm", "enable-feature"]}}, True),  # across items
    ({"contains_all": {"strings": ["containers-disposableclientvm", "disable-feature"]}}, False),
    ({"contains_any": {"strings": ["disable-feature", "ENABLE-FEATURE"]}}, True),
    ({"contains_any": {"event_data.CommandLine": ["notepad"]}}, False),
    ({"regex": {"event_data.CommandLine": r"\.wsb$"}}, True),
    ({"regex": {"risk_flags": "^logon_command$"}}, True),  # item by item
    ({"regex": {"settings": '"configured": 1[,}]'}}, True),  # dicts as sorted JSON
    ({"regex": {"event_data.Nested.Deeper": "^value$"}}, True),  # dotted into nested values
    ({"not_regex": {"event_data.CommandLine": "notepad"}}, True),
    ({"not_regex": {"event_data.CommandLine": "sandbox"}}, False),
])
def test_each_condition(clause, expected):
    assert holds_on(clause, labels=["wsb_cli", "carved"]) is expected


def test_all_conditions_of_a_clause_must_hold_and_any_clause_of_a_when():
    one = {"equals": {"event_identifier": 4688}, "basename": {"event_data.NewProcessName": "notepad.exe"}}
    other = {"contains_any": {"strings": "alice"}}
    assert not holds_on(one)
    assert holds_on([one, other])
    assert not holds_on([one])


def test_a_missing_value_or_a_path_through_a_non_mapping_holds_no_text():
    lookup = lookup_in(PROCESS, {"display_name": "NTFS:\\x"})
    assert lookup("display_name") == "NTFS:\\x"
    assert lookup("event_data.NewProcessName.Deeper") is None
    assert lookup("strings.0") is None
    assert not holds_on({"contains_any": {"event_data": "x"}}, values={"event_data": None})


def test_a_set_of_sandbox_names_takes_the_place_of_a_list():
    binaries = {name.lower() for name in sandbox_set("kind=binary")}
    assert {"windowssandbox.exe", "wsb.exe", "vmwp.exe", "managedwindowsvm.exe"} <= binaries
    assert not any("*" in name for name in binaries)  # a pattern is not a name
    assert sandbox_set("launcher=start") == ("WindowsSandbox.exe",)
    assert sandbox_set("kind=alias") == ("wsb",)
    assert sandbox_set("session_marker,event_name") == ("cmproxyd.exe", "CmProxyD")
    services = sandbox_set("kind=service,event_name")
    assert "Container Manager" in services and "HvHost" not in services  # only those with an event name
    assert holds_on({"basename": {"event_data.NewProcessName": "$kind=binary"}})
    assert holds_on({"contains_any": {"strings": "$kind=service,event_name"}},
                    values={"strings": ["Hyper-V Host Compute Service", "running"]})


def test_a_set_inside_a_pattern_is_its_names_as_alternatives():
    clause = compile_clause({"regex": {"executable": "^({$launcher=start}|{$launcher=cli})$"}}, "test")
    assert clause.regex[0][1].pattern == r"^((?:WindowsSandbox\.exe)|(?:wsb\.exe))$"
    assert holds_on({"regex": {"command": r"(^|\s){$kind=alias}(\.exe)?\s+start\b"}},
                    values={"command": "cmd /c WSB start"})


@pytest.mark.parametrize(("when", "message"), [
    ([], "needs at least one clause"),
    (["data_type"], "must be a mapping"),
    ({"colour": "red"}, "unknown condition"),
    ({"regex": {"a": "("}}, "bad regex for a"),
    ({"equals": ["a"]}, "takes {attribute: value}"),
    ({"basename": {"a": "$colour=red"}}, "no property colour"),
    ({"basename": {"a": "$kind=planet"}}, "selects no sandbox name"),
    ({"regex": {"a": "{$kind=}"}}, "selects no sandbox name"),
])
def test_a_bad_condition_is_named_with_where_it_is(when, message):
    with pytest.raises(RuleError, match=message):
        compile_when(when, "catalogue.yaml: entry x")


def test_a_clause_says_which_attributes_it_reads():
    clause = compile_clause({"exists": ["a"], "equals": {"b": 1}, "basename": {"c": "x"},
                             "contains_all": {"d": "x"}, "contains_any": {"e": "x"}, "regex": {"f": "x"},
                             "not_regex": {"g": "x"}, "data_type": "t"}, "test")
    assert clause.names() == {"a", "b", "c", "d", "e", "f", "g"}
    assert rules.CONDITIONS >= {"equals", "basename", "contains_all", "contains_any", "regex", "not_regex"}
