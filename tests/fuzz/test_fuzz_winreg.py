"""Fuzzing the registry layer: mutated hives give event data or warnings, never an exception.

Hand-written cases (junk, truncated, dirty hive, failing plugin): tests/test_winreg.py.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import given

from sandtrace.core.events import EventData
from tests.fuzz.budget import FUZZ, fewer
from tests.fuzz.mutate import mutated

pytest.importorskip("test_images.writers.regf")
from tests.test_winreg import ntuser_hive, parse_bytes, software_hive, system_hive  # noqa: E402


@functools.lru_cache(maxsize=None)
def seeds() -> dict[str, bytes]:
    return {"SOFTWARE": software_hive(), "SYSTEM": system_hive(), "NTUSER.DAT": ntuser_hive()}


def _parse(data: bytes, name: str) -> None:
    location = {"NTUSER.DAT": "\\Users\\alice\\NTUSER.DAT"}.get(name, f"\\Windows\\System32\\config\\{name}")
    out = parse_bytes(data, name, location)
    assert all(isinstance(item, EventData) for item in out)


@FUZZ
@given(mutated(seeds()["SOFTWARE"], max_edits=8, region=(4096, len(seeds()["SOFTWARE"]))))
def test_software_hive_bins(mutation):
    _parse(bytes(mutation), "SOFTWARE")


@fewer(2)
@given(mutated(seeds()["SYSTEM"], max_edits=8))
def test_system_hive_anywhere(mutation):
    _parse(bytes(mutation), "SYSTEM")


@fewer(2)
@given(mutated(seeds()["NTUSER.DAT"], max_edits=8, region=(4096, len(seeds()["NTUSER.DAT"]))))
def test_ntuser_hive_bins(mutation):
    _parse(bytes(mutation), "NTUSER.DAT")
