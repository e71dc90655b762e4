"""EventLog message strings (sandtrace/eventlog_messages): the text psort gives, and where it came from.

(a) Real logs with plaso's database: every active record's ``message_string``
equals what plaso's own formatter helper (WinevtResourcesHelper, the
``windows_eventlog_message`` helper psort runs) makes of the same values.
(b) A system's own message files: a folder laid out as a Windows volume,
its SYSTEM hive (written with the test images' REGF writer) naming the
providers, message DLLs built at test time (``tests/pe_message_file.py``)
read with libexe and libwrc, a log written with the test images' EVTX
writer. (c) The sidecar's counts of where the messages came from.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path import factory as path_spec_factory

from sandtrace.core.events import WARNING_DATA_TYPE, Provenance
from sandtrace.eventlog_messages import templates
from sandtrace.eventlog_messages.database import plaso_database
from sandtrace.eventlog_messages.message_files import read_message_file
from sandtrace.parsers.winevtx import DATA_TYPE, WinEvtxParser
from tests.conftest import ROOT, corpus_file
from tests.pe_message_file import message_dll
from test_images.writers.evtx import EvtxLog
from test_images.writers.regf import REG_DWORD, REG_EXPAND_SZ, REG_SZ, Hive

FT = 133814880000000000  # 2025-01-16T00:00:00Z as FILETIME


class _Target:
    """A local file shaped like a collected FileTarget (an OS path spec, as a folder source gives)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.path_spec = path_spec_factory.Factory.NewPathSpec(dfvfs_definitions.TYPE_INDICATOR_OS, location=path)
        self.provenance = Provenance(source=os.path.dirname(path), volume="", path_spec=self.path_spec,
                                     display_name=path)

    def open_file_object(self):
        return open(self.path, "rb")


def _plaso_message(helper, values: dict) -> str | None:
    """What psort's windows_eventlog_message helper makes of the values (plaso as the reference)."""
    from plaso.formatters.winevt import WindowsEventLogMessageFormatterHelper

    class Mediator:
        def GetWinevtResourcesHelper(self):
            return helper

    event_values = dict(values)
    WindowsEventLogMessageFormatterHelper().FormatEventValues(Mediator(), event_values)
    return event_values["message_string"]


# -- (a) real logs, plaso's database ------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.plaso
@pytest.mark.parametrize("parts", [("evtx", "plaso", "System.evtx"), ("evtx", "python-evtx", "security.evtx")])
def test_message_strings_of_real_logs_are_psorts(parts):
    pytest.importorskip("plaso")
    from plaso.output.winevt_rc import WinevtResourcesHelper

    path = corpus_file(*parts)
    helper = WinevtResourcesHelper(None, os.path.dirname(plaso_database()), 0x0409)
    records = [d for d in WinEvtxParser().parse(_Target(path)) if d.data_type == DATA_TYPE and not d.values["recovered"]]
    resolved = 0
    for data in records:
        expected = _plaso_message(helper, data.values)
        assert data.values.get("message_string") == expected, data.values["record_number"]
        resolved += expected is not None
        source = data.notes["message_source"] if data.notes else None
        assert source == (f"database {plaso_database()}" if expected else "unresolved")
    assert resolved >= 0.9 * len(records)  # plaso resolves about 97% of these


def test_message_table_strings_become_plasos_format_strings():
    text = "A %1 b %2!s! c %% d %n e %t f {x} %b\r\ng%0 never"
    assert templates.to_format_string(text) == "A {0:s} b {1:s} c \\% d \\n e \\t f {{x}} g"
    assert templates.to_format_string("%0") == "" and templates.to_format_string("") is None
    parameters = {1843: "Disabled"}.get
    assert templates.format_message("{0:s} is {1:s}", ["x", "%%1843"], parameters) == "x is Disabled"
    assert templates.format_message("{0:s} is {1:s}", ["x", "%%77"], parameters) == "x is %%77"
    assert templates.format_message("{0:s} is {1:s}", ["x", None], parameters) == "x is "
    assert templates.format_message("{2:s}", ["x"], parameters) is None  # too few strings: psort gives none


# -- (b) the evidence's own message files --------------------------------------------------------------


def _system_hive() -> bytes:
    hive = Hive(root_name="ROOT", last_written=FT)
    hive.key("Select", last_written=FT).set_value("Current", REG_DWORD, 1)
    logs = "ControlSet001\\Services\\EventLog\\System"
    mine = hive.key(f"{logs}\\MyService", last_written=FT)
    mine.set_value("EventMessageFile", REG_EXPAND_SZ, "%SystemRoot%\\System32\\mymsg.dll")
    mine.set_value("ParameterMessageFile", REG_EXPAND_SZ, "%SystemRoot%\\System32\\myparams.dll")
    hive.key(f"{logs}\\Gone", last_written=FT).set_value("EventMessageFile", REG_EXPAND_SZ,
                                                           "C:\\Program Files\\Gone\\gone.dll")
    hive.key(f"{logs}\\Damaged", last_written=FT).set_value("EventMessageFile", REG_SZ, "damaged.dll")
    return hive.to_bytes()


@pytest.fixture(scope="module")
def windows_folder(tmp_path_factory):
    """A folder laid out as a Windows volume: hive, message DLLs (one damaged), and one System log."""
    root = tmp_path_factory.mktemp("volume")
    system32 = root / "Windows" / "System32"
    (system32 / "config").mkdir(parents=True)
    (system32 / "config" / "SYSTEM").write_bytes(_system_hive())
    (system32 / "mymsg.dll").write_bytes(message_dll({0x40000001: "Service %1 is now %2.%r%n", 2: "Plain %1"}))
    (system32 / "myparams.dll").write_bytes(message_dll({1843: "Disabled%0"}))
    (system32 / "damaged.dll").write_bytes(b"MZ" + b"\x00" * 62)
    log = EvtxLog("System", "WIN11-HOST")
    log.add("MyService", 1, FT, qualifiers=0x4000, data=[("param1", "Spooler"), ("param2", "%%1843")])
    log.add("MyService", 2, FT + 10_000_000, data=[("param1", "x")])
    log.add("Gone", 5, FT + 20_000_000, data=[("param1", "y")])
    log.add("Gone", 6, FT + 30_000_000, data=[("param1", "z")])
    log.add("Damaged", 7, FT + 35_000_000, data=[("param1", "w")])
    log.add("Service Control Manager", 7036, FT + 40_000_000, qualifiers=0x4000,
            data=[("param1", "Print Spooler"), ("param2", "running")])
    (system32 / "winevt" / "Logs").mkdir(parents=True)
    log.write(str(system32 / "winevt" / "Logs" / "System.evtx"))
    return root


def test_a_message_dll_is_read_with_libexe_and_libwrc():
    data = message_dll({0x1D: "The %1 service%n", 0x1E: "Other %2 %1"})
    read = read_message_file(io.BytesIO(data))
    assert read.strings == {0x1D: "The {0:s} service\\n", 0x1E: "Other {1:s} {0:s}"}
    assert read_message_file(io.BytesIO(message_dll({1: "x"}, lcid=0x0407))).strings == {}  # another language


def test_messages_come_from_the_systems_own_message_files_first(windows_folder):
    log = str(windows_folder / "Windows" / "System32" / "winevt" / "Logs" / "System.evtx")
    out = list(WinEvtxParser({"message_db": ""}).parse(_Target(log)))  # "" : no database
    records = {d.values["event_identifier"]: d for d in out if d.data_type == DATA_TYPE}
    assert records[1].values["message_string"] == "Service Spooler is now Disabled.\\r\\n"
    assert records[2].values["message_string"] == "Plain x"
    system = f"{os.path.dirname(log)} {windows_folder / 'Windows'}"  # the evidence, then the system's folder
    assert records[1].notes == {"message_source": f"evidence {system}"}
    for missing in (5, 6, 7, 7036):
        assert "message_string" not in records[missing].values
        assert records[missing].notes["message_source"] == "unresolved"
    assert records[5].notes["message_files_missing"] == f"{system} | gone: \\program files\\gone\\gone.dll: not found"  # as plaso stores it
    assert "unreadable" in records[7].notes["message_files_missing"]
    assert "message_files_missing" not in records[7036].notes  # no provider of this system: not its files' fault
    notes = [d.values for d in out if d.data_type == WARNING_DATA_TYPE]
    assert [(n["severity"], "provider gone" in n["error"]) for n in notes if "gone" in n["error"]] == [("info", True)]
    assert len([n for n in notes if "damaged" in n["error"]]) == 1


@pytest.mark.plaso
def test_the_database_gives_what_the_system_does_not(windows_folder):
    pytest.importorskip("plaso")
    log = str(windows_folder / "Windows" / "System32" / "winevt" / "Logs" / "System.evtx")
    records = {d.values["event_identifier"]: d for d in WinEvtxParser().parse(_Target(log)) if d.data_type == DATA_TYPE}
    assert records[7036].values["message_string"] == "The Print Spooler service entered the running state."
    assert records[7036].notes == {"message_source": f"database {plaso_database()}"}
    assert records[1].notes["message_source"].startswith("evidence ")


# -- (c) the sidecar ---------------------------------------------------------------------------------


def test_the_sidecar_counts_where_messages_came_from(windows_folder, tmp_path):
    output = tmp_path / "t.jsonl"
    result = subprocess.run([sys.executable, "-m", "sandtrace.cli", "extract", str(windows_folder), "-o", str(output),
                             "--format", "json_line", "--parsers", "winevtx"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    notes = json.loads((tmp_path / "t.jsonl.meta.json").read_text())["summary"]["notes"]
    sources = notes["message_source"]
    evidence = {k: v for k, v in sources.items() if k.startswith("evidence ")}
    assert list(evidence.values()) == [2] and str(windows_folder) in next(iter(evidence))
    database = plaso_database()
    if database:
        assert sources[f"database {database}"] == 1 and sources["unresolved"] == 3
    else:
        assert sources["unresolved"] == 4
    missing = notes["message_files_missing"]
    assert sorted(v for v in missing.values()) == [1, 2]  # Damaged's record, Gone's two
    assert any("| gone: " in key for key in missing) and any("| damaged: " in key for key in missing)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert {line.get("message_string") for line in lines if line.get("event_identifier") == 2} == {"Plain x"}


@pytest.mark.corpus
@pytest.mark.plaso
def test_psort_on_sandtraces_store_gives_the_same_message_strings(tmp_path):
    """The store holds no EventLog providers, so psort resolves from its database what sandtrace did."""
    pytest.importorskip("plaso")
    folder = os.path.dirname(corpus_file("evtx", "evtx-attack-samples", "DE_104_system_log_cleared.evtx"))
    outputs = {}
    for output_format, name in (("plaso", "t.plaso"), ("json_line", "t.jsonl")):
        result = subprocess.run([sys.executable, "-m", "sandtrace.cli", "extract", folder, "--evtx-anywhere",
                                 "-o", str(tmp_path / name), "--format", output_format],
                                capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs[output_format] = tmp_path / name
    psort = os.path.join(os.path.dirname(sys.executable), "psort")
    subprocess.run([psort, "-q", "-o", "json_line", "-w", str(tmp_path / "p.jsonl"), str(outputs["plaso"])],
                   capture_output=True, check=True, timeout=300, cwd=tmp_path)  # psort writes its log in cwd

    def key(event):
        return event["pathspec"]["location"], event["record_number"], event["timestamp"]

    theirs = {}
    for line in (tmp_path / "p.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("data_type") == DATA_TYPE:
            found = event["message"].partition(" Message string: ")
            theirs[key(event)] = found[2] if found[1] else None
    mine = [json.loads(line) for line in outputs["json_line"].read_text().splitlines()]
    mine = {key(event): (event.get("message_string") or "").replace("\r", "").replace("\n", "") or None
            for event in mine if event.get("data_type") == DATA_TYPE}
    assert mine == theirs and sum(text is not None for text in mine.values()) > 300
