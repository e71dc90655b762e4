"""EVTX records: complete against independent readers, recovered from slack,
the same with either backend, and tagged by the sandbox catalogue only when
the record says what the catalogue entry needs."""

from __future__ import annotations

import glob
import io
import json
import os
import struct
import warnings

import pytest

from sandtrace.core.events import WARNING_DATA_TYPE, Provenance
from sandtrace.parsers.winevtx import DATA_TYPE, WinEvtxParser, load_json, record_values
from sandtrace.plugins.winevtx.catalogue import parse_sandbox_command_line, split_command_line
from tests.conftest import CORPUS

evtx_rs = pytest.importorskip("evtx")
pyevtx = pytest.importorskip("pyevtx")

from test_images.writers.evtx import EvtxLog, HexInt64, Sid  # noqa: E402

CORRUPT_MARKS = ("bad", "corrupt", "malformed", "no_crc32", "zero-data-size", "issue_", "System2")
EVTX_FILES = sorted(glob.glob(os.path.join(CORPUS, "evtx", "*", "*.evtx")))
INTACT = [p for p in EVTX_FILES if not any(mark in os.path.basename(p) for mark in CORRUPT_MARKS)]
CORRUPT = [p for p in EVTX_FILES if p not in INTACT]
SMALL_INTACT = [p for p in INTACT if os.path.getsize(p) <= 70_000] + [
    p for p in INTACT if os.path.basename(p) in ("post-Security.evtx",)
]
# Tags that say "Windows Sandbox" (or its account); the corpus holds no sandbox activity.
NEUTRAL_TAGS = {"recovered", "recovered_foreign_template", "undecodable_values", "log_cleared", "system_boot", "system_shutdown",
                "system_unexpected_shutdown"}
FT_2025_01_16 = 133814880000000000  # 2025-01-16T00:00:00Z as FILETIME
needs_corpus = pytest.mark.skipif(not EVTX_FILES, reason="the test corpus is not present (docs/test-data.md)")


class _Target:
    """A file on the local file system, shaped like a collected FileTarget."""

    def __init__(self, path: str | None = None, data: bytes | None = None) -> None:
        self.path, self.data = path, data
        self.provenance = Provenance(display_name=path or "memory.evtx")

    def open_file_object(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")


_CACHE: dict[tuple[str, str], list] = {}


def parsed(path: str, backend: str = "pyevtx-rs") -> list:
    key = (path, backend)
    if key not in _CACHE:
        _CACHE[key] = list(WinEvtxParser({"evtx_backend": backend}).parse(_Target(path)))
    return _CACHE[key]


def records(out: list, recovered: bool | None = None) -> list:
    return [d for d in out if d.data_type == DATA_TYPE and (recovered is None or d.values["recovered"] == recovered)]


def raw_rs(path: str) -> list[tuple[int, dict]]:
    """(record header id, JSON) from pyevtx-rs; the header id is plaso's record_number
    (libevtx's identifier), which exported logs renumber apart from EventRecordID."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parser = evtx_rs.PyEvtxParser(path, number_of_threads=1, skip_errors=True)
        return [(r["event_record_id"], json.loads(r["data"], strict=False)) for r in parser.records_json()]


def libevtx_records(path: str) -> dict[int, tuple[list, str]]:
    """Record id -> (strings, xml_string) as libevtx, plaso's reader, renders them."""
    log = pyevtx.file()
    log.open(path)
    try:
        found = {}
        for index in range(log.number_of_records):
            try:
                record = log.get_record(index)
            except OSError:
                continue
            found[record.identifier] = (list(record.strings), record.xml_string)
        return found
    finally:
        log.close()


def _payload_values(event: dict) -> list[str]:
    """The EventData/UserData values in order, read straight from pyevtx-rs's JSON."""
    source = event.get("EventData")
    if not isinstance(source, dict):
        user = event.get("UserData") or {}
        source = next((v for k, v in user.items() if k != "#attributes" and isinstance(v, dict)), {})
    values = []
    for key, value in (source or {}).items():
        if key == "#attributes":
            continue
        if isinstance(value, dict):
            value = value.get("#text") if "#text" in value else {k: v for k, v in value.items() if k != "#attributes"}
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for item in items:
            values.append("" if item is None else "true" if item is True else "false" if item is False else str(item))
    return values


# -- completeness against the independent readers ------------------------------------


@needs_corpus
@pytest.mark.parametrize("path", INTACT, ids=os.path.basename)
def test_intact_log_reads_exactly_what_pyevtx_rs_reads(path):
    ours = records(parsed(path), recovered=False)
    theirs = [(record_id, e.get("Event") or {}) for record_id, e in raw_rs(path)]
    assert len(ours) == len(theirs)
    libevtx = libevtx_records(path)
    ours_by_id = {d.values["record_number"]: d for d in ours}
    assert sorted(ours_by_id) == sorted(record_id for record_id, _ in theirs)
    for record_id, event in theirs:
        system = event.get("System")
        data = ours_by_id[record_id].values
        if not system:  # a record pyevtx-rs decodes to an empty Event
            assert data.get("event_identifier") is None
            continue
        event_id = system["EventID"]
        assert data["event_identifier"] == (event_id["#text"] if isinstance(event_id, dict) else event_id)
        # pyevtx-rs renders µs; ours keeps the FILETIME's 100 ns.
        text = system["TimeCreated"]["#attributes"]["SystemTime"]
        assert data["creation_time"].CopyToDateTimeStringISO8601()[:26] == text[:26]
        if record_id not in libevtx:  # LanguagePackSetup's record 17: libevtx does not read it
            assert data["rendered_by"] == "pyevtx-rs" and not data["xml_string"].startswith("<?xml")
        else:
            assert (data["strings"], data["xml_string"]) == libevtx[record_id]  # libevtx's rendering, plaso's
            assert "rendered_by" not in data
        # the decoder's own strings (the fallback rendering) are its EventData values in order
        assert record_values({"Event": event}, None)["strings"] == _payload_values(event)
        assert data.get("channel") == system.get("Channel")


@needs_corpus
@pytest.mark.parametrize("path", CORRUPT, ids=os.path.basename)
def test_damaged_log_reads_at_least_what_pyevtx_rs_reads_and_never_fails(path):
    out = parsed(path)
    ours = {d.values["record_number"] for d in records(out, recovered=False)}
    theirs = {record_id for record_id, _ in raw_rs(path)}
    assert len(ours) >= len(theirs)
    assert all(d.data_type in (DATA_TYPE, WARNING_DATA_TYPE) for d in out)


@needs_corpus
@pytest.mark.parametrize("path", EVTX_FILES, ids=os.path.basename)
def test_slack_recovery_finds_at_least_what_libevtx_recovers(path):
    out = parsed(path)
    active = {d.values["record_number"] for d in records(out, recovered=False)}
    recovered = records(out, recovered=True)
    ours = {d.values["record_number"] for d in recovered} - active
    log = pyevtx.file()
    log.open(path)
    libevtx_active, libevtx_recovered = set(), set()
    for index in range(log.number_of_records):
        try:
            libevtx_active.add(log.get_record(index).identifier)
        except OSError:
            pass
    for index in range(log.number_of_recovered_records):
        try:
            libevtx_recovered.add(log.get_recovered_record(index).identifier)
        except OSError:
            pass
    log.close()
    libevtx_recovered -= libevtx_active | active
    assert ours >= libevtx_recovered
    assert all("recovered" in d.tags and d.values["recovered"] is True for d in recovered)


@needs_corpus
def test_cleared_log_keeps_the_records_written_before_the_clear():
    path = os.path.join(CORPUS, "evtx", "evtx-attack-samples", "LM_WMIC_4648_rpcss.evtx")
    out = parsed(path)
    active = records(out, recovered=False)
    recovered = records(out, recovered=True)
    assert [d.values["event_identifier"] for d in active if d.values["event_identifier"] == 1102]
    # The clear restarted numbering at 1; the old records (ids in the 26000s) survive in slack.
    assert max(d.values["record_number"] for d in active) < 10
    assert len(recovered) >= 29 and min(d.values["record_number"] for d in recovered) > 26000
    assert all(d.values["file_offset"] > 4096 and d.values["offset"] == 0 for d in recovered)


@needs_corpus
@pytest.mark.parametrize("path", SMALL_INTACT, ids=os.path.basename)
def test_both_backends_give_the_same_event_data(path):
    rs = {d.values["record_number"]: d for d in records(parsed(path, "pyevtx-rs"), recovered=False)}
    py = {d.values["record_number"]: d for d in records(parsed(path, "python-evtx"), recovered=False)}
    # One record of the LanguagePackSetup sample defeats python-evtx (and libevtx); pyevtx-rs reads it.
    allowed_missing = 1 if "LanguagePackSetup" in path else 0
    assert set(py) <= set(rs) and len(rs) - len(py) <= allowed_missing
    for record_number, b in py.items():
        a = rs[record_number]
        assert a.values == b.values  # xml_string and strings too: libevtx renders both
        assert a.tags == b.tags


# -- layout cases built with the test writer -------------------------------------------


def _security_log(count: int) -> EvtxLog:
    log = EvtxLog("Security", "WIN11-HOST")
    for index in range(count):
        log.add("Microsoft-Windows-Security-Auditing", 4624, FT_2025_01_16 + index * 10_000_000,
                data=[("TargetUserName", f"user{index}"), ("LogonType", 2), ("TargetLogonId", HexInt64(0x3E7 + index))])
    return log


def test_chunks_beyond_the_header_count_are_read():
    log = _security_log(400)  # several chunks
    data = log.to_bytes(header_chunks=1)
    out = list(WinEvtxParser().parse(_Target(data=data)))
    ids = sorted(d.values["record_number"] for d in records(out))
    assert ids == list(range(1, 401))
    assert any("lists 1 chunks" in d.values.get("error", "") for d in out if d.data_type == WARNING_DATA_TYPE)


def test_a_broken_chunk_costs_only_that_chunk():
    log = _security_log(400)
    data = bytearray(log.to_bytes())
    second = 4096 + 0x10000
    data[second:second + 0x10000] = b"\xa5" * 0x10000  # chunk 1 is destroyed
    out = list(WinEvtxParser().parse(_Target(data=bytes(data))))
    read = records(out)
    assert read and all(d.values["offset"] < second or d.values["offset"] >= second + 0x10000 for d in read)
    assert any("chunk 1" in d.values["error"] for d in out if d.data_type == WARNING_DATA_TYPE)


def _chunk_records(data: bytes, chunk: int) -> list[tuple[int, int]]:
    """(file offset, record number) of each record in a chunk, by walking the chain."""
    found, offset = [], chunk + 0x200
    while data[offset:offset + 4] == b"\x2a\x2a\x00\x00":
        size, number = struct.unpack_from("<IQ", data, offset + 4)
        found.append((offset, number))
        offset += size
    return found


BACKEND_OPTIONS = [{}, {"evtx_backend": "python-evtx"}]


@pytest.mark.parametrize("options", BACKEND_OPTIONS, ids=["pyevtx-rs", "python-evtx"])
def test_a_zero_size_record_costs_that_record_and_is_named(options):
    data = bytearray(_security_log(400).to_bytes())
    second = 4096 + 0x10000
    offset, number = _chunk_records(data, second)[4]
    struct.pack_into("<I", data, offset + 4, 0)
    out = list(WinEvtxParser(options).parse(_Target(data=bytes(data))))
    read = {d.values["record_number"]: d for d in records(out)}
    assert sorted(read) == [n for n in range(1, 401) if n != number]
    behind = [n for n in read if n > number]
    assert behind and all(read[n].values["recovered"] for n in behind)  # carved past the break
    assert not any(read[n].values["recovered"] for n in read if n < number)
    problems = [d.values["error"] for d in out if d.data_type == WARNING_DATA_TYPE]
    assert (f"chunk 1 (offset {second}): the record chain breaks at chunk offset {offset - second} "
            f"(record {number} has an impossible size of 0 bytes); records behind it are carved and marked recovered") in problems
    assert len(problems) == len(set(problems))  # each problem said once


@pytest.mark.parametrize("options", BACKEND_OPTIONS, ids=["pyevtx-rs", "python-evtx"])
@pytest.mark.parametrize("field,what", [(0x7C, "chunk header checksum mismatch"), (0x34, "record data checksum mismatch")])
def test_a_bad_checksum_is_reported_and_every_record_still_read(options, field, what):
    data = bytearray(_security_log(400).to_bytes())
    second = 4096 + 0x10000
    stored = struct.unpack_from("<I", data, second + field)[0]
    struct.pack_into("<I", data, second + field, stored ^ 0xFFFFFFFF)
    out = list(WinEvtxParser(options).parse(_Target(data=bytes(data))))
    assert sorted(d.values["record_number"] for d in records(out, recovered=False)) == list(range(1, 401))
    problems = [d.values["error"] for d in out if d.data_type == WARNING_DATA_TYPE]
    assert any(p.startswith(f"chunk 1 (offset {second}): {what} (stored 0x{stored ^ 0xFFFFFFFF:08x}") for p in problems)
    assert not [p for p in problems if "chunk 0" in p or "chunk 2" in p]


def test_not_an_evtx_file_is_one_error():
    with pytest.raises(ValueError):
        list(WinEvtxParser().parse(_Target(data=b"ElfFile\x00" + b"text " * 10)))


# -- the catalogue ------------------------------------------------------------------------


def _host_log() -> bytes:
    log = EvtxLog("Security", "WIN11-HOST")
    sid = Sid("S-1-5-21-1111111111-2222222222-3333333333-1001")
    t = FT_2025_01_16

    def process(image, command_line):
        log.add("Microsoft-Windows-Security-Auditing", 4688, t, data=[
            ("SubjectUserSid", sid), ("SubjectUserName", "alice"), ("NewProcessName", image),
            ("CommandLine", command_line), ("ParentProcessName", "C:\\Windows\\explorer.exe")])

    process("C:\\Windows\\System32\\WindowsSandbox.exe",
            '"C:\\Windows\\System32\\WindowsSandbox.exe" C:\\ProgramData\\SysCache\\update.wsb')
    process("C:\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe",
            'wsb.exe start --config "<Configuration><Networking>Enable</Networking><LogonCommand>'
            '<Command>cmd /c whoami</Command></LogonCommand></Configuration>"')
    process("C:\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe",
            "wsb.exe share --id 3f0c1a2b -f C:\\Users\\alice\\Documents\\loot -s C:\\loot --allow-write")
    process("C:\\Users\\alice\\AppData\\Local\\Microsoft\\WindowsApps\\wsb.exe",
            "wsb.exe exec --id 3f0c1a2b -c cmd.exe -r System")
    process("C:\\Windows\\System32\\Dism.exe",
            "Dism /online /Enable-Feature /FeatureName:Containers-DisposableClientVM /All")
    process("C:\\Windows\\System32\\notepad.exe", "notepad.exe C:\\notes\\WindowsSandbox.exe.txt")  # negative
    log.add("Microsoft-Windows-Security-Auditing", 4624, t, data=[
        ("TargetUserName", "WDAGUtilityAccount"), ("LogonType", 2)])
    log.add("Microsoft-Windows-Security-Auditing", 4624, t, data=[
        ("TargetUserName", "alice"), ("LogonType", 2)])  # negative
    return log.to_bytes()


def _by_event(out: list) -> dict:
    return {(d.values["event_identifier"], d.values["record_number"]): d for d in records(out)}


def test_catalogue_reads_sandbox_command_lines():
    out = records(list(WinEvtxParser().parse(_Target(data=_host_log()))))
    classic, start, share, exec_, dism, notepad, wdag, alice = out
    assert {"sandbox_process", "sandbox_started_with_wsb"} <= set(classic.tags)
    assert classic.values["wsb_path"] == "C:\\ProgramData\\SysCache\\update.wsb"
    assert classic.values["catalogue_message"].startswith(
        "Windows Sandbox started with configuration C:\\ProgramData\\SysCache\\update.wsb")

    assert {"wsb_cli", "wsb_inline_config", "wsb_inline_logon_command"} <= set(start.tags)
    assert start.values["wsb_subcommand"] == "start"
    assert start.values["wsb_networking_enabled"] is True
    assert start.values["wsb_logon_command"] == "cmd /c whoami"
    assert "logon_command" in start.values["wsb_risk_flags"]
    assert "networking on" in start.values["catalogue_message"]

    assert "wsb_share_writable" in share.tags and share.values["wsb_allow_write"] is True
    assert share.values["wsb_host_folder"] == "C:\\Users\\alice\\Documents\\loot"
    assert "wsb_exec_system" in exec_.tags and exec_.values["wsb_run_as"] == "System"
    assert "sandbox_feature_command" in dism.tags and dism.values["feature_action"] == "enabled"
    assert notepad.tags == [] and "catalogue_id" not in notepad.values
    assert {"wdag_account", "wdag_logon"} <= set(wdag.tags)
    assert alice.tags == []


def test_catalogue_servicing_and_appmodel_conditions():
    setup = EvtxLog("Setup", "WIN11-HOST")
    for event_id in (7, 9, 13):
        setup.add("Microsoft-Windows-Servicing", event_id, FT_2025_01_16, data=[
            ("PackageIdentifier", "Microsoft-Windows-Containers-DisposableClientVM-Package"),
            ("UpdateName", "Containers-DisposableClientVM"), ("Client", "DISM Package Manager Provider")])
    setup.add("Microsoft-Windows-Servicing", 9, FT_2025_01_16, data=[
        ("UpdateName", "Microsoft-Hyper-V-All"), ("Client", "DISM Package Manager Provider")])  # negative
    setup.add("Microsoft-Windows-Servicing", 10, FT_2025_01_16, data=[
        ("UpdateName", "Containers-DisposableClientVM"), ("Client", "DISM Package Manager Provider")])
    out = records(list(WinEvtxParser().parse(_Target(data=setup.to_bytes()))))
    assert [("sandbox_feature_enabled" in d.tags, "sandbox_feature_disabled" in d.tags) for d in out] == [
        (True, False), (True, False), (True, False), (False, False), (False, True)]
    assert out[1].values["catalogue_message"].startswith("Windows Sandbox feature Containers-DisposableClientVM: turned on")

    appmodel = EvtxLog("Microsoft-Windows-AppModel-Runtime/Admin", "WIN11-HOST")
    appmodel.add("Microsoft-Windows-AppModel-Runtime", 39, FT_2025_01_16, data=[("Name", "CmProxyD"), ("Pid", 4242)])
    appmodel.add("Microsoft-Windows-AppModel-Runtime", 39, FT_2025_01_16, data=[("Name", "SomeOtherVm"), ("Pid", 1)])
    out = records(list(WinEvtxParser().parse(_Target(data=appmodel.to_bytes()))))
    assert "sandbox_session_start" in out[0].tags and out[1].tags == []


def test_scheduled_task_registration_is_tagged_when_its_action_launches_the_sandbox():
    log = EvtxLog("Microsoft-Windows-TaskScheduler/Operational", "WIN11-HOST")
    log.add("Microsoft-Windows-TaskScheduler", 106, FT_2025_01_16, data=[
        ("TaskName", "\\Microsoft\\Windows\\SysCache\\Update"), ("UserContext", "SYSTEM")])
    log.add("Microsoft-Windows-TaskScheduler", 106, FT_2025_01_16, data=[
        ("TaskName", "\\Benign"), ("UserContext", "alice")])
    log.add("Microsoft-Windows-TaskScheduler", 200, FT_2025_01_16 + 1, data=[
        ("TaskName", "\\Microsoft\\Windows\\SysCache\\Update"),
        ("ActionName", "C:\\Windows\\System32\\WindowsSandbox.exe"), ("TaskInstanceId", "{x}")])
    out = {d.values["record_number"]: d for d in records(list(WinEvtxParser().parse(_Target(data=log.to_bytes()))))}
    assert "sandbox_scheduled_task" in out[1].tags and "sandbox_scheduled_task" in out[3].tags
    assert out[2].tags == []


@needs_corpus
def test_no_sandbox_tag_lands_on_ordinary_corpus_records():
    tagged = {}
    for path in EVTX_FILES:
        for data in records(parsed(path)):
            sandbox_tags = set(data.tags) - NEUTRAL_TAGS
            if sandbox_tags:
                tagged[(os.path.basename(path), data.values["record_number"])] = sandbox_tags
    assert tagged == {}
    # ...while the ordinary events the catalogue knows are there and stay neutral.
    ids = [d.values["event_identifier"] for p in EVTX_FILES for d in records(parsed(p))]
    assert ids.count(4624) > 500 and ids.count(7045) > 40
    cleared = [d for p in EVTX_FILES for d in records(parsed(p)) if "log_cleared" in d.tags]
    assert cleared and {d.values["event_identifier"] for d in cleared} <= {104, 1102}
    # The log is named: 1102 is Security's own, 104 names it in its data (never "Event log ? cleared").
    for data in cleared:
        expected = data.values["channel"] if data.values["event_identifier"] == 1102 else data.values["event_data"]["Channel"]
        assert data.values["cleared_log"] == expected and data.values["catalogue_message"].startswith(f"Event log {expected} cleared")


def test_command_line_splitting_follows_windows_rules():
    assert split_command_line('"C:\\Program Files\\x.exe" a "b c" d\\"e') == [
        "C:\\Program Files\\x.exe", "a", "b c", 'd"e']
    attributes, tags, sentence = parse_sandbox_command_line(
        "wsb.exe", 'wsb.exe start -c "<Configuration><MappedFolders><MappedFolder><HostFolder>C:\\\\x'
        '</HostFolder></MappedFolder></MappedFolders></Configuration>"')
    assert "writable_mapped_folder" in attributes["wsb_risk_flags"]


# -- the whole path -------------------------------------------------------------------------


@needs_corpus
def test_the_corpus_folder_extracts_without_failure(tmp_path):
    from sandtrace.cli import main

    output = tmp_path / "corpus.jsonl"
    code = main(["extract", os.path.join(CORPUS, "evtx"), "-o", str(output), "--format", "json_line",
                 "--evtx-anywhere", "--parsers", "winevtx", "-q", "--no-hash"])
    assert code == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    evtx_lines = [line for line in lines if line["data_type"] == DATA_TYPE]
    assert len(evtx_lines) >= 2 * 16_000
    assert all(line["message"] for line in evtx_lines)
    assert {line["timestamp_desc"] for line in evtx_lines} == {"Creation Time", "Content Modification Time"}
    assert all(isinstance(line.get("event_data", {}), (dict, str)) for line in evtx_lines)


@pytest.mark.parametrize("text", [
    '{"Event":{"System":{"EventID":4624,"Channel":"Security"}}}', '{"a":"\x01"}', ' {"a": 1} ', "[1, 2]",
    '{"a":1} x', "", '{"a":', "{'a': 1}", '{"a":1}{"b":2}',
])
def test_load_json_is_the_lenient_decoder_s_decode(text):
    decoder = json.JSONDecoder(strict=False)
    try:
        expected = decoder.decode(text)
    except ValueError as exception:
        with pytest.raises(ValueError) as caught:
            load_json(text)
        assert str(caught.value) == str(exception)
    else:
        assert load_json(text) == expected


def test_a_stale_copy_of_a_chained_record_in_slack_is_not_decoded_again(monkeypatch):
    """Chunk slack often holds copies of records that are in a chain (a chunk is
    rewritten as it fills): same id and written time. They are not carved again
    (python-evtx costs ms per record); a record of its own in the slack still is."""
    data = bytearray(_security_log(300).to_bytes())
    longer = _security_log(301).to_bytes()  # the same chunks, and record 301 where the slack starts
    first, second = 4096, 4096 + 0x10000
    free = struct.unpack_from("<I", data, second + 48)[0]
    size = struct.unpack_from("<I", longer, second + free + 4)[0]
    data[second + free:second + free + size] = longer[second + free:second + free + size]  # a deleted record
    offset, _ = _chunk_records(data, first)[4]  # record 5, in chunk 0's chain
    stale = second + free + size
    data[stale:stale + 304] = data[offset:offset + 304]
    assert struct.unpack_from("<I", data, offset + 4)[0] == 304
    carved: list[int] = []
    real = WinEvtxParser._carve

    def spy(self, chunk, file_offset, candidates, read):
        carved.extend(c.record_id for c in candidates)
        return real(self, chunk, file_offset, candidates, read)

    monkeypatch.setattr(WinEvtxParser, "_carve", spy)
    for options in BACKEND_OPTIONS:
        carved.clear()
        out = list(WinEvtxParser(options).parse(_Target(data=bytes(data))))
        assert carved == [301]
        recovered = records(out, recovered=True)
        assert [(d.values["record_number"], d.values["file_offset"]) for d in recovered] == [(301, second + free)]
        assert recovered[0].values["event_data"]["TargetUserName"] == "user300"
        assert sorted(d.values["record_number"] for d in records(out, recovered=False)) == list(range(1, 301))


def test_a_slack_record_whose_template_is_another_s_is_kept_and_tagged():
    """Its values are its own (the record id check passes); its static parts are the
    template's now at that offset: kept, tagged recovered_foreign_template."""
    data = bytearray(_security_log(300).to_bytes())
    longer = _security_log(302).to_bytes()
    second = 4096 + 0x10000
    free = struct.unpack_from("<I", data, second + 48)[0]
    size = struct.unpack_from("<I", longer, second + free + 4)[0]
    own = second + free
    data[own:own + size] = longer[own:own + size]  # record 301, its template intact
    foreign = own + size
    size2 = struct.unpack_from("<I", longer, foreign + 4)[0]
    data[foreign:foreign + size2] = longer[foreign:foreign + size2]  # record 302
    data[foreign + 24 + 6:foreign + 24 + 10] = b"\xde\xad\xbe\xef"  # names a template whose GUID starts otherwise
    for options in BACKEND_OPTIONS:
        out = list(WinEvtxParser(options).parse(_Target(data=bytes(data))))
        recovered = {d.values["record_number"]: d for d in records(out, recovered=True)}
        assert sorted(recovered) == [301, 302]
        assert recovered[301].tags == ["recovered"]
        assert recovered[302].tags == ["recovered", "recovered_foreign_template"]
        assert recovered[302].values["event_data"]["TargetUserName"] == "user301"
        assert not [d for d in records(out, recovered=False) if "recovered_foreign_template" in d.tags]


@needs_corpus
def test_recovered_records_decoded_with_another_template_are_tagged_in_the_cleared_log():
    out = parsed(os.path.join(CORPUS, "evtx", "evtx-attack-samples", "LM_WMIC_4648_rpcss.evtx"))
    foreign = [d for d in out if "recovered_foreign_template" in d.tags]
    assert len(foreign) == 92 and all(d.values["recovered"] for d in foreign)
    # Service Control Manager's values under the Eventlog template that took its place
    assert {d.values["source_name"] for d in foreign} == {"Microsoft-Windows-Eventlog"}
    assert any("malwrrr" in d.values["strings"] for d in foreign)
    assert not [d for d in records(out, recovered=False) if "recovered_foreign_template" in d.tags]


def test_a_chained_record_the_decoder_failed_on_is_still_carved(monkeypatch):
    """The stale-copy rule counts only records actually read: one the chunk's
    decoder lost is carved from its own place and comes back as recovered."""
    from sandtrace.parsers import winevtx

    data = _security_log(300).to_bytes()
    real = winevtx._decode_rs

    def losing_record_250(chunk, **options):
        decoded, errors = real(chunk, **options)
        return [entry for entry in decoded if entry[0] != 250], errors

    monkeypatch.setattr(winevtx, "_decode_rs", losing_record_250)
    out = list(WinEvtxParser().parse(_Target(data=data)))
    assert sorted(d.values["record_number"] for d in records(out, recovered=False)) == [
        n for n in range(1, 301) if n != 250]
    assert [d.values["record_number"] for d in records(out, recovered=True)] == [250]
