"""``strings`` and ``xml_string`` of EVTX records as plaso gives them: rendered by libevtx.

plaso takes both from libevtx (pyevtx), whose rendering of each substitution
value type (zero-padded hex, braced GUIDs, 100 ns FILETIME and SYSTEMTIME,
absent values as ``None``, self-closing empty elements, no XML prolog) is not
what pyevtx-rs or python-evtx write, and cannot be rebuilt from their output
(it has lost the value types). So libevtx renders them here, one chunk at a
time over a one-chunk in-memory file, and the records are matched to the
decoder's by record id. The decoders keep the structured event data.

A record whose System part libevtx reads but whose values it refuses (a UTF-16
string with an unpaired surrogate, a value its type cannot hold) is reported
as refused: its values do not decode as what their types say (plaso skips
such a record with a warning). A record libevtx does not read at all (most
slack records: their templates are not in the chunk's table) is left out.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass

# libevtx costs ~45 µs a record, several times the rest of the parser. A chunk is
# often read more than once with the same bytes (a log in each shadow copy, in a
# sandbox disk and its copies): its rendering depends on its bytes alone, so the
# renderings of recent chunks are kept, by digest, up to this much XML text.
CACHE_BYTES = 64 * 1024 * 1024
_CACHE: OrderedDict[bytes, tuple[dict[int, "Rendering"], int]] = OrderedDict()
_cached_bytes = 0


@dataclass(slots=True)
class Rendering:
    """libevtx's reading of one record: its strings and XML, or why its values were refused."""

    strings: list[str | None] | None = None
    xml_string: str | None = None
    refused: str | None = None


def render_chunk(data: bytes) -> dict[int, Rendering]:
    """Record header id -> libevtx's rendering, for every record in the chain of the
    one-chunk file ``data`` (file header + chunk) that libevtx reads. Read-only:
    the same renderings are handed to every reader of the same bytes."""
    global _cached_bytes
    key = hashlib.blake2b(data, digest_size=32).digest()  # collision-resistant: the bytes are hostile
    known = _CACHE.get(key)
    if known is not None:
        _CACHE.move_to_end(key)
        return known[0]
    renderings = _render(data)
    size = len(data) + sum(len(r.xml_string or "") for r in renderings.values())
    _CACHE[key] = (renderings, size)
    _cached_bytes += size
    while _cached_bytes > CACHE_BYTES and len(_CACHE) > 1:
        _cached_bytes -= _CACHE.popitem(last=False)[1][1]
    return renderings


def _render(data: bytes) -> dict[int, Rendering]:
    import pyevtx

    evtx_file = pyevtx.file()
    try:
        evtx_file.open_file_object(io.BytesIO(data))
    except OSError:
        return {}
    renderings: dict[int, Rendering] = {}
    try:
        for index in range(evtx_file.number_of_records):
            try:
                record = evtx_file.get_record(index)
                identifier = record.identifier
            except (OSError, OverflowError):
                continue  # not read at all: the decoder's rendering stands
            try:
                renderings[identifier] = Rendering(list(record.strings), record.xml_string)
            except OSError as exception:
                if _system_read(record):  # the record is read, its values are not
                    renderings[identifier] = Rendering(refused=_reason(exception))
    finally:
        evtx_file.close()
    return renderings


def _system_read(record) -> bool:
    """Whether libevtx read the record's System part (an empty or unreadable
    document fails here too: that record is not read, not refused)."""
    try:
        record.event_identifier
    except (OSError, OverflowError):
        return False
    return True


def _reason(exception: OSError) -> str:
    """libyal's error chain names the innermost failure last but one: keep its first two links."""
    links = [link.strip() for link in str(exception).split(". ") if link.strip()]
    return ". ".join(links[:2])[:300]
