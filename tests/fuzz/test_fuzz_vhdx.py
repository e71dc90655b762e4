"""Fuzzing the VHDX structures and the carver: mutated disks give VhdxError/ValueError, never a crash.

The mutations are resealed (header and region-table CRC32C recomputed) half of the time,
so they reach the metadata and the BAT instead of stopping at a checksum.
"""

from __future__ import annotations

import functools
import io
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandtrace.engine import carving, vhdx
from tests.fuzz.budget import FUZZ, fewer
from tests.fuzz.mutate import mutated

writer = pytest.importorskip("test_images.writers.vhdx")
KiB, MiB = 1024, 1024 * 1024


@functools.lru_cache(maxsize=1)
def seed() -> bytes:
    raw = bytearray(3 * MiB)
    raw[0:11] = b"\xeb\x52\x90NTFS    "
    raw[2 * MiB + 100:2 * MiB + 110] = b"sandtrace!"
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/seed.vhdx"
        writer.write_dynamic(bytes(raw), path)
        return open(path, "rb").read()


def _structures_end() -> int:
    """Everything before the first payload block: headers, region tables, metadata, BAT."""
    info = vhdx.describe(lambda at, size: seed()[at:at + size])
    offsets = [offset for _, state, offset in vhdx.payload_blocks(info) if offset]
    return min(offsets)


def _reseal(data: bytes) -> bytes:
    out = bytearray(data)
    for offset, size in ((64 * KiB, 4 * KiB), (128 * KiB, 4 * KiB), (192 * KiB, 64 * KiB), (256 * KiB, 64 * KiB)):
        if len(out) >= offset + size:
            out[offset:offset + size] = vhdx.seal(bytes(out[offset:offset + size]))
    return bytes(out)


@st.composite
def disks(draw):
    mutation = draw(mutated(seed(), max_edits=6, region=(0, _structures_end())))
    if draw(st.booleans()):
        mutation.after = _reseal
    return mutation


def _describe(data: bytes):
    try:
        info = vhdx.describe(lambda at, size: data[at:at + size] if at >= 0 else b"")
    except ValueError:  # VhdxError is a ValueError
        return None
    blocks = list(vhdx.payload_blocks(info))
    assert all(isinstance(block, int) and block >= 0 for block, _, _ in blocks)
    return info


def test_the_seed_is_valid():
    info = _describe(seed())
    assert info and info["virtual_size"] == 3 * MiB


@FUZZ
@given(disks())
def test_describe_mutated(mutation):
    _describe(bytes(mutation))


@FUZZ
@given(st.binary(max_size=2048).map(lambda tail: vhdx.FILE_TYPE_SIGNATURE + tail))
def test_describe_garbage_after_the_signature(data):
    _describe(data)


class _Space:
    """A volume made of bytes: every cluster free except those listed."""

    cluster_size = 4096

    def __init__(self, data: bytes, allocated: frozenset = frozenset()) -> None:
        self.data, self.allocated = data, allocated
        self.clusters = len(data) // self.cluster_size
        self.bitmap = bytes(-(-self.clusters // 8))

    def is_free(self, cluster):
        return 0 <= cluster < self.clusters and cluster not in self.allocated

    range_free = carving.FreeSpace.range_free
    runs = carving.FreeSpace.runs

    def read(self, offset, size):
        return self.data[offset:offset + size] if offset >= 0 else b""


@fewer(2)
@given(disks(), st.sampled_from([0, 4096, 64 * KiB]), st.frozensets(st.integers(0, 1200), max_size=20))
def test_carver_on_a_mutated_disk_in_free_space(mutation, lead, allocated):
    disk = bytes(mutation)
    space = _Space(bytes(lead) + disk + bytes(-len(disk) % 4096), allocated)
    found = list(carving.find_vhdx(space))
    assert (lead in found) == (disk.startswith(vhdx.FILE_TYPE_SIGNATURE) and lead // 4096 not in allocated)
    with tempfile.TemporaryDirectory() as folder:
        try:
            carved = carving.carve(space, lead, folder)
        except (ValueError, OSError):  # what carve_volume turns into a warning
            return
        assert carved.blocks_total == len(carved.blocks_present) + len(carved.blocks_missing) + carved.blocks_absent
