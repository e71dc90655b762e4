"""Fuzzing EVTX normalisation: mutated chunks never make the parser or the recovery code raise.

Hand-written cases (bad chunk magic, broken chunk, header chunk count): tests/test_winevtx.py.
"""

from __future__ import annotations

import functools
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandtrace.core.events import Provenance
from sandtrace.parsers import winevtx_recovery as recovery
from sandtrace.parsers.winevtx import WinEvtxParser
from tests.fuzz.budget import FUZZ, fewer
from tests.fuzz.mutate import mutated

evtx_writer = pytest.importorskip("test_images.writers.evtx")
FT = 133814880000000000
CHUNK = 0x10000


class _Target:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.provenance = Provenance(display_name="fuzz.evtx")
        self.location = "\\Windows\\System32\\winevt\\Logs\\fuzz.evtx"

    def open_file_object(self):
        return io.BytesIO(self.data)


@functools.lru_cache(maxsize=1)
def seed() -> bytes:
    log = evtx_writer.EvtxLog("Security", "WIN11-HOST")
    for index in range(24):
        log.add("Microsoft-Windows-Security-Auditing", 4624, FT + index * 10_000_000,
                data=[("TargetUserName", f"user{index}\u202e"), ("LogonType", 2),
                      ("TargetLogonId", evtx_writer.HexInt64(0x3E7 + index))])
    return log.to_bytes()


def _parse(data: bytes, backend: str) -> list:
    return list(WinEvtxParser({"evtx_backend": backend}).parse(_Target(data)))


def test_the_seed_is_read():
    assert sum(1 for d in _parse(seed(), "pyevtx-rs") if d.data_type != "sandtrace:warning") == 24


@FUZZ
@given(mutated(seed(), max_edits=10, region=(4096, 4096 + CHUNK)))
def test_pyevtx_rs_backend_on_mutated_chunks(mutation):
    out = _parse(bytes(mutation), "pyevtx-rs")
    assert all(d.data_type for d in out)


@fewer(5)
@given(mutated(seed(), max_edits=10, region=(4096, 4096 + CHUNK)))
def test_python_evtx_backend_on_mutated_chunks(mutation):
    _parse(bytes(mutation), "python-evtx")


@FUZZ
@given(mutated(seed(), max_edits=4, region=(0, 4096)))
def test_mutated_file_header_is_a_value_error_at_worst(mutation):
    try:
        _parse(bytes(mutation), "pyevtx-rs")
    except ValueError:
        pass


def _chunk(data: bytes) -> bytes:
    return data[4096:4096 + CHUNK].ljust(CHUNK, b"\0")


@FUZZ
@given(mutated(seed(), max_edits=16, region=(4096, 4096 + CHUNK)))
def test_recovery_functions_on_mutated_chunks(mutation):
    chunk = _chunk(bytes(mutation))
    slots = recovery.carve_records(chunk)
    for slot in slots:
        recovery.creation_filetime(chunk, slot.offset)
        recovery.template_intact(chunk, slot)
    recovery.walk_records(chunk, recovery.CHUNK_HEADER_SIZE, len(chunk))
    repaired = recovery.repaired_chunk(chunk)
    assert len(repaired) == len(chunk)
    recovery.in_place_chunk(chunk, slots)


@FUZZ
@given(st.binary(min_size=0, max_size=CHUNK))
def test_recovery_functions_on_random_bytes(data):
    chunk = (b"ElfChnk\x00" + data).ljust(CHUNK, b"\0")[:CHUNK]
    slots = recovery.carve_records(chunk)
    recovery.repaired_chunk(chunk)
    recovery.in_place_chunk(chunk, slots)


@pytest.mark.parametrize("table,buckets", [(0x80, 64), (0x180, 32)], ids=["strings", "templates"])
@pytest.mark.parametrize("backend", ["pyevtx-rs", "python-evtx"])
def test_a_looping_hash_chain_ends(table, buckets, backend):
    """Found by fuzzing (make fuzz, 2026-11-25): a string or template whose next-offset
    points back at itself made python-evtx loop for ever (its chain walk stops only at 0).
    Every chain of the first chunk made a loop; the records must still come out, quickly."""
    import signal
    import struct

    data = bytearray(seed())
    chunk = recovery.FILE_HEADER_SIZE
    looped = 0
    for bucket in range(buckets):
        offset = struct.unpack_from("<I", data, chunk + table + bucket * 4)[0]
        if offset:
            struct.pack_into("<I", data, chunk + offset, offset)  # next offset: itself
            looped += 1
    assert looped
    # Make pyevtx-rs give up on the chunk, so recovery (python-evtx) decodes it.
    struct.pack_into("<I", data, chunk + 0x200 + 4, 0)

    class Hung(BaseException):
        """Not an Exception: the parser's broad handlers must not swallow it."""

    def hung(signum, frame):
        raise Hung("a looping chain was followed for ever")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        out = _parse(bytes(data), backend)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [d for d in out if d.data_type == "windows:evtx:record"]
