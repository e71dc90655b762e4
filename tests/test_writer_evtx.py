"""The EVTX test-evidence writer must produce logs every reader agrees on.

Three independent readers (pyevtx-rs, python-evtx, libevtx) must recover the
same record ids, event ids, times, provider, channel, computer, user SID and
every EventData/UserData value we wrote. Where the readers *render* a value
differently (hex widths, GUID case, FILETIME precision…) the expected text is
spelled out per reader in ``render`` below, so a reader change shows up here.
"""

from __future__ import annotations

import base64
import datetime
import json
import struct
import uuid
import xml.etree.ElementTree as etree
import zlib
from typing import Any

import pytest

evtx_rs = pytest.importorskip("evtx")
Evtx = pytest.importorskip("Evtx.Evtx")
pyevtx = pytest.importorskip("pyevtx")

from test_images.writers.evtx import (  # noqa: E402
    CHUNK_HEADER, CHUNK_SIZE, EVENT_RECORD, FILE_HEADER, Binary, EvtxLog,
    FileTime, Guid, HexInt32, HexInt64, Sid, SizeT, UInt8, UInt16, UInt64,
    chunk_header_crc, name_hash,
)

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
T0 = 133_500_000_000_000_000  # 2024-01-17T21:20:00Z, a whole second
SECURITY_GUID = "{54849625-5478-4994-a5ba-3e3b0328c30d}"
SCM_GUID = "{555908d1-a6d7-4695-8e1e-26931d2012f4}"
USER_SID = "S-1-5-21-3623811015-3361044348-30300820-1013"
SETUP_NS = "http://manifests.microsoft.com/win/2004/08/windows/setup_provider"


def to_filetime(dt: datetime.datetime) -> int:
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**7 + delta.microseconds * 10


def iso_to_filetime(text: str) -> int:
    """Parse ISO times with up to 9 fraction digits (and a trailing zone)."""
    text = text.replace(" UTC", "").rstrip("Z").replace("+00:00", "")
    whole, _, frac = text.replace(" ", "T").partition(".")
    dt = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    return to_filetime(dt) + int((frac + "0" * 9)[:9]) // 100


def py_time(filetime: int) -> datetime.datetime:
    """python-evtx's FILETIME conversion: through a float, so it lands
    within about a microsecond of the true value (not truncated)."""
    return datetime.datetime.fromtimestamp(
        float(filetime) * 1e-7 - 11644473600, datetime.timezone.utc)


# ------------------------------------------------------------------ logs


def security_log() -> EvtxLog:
    """4624/4688 with SIDs and hex values, odd payloads; fills >= 3 chunks."""
    log = EvtxLog(channel="Security", computer="WIN11-HOST.corp.example")
    common = dict(provider="Microsoft-Windows-Security-Auditing",
                  provider_guid=SECURITY_GUID, level=0, keywords=0x8020000000000000,
                  process_id=4, thread_id=7312)
    for i in range(330):
        t = T0 + i * 37_000_010  # microsecond-aligned, all readers exact
        if i % 3 == 0:
            log.add(event_id=4624, version=2, task=12544, time_created=t,
                    written_time=t + 1230, **common, data=[
                        ("SubjectUserSid", Sid("S-1-5-18")),
                        ("SubjectUserName", "WIN11-HOST$"),
                        ("SubjectLogonId", HexInt64(0x3E7)),
                        ("TargetUserSid", Sid(USER_SID)),
                        ("TargetUserName", "WDAGUtilityAccount"),
                        ("TargetLogonId", HexInt64(0x1F2E3D4C5B + i)),
                        ("LogonType", 2),
                        ("LogonProcessName", "User32 "),
                        ("LogonGuid", Guid("{8c1e2a1b-0d3f-4c5e-9a7b-6f5e4d3c2b1a}")),
                        ("IpAddress", "127.0.0.1"),
                        ("IpPort", "0"),
                        ("ElevatedToken", "%%1842"),
                    ])
        else:
            log.add(event_id=4688, version=2, task=13312, time_created=t, **common, data=[
                ("SubjectUserSid", Sid(USER_SID)),
                ("SubjectUserName", "Jürgen"),
                ("SubjectLogonId", HexInt64(0x1A2B3C)),
                ("NewProcessId", HexInt64(0x1A2C + i)),
                ("NewProcessName", "C:\\Windows\\System32\\WindowsSandbox.exe"),
                ("TokenElevationType", "%%1938"),
                ("ProcessId", HexInt64(0x0F10)),
                ("CommandLine", f"\"C:\\Windows\\System32\\WindowsSandbox.exe\" "
                                f"C:\\Users\\Jürgen\\Документы\\サンドボックス-{i}.wsb"),
                ("MandatoryLabel", Sid("S-1-16-8192")),
            ])
    t = T0 + 400 * 10**7
    log.add(event_id=1102, time_created=t, level=4, task=104, data=[],
            provider="Microsoft-Windows-Eventlog",
            provider_guid="{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}", user_sid=USER_SID)
    log.add(event_id=4616, time_created=t + 10, data=[], **common)
    log.add(event_id=4799, time_created=t + 20, user_sid="S-1-5-18", **common, data=[
        ("Empty", ""), ("Missing", None), ("Flag", True), ("Blob", Binary(b"\x00\xab\x10")),
        ("Status", HexInt32(0xC000006D)), ("Small", HexInt32(0x10)),
        ("Count", UInt64(2**40)), ("ProcessId", SizeT(0x1358)),
        ("Byte", UInt8(200)), ("Word", UInt16(513)),
        ("When", FileTime(T0 + 123_456_780)), ("Ünïcødé ☃", "名前 ✓")])
    return log


def system_log() -> EvtxLog:
    log = EvtxLog(channel="System", computer="WIN11-HOST", first_record_id=5000)
    for i, (name, path) in enumerate([
            ("CmService", "%SystemRoot%\\system32\\svchost.exe -k netsvcs -p"),
            ("vmsp", "system32\\drivers\\vmsp.sys"),
            ("WdagSvc", "C:\\Program Files\\Wdag\\wdag.exe")]):
        log.add(provider="Service Control Manager", provider_guid=SCM_GUID,
                event_id=7045, qualifiers=16384, level=4, keywords=0x8080000000000000,
                time_created=T0 + i * 10**7, process_id=780, thread_id=912 + i,
                user_sid=USER_SID, data=[
                    ("ServiceName", name), ("ImagePath", path),
                    ("ServiceType", "user mode service"), ("StartType", "demand start"),
                    ("AccountName", "LocalSystem")])
    return log


def setup_log() -> EvtxLog:
    log = EvtxLog(channel="Setup", computer="WIN11-HOST")
    for i, state in enumerate(["Staged", "Installed"]):
        log.add(provider="Microsoft-Windows-Servicing",
                provider_guid="{bd12f3b8-fc40-4a61-a307-b7a013a069c1}",
                event_id=1 + i, version=0, level=0, task=1, keywords=0x8000000000000000,
                time_created=T0 + i * 10**8, process_id=4312, thread_id=5120,
                user_sid="S-1-5-18", user_data=("CbsPackageChangeState", SETUP_NS), data=[
                    ("PackageIdentifier", "Containers-DisposableClientVM"),
                    ("IntendedPackageState", state), ("ErrorCode", HexInt32(0)),
                    ("Client", "DISM Package Manager Provider")])
    return log


LOGS = {"security": security_log, "system": system_log, "setup": setup_log}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[EvtxLog, str, bytes]]:
    out = {}
    for name, make in LOGS.items():
        log = make()
        raw = log.to_bytes()
        path = tmp_path_factory.mktemp("evtx") / f"{name}.evtx"
        path.write_bytes(raw)
        out[name] = (log, str(path), raw)
    return out

# ------------------------------------------------ per-reader renderings


def render(reader: str, v: Any) -> Any:
    """How each reader shows a substitution value (the disagreements)."""
    if isinstance(v, Guid):
        u = uuid.UUID(v)
        return {"rs": str(u).upper(), "py": "{%s}" % u, "lib": "{%s}" % str(u).upper()}[reader]
    if isinstance(v, HexInt32):
        return hex(v) if reader == "rs" else "0x%08x" % v
    if isinstance(v, (HexInt64, SizeT)):  # SizeT is written as a hex64 value
        return hex(v) if reader == "rs" else "0x%016x" % v
    if isinstance(v, FileTime):
        if reader == "py":
            return str(py_time(v))
        dt = EPOCH + datetime.timedelta(microseconds=v // 10)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + (
            "%06dZ" % dt.microsecond if reader == "rs" else "%09dZ" % ((v % 10**7) * 100))
    if isinstance(v, bool):
        return {"rs": v, "py": str(v), "lib": str(v).lower()}[reader]
    if isinstance(v, bytes):
        return base64.b64encode(v).decode() if reader == "py" else v.hex().upper()
    if isinstance(v, int) and reader != "rs":
        return str(v)
    if v is None:
        return ""
    return v  # str, Sid, and ints in pyevtx-rs JSON


def expected(reader: str, log: EvtxLog) -> list[dict[str, Any]]:
    out = []
    for ev in log.events:
        data = None
        if ev.data is not None:
            # libevtx drops an element whose optional substitution is null
            data = [(n, render(reader, v)) for n, v in ev.data
                    if not (reader == "lib" and v is None)]
        out.append(dict(
            record_id=ev.record_id, event_id=ev.event_id, qualifiers=ev.qualifiers,
            provider=ev.provider,
            provider_guid=ev.provider_guid and str(uuid.UUID(ev.provider_guid)),
            channel=ev.channel, computer=log.computer, user_sid=ev.user_sid,
            created=ev.time_created, written=ev.written_time, data=data))
        if reader == "py":
            out[-1].update(created=to_filetime(py_time(ev.time_created)),
                           written=to_filetime(py_time(ev.written_time)))
    return out


def read_rs(path: str) -> list[dict[str, Any]]:
    out = []
    for rec in evtx_rs.PyEvtxParser(path).records_json():
        event = json.loads(rec["data"])["Event"]
        system = event["System"]
        event_id = system["EventID"]
        qualifiers = None
        if isinstance(event_id, dict):
            qualifiers, event_id = event_id["#attributes"]["Qualifiers"], event_id["#text"]
        provider = system["Provider"]["#attributes"]
        data = None
        if "EventData" in event:
            data = list((event["EventData"] or {}).items())
        elif "UserData" in event:
            (payload,) = event["UserData"].values()
            data = [(k, v) for k, v in payload.items() if k != "#attributes"]
        out.append(dict(
            record_id=rec["event_record_id"], event_id=event_id, qualifiers=qualifiers,
            provider=provider["Name"],
            provider_guid=provider.get("Guid") and str(uuid.UUID(provider["Guid"])),
            channel=system["Channel"], computer=system["Computer"],
            user_sid=((system["Security"] or {}).get("#attributes") or {}).get("UserID"),
            created=iso_to_filetime(system["TimeCreated"]["#attributes"]["SystemTime"]),
            written=iso_to_filetime(rec["timestamp"]), data=data))
        assert system["EventRecordID"] == rec["event_record_id"]
    return out


def _xml_fields(root: Any) -> dict[str, Any]:
    """Fields from an ``<Event>`` element (python-evtx and libevtx XML)."""
    system = root.find(NS + "System")
    guid = system.find(NS + "Provider").get("Guid")
    qualifiers = system.find(NS + "EventID").get("Qualifiers")
    data = None
    if root.find(NS + "EventData") is not None:
        data = [(d.get("Name"), d.text or "") for d in root.find(NS + "EventData")]
    elif root.find(NS + "UserData") is not None:
        (payload,) = list(root.find(NS + "UserData"))
        data = [(d.tag.rpartition("}")[2], d.text or "") for d in payload]
    return dict(
        event_id=int(system.find(NS + "EventID").text),
        qualifiers=int(qualifiers) if qualifiers else None,
        provider=system.find(NS + "Provider").get("Name"),
        provider_guid=str(uuid.UUID(guid)) if guid else None,
        channel=system.find(NS + "Channel").text, computer=system.find(NS + "Computer").text,
        user_sid=system.find(NS + "Security").get("UserID") or None,
        created=iso_to_filetime(system.find(NS + "TimeCreated").get("SystemTime")),
        record_id=int(system.find(NS + "EventRecordID").text), data=data)


def read_py(path: str) -> list[dict[str, Any]]:
    out = []
    with Evtx.Evtx(path) as log:
        for rec in log.records():
            fields = _xml_fields(etree.fromstring(rec.xml().encode()))
            assert fields["record_id"] == rec.record_num()
            out.append(dict(fields, written=to_filetime(rec.timestamp())))
    return out


def read_lib(path: str) -> list[dict[str, Any]]:
    """libevtx's record attributes, with names/values from ``xml_string``."""
    f = pyevtx.file()
    f.open(path)
    out = []
    try:
        assert not f.is_corrupted()
        for i in range(f.number_of_records):
            rec = f.get_record(i)
            guid = rec.provider_identifier
            strings = [rec.get_string(j) for j in range(rec.number_of_strings)]
            fields = dict(
                record_id=rec.identifier, event_id=rec.event_identifier,
                qualifiers=rec.event_identifier_qualifiers, provider=rec.source_name,
                provider_guid=guid and str(uuid.UUID(guid)), channel=rec.channel_name,
                computer=rec.computer_name, user_sid=rec.user_security_identifier,
                created=rec.get_creation_time_as_integer(),
                written=rec.get_written_time_as_integer(), data=None)
            xml = _xml_fields(etree.fromstring(rec.xml_string.encode()))
            assert {k: xml[k] for k in xml if k != "data"} == {
                k: fields[k] for k in xml if k != "data"}
            fields["data"] = xml["data"]
            # get_string gives None where the XML shows an empty value
            assert [s or "" for s in strings] == [v for _, v in xml["data"] or []]
            out.append(fields)
    finally:
        f.close()
    return out


READERS = {"rs": read_rs, "py": read_py, "lib": read_lib}

# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("name", sorted(LOGS))
def test_readers_read_what_was_written(written: dict, name: str, reader: str) -> None:
    log, path, _ = written[name]
    got = READERS[reader](path)
    want = expected(reader, log)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w, f"{reader} record {w['record_id']}"


def _chunks(raw: bytes) -> list[bytes]:
    return [raw[o:o + CHUNK_SIZE] for o in range(4096, len(raw), CHUNK_SIZE)]


def _records(chunk: bytes) -> list[tuple[int, Any]]:
    """(offset, parsed record) for each record up to the free-space offset."""
    header = CHUNK_HEADER.parse(chunk)
    offset, out = 512, []
    while offset < header.free_space_offset:
        rec = EVENT_RECORD.parse(chunk[offset:])
        out.append((offset, rec))
        offset += rec.size
    assert offset == header.free_space_offset
    return out


def test_structures_crcs_and_roundtrip(written: dict) -> None:
    log, path, raw = written["security"]
    header = FILE_HEADER.parse(raw)  # Checksum() verifies the header CRC
    chunks = _chunks(raw)
    assert len(chunks) >= 3 and header.header.value.number_of_chunks == len(chunks)
    assert struct.unpack_from("<I", raw, 124)[0] == zlib.crc32(raw[:120])
    assert header.header.value.last_chunk_number == len(chunks) - 1
    assert header.header.value.next_record_id == log.events[-1].record_id + 1
    assert FILE_HEADER.build(header) == raw[:4096]
    next_id = 1
    for chunk in chunks:
        ch = CHUNK_HEADER.parse(chunk)
        stored_crc = struct.unpack_from("<I", chunk, 124)[0]
        assert ch.checksum == chunk_header_crc(chunk[:512]) == stored_crc
        assert ch.records_checksum == zlib.crc32(chunk[512:ch.free_space_offset])
        assert CHUNK_HEADER.build(ch) == chunk[:512]
        assert chunk[ch.free_space_offset:] == bytes(CHUNK_SIZE - ch.free_space_offset)
        records = _records(chunk)
        assert [r.record_id for _, r in records] == list(
            range(ch.first_record_id, ch.last_record_id + 1))
        assert ch.first_record_id == ch.first_record_number == next_id
        assert records[-1][0] == ch.last_record_offset
        for offset, rec in records:
            assert rec.size % 8 == 0
            assert EVENT_RECORD.build(rec) == chunk[offset:offset + rec.size]
        next_id = ch.last_record_id + 1
    assert next_id == log.events[-1].record_id + 1
    with Evtx.Evtx(path) as parsed:
        assert all(c.verify() for c in parsed.chunks())


def test_templates_and_names_stored_once_per_chunk(written: dict) -> None:
    """Like Windows: a chunk defines each template/name once, then refers
    to it by offset; the string/template tables chain every definition."""
    _, _, raw = written["security"]
    for chunk in _chunks(raw):
        ch = CHUNK_HEADER.parse(chunk)
        defined = set()
        for n, (offset, rec) in enumerate(_records(chunk)):
            fragment, token, tpl_offset = struct.unpack_from("<4sBx4xI", rec.binxml)
            assert (fragment, token) == (b"\x0f\x01\x01\x00", 0x0C)
            inline = tpl_offset == offset + 24 + 14
            assert inline == (n == 0)  # the System template: first record only
            defined.add(tpl_offset)
        names = []
        for bucket, head in enumerate(ch.string_offsets):
            while head:
                nxt, digest, length = struct.unpack_from("<IHH", chunk, head)
                name = chunk[head + 8:head + 8 + 2 * length].decode("utf-16-le")
                assert name_hash(name) == digest and digest % 64 == bucket
                names.append(name)
                head = nxt
        assert len(names) == len(set(names))
        assert {"Event", "System", "Provider", "EventData", "Data", "Name"} <= set(names)
        templates = []
        for head in ch.template_offsets:
            while head:
                templates.append(head)
                head = struct.unpack_from("<I", chunk, head)[0]
        assert defined <= set(templates) and len(templates) == len(set(templates))
        assert 2 <= len(templates) <= 6  # System + the payload shapes in the chunk


def test_deterministic_and_first_record_id() -> None:
    assert security_log().to_bytes() == security_log().to_bytes()
    raw = system_log().to_bytes()
    assert [r.record_id for _, r in _records(_chunks(raw)[0])] == [5000, 5001, 5002]


def test_sub_microsecond_times_reader_precision(tmp_path: Any) -> None:
    """libevtx keeps 100 ns ticks; pyevtx-rs keeps them for the record's
    written time but truncates TimeCreated to microseconds; python-evtx
    goes through a float (here 1 µs *below* the truncated value, see
    ``py_time``)."""
    log = EvtxLog(channel="Setup", computer="H")
    log.add(provider="P", event_id=1, time_created=T0 + 1_234_567,
            written_time=T0 + 1_234_568, data=[("When", FileTime(T0 + 5))])
    path = tmp_path / "t.evtx"
    log.write(str(path))
    rs, py, lib = (READERS[r](str(path))[0] for r in ("rs", "py", "lib"))
    assert (lib["created"], lib["written"]) == (T0 + 1_234_567, T0 + 1_234_568)
    assert (rs["created"], rs["written"]) == (T0 + 1_234_560, T0 + 1_234_568)
    assert (py["created"], py["written"]) == (T0 + 1_234_550, T0 + 1_234_550)
    assert lib["data"] == [("When", "2024-01-17T21:20:00.000000500Z")]
    assert rs["data"] == [("When", "2024-01-17T21:20:00.000000Z")]
    assert py["data"] == [("When", "2024-01-17 21:20:00+00:00")]


def test_header_claiming_fewer_chunks(tmp_path: Any) -> None:
    """An unflushed header (as after a crash): python-evtx stops at the
    header's chunk count, libevtx reports the rest as recovered records
    (and the file as corrupted), pyevtx-rs reads every chunk."""
    log = security_log()
    total = len(log.events)
    raw = log.to_bytes(header_chunks=2)
    assert len(_chunks(raw)) >= 3
    path = tmp_path / "short.evtx"
    path.write_bytes(raw)
    claimed = sum(len(_records(c)) for c in _chunks(raw)[:2])
    assert FILE_HEADER.parse(raw).header.value.next_record_id == claimed + 1
    assert len(list(evtx_rs.PyEvtxParser(str(path)).records_json())) == total
    with Evtx.Evtx(str(path)) as parsed:
        assert len(list(parsed.records())) == claimed
    f = pyevtx.file()
    f.open(str(path))
    assert (f.number_of_records, f.number_of_recovered_records) == (claimed, total - claimed)
    assert f.is_corrupted()
    f.close()


def test_dirty_and_full_flags(tmp_path: Any) -> None:
    raw = system_log().to_bytes(dirty=True, full=True)
    assert FILE_HEADER.parse(raw).flags == 0x3
    path = tmp_path / "dirty.evtx"
    path.write_bytes(raw)
    assert len(read_lib(str(path))) == len(read_rs(str(path))) == len(read_py(str(path))) == 3


def test_record_without_event_data(tmp_path: Any) -> None:
    """``data=None`` writes a null payload substitution (seen in real logs;
    ``data=[]``, an empty ``<EventData/>``, is the common Windows form).
    pyevtx-rs and python-evtx show no EventData; libevtx loads the record
    but cannot build its XML, so only the record header (id, written time)
    is readable: event id, provider, XML all raise."""
    log = EvtxLog(channel="System", computer="WIN11-HOST")
    log.add(provider="Microsoft-Windows-Kernel-General", event_id=12, time_created=T0,
            user_sid="S-1-5-18", data=None)
    log.add(provider="Microsoft-Windows-Kernel-General", event_id=13, time_created=T0 + 10,
            data=[("StopTime", FileTime(T0))])
    path = str(tmp_path / "nodata.evtx")
    log.write(path)
    for reader in ("rs", "py"):
        got = READERS[reader](path)
        assert got == expected(reader, log)
        assert got[0]["data"] is None
    f = pyevtx.file()
    f.open(path)
    rec = f.get_record(0)
    assert (rec.identifier, rec.get_written_time_as_integer()) == (1, T0)
    for attribute in ("xml_string", "event_identifier", "source_name", "number_of_strings"):
        with pytest.raises(OSError):
            getattr(rec, attribute)
    assert f.get_record(1).get_string(0) == "2024-01-17T21:20:00.000000000Z"
    f.close()
