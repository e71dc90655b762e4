"""WDAGUtilityAccount: a profile folder on the host is an anomaly; the base layer's copy is not."""

from __future__ import annotations

import datetime
import os

import pytest

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.timeline.timeliner import Timeliner
from sandtrace.parsers.wdag_profile import location_kind
from tests.conftest import TEST_IMAGES

BASE_LAYER = ("ProgramData", "Microsoft", "Windows", "Containers", "BaseImages",
              "0949cec7-8165-4167-8c7d-67cf14eeede0", "BaseLayer", "Files")
CREATED = datetime.datetime(2025, 1, 14, 6, 10, 0, tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture
def volume(tmp_path):
    host = tmp_path / "Users" / "WDAGUtilityAccount"
    (host / "Desktop").mkdir(parents=True)
    (host / "NTUSER.DAT").write_bytes(b"regf")
    os.utime(host, (CREATED, CREATED))
    (tmp_path / "Users" / "alice" / "Desktop").mkdir(parents=True)
    template = tmp_path.joinpath(*BASE_LAYER, "Users", "WDAGUtilityAccount")
    template.mkdir(parents=True)
    (template / "ntuser.dat").write_bytes(b"regf")
    return tmp_path


def _profiles(root):
    extractor = Extractor(ExtractionOptions(parsers="wdag_profile"))
    data = list(extractor.run(sources.open_source(str(root))))
    assert not [d for d in data if d.data_type == "sandtrace:warning"]
    return {d.values["location_kind"]: d for d in data if d.data_type == "windows:sandbox:wdag_profile"}


def test_a_host_profile_folder_is_an_anomaly_with_its_contents_and_times(volume):
    profiles = _profiles(volume)
    host = profiles["host_profile"]
    assert host.values["filename"] == "\\Users\\WDAGUtilityAccount"
    assert host.values["top_level_entries"] == ["Desktop\\", "NTUSER.DAT"]
    assert host.values["has_ntuser_dat"] is True and host.values["has_desktop"] is True
    assert host.tags == ["wdag_anomaly"]
    events = {e.timestamp_desc: e.timestamp for e in Timeliner().events(host)}
    assert events["Content Modification Time"] == int(CREATED * 1_000_000)


def test_the_base_layer_copy_is_a_template_not_an_anomaly(volume):
    template = _profiles(volume)["container_template"]
    assert template.values["filename"].lower().endswith("\\baselayer\\files\\users\\wdagutilityaccount")
    assert template.values["top_level_entries"] == ["ntuser.dat"]
    assert template.tags == ["sandbox_template"]


def test_no_profile_no_event(tmp_path):
    (tmp_path / "Users" / "alice").mkdir(parents=True)
    assert _profiles(tmp_path) == {}


def test_location_kinds():
    assert location_kind("\\Users\\WDAGUtilityAccount", ()) == "host_profile"
    assert location_kind("\\ProgramData\\Microsoft\\Windows\\Containers\\Layers\\x\\Files\\Users\\WDAGUtilityAccount", ()) == "container_template"
    assert location_kind("\\Users\\WDAGUtilityAccount", ("NTFS:\\ProgramData\\...\\sandbox.vhdx",)) == "inside_disk"
