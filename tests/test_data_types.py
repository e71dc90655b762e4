"""Every data type sandtrace writes is declared, timelined and formatted (issue 18, item 4).

A data type without a timeliner entry still gets its dates, but as "Unknown
Time" and unnoticed; one without a formatter renders as psort's default. Both
are developer errors this test catches: statically over what the parsers and
plugins declare, and at run time over what a full run of the committed host
image writes.
"""

from __future__ import annotations

import json
import os

from sandtrace import cli
from sandtrace.core.events import WARNING_DATA_TYPE
from sandtrace.pipeline.extraction import ENGINE_DATA_TYPES
from sandtrace.timeline.timeliner import Timeliner
from sandtrace.output.formatting import default_formatters
from sandtrace.parsers import manager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def declared() -> set[str]:
    types = set(ENGINE_DATA_TYPES)
    for parser in manager.parser_classes().values():
        types |= set(parser.DATA_TYPES)
        for plugin in parser.plugins().values():
            types |= set(plugin.DATA_TYPES)
    return types


def test_every_declared_data_type_has_a_timeliner_entry_and_a_formatter():
    types = declared()
    assert len(types) >= 25
    timeliner = Timeliner()
    assert sorted(t for t in types if t not in timeliner._mappings) == []
    assert sorted(t for t in types if t not in set(default_formatters().data_types())) == []


def test_a_full_run_writes_only_declared_and_mapped_data_types(tmp_path):
    output = tmp_path / "t.jsonl"
    argv = ["extract", os.path.join(ROOT, "test_images", "host.E01"), "--carve", "-o", str(output),
            "--format", "json_line", "-q", "--workers", "0"]
    assert cli.main(argv) == cli.EXIT_OK
    written = {json.loads(line)["data_type"] for line in output.open(encoding="utf-8")}
    assert len(written) >= 15
    assert sorted(written - declared() - {WARNING_DATA_TYPE}) == []
    descriptions = {json.loads(line)["timestamp_desc"] for line in output.open(encoding="utf-8")}
    assert "Unknown Time" not in descriptions  # what an unmapped data type's dates would be called
