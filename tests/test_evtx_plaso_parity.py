"""EVTX values as plaso gives them (issue 20, items 2-6).

On real third-party logs: log2timeline --parsers winevtx + psort -o json_line
run at test time, and sandtrace on the same folder; every active record plaso
emits must have, in sandtrace's json_line, every attribute plaso writes with
plaso's value, the message included. On logs built by the
repository's EVTX writer: each substitution value type rendered as libevtx
renders it, with either backend.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from sandtrace.core.events import WARNING_DATA_TYPE
from sandtrace.parsers.winevtx import DATA_TYPE, UNDECODABLE, WinEvtxParser
from tests import evtx_parity
from tests.conftest import CORPUS
from test_images.writers.evtx import (Binary, EvtxLog, FileTime, Guid, HexInt32, HexInt64, Sid, SizeT,
                                      UInt8, UInt64)

pyevtx = pytest.importorskip("pyevtx")

# The variety: a real System log (EventSourceName providers), a real Security log
# (hex, GUID and SID values), Sysmon with a record whose values are not UTF-16,
# LiveId (escaped XML in values), a cleared log with slack records, Security logs
# with SizeT values and logon types.
FILES = (
    "plaso/System.evtx",
    "python-evtx/security.evtx",
    "python-evtx/issue_43.evtx",
    "python-evtx/issue_39.evtx",
    "evtx-attack-samples/LM_WMIC_4648_rpcss.evtx",
    "evtx-attack-samples/CA_4624_4625_LogonType2_LogonProc_chrome.evtx",
    "evtx-attack-samples/DE_104_system_log_cleared.evtx",
    "omerbenamram-evtx/Security_with_size_t.evtx",
)
BIN = os.path.dirname(sys.executable)


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def timelines(tmp_path_factory):
    """(root, plaso's json_line events, sandtrace's) of the FILES, copied into one folder."""
    if not os.path.isdir(os.path.join(CORPUS, "evtx")):
        pytest.skip("the test corpus is not present (docs/test-data.md)")
    if not os.path.exists(os.path.join(BIN, "log2timeline")):
        pytest.skip("plaso is not installed")
    work = tmp_path_factory.mktemp("evtx_parity")
    root = str(work / "logs")
    for name in FILES:
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        shutil.copyfile(os.path.join(CORPUS, "evtx", name), os.path.join(root, name))
    store, plaso_lines, ours = str(work / "plaso.plaso"), str(work / "plaso.jsonl"), str(work / "ours.jsonl")
    _run(os.path.join(BIN, "log2timeline"), "--single_process", "--parsers", "winevtx", "--status_view", "none",
         "-q", "--logfile", str(work / "log2timeline.log.gz"), "--storage_file", store, root)
    # psort's l2tcsv waits ~15 s before it writes: it runs beside the rest.
    l2tcsv = subprocess.Popen([os.path.join(BIN, "psort"), "-o", "l2tcsv", "-w", str(work / "plaso.csv"),
                               "--status_view", "none", "-q", "--logfile", str(work / "psort-csv.log.gz"), store],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _run(os.path.join(BIN, "psort"), "-o", "json_line", "-w", plaso_lines, "--status_view", "none", "-q",
         "--logfile", str(work / "psort.log.gz"), store)
    for name, output in (("json_line", ours), ("l2tcsv", str(work / "ours.csv"))):
        _run(sys.executable, "-c", "import sys; from sandtrace.cli import main; sys.exit(main())",
             "extract", root, "-q", "--format", name, "-o", output)
    output, _ = l2tcsv.communicate(timeout=300)
    assert l2tcsv.returncode == 0, output[-2000:]
    TIMELINES["csv"] = [_csv(str(work / "plaso.csv")), _csv(str(work / "ours.csv"))]
    return root, list(evtx_parity.events(plaso_lines)), [json.loads(line) for line in open(ours, encoding="utf-8")]


TIMELINES: dict[str, list] = {}


def _csv(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as rows:
        return list(csv.reader(rows))


def test_every_active_record_plaso_emits_has_plaso_s_values(timelines):
    root, plaso, ours = timelines
    counts, examples = evtx_parity.compare(plaso, (e for e in ours if e["data_type"] == DATA_TYPE), root)
    assert counts["(event)"]["match"] > 20_000 and not counts["(event)"]["missing"]
    # every attribute plaso writes: message, strings, source_name, xml_string, offset,
    # sha256_hash, the ids, level, version, hostname, user_sid, times, parser, path spec
    compared = {key for key in counts if key != "(event)"}
    assert {"message", "strings", "source_name", "xml_string", "offset", "sha256_hash", "timestamp", "timestamp_desc",
            "event_identifier", "message_identifier", "provider_identifier", "user_sid", "hostname",
            "display_name", "pathspec"} <= compared
    differing = [example for example in examples if example[2] != "(event)"]
    assert differing == [], differing[:5]


def test_l2tcsv_rows_are_plaso_s_in_plaso_s_order(timelines):
    """Row for row, order within a second included (psort orders ties by a hash of
    plaso's own attributes: sandtrace's additions leave it alone). Apart: ``notes``
    (sandtrace adds its labels) and ``extra`` (sandtrace adds attributes; plaso's are
    there with plaso's values), and control characters, which sandtrace escapes
    (plaso writes a raw \\x03 into the cell)."""
    from sandtrace.output.sanitize import escape_text

    root, plaso, _ = timelines
    plaso_rows, ours = TIMELINES["csv"]
    skipped = evtx_parity.recovered_rows(plaso, root)
    matched, recovered, problems = evtx_parity.compare_l2tcsv(plaso_rows, ours, root, skipped, normalise=escape_text)
    assert problems == [], problems[:5]
    # 11,765 rows of active records, 55 of libevtx's recovered ones (compared in json_line above)
    assert matched + recovered == len(plaso_rows) - 1 and matched > 11_000 and recovered < 100


def test_what_sandtrace_adds_is_said(timelines):
    """Attributes of its own, on top of plaso's; the record plaso skips is kept, flagged."""
    root, _, ours = timelines
    records = [e for e in ours if e["data_type"] == DATA_TYPE]
    assert all(e["file_offset"] > 4096 and e["offset"] == 0 for e in records)
    sysmon = [e for e in records if e["record_number"] == 508 and e["display_name"].endswith("issue_43.evtx")]
    assert len(sysmon) == 2  # plaso skips it: libevtx refuses its strings
    assert all(UNDECODABLE in e["tag"]["labels"] and "UTF-16" in e["undecodable_values"]
               and e["rendered_by"] == "pyevtx-rs" and e["recovered"] is False for e in sysmon)
    assert not sysmon[0]["xml_string"].startswith("<?xml")
    warnings = [e["error"] for e in ours if e["data_type"] == WARNING_DATA_TYPE]
    assert any("record 508 at chunk offset 58456: its values do not decode as what their types say" in w
               for w in warnings)
    # the cleared log's slack: recovered records keep libevtx's rendering where libevtx reads them
    recovered = [e for e in records if e["recovered"]]
    assert recovered and any("rendered_by" not in e for e in recovered)


# -- value rendering on logs built by the repository's writer ------------------------------

VALUES = [
    ("LogonId", HexInt64(0x3E7)), ("Status", HexInt32(0)), ("LogonGuid", Guid("00000000-0000-0000-0000-000000000000")),
    ("ActivityId", Guid("5D1F3A2B-7C4E-4B8A-9A1B-0123456789AB")), ("When", FileTime(133814880001234567)),
    ("Empty", None), ("Blank", ""), ("Flag", True), ("Bytes", Binary(b"\x01\xab")), ("Sid", Sid("S-1-5-18")),
    ("Count", 5), ("Small", UInt8(7)), ("Big", UInt64(2**40)), ("Size", SizeT(0x20)),
]
# libevtx's rendering (plaso's strings): zero-padded hex, braced GUIDs, FILETIME at 100 ns,
# a NULL value's element left out, an empty string as None.
EXPECTED = ["0x00000000000003e7", "0x00000000", "{00000000-0000-0000-0000-000000000000}",
            "{5D1F3A2B-7C4E-4B8A-9A1B-0123456789AB}", "2025-01-16T08:00:00.123456700Z", None, "true", "01AB",
            "S-1-5-18", "5", "7", "1099511627776", "0x0000000000000020"]


def _log(data=VALUES) -> bytes:
    log = EvtxLog("Security", "WIN11-HOST")
    log.add("Microsoft-Windows-Security-Auditing", 4624, 133814880000000000,
            provider_guid="54849625-5478-4994-A5BA-3E3B0328C30D", data=data)
    log.add("Microsoft-Windows-Security-Auditing", 4634, 133814880010000000, data=[("TargetUserName", "ZZalice")])
    return log.to_bytes()


def _parse(data: bytes, backend: str) -> list:
    class Target:
        provenance = None

        def open_file_object(self):
            return io.BytesIO(data)

    from sandtrace.core.events import Provenance
    Target.provenance = Provenance(display_name="memory.evtx")
    return list(WinEvtxParser({"evtx_backend": backend}).parse(Target()))


def _libevtx(data: bytes) -> list[tuple[list, str]]:
    log = pyevtx.file()
    log.open_file_object(io.BytesIO(data))
    try:
        return [(list(record.strings), record.xml_string)
                for record in (log.get_record(index) for index in range(log.number_of_records))]
    finally:
        log.close()


@pytest.mark.parametrize("backend", ["pyevtx-rs", "python-evtx"])
def test_each_value_type_is_rendered_as_libevtx_renders_it(backend):
    data = _log()
    records = [d for d in _parse(data, backend) if d.data_type == DATA_TYPE]
    assert [(d.values["strings"], d.values["xml_string"]) for d in records] == _libevtx(data)
    first = records[0].values
    assert first["strings"] == EXPECTED
    assert '<Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-A5BA-3E3B0328C30D}"/>' \
        in first["xml_string"] and not first["xml_string"].startswith("<?xml")
    assert '<Data Name="Blank"/>' in first["xml_string"] and "Empty" not in first["xml_string"]
    # the structured event data keeps the decoder's typed reading
    assert first["event_data"]["LogonId"] == "0x3e7" and first["event_data"]["Empty"] == ""
    assert "rendered_by" not in first and first["offset"] == 0 and first["file_offset"] == 4096 + 512
    assert first["sha256_hash"] == hashlib.sha256(data).hexdigest()


def test_a_record_whose_string_is_not_utf16_is_kept_flagged_with_a_warning():
    """A lone high surrogate where a UTF-16 string should be: libevtx refuses the value
    (plaso skips the record); sandtrace keeps it, tagged, with pyevtx-rs's reading.
    (python-evtx cannot decode such a record at all: it is lost with a warning.)"""
    backend = "pyevtx-rs"
    data = bytearray(_log())
    at = data.index("ZZalice".encode("utf-16-le"))
    data[at:at + 4] = struct.pack("<HH", 0xD940, 0x5A)  # a high surrogate followed by no low one
    out = _parse(bytes(data), backend)
    records = {d.values["record_number"]: d for d in out if d.data_type == DATA_TYPE}
    assert sorted(records) == [1, 2]
    bad = records[2]
    assert bad.tags == [UNDECODABLE] and bad.values["rendered_by"] == backend
    assert "surrogate" in bad.values["undecodable_values"]
    assert bad.values["event_identifier"] == 4634 and bad.values["recovered"] is False
    assert not bad.values["xml_string"].startswith("<?xml")
    assert "rendered_by" not in records[1].values and records[1].values["strings"] == EXPECTED
    warnings = [d.values["error"] for d in out if d.data_type == WARNING_DATA_TYPE]
    assert any("record 2 at chunk offset" in w and "do not decode as what their types say" in w for w in warnings)


def test_the_same_chunk_bytes_are_rendered_once(monkeypatch):
    """A chunk read again with the same bytes (a log's copy in a shadow copy or a
    sandbox disk) reuses libevtx's rendering; other bytes, or an evicted one, do not."""
    from sandtrace.parsers import winevtx_render as render

    calls = []
    real = render._render
    monkeypatch.setattr(render, "_render", lambda data: calls.append(len(data)) or real(data))
    monkeypatch.setattr(render, "_CACHE", type(render._CACHE)())
    monkeypatch.setattr(render, "_cached_bytes", 0)
    data = _log()
    first = [d.values for d in _parse(data, "pyevtx-rs") if d.data_type == DATA_TYPE]
    again = [d.values for d in _parse(data, "pyevtx-rs") if d.data_type == DATA_TYPE]
    assert len(calls) == 1 and first == again and first[0]["strings"] == EXPECTED
    assert first[0]["strings"] is not again[0]["strings"]  # each event data has its own list
    other = _log(VALUES[:3])
    _parse(other, "pyevtx-rs")
    assert len(calls) == 2
    monkeypatch.setattr(render, "CACHE_BYTES", 1)  # over the bound: only the newest is kept
    _parse(_log(VALUES[:2]), "pyevtx-rs")
    assert len(calls) == 3 and len(render._CACHE) == 1
    _parse(data, "pyevtx-rs")
    assert len(calls) == 4
