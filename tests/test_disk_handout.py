"""Nested disks as units of work: a disk another process can run alone, run there as here.

pipeline/handout.py: extract and batch hand a nested disk to a worker when nothing inside it
would touch the state one extractor shares between disks (``nested_disks.self_contained``);
the worker runs it from the marker (``Extractor.run_disk``) with the outer source and
the base layers registered so far. These tests hold the two ways of running a disk to
the same event data.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from sandtrace.engine import layers, sources
from sandtrace.pipeline import handout, nested_disks
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from tests.test_hardening_limits import three_deep  # noqa: F401 - the fixture

HOST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_images", "host.E01")


def _summary(data) -> tuple:
    provenance = data.provenance
    return (data.data_type, data.parser, provenance.display_name, provenance.inode, tuple(provenance.nesting),
            json.dumps(data.values, sort_keys=True, default=_plain), tuple(data.tags))


def _plain(value) -> object:
    """A dfDateTime value (or another object) as its type and text."""
    to_text = getattr(value, "CopyToDateTimeStringISO8601", None)
    return [type(value).__name__, to_text() if to_text else repr(value)]


def test_a_handed_out_disk_gives_the_event_data_it_gives_inline():
    """Every disk of host.E01 the extractor hands out, run by another extractor from its
    JSON form (as batch sends it), gives exactly the event data, in the order, that the
    one-extractor run makes in its place: container, tags, template marks, and the WCI
    placeholders resolved against the base layer registered before it."""
    options = ExtractionOptions()
    inline = [_summary(d) for d in Extractor(options).run(sources.open_source(HOST))]

    main = Extractor(options)
    main.hand_out_disk_bytes = 1
    markers, handed = [], []
    for data in main.run(sources.open_source(HOST)):
        if isinstance(data, handout.HandedOutDisk):
            markers.append(data)
            handed.append(("marker", data.target.provenance.display_name))
        else:
            handed.append(_summary(data))
    assert [m.target.location.rsplit("\\", 1)[-1] for m in markers] == ["BaseLayer.vhdx", "sandbox.vhdx", "sandbox.vhdx"]
    assert [guid for guid, _ in markers[1].layers] == ["0949cec7-8165-4167-8c7d-67cf14eeede0"]

    rebuilt = []
    for entry in handed:
        if entry[0] != "marker":
            rebuilt.append(entry)
            continue
        marker = handout.disk_from_dict(handout.disk_to_dict(markers.pop(0)))
        layers.clear()  # what a fresh worker process has
        rebuilt.extend(_summary(d) for d in Extractor(options).run_disk(marker))
    assert rebuilt == inline
    placeholders = [e for e in inline if e[0] == "windows:sandbox:wci_placeholder"]
    assert placeholders and all(json.loads(e[5])["resolved"] for e in placeholders)


def test_a_disk_runs_alone_only_when_no_disk_inside_it_would_be_opened():
    host = sources.open_source(HOST)
    as_if_nested = dataclasses.replace(host, depth=1)  # a disk holding the host's volumes, Containers folder and all
    assert not nested_disks.self_contained(as_if_nested, "sandbox", 3)  # found though the lookup is lower case
    sandbox = _opened_sandbox_disk(host)
    assert nested_disks.self_contained(sandbox, "sandbox", 3)
    assert not nested_disks.self_contained(sandbox, "all", 3)  # a disk could be anywhere
    assert nested_disks.self_contained(as_if_nested, "none", 3)
    assert nested_disks.self_contained(as_if_nested, "sandbox", 1)  # no deeper disk is opened


def _opened_sandbox_disk(host):
    from sandtrace.engine.collection import Collector, PathPattern, Request

    pattern = PathPattern("\\ProgramData\\Microsoft\\Windows\\Containers\\ContainerStorages\\*\\sandbox.vhdx")
    volume = next(v for v in host.volumes if v.vss_store is None and v.type_indicator == "NTFS")
    target = next(Collector([Request("x", [pattern])], deleted=False).collect(host, volume))
    return nested_disks.open_disk(host, target, "p1>sandbox.vhdx", vss=True)


@pytest.mark.parametrize("max_depth,handed_out", [(1, "D1.vhdx"), (2, "D2.VHD"), (3, "D3.VHD")])
def test_disks_inside_disks_stay_with_the_extractor_unless_none_is_opened(three_deep, tmp_path, max_depth, handed_out):
    """nested=all: D1.vhdx holds D2 holds D3. Only the deepest disk opened (the max depth
    keeps its insides shut) may run alone; either way the output is the one-process output."""
    from tests.test_parallel import _extract

    main = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**"], nested="all", max_depth=max_depth))
    main.hand_out_disk_bytes = 1
    markers = [d for d in main.run(sources.open_source(three_deep)) if isinstance(d, handout.HandedOutDisk)]
    assert [m.target.location.rsplit("\\", 1)[-1] for m in markers] == [handed_out]
    extra = ["--format", "json_line", "--parsers", "filestat", "--paths", "**", "--nested-disks", "all",
             "--max-depth", str(max_depth)]
    _extract(three_deep, str(tmp_path / "one.jsonl"), "--workers", "0", *extra)
    _extract(three_deep, str(tmp_path / "two.jsonl"), "--workers", "2", *extra)
    one = (tmp_path / "one.jsonl").read_bytes()
    assert one == (tmp_path / "two.jsonl").read_bytes()
    assert one.count(b"D1.vhdx>") > 0
