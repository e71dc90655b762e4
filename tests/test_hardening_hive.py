"""A hive whose base block is damaged is read from its hive bins, and a warning always says so (issue 17, item 4)."""

from __future__ import annotations

import os
import struct

import pytest

from sandtrace.core.events import WARNING_DATA_TYPE
from tests.test_winreg import of, parse_bytes, system_hive

SYSTEM = "\\Windows\\System32\\config\\SYSTEM"


def _undamaged() -> list:
    return [d.values for d in parse_bytes(system_hive(), "SYSTEM", SYSTEM) if d.data_type != WARNING_DATA_TYPE]


def _not_primary(data: bytes) -> bytes:
    damaged = bytearray(data)
    struct.pack_into("<I", damaged, 28, 1)  # file type 1: what a transaction log's header says
    return bytes(damaged)


def _random_base_block(data: bytes) -> bytes:
    return os.urandom(4096) + data[4096:]


@pytest.mark.parametrize("damage, said", [
    (_not_primary, "damaged hive base block (base block file type 1, not a primary file): rebuilt in memory"),
    (_random_base_block, "damaged hive base block (no regf signature): rebuilt in memory"),
])
def test_a_damaged_base_block_costs_no_key(damage, said):
    expected = _undamaged()
    assert expected  # the services, the feature state...
    out = parse_bytes(damage(system_hive()), "SYSTEM", SYSTEM)
    warnings = [d.values["error"] for d in of(out, WARNING_DATA_TYPE)]
    assert len(warnings) == 1 and warnings[0].startswith(said), warnings
    assert [d.values for d in out if d.data_type != WARNING_DATA_TYPE] == expected


def test_a_transaction_log_is_still_read_only_with_its_hive():
    assert parse_bytes(_not_primary(system_hive()), "SYSTEM.LOG1", SYSTEM + ".LOG1") == []


def test_a_base_block_with_nothing_behind_it_says_why_it_was_skipped():
    out = parse_bytes(_not_primary(system_hive()[:4096]) + os.urandom(8192), "SYSTEM", SYSTEM)
    assert [d.values["error"] for d in out] == [
        "not a registry hive (base block file type 1, not a primary file, and no hive bins with a root key behind it)"]


def test_a_hive_cut_inside_a_bin_header_is_a_warning():
    """Found by make fuzz: a hive cut 4 bytes into its second bin's header (the rebuild read past the end)."""
    cut = _not_primary(system_hive())[:8196]
    out = parse_bytes(cut, "SYSTEM", SYSTEM)
    warnings = [d.values["error"] for d in of(out, WARNING_DATA_TYPE)]
    assert warnings and warnings[0].startswith("damaged hive base block (base block file type 1")
    assert of(out, "windows:registry:service")  # the first bin is whole: its keys are read
