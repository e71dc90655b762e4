"""Targeted collection: patterns, anchored look-ups, full-volume name search."""

from __future__ import annotations

import pytest

from sandtrace.engine import sources
from sandtrace.engine.collection import Collector, PathPattern, Request
from tests.conftest import corpus_file


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("\\Windows\\System32\\config\\SYSTEM", "\\windows\\system32\\CONFIG\\system", True),
        ("\\Windows\\System32\\config\\SYSTEM", "\\Windows\\System32\\config\\SYSTEM.LOG1", False),
        ("\\Users\\*\\NTUSER.DAT", "\\Users\\alice\\NTUSER.DAT", True),
        ("\\Users\\*\\NTUSER.DAT", "\\Users\\alice\\sub\\NTUSER.DAT", False),
        ("**\\*.wsb", "\\a.wsb", True),
        ("**\\*.wsb", "\\ProgramData\\SysCache\\Update.WSB", True),
        ("**\\*.wsb", "\\ProgramData\\SysCache\\update.wsb.txt", False),
        ("\\ProgramData\\Microsoft\\Windows\\Containers\\**", "\\ProgramData\\Microsoft\\Windows\\Containers\\BaseImages\\x\\BaseLayer.vhdx", True),
        ("\\ProgramData\\Microsoft\\Windows\\Containers\\**", "\\ProgramData\\Microsoft\\Windows\\Other\\x", False),
        ("\\a\\**\\b\\*.evtx", "\\a\\b\\x.evtx", True),
        ("\\a\\**\\b\\*.evtx", "\\a\\1\\2\\b\\x.evtx", True),
        ("\\a\\**\\b\\*.evtx", "\\a\\1\\2\\c\\x.evtx", False),
        ("/Windows/System32/WindowsSandbox*.exe", "\\Windows\\System32\\WindowsSandboxClient.exe", True),
    ],
)
def test_patterns_are_case_insensitive_windows_globs(pattern, path, expected):
    assert PathPattern(pattern).matches(path) is expected


def test_anchored_pattern_does_not_walk_the_volume():
    source = sources.open_source(corpus_file("images", "dfvfs", "windows_volume.qcow2"))
    collector = Collector([Request("t", [PathPattern("\\Windows\\System32\\config\\syslog")])], deleted=False)
    targets = list(collector.collect(source, source.volumes[0]))
    assert [t.location for t in targets] == ["\\Windows\\System32\\config\\syslog"]
    assert targets[0].parsers == {"t"}
    assert targets[0].provenance.display_name == "NTFS:\\Windows\\System32\\config\\syslog"
    assert collector.stats["directories_listed"] == 0
    assert collector.stats["mft_entries_scanned"] == 0


def test_wildcard_segment_lists_only_its_directory():
    source = sources.open_source(corpus_file("images", "dfvfs", "windows_volume.qcow2"))
    collector = Collector([Request("t", [PathPattern("\\Windows\\System32\\config\\*")])], deleted=False)
    names = sorted(t.location.rsplit("\\", 1)[1] for t in collector.collect(source, source.volumes[0]))
    assert names == ["syslog"]
    assert collector.stats["directories_listed"] == 1


def test_full_name_search_on_ntfs_uses_the_mft_and_matches_walk():
    """'**' patterns are answered by one MFT pass; the result equals a directory walk's."""
    from dfvfs.resolver import resolver

    source = sources.open_source(corpus_file("images", "dfvfs", "windows_volume.qcow2"))
    volume = source.volumes[0]
    collector = Collector([Request("t", [PathPattern("**\\*")])], deleted=False)
    by_mft = {t.location for t in collector.collect(source, volume) if t.is_allocated}

    walked = set()
    stack = [resolver.Resolver.OpenFileEntry(volume.path_spec)]
    while stack:
        entry = stack.pop()
        for child in entry.sub_file_entries:
            walked.add(child.path_spec.location)
            if child.IsDirectory():
                stack.append(child)
    assert collector.stats["mft_entries_scanned"] > 0
    assert walked <= by_mft  # the MFT also has metadata files ($MFT, ...) the listing hides
    assert {p for p in by_mft - walked if not p.split("\\")[1].startswith("$")} == set()


def test_generic_walk_on_other_file_systems():
    source = sources.open_source(corpus_file("images", "dfvfs", "image.E01"))
    collector = Collector([Request("t", [PathPattern("**\\*.txt")])])
    assert sorted(t.location for t in collector.collect(source, source.volumes[0])) == ["\\passwords.txt"]


def test_directory_source_is_one_volume(tmp_path):
    (tmp_path / "Users" / "alice").mkdir(parents=True)
    (tmp_path / "Users" / "alice" / "x.WSB").write_text("<Configuration/>")
    (tmp_path / "other.txt").write_text("x")
    source = sources.open_source(str(tmp_path))
    assert [v.label for v in source.volumes] == ["directory"]
    collector = Collector([Request("t", [PathPattern("**\\*.wsb")])])
    assert [t.location for t in collector.collect(source, source.volumes[0])] == ["\\Users\\alice\\x.WSB"]
