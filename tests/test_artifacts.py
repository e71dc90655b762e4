"""The ForensicArtifacts definitions name every sandbox path and key, and pass the artifacts validator."""

from __future__ import annotations

import logging
from importlib import resources

import pytest
import yaml

validator = pytest.importorskip("artifacts.scripts.validator")

DEFINITIONS = resources.files("sandtrace.data").joinpath("artifacts", "windows_sandbox.yaml")


def test_the_definitions_pass_the_artifacts_validator(caplog):
    with caplog.at_level(logging.WARNING):
        assert validator.ArtifactDefinitionsValidator().CheckFile(str(DEFINITIONS))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_every_sandbox_location_from_the_domain_notes_is_named():
    text = DEFINITIONS.read_text("utf-8").lower()
    for needle in (
        "containers\\baseimages\\*\\baselayer.vhdx", "containerstorages\\*\\sandbox.vhdx", "bindings\\config.json",
        "snapshots\\*\\snapshotsavedstate.vmrs", "containers\\dumps", "\\**\\*.wsb", "system32\\tasks\\**",
        "taskcache", "windowssandbox.exe-*.pf", "setup.evtx", "appmodel-runtime%4admin.evtx",
        "sandbox-client-diagnostics%4admin.evtx", "policies\\microsoft\\windows\\sandbox",
        "containers-disposableclientvm", "notifications\\optionalfeatures", "services\\cmservice", "services\\vmcompute",
        "services\\hns", "windows.sandbox\\shell\\open\\command", "classes\\.wsb", "microsoftwindows.windowssandbox_",
        "userassist", "bam\\state\\usersettings", "recentdocs\\.wsb", "users\\wdagutilityaccount", "wsb.exe",
    ):
        assert needle in text, needle


def test_the_group_lists_every_definition():
    documents = [d for d in yaml.safe_load_all(DEFINITIONS.read_text("utf-8")) if d]
    group = next(d for d in documents if d["name"] == "WindowsSandbox")
    names = {d["name"] for d in documents} - {"WindowsSandbox"}
    assert set(group["sources"][0]["attributes"]["names"]) == names
