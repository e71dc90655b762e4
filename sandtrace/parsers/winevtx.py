"""Windows XML Event Log (EVTX) files: every chunk, every record, and the slack.

Records become plaso's ``windows:evtx:record`` event data (same attribute
names, plus ``channel``, a structured ``event_data`` mapping and
``recovered``). How the file is read, and why:

- **Every chunk**, not the header's count: after an unclean shutdown the
  header lags behind the chunks actually written. The file is read chunk by
  chunk (bounded memory) and each chunk with a valid header is decoded on its
  own, so a bad chunk costs that chunk only (a warning record says which).
- **Decoding** (option ``evtx_backend``): ``pyevtx-rs`` (default; Rust, one
  thread, structured JSON, no XML re-parsing) or ``python-evtx`` (pure
  Python). Both give the same event data.
- **Rendering** (``winevtx_render``): ``strings`` and ``xml_string`` are
  libevtx's, as plaso's are (the decoders' text has lost the value types);
  a record libevtx does not read keeps the decoder's and says so
  (``rendered_by``), one whose values libevtx refuses is kept, tagged
  ``undecodable_values``, with a warning (plaso skips it).
- **Recovery** (``winevtx_recovery``): records in a chunk's slack, behind a
  record a reader stops at, or in a chunk whose header is damaged are carved
  by signature and decoded in place; they carry ``recovered: True`` and the
  ``recovered`` tag, as plaso marks libevtx's recovered records (and
  ``recovered_foreign_template`` when decoded with a template not their own).
  Stale copies of records already read from a chain are not carved again.
- **Times**: ``written_time`` from the record header and ``creation_time``
  from the raw TimeCreated FILETIME, both at 100 ns like plaso's.
- **Message strings** (``message_string``, psort's ``Message string:``): from
  the message files of the system the log belongs to, else from a winevt-rc
  database (``sandtrace/eventlog_messages``); where each came from is counted
  for the sidecar (``EventData.notes``).

Catalogue plugins (``sandtrace/plugins/winevtx/``) then tag the records that
matter for Windows Sandbox.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

from dfdatetime import filetime as dfdatetime_filetime

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData, warning
from sandtrace.eventlog_messages.resolver import MessageResolver
from sandtrace.parsers import winevtx_recovery as recovery
from sandtrace.parsers import winevtx_render as render
from sandtrace.parsers.interface import BaseParser, Signature

DATA_TYPE = "windows:evtx:record"
# A recovered record decoded with the template that now sits where its own was:
# its values are its own, its provider and element names may be another's.
FOREIGN_TEMPLATE = "recovered_foreign_template"
# A record whose values libevtx refuses (a string that is not UTF-16, ...): plaso skips it.
UNDECODABLE = "undecodable_values"
_REFUSED = render.Rendering(refused="not read")  # a record libevtx does not read at all
BACKENDS = ("pyevtx-rs", "python-evtx")
_FILE_SIGNATURE = b"ElfFile\x00"
_MAX_CONSECUTIVE_FAILURES = 12  # python-evtx attempts per chunk before giving up on its slack
_HASH_BLOCK = 1 << 20
_CHUNK = struct.Struct("<QQQQIII")  # numbers and ids, header size, last record, free space


def _refused(record_id: int, slot: recovery.RecordSlot | None, rendering: render.Rendering) -> str:
    where = f" at chunk offset {slot.offset}" if slot is not None else ""
    return (f"record {record_id}{where}: its values do not decode as what their types say "
            f"(libevtx: {rendering.refused}); kept with the {UNDECODABLE} tag, values as the decoder read them")


def _synthetic_file_header() -> bytes:
    """A clean one-chunk file header: pyevtx-rs then reads exactly the chunk given."""
    header = bytearray(recovery.FILE_HEADER_SIZE)
    struct.pack_into("<8sQQQIHHHH", header, 0, _FILE_SIGNATURE, 0, 0, 1, 128, 1, 3, 4096, 1)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header)


_ONE_CHUNK_HEADER = _synthetic_file_header()


# -- decoding backends: chunk bytes -> [(record id, canonical dict, xml)] --------


def _decode_rs(data: bytes, xml: bool = False) -> tuple[list[tuple[int, Any, str | None]], list[str]]:
    """pyevtx-rs's records of a one-chunk file (``_ONE_CHUNK_HEADER`` + chunk):
    (record id, JSON structure, its XML when ``xml``)."""
    import evtx

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parser = evtx.PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
        records = [(r["event_record_id"], r["data"]) for r in parser.records_json()]
        rendered = _xml_rs(data) if xml else {}
    errors = [str(w.message) for w in caught if "EVTX" in str(w.message) or issubclass(w.category, RuntimeWarning)]
    decoded = []
    for record_id, text in records:
        try:
            decoded.append((record_id, load_json(text), rendered.get(record_id)))
        except ValueError as exception:
            errors.append(f"record {record_id}: undecodable JSON ({exception})")
    return decoded, errors


def _xml_rs(data: bytes) -> dict[int, str]:
    """pyevtx-rs's XML of each record of a one-chunk file (the fallback rendering)."""
    import evtx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parser = evtx.PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
        return {r["event_record_id"]: r["data"] for r in parser.records()}


_DECODER = json.JSONDecoder(strict=False)
_SCAN_JSON = _DECODER.scan_once


def load_json(text: str) -> Any:
    """``json.JSONDecoder(strict=False).decode(text)``, less its wrapper's cost
    (a tenth of decoding a record) when the text is one value without space
    around it, as pyevtx-rs writes it; anything else goes to ``decode``."""
    try:
        value, end = _SCAN_JSON(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text):
        return _DECODER.decode(text)  # its result, or its error message
    return value


def _decode_python_evtx(chunk: bytes, slots: list[recovery.RecordSlot]) -> tuple[list, list[str]]:
    reader = recovery.PythonEvtxChunk(chunk)
    decoded, errors = [], []
    for slot in slots:
        try:
            xml = reader.xml(slot)
            decoded.append((slot.record_id, recovery.canonical_from_xml(xml), xml))
        except Exception as exception:  # noqa: BLE001 - one record costs that record
            errors.append(f"record {slot.record_id} at chunk offset {slot.offset}: {type(exception).__name__}: {exception}")
    return decoded, errors


# -- canonical structure -> plaso attributes ------------------------------------------


def _text(value: Any) -> Any:
    """A leaf value as Windows renders it in XML text (lists stay lists)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return [_text(item) for item in value]
    if isinstance(value, dict):
        if "#text" in value:
            return _text(value["#text"])
        inner = {k: _text(v) for k, v in value.items() if k != "#attributes"}
        return inner or None
    return str(value)


def _one_text(value: Any) -> str | None:
    """A System field that is one string (channel, provider, computer, SID), whatever a
    damaged record decoded it as: a number, a list or an element become text."""
    text = _text(value)
    if text is None or isinstance(text, str):
        return text
    return str(text)


def _attributes(value: Any) -> dict:
    if isinstance(value, dict):
        attributes = value.get("#attributes")
        return attributes if isinstance(attributes, dict) else {}
    return {}


def _int(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("#text")
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None


def _payload(event: dict) -> tuple[dict | None, list[str]]:
    """EventData (or the UserData element) as Name -> value, and libevtx-style strings."""
    source = event.get("EventData")
    if not isinstance(source, dict):
        source = None
        user_data = event.get("UserData")
        if isinstance(user_data, dict):
            for key, value in user_data.items():
                if key != "#attributes" and isinstance(value, dict):
                    source = value
                    break
    if not source:
        return None, []
    mapping: dict[str, Any] = {}
    strings: list[str] = []
    for key, value in source.items():
        if key == "#attributes":
            continue
        text = _text(value)
        mapping[key] = text
        if text is None and isinstance(value, dict):
            continue  # an element with attributes only: no value to list
        if isinstance(text, list):
            strings.extend("" if item is None else str(item) for item in text)
        elif isinstance(text, dict):
            strings.extend("" if item is None else str(item) for item in text.values())
        else:
            strings.append("" if text is None else text)
    return mapping or None, strings


def _guid(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    value = value.strip("{}").lower()
    return "{" + value + "}"


def record_values(canonical: dict, xml: str | None) -> dict[str, Any]:
    """plaso's ``windows:evtx:record`` attributes (times and position added by the caller).

    ``strings`` and ``xml_string`` are the decoder's; the parser replaces them
    with libevtx's rendering when libevtx reads the record (winevtx_render)."""
    event = canonical.get("Event") or {}
    system = event.get("System") or {}
    provider = _attributes(system.get("Provider"))
    event_id_value = system.get("EventID")
    event_identifier = _int(event_id_value)
    qualifiers = _int(_attributes(event_id_value).get("Qualifiers"))
    message_identifier = None
    if event_identifier is not None:
        message_identifier = event_identifier | ((qualifiers or 0) << 16)
    event_data, strings = _payload(event)
    computer = _one_text(system.get("Computer"))
    values = {
        "channel": _one_text(system.get("Channel")),
        "computer_name": computer,
        "hostname": computer,
        "event_data": event_data,
        "event_identifier": event_identifier,
        "event_level": _int(system.get("Level")),
        "event_version": _int(system.get("Version")),
        "message_identifier": message_identifier,
        "provider_identifier": _guid(provider.get("Guid")),
        # libevtx's source name (plaso's): the event source the record was logged under
        # (EventSourceName, e.g. KDC) when it has one, else the provider's name.
        "source_name": _one_text(provider.get("EventSourceName") or provider.get("Name")),
        "strings": strings,
        "user_sid": _one_text(_attributes(system.get("Security")).get("UserID")),
        "xml_string": xml,
    }
    time_created = _one_text(_attributes(system.get("TimeCreated")).get("SystemTime"))
    values["_time_created_text"] = time_created
    return values


_PROLOG = re.compile(r"\A<\?xml[^>]*\?>\s*")
_EMPTY_ELEMENT = re.compile(r"<([A-Za-z_][\w:.-]*)((?:\s[^<>]*?)?)>(?:\n *)?</\1>")


def _plain_xml(xml: str | None) -> str | None:
    """A decoder's XML in libevtx's layout where the layout is all that differs:
    no prolog, empty elements self-closing (values stay as the decoder wrote them)."""
    if not xml:
        return xml
    return _EMPTY_ELEMENT.sub(r"<\1\2/>", _PROLOG.sub("", xml, count=1))


def _filetime_from_text(text: str | None) -> int | None:
    """ISO text (pyevtx-rs 'Z', python-evtx '+00:00') -> FILETIME (µs precision)."""
    if not text:
        return None
    from datetime import datetime, timezone

    cleaned = text.replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1601, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _record_id(canonical: dict) -> int | None:
    """The EventRecordID inside the record: a carved record decoded with an
    overwritten template does not repeat its header's id, and is rejected."""
    system = (canonical.get("Event") or {}).get("System") or {}
    return _int(system.get("EventRecordID"))


def _system_label(target: FileTarget) -> str:
    """The system of a log, for the sidecar: the evidence (and disks inside it) and the volume."""
    provenance = target.provenance
    return " ".join(filter(None, [" > ".join([provenance.source, *provenance.nesting]), provenance.volume]))


def _sha256(file_object) -> str | None:
    """plaso's ``sha256_hash`` (its default hasher) of the whole file, left where it was
    after the header. A stream that cannot seek (chunks carved from free space) is no file: None."""
    if not hasattr(file_object, "seek"):
        return None
    position = file_object.tell()
    file_object.seek(0)
    hasher = hashlib.sha256()
    while block := file_object.read(_HASH_BLOCK):
        hasher.update(block)
    file_object.seek(position)
    return hasher.hexdigest()


# -- the parser -------------------------------------------------------------------------


class WinEvtxParser(BaseParser):
    NAME = "winevtx"
    DATA_FORMAT = "Windows XML EventLog (EVTX) file"
    DATA_TYPES = (DATA_TYPE,)
    PLUGIN_PACKAGE = "sandtrace.plugins.winevtx"
    PATTERNS = ("\\Windows\\System32\\winevt\\Logs\\*.evtx",)
    SIGNATURES = (Signature(_FILE_SIGNATURE),)

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        self.backend = self.options.get("evtx_backend") or "pyevtx-rs"
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown EVTX backend: {self.backend} (choose from {', '.join(BACKENDS)})")
        if self.options.get("evtx_anywhere"):
            self.PATTERNS = (*type(self).PATTERNS, "**\\*.evtx")
        self.recover = self.options.get("evtx_recover", True)
        self._plugins = [plugin_class() for plugin_class in self.plugin_classes()]
        self._messages: MessageResolver | None = None  # made with the first log (opens the database)

    def _message_resolver(self) -> MessageResolver:
        if self._messages is None:
            self._messages = MessageResolver(self.options.get("message_db"))
        return self._messages

    def _add_message(self, data: EventData, system: Any, warned: set[str], target: FileTarget) -> Iterator[EventData]:
        """Sets the record's ``message_string`` and notes its source; a registered provider
        whose message files are missing is a warning, once per provider in this log."""
        resolution = self._message_resolver().resolve(data.values, system)
        if resolution is None:
            return
        if resolution.text is not None:
            data.values["message_string"] = resolution.text
        data.notes = {"message_source": resolution.source}
        problem = resolution.problem
        if problem is not None and system is not None:
            data.notes["message_files_missing"] = f"{system.label} | {problem.provider}: {problem.reason}"
            if problem.provider not in warned:
                warned.add(problem.provider)
                yield warning(f"message files of EventLog provider {problem.provider} on {system.label} not read "
                              f"({problem.reason}); its messages come from the database when it has them",
                              parser=self.NAME, provenance=target.provenance, severity="info")

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        file_object = target.open_file_object()
        header = file_object.read(recovery.FILE_HEADER_SIZE)
        if header[:8] != _FILE_SIGNATURE:
            raise ValueError("not an EVTX file (no ElfFile signature)")
        if len(header) < recovery.FILE_HEADER_SIZE:
            raise ValueError(f"truncated EVTX file header ({len(header)} bytes)")
        claimed = struct.unpack_from("<H", header, 42)[0]
        digest = _sha256(file_object)
        seen: set[tuple] = set()  # (record id, event id, creation time) of everything emitted
        chained: set[tuple[int, int]] = set()  # (record id, written time) of the chains read so far
        deferred: list[EventData] = []
        valid_chunks = 0
        system = self._message_resolver().system(getattr(target, "path_spec", None), _system_label(target))
        warned: set[str] = set()
        for index, chunk, truncated in recovery.chunks_of(file_object):
            file_offset = recovery.FILE_HEADER_SIZE + index * recovery.CHUNK_SIZE
            if chunk[:8] == recovery.CHUNK_SIGNATURE:
                valid_chunks += 1
                records, problems = self._read_chunk(chunk, file_offset, chained)
            elif not chunk.strip(b"\x00"):
                continue  # never used
            else:
                records, problems = [], [f"chunk {index} has no valid header; its records are carved"]
                if self.recover:
                    carved, refused = self._carve(chunk, file_offset, recovery.carve_records(chunk), set())
                    records, problems = carved, problems + refused
            if truncated:
                problems.append(f"chunk {index} is cut short by the end of the file")
            for problem in problems[:5]:
                yield warning(f"chunk {index} (offset {file_offset}): {problem}", parser=self.NAME,
                              provenance=target.provenance)
            if len(problems) > 5:
                yield warning(f"chunk {index} (offset {file_offset}): {len(problems) - 5} more record errors",
                              parser=self.NAME, provenance=target.provenance)
            for data in records:
                key = (data.values.get("record_number"), data.values.get("event_identifier"),
                       data.values.get("_creation"))
                recovered = data.values.get("recovered")
                if recovered and key in seen:
                    continue  # the same record, already emitted
                seen.add(key)
                del data.values["_creation"]
                yield from self._add_message(data, system, warned, target)
                if digest:
                    data.values["sha256_hash"] = digest
                if recovered:
                    data.tags.insert(0, "recovered")  # before the decoding notes _carve added
                try:
                    held = self._apply_plugins(data)
                except Exception as exception:  # noqa: BLE001 - a plugin's bug costs its reading of this record only
                    held = False
                    yield warning(f"record {data.values.get('record_number')} (chunk {index}): the event catalogue "
                                  f"failed on it ({type(exception).__name__}: {exception}); the record is kept as read",
                                  parser=self.NAME, provenance=target.provenance)
                if held:
                    deferred.append(data)
                else:
                    yield data
        for plugin in self._plugins:
            try:
                plugin.finish(deferred)
            except Exception as exception:  # noqa: BLE001
                yield warning(f"the event catalogue failed on the held records ({type(exception).__name__}: "
                              f"{exception}); they are kept as read", parser=self.NAME, provenance=target.provenance)
        yield from deferred
        if valid_chunks > claimed:
            # Not an error: the log was not closed cleanly. Worth knowing, though.
            yield warning(
                f"file header lists {claimed} chunks, {valid_chunks} were found and read",
                parser=self.NAME, provenance=target.provenance, severity="info",
            )

    def _apply_plugins(self, data: EventData) -> bool:
        defer = False
        for plugin in self._plugins:
            defer = plugin.process(data) or defer
        return defer

    # -- one chunk ------------------------------------------------------------------

    def _read_chunk(self, chunk: bytes, file_offset: int,
                    chained: set[tuple[int, int]]) -> tuple[list[EventData], list[str]]:
        _, _, first_id, last_id, _, _, free_space = _CHUNK.unpack_from(chunk, 8)
        slots = recovery.walk_records(chunk, recovery.CHUNK_HEADER_SIZE, free_space)
        data = _ONE_CHUNK_HEADER + chunk  # the chunk as a file of its own, for pyevtx-rs and libevtx
        if self.backend == "pyevtx-rs":
            decoded, problems = _decode_rs(data)
        else:
            decoded, problems = _decode_python_evtx(chunk, slots)
        problems = list(dict.fromkeys(problems))  # both decoding passes report the same error
        problems += recovery.checksum_problems(chunk, free_space)
        broken = recovery.chain_break(chunk, slots, free_space)
        if broken:
            problems.append(broken)
        by_id = {slot.record_id: slot for slot in slots}
        renderings = render.render_chunk(data)
        if self.backend == "pyevtx-rs" and any(renderings.get(r, _REFUSED).refused for r, _, _ in decoded):
            # the decoder's XML is the fallback rendering: made only when some record needs it
            xml_by_id = _xml_rs(data)
            decoded = [(record_id, canonical, xml_by_id.get(record_id)) for record_id, canonical, _ in decoded]
        records = []
        for record_id, canonical, xml in decoded:
            slot = by_id.get(record_id)
            rendering = renderings.get(record_id)
            records.append(self._event_data(canonical, xml, slot, record_id, chunk, file_offset,
                                            recovered=False, rendering=rendering, decoder=self.backend))
            if rendering is not None and rendering.refused:
                problems.append(_refused(record_id, slot, rendering))
        if not self.recover:
            return records, problems
        read = {record_id for record_id, _, _ in decoded}
        # Only what was read: a chained record the decoder failed on is carved below.
        chained.update((slot.record_id, slot.written) for slot in slots if slot.record_id in read)
        # Complete chain and quiet slack: nothing to carve (the common case, kept cheap).
        # (A first record already broken leaves no chain at all: that is not complete.)
        chain_end = slots[-1].offset + slots[-1].size if slots else recovery.CHUNK_HEADER_SIZE
        complete = len(read) >= len(slots) and chain_end >= free_space
        start = free_space if complete else recovery.CHUNK_HEADER_SIZE
        if start < recovery.CHUNK_SIZE and chunk.find(recovery.RECORD_SIGNATURE, start) >= 0:
            # A slot with the id and written time of a record in a chain is that record's
            # stale copy (a chunk is rewritten as it fills): the record is already read,
            # and decoding the copy again (python-evtx: ms per record) adds nothing.
            candidates = [c for c in recovery.carve_records(chunk, start)
                          if c.record_id not in read and (c.record_id, c.written) not in chained]
            carved, refused = self._carve(chunk, file_offset, candidates, read)
            records += carved
            problems += refused
        return records, problems

    def _carve(self, chunk: bytes, file_offset: int, candidates: list,
               read: set[int]) -> tuple[list[EventData], list[str]]:
        """Decodes carved slots in place: pyevtx-rs first (fast), python-evtx for the rest;
        libevtx renders their strings and XML in the same copy of the chunk. Returns the
        records and the warnings about them."""
        if not candidates:
            return [], []
        decoded: dict[int, tuple[dict, str | None, str]] = {}
        in_place, by_synthetic_id = recovery.in_place_chunk(chunk, candidates)
        data = _ONE_CHUNK_HEADER + in_place
        if self.backend == "pyevtx-rs":
            for synthetic_id, canonical, xml in _decode_rs(data, xml=True)[0]:
                slot = by_synthetic_id.get(synthetic_id)
                if slot is not None and _record_id(canonical) == slot.record_id:
                    decoded[slot.offset] = (canonical, xml, "pyevtx-rs")
        remaining = [c for c in candidates if c.offset not in decoded and recovery.template_intact(chunk, c)]
        if remaining:
            reader = recovery.PythonEvtxChunk(chunk)
            failures = 0
            for slot in remaining:
                if failures >= _MAX_CONSECUTIVE_FAILURES:
                    break  # this chunk's old templates are gone; each attempt costs ms
                try:
                    xml = reader.xml(slot)
                    canonical = recovery.canonical_from_xml(xml)
                except Exception:  # noqa: BLE001 - overwritten templates: not decodable
                    failures += 1
                    continue
                if _record_id(canonical) == slot.record_id:
                    decoded[slot.offset] = (canonical, xml, "python-evtx")
                    failures = 0
                else:
                    failures += 1
        if not decoded:
            return [], []
        by_offset = {slot.offset: rendering for synthetic_id, rendering
                     in render.render_chunk(data).items()
                     if (slot := by_synthetic_id.get(synthetic_id)) is not None}
        repaired = recovery.repaired_chunk(chunk)
        records, problems = [], []
        for slot in candidates:
            if slot.offset in decoded:
                rendering = by_offset.get(slot.offset)
                canonical, xml, decoder = decoded[slot.offset]
                record = self._event_data(canonical, xml, slot, slot.record_id, repaired, file_offset,
                                          recovered=True, rendering=rendering, decoder=decoder)
                if recovery.foreign_template(chunk, slot):
                    record.tags.append(FOREIGN_TEMPLATE)
                if rendering is not None and rendering.refused:
                    problems.append(_refused(slot.record_id, slot, rendering))
                records.append(record)
        return records, problems

    def _event_data(self, canonical, xml, slot, record_id, chunk, file_offset, recovered,
                    rendering: render.Rendering | None, decoder: str) -> EventData:
        values = record_values(canonical, xml)
        tags = []
        if rendering is not None and rendering.refused is None:
            values["strings"], values["xml_string"] = list(rendering.strings), rendering.xml_string
        else:
            # libevtx does not read the record, or refuses its values: the decoder's rendering
            values["xml_string"] = _plain_xml(values["xml_string"])
            values["rendered_by"] = decoder
            if rendering is not None:
                values["undecodable_values"] = rendering.refused
                tags.append(UNDECODABLE)
        text = values.pop("_time_created_text")
        created = recovery.creation_filetime(chunk, slot.offset) if slot is not None else None
        if created is not None and text and self.backend == "pyevtx-rs" and not recovered:
            # Cross-check against the rendered µs: a mismatch means another template shape.
            fraction = text[20:26]
            if fraction.isdigit() and int(fraction) != (created // 10) % 1_000_000:
                created = None
        if created is None:
            created = _filetime_from_text(text)
        values["record_number"] = record_id
        values["recovered"] = recovered
        values["offset"] = 0  # plaso's: libevtx gives no record offset (file_offset is the record's)
        values["file_offset"] = file_offset + slot.offset if slot is not None else None
        values["creation_time"] = dfdatetime_filetime.Filetime(timestamp=created) if created else None
        # plaso keeps a written time of 0 (it becomes a 1601-01-01 event), as libevtx reads it
        values["written_time"] = dfdatetime_filetime.Filetime(timestamp=slot.written) if slot is not None else None
        values["_creation"] = created
        return EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None or k == "_creation"}, tags=tags)
