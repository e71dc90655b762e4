"""Hostile names in the evidence: escaped in every output, spreadsheet formulas neutralised, safe export names."""

from __future__ import annotations

import json
import os
import re

import pytest
from dfdatetime import filetime

from sandtrace import cli
from sandtrace.batch import discovery
from sandtrace.output import sanitize
from sandtrace.output.base import OutputOptions
from sandtrace.output.dynamic import DynamicWriter
from sandtrace.output.l2tcsv import L2TCSVWriter
from tests.output_fixtures import T0, ntfs_stat, timeline

HOSTILE = ["new\nline.txt", "esc\x1b[31mred.txt", "invoice\u202efdp.exe", "=cmd|calc.txt", "tab\tcr\r.txt", "c1\x85x.txt"]
# Raw C0 (but the newline ending a row), C1 and bidirectional controls must never reach a CSV cell.
RAW_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # a tab stays, as in plaso


@pytest.fixture(scope="module")
def triage(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    desktop = root / "Users" / "bob" / "Desktop"
    desktop.mkdir(parents=True)
    for name in HOSTILE:
        (desktop / name).write_bytes(b"x")
    deep = root.joinpath(*(["L" * 200] * 6))  # a 1200-character path
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_bytes(b"x")
    (desktop / "evil.wsb").write_text(
        "<Configuration><MappedFolders><MappedFolder><HostFolder>=HYPERLINK(\"http://x\")\u202e</HostFolder>"
        "</MappedFolder></MappedFolders><LogonCommand><Command>@cmd /c calc</Command></LogonCommand></Configuration>",
        encoding="utf-8")
    return root


@pytest.mark.parametrize("output_format", ["l2tcsv", "dynamic"])
def test_control_characters_and_bidi_overrides_are_escaped_in_csv_outputs(triage, tmp_path, output_format):
    out = tmp_path / "timeline.csv"
    assert cli.main(["extract", str(triage), "--paths", "**", "--format", output_format, "-o", str(out), "-q"]) == 0
    text = out.read_text(encoding="utf-8")
    assert not RAW_UNSAFE.search(text)
    lines = text.splitlines()
    width = len(lines[0].split(","))
    assert all(len(line.split(",")) == width for line in lines)  # no row split or shifted by a name
    for escaped in ("new\\x0aline.txt", "esc\\x1b[31mred.txt", "invoice\\u202efdp.exe", "tab\\x09cr\\x0d.txt", "c1\\x85x.txt"):
        assert escaped in text, escaped
    assert "L" * 200 + "/" + "L" * 200 in text and "deep.txt" in text  # a long path is kept whole
    assert "\\u202e" in next(line for line in lines if "evil.wsb" in line and "HYPERLINK" in line)


def test_json_line_escapes_every_control_and_bidi_character(triage, tmp_path):
    out = tmp_path / "timeline.jsonl"
    assert cli.main(["extract", str(triage), "--paths", "**", "--format", "json_line", "-o", str(out), "-q"]) == 0
    raw = out.read_text(encoding="utf-8")
    assert not RAW_UNSAFE.search(raw.replace("\n", ""))
    names = {json.loads(line).get("display_name", "") for line in raw.splitlines()}
    assert any(name.endswith("invoice\u202efdp.exe") for name in names)  # the value itself is exact, JSON-escaped


def _hostile_events():
    times = dict.fromkeys(("access_time", "creation_time", "entry_modification_time", "modification_time"), T0)
    data = ntfs_stat("\\Users\\bob\\=cmd|calc.txt", 70, 1, 0x30, times, name="=cmd|' /C calc'!A0")
    data.values["user_sid"] = "@SUM(1+1)"
    data.values["path"] = "+33 1 23\t"
    data.values["note"] = "-2+3"
    data.values["username"] = "=HYPERLINK(\"http://x\")"
    return timeline(data, 0)


@pytest.mark.parametrize("writer_class", [L2TCSVWriter, DynamicWriter])
def test_neutralize_formulas_prefixes_formula_cells_only_when_asked(tmp_path, writer_class):
    fields = ["name", "user_sid", "path", "note", "display_name", "tag", "user"]
    outputs = {}
    for neutralize in (False, True):
        path = tmp_path / f"{writer_class.name}-{neutralize}.csv"
        with writer_class(str(path), OutputOptions(fields=fields, neutralize_formulas=neutralize)) as writer:
            for event in _hostile_events():
                writer.write(event)
        outputs[neutralize] = path.read_text(encoding="utf-8").splitlines()[1:]
    cells_off = [cell for line in outputs[False] for cell in line.split(",")]
    cells_on = [cell for line in outputs[True] for cell in line.split(",")]
    assert any(cell.startswith("=") for cell in cells_off)  # without the option, plaso's bytes
    assert not [cell for cell in cells_on if cell != "-" and cell[:1] in "=+-@\t\r"]
    assert "-" in cells_on  # plaso's "no value" is left alone
    assert "'=HYPERLINK(\"http://x\")" in cells_on  # the user column of both formats
    if writer_class is DynamicWriter:
        assert cells_on[:4] == ["'=cmd|' /C calc'!A0", "'@SUM(1+1)", "'+33 1 23\t", "'-2+3"]


def test_sanitize_helpers():
    assert sanitize.escape_text("a\u202eb\x1b\x85\n\u2066") == "a\\u202eb\\x1b\\x85\\x0a\\u2066"
    assert sanitize.escape_text("plain \\ text é 漢") == "plain \\ text é 漢"
    assert sanitize.escape_cell("a,b") == "a b"
    assert sanitize.neutralize_formula("=1") == "'=1" and sanitize.neutralize_formula("-") == "-"
    assert sanitize.neutralize_formula("\tx") == "'\tx" and sanitize.neutralize_formula("a=1") == "a=1"


@pytest.mark.parametrize("hostile", [
    "../../etc/passwd.E01", "/abs/olute.E01", "..", ".", "a\x00b.E01", "..\\..\\win.E01", "\u202eevil.E01", "~root.E01", "",
    "CON.E01", "a/../../b.E01",
])
def test_batch_source_names_cannot_escape_the_output_folder(tmp_path, hostile):
    out = tmp_path / "out" / "sources"
    name = discovery.source_name(hostile, set())
    assert name and name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name) and not name.startswith(".")
    assert os.path.dirname(os.path.normpath(os.path.join(out, name))) == str(out)
    safe = sanitize.safe_file_name(hostile)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe) and not safe.startswith(".")


def test_two_hostile_names_that_clean_to_the_same_stem_get_distinct_folders():
    taken = {discovery.source_name("/e/a b.E01", set())}
    assert discovery.source_name("/e/a?b.E01", taken) not in taken


@pytest.mark.parametrize("suffix", [".md", ".html", ".json"])
def test_hostile_names_reach_the_reports_escaped(tmp_path, suffix):
    """A .wsb whose name and settings carry a right-to-left override, ESC and a newline:
    the reports show them escaped, never obey them (JSON escapes by itself)."""
    from sandtrace import cli

    triage = tmp_path / "triage"
    triage.mkdir()
    # XML 1.0 cannot hold ESC or BEL, so those come in the file name; U+0085 (NEL) and the
    # bidi override also in the settings.
    (triage / "inv\u202excod.wsb").write_text(
        "<Configuration><MappedFolders><MappedFolder><HostFolder>C:\\Users\\a\\\u202eevil\u0085x</HostFolder>"
        "<ReadOnly>false</ReadOnly></MappedFolder></MappedFolders>"
        "<LogonCommand><Command>cmd /c \u2066run</Command></LogonCommand></Configuration>",
        encoding="utf-8")
    (triage / "a\x1b]0;owned\x07.wsb").write_text("<Configuration><Networking>Enable</Networking></Configuration>")
    report = tmp_path / f"report{suffix}"
    assert cli.main(["extract", str(triage), "--parsers", "wsb,filestat", "-o", str(tmp_path / "t.jsonl"),
                     "--report", str(report), "-q"]) == cli.EXIT_OK
    text = report.read_text(encoding="utf-8")
    for raw in ("\u202e", "\x1b", "\x07", "\x85", "\u2066"):
        assert raw not in text
    assert "inv\\u202excod.wsb" in text and "\\u2066run" in text
    assert ("\\u001b]0;owned\\u0007" if suffix == ".json" else "\\x1b]0;owned\\x07") in text
