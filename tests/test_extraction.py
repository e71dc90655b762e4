"""Parser selection, signatures and parser chains in the extraction engine."""

from __future__ import annotations

import pytest

from sandtrace.engine import sources
from sandtrace.core.events import EventData
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.parsers import manager
from sandtrace.parsers.interface import BaseParser, Signature
from tests.conftest import TEST_IMAGES


def test_selection_by_name_preset_and_exclusion():
    assert "filestat" in manager.select(None)
    assert manager.select("all") == manager.select(None)
    assert "filestat" not in manager.select("!filestat")
    assert manager.select("filestat") == ["filestat"]
    with pytest.raises(ValueError, match="unknown parser or preset: nope"):
        manager.select("nope")


class _Magic(BaseParser):
    """Wants no path at all: only files whose content starts with 'regf'."""

    NAME = "magic_test"
    SIGNATURES = (Signature(b"regf"),)

    def parse(self, target):
        yield EventData("test:magic", {"location": target.location}, parser="sub")


def test_signature_parsers_see_collected_files_whatever_their_name():
    source = sources.open_source(f"{TEST_IMAGES}/foundation.E01")
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**"]))
    extractor.parsers["magic_test"] = _Magic()
    extractor.parsing.by_signature = ["magic_test"]
    found = [d for d in extractor.run(source) if d.data_type == "test:magic"]
    assert [d.values["location"] for d in found] == ["\\Windows\\System32\\config\\SYSTEM"]
    assert found[0].parser == "magic_test/sub"  # plaso-style parser chain
    assert found[0].provenance.display_name == "NTFS:\\Windows\\System32\\config\\SYSTEM"
