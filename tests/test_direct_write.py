"""output/direct.py: bytes written from an offset around the page cache land
exactly where ordinary writes would, whatever the alignment."""

from __future__ import annotations

import os
import random
import threading

import pytest

from sandtrace.output import direct
from sandtrace.output.direct import ALIGN, OffsetWriter


def _pieces(seed: int, total: int) -> list[bytes]:
    generator = random.Random(seed)
    pieces, size = [], 0
    while size < total:
        piece = bytes(generator.getrandbits(8) for _ in range(generator.choice([1, 7, 511, 4095, 4097, 70_000])))
        pieces.append(piece)
        size += len(piece)
    return pieces


@pytest.mark.parametrize("offset", [0, 1, ALIGN - 1, ALIGN, 3 * ALIGN + 17])
def test_pieces_land_at_their_offset_after_what_is_there(tmp_path, monkeypatch, offset):
    monkeypatch.setattr(direct, "_BUFFER", 4 * ALIGN)  # many direct writes and buffer moves
    path = tmp_path / "out"
    head = os.urandom(offset)
    path.write_bytes(head)
    pieces = _pieces(offset, 90_000)
    with OffsetWriter(str(path), offset) as out:
        for piece in pieces:
            out.write(piece)
    assert path.read_bytes() == head + b"".join(pieces)
    assert out.direct or not _takes_direct(tmp_path)
    assert out.end == offset + sum(map(len, pieces))


def test_two_writers_of_one_file_meet_in_an_unaligned_block(tmp_path, monkeypatch):
    """The two halves of a split merge: each writes its own range, from two threads at once."""
    monkeypatch.setattr(direct, "_BUFFER", 2 * ALIGN)
    path = tmp_path / "out"
    path.write_bytes(b"header\n")
    first, second = b"".join(_pieces(1, 50_001)), b"".join(_pieces(2, 60_003))

    def write(offset: int, data: bytes) -> None:
        with OffsetWriter(str(path), offset) as out:
            for start in range(0, len(data), 3001):
                out.write(data[start:start + 3001])

    threads = [threading.Thread(target=write, args=(7, first)),
               threading.Thread(target=write, args=(7 + len(first), second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_bytes() == b"header\n" + first + second


def test_where_o_direct_is_refused_the_bytes_are_written_plainly(tmp_path, monkeypatch):
    """tmpfs refuses O_DIRECT at open; some file systems only at write."""
    path = tmp_path / "out"
    path.write_bytes(b"x")
    data = os.urandom(5 * ALIGN + 3)
    real_pwrite = os.pwrite
    refused = []

    def pwrite(handle, view, offset):
        if os.get_blocking(handle) and _is_direct(handle):
            refused.append(offset)
            raise OSError(22, "Invalid argument")
        return real_pwrite(handle, view, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with OffsetWriter(str(path), 1) as out:
        out.write(data)
    assert path.read_bytes() == b"x" + data
    assert refused and not out.direct
    with OffsetWriter(str(path), 1 + len(data), direct=False) as plain:
        assert not plain.direct
        plain.write(b"tail")
    assert path.read_bytes() == b"x" + data + b"tail"


def _takes_direct(folder) -> bool:
    try:
        handle = os.open(folder / "probe", os.O_WRONLY | os.O_CREAT | getattr(os, "O_DIRECT", 0))
    except OSError:
        return False
    os.close(handle)
    return bool(getattr(os, "O_DIRECT", 0))


def _is_direct(handle: int) -> bool:
    import fcntl

    return bool(fcntl.fcntl(handle, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0))


@pytest.mark.skipif(not getattr(os, "O_DIRECT", 0), reason="no O_DIRECT here")
def test_on_a_file_system_that_takes_o_direct_the_middle_goes_direct(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"")
    with OffsetWriter(str(path), 0) as out:
        out.write(os.urandom(3 * ALIGN))
        if not out.direct:
            pytest.skip("this file system refuses O_DIRECT")
    assert path.stat().st_size == 3 * ALIGN
