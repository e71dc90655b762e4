"""Sources as plaso takes them: a folder that is no Windows layout, and a single file.

Every file goes to the parsers that recognise it (docs/cli.md, "Sources"). The
reference for the event logs is plaso's own log2timeline run at test time on the
same folder; for the hive, pyregf; for the .wsb, the XML itself.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from sandtrace import cli
from sandtrace.batch import discovery
from sandtrace.engine import sources
from tests.conftest import corpus_file

pytestmark = pytest.mark.corpus

BIN = os.path.dirname(sys.executable)
LOGS = [  # active records only: what sandtrace recovers beyond them is its own addition
    ("evtx-attack-samples", "DE_104_system_log_cleared.evtx"),
    ("evtx-attack-samples", "LM_Remote_Service02_7045.evtx"),
    ("omerbenamram-evtx", "Security_short_selected.evtx"),
    ("python-evtx", "issue_38.evtx"),
]
HIVE = ("registry", "plaso", "SAM")
WSB = ("wsb", "jdhitsolutions-WindowsSandboxTools", "wsbconfig", "demo.wsb")


def _records(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def _extract(source, out, *extra: str) -> int:
    return cli.main(["extract", str(source), "-o", str(out), "--format", "json_line", "-q", "--workers", "0", *extra])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of copies (links are not followed): logs at the top and below, a hive, a
    .wsb, a file nothing recognises; no Windows layout."""
    root = tmp_path_factory.mktemp("exported") / "exported"
    (root / "more").mkdir(parents=True)
    (root / "hives").mkdir()
    (root / "configs").mkdir()
    for index, (project, name) in enumerate(LOGS):
        shutil.copy(corpus_file("evtx", project, name), root / ("more" if index % 2 else "") / name)
    shutil.copy(corpus_file(*HIVE), root / "hives" / "SAM")
    shutil.copy(corpus_file(*WSB), root / "configs" / "demo.wsb")
    (root / "notes.txt").write_text("case notes\n")
    return root


@pytest.fixture(scope="module")
def extracted(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "t.jsonl"
    assert _extract(folder, out) == cli.EXIT_OK
    return _records(out), json.loads(open(f"{out}.meta.json", encoding="utf-8").read())


@pytest.fixture(scope="module")
def plaso_records(folder, tmp_path_factory):
    """log2timeline --parsers winevtx on the folder, then psort json_line."""
    log2timeline, psort = os.path.join(BIN, "log2timeline"), os.path.join(BIN, "psort")
    if not (os.path.exists(log2timeline) and os.path.exists(psort)):
        pytest.skip("plaso's tools are not installed")
    work = tmp_path_factory.mktemp("plaso")
    store, output = work / "folder.plaso", work / "folder.jsonl"
    subprocess.run([log2timeline, "--single_process", "--parsers", "winevtx", "--status_view", "none", "--unattended",
                    "-q", "--logfile", str(work / "l2t.log.gz"), "--storage-file", str(store), str(folder)],
                   check=True, capture_output=True, cwd=work)
    subprocess.run([psort, "-q", "-o", "json_line", "-w", str(output), "--logfile", str(work / "psort.log.gz"),
                    str(store)], check=True, capture_output=True, cwd=work)
    return _records(output)


def _active_records(records) -> dict[str, set[int]]:
    """display name -> record numbers of the active EVTX records."""
    found = collections.defaultdict(set)
    for record in records:
        if record["data_type"] == "windows:evtx:record" and not record.get("recovered"):
            found[record["display_name"]].add(record["record_number"])
    return dict(found)


def test_a_folder_of_logs_gives_plaso_s_records_per_file_under_plaso_s_names(folder, extracted, plaso_records):
    records, _ = extracted
    expected = _active_records(plaso_records)
    assert set(expected) == {f"OS:{folder}/{'more/' if i % 2 else ''}{name}" for i, (_, name) in enumerate(LOGS)}
    assert _active_records(records) == expected
    plaso_paths = {r["display_name"]: r["pathspec"] for r in plaso_records}
    assert {r["display_name"]: r["pathspec"] for r in records if r["data_type"] == "windows:evtx:record"} == plaso_paths
    assert not [r for r in records if r["data_type"] == "sandtrace:warning"]


def test_a_folder_s_hive_gives_its_registry_records(folder, extracted):
    import pyregf

    regf = pyregf.file()
    regf.open(str(folder / "hives" / "SAM"))
    names = regf.get_key_by_path("SAM\\Domains\\Account\\Users\\Names")
    expected = {names.get_sub_key(index).name for index in range(names.number_of_sub_keys)}
    regf.close()
    records, _ = extracted
    users = {r["username"] for r in records if r["data_type"] == "windows:registry:sam_users"}
    assert users == expected == {"Administrator", "gold_administrator", "Guest"}
    assert {r["display_name"] for r in records if r["parser"].startswith("winreg")} == {f"OS:{folder}/hives/SAM"}


def test_a_folder_s_wsb_gives_its_configuration(folder, extracted):
    tree = ElementTree.parse(folder / "configs" / "demo.wsb").getroot()
    records, _ = extracted
    configs = [r for r in records if r["data_type"] == "windows:sandbox:wsb_config"]  # one event per time
    assert len({r["sha256_hash"] for r in configs}) == 1
    config = configs[0]
    assert config["logon_command"] == tree.findtext("LogonCommand/Command")
    assert [(m["host_folder"], m["sandbox_folder"]) for m in config["mapped_folders"]] == [
        (m.findtext("HostFolder"), m.findtext("SandboxFolder")) for m in tree.iter("MappedFolder")]
    assert config["display_name"] == f"OS:{folder}/configs/demo.wsb"
    assert config["filename"] == "\\configs\\demo.wsb"


def test_the_sidecar_says_what_was_recognised(folder, extracted):
    _, meta = extracted
    (source,) = meta["sources"]
    assert source["kind"] == "directory"
    assert source["collection"] == {
        "by": "signature", "files": len(LOGS) + 3, "files_recognised": len(LOGS) + 2, "notes": [],
        "recognised_by_parser": {"winevtx": len(LOGS), "winreg": 1, "wsb": 1}}
    listed = {entry["path"] for entry in source["files"]}
    assert "notes.txt" not in listed and {"hives/SAM", "configs/demo.wsb"} <= listed
    assert meta["summary"]["files_collected"] == len(LOGS) + 2


@pytest.mark.parametrize("parts", [("evtx", *LOGS[1]), HIVE, WSB], ids=["evtx", "hive", "wsb"])
def test_a_single_file_is_parsed_as_in_its_folder(parts, folder, extracted, tmp_path):
    path = corpus_file(*parts)
    out = tmp_path / "one.jsonl"
    assert _extract(path, out) == cli.EXIT_OK
    records = _records(out)
    name = parts[-1]
    shown = {r["display_name"] for r in records}
    assert shown == {f"OS:{path}"}
    assert {r["pathspec"]["location"] for r in records} == {path}
    in_folder = [r for r in extracted[0] if r["display_name"].endswith("/" + name)]

    def content(record) -> tuple:
        skip = {"display_name", "pathspec", "filename", "message", "date_time", "timestamp",
                "creation_time", "modification_time", "access_time", "entry_modification_time"}
        return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in record.items() if k not in skip))

    parsed = [r for r in records if r["data_type"] != "fs:stat"]  # the copy's file times differ
    assert parsed and sorted(map(content, parsed)) == sorted(content(r) for r in in_folder if r["data_type"] != "fs:stat")
    meta = json.loads(open(f"{out}.meta.json", encoding="utf-8").read())
    (source,) = meta["sources"]
    assert source["kind"] == "file" and [entry["path"] for entry in source["files"]] == [path]
    assert source["files"][0]["size"] == os.path.getsize(path)


def test_a_single_file_no_parser_recognises_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("case notes\n")
    assert _extract(tmp_path / "notes.txt", tmp_path / "o.jsonl") == cli.EXIT_SOURCE
    assert f"not a disk image and no parser recognises it: {tmp_path}/notes.txt" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_a_file_the_selected_parsers_do_not_recognise_is_refused(tmp_path, capsys):
    path = corpus_file(*WSB)
    assert _extract(path, tmp_path / "o.jsonl", "--parsers", "winevtx") == cli.EXIT_SOURCE
    assert "fits: winevtx)" in capsys.readouterr().err


def _warnings(out) -> list[str]:
    return [r["error"] for r in _records(out) if r["data_type"] == "sandtrace:warning"]


def test_an_empty_folder_says_why_it_gave_nothing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "o.jsonl"
    assert _extract(empty, out) == cli.EXIT_OK
    message = f"no Windows layout in {empty} (no Windows, Users, ProgramData or $MFT at its root) and no file in it: 0 events"
    assert _warnings(out) == [message]
    assert f"sandtrace: warning: {message}" in capsys.readouterr().err
    meta = json.loads(open(f"{out}.meta.json", encoding="utf-8").read())
    assert meta["sources"][0]["collection"]["notes"] == [message]
    assert [w["error"] for w in meta["warnings"]] == [message]


def test_a_folder_of_unrecognised_files_says_why(tmp_path, capsys):
    junk = tmp_path / "junk"
    (junk / "sub").mkdir(parents=True)
    (junk / "a.txt").write_text("hello")
    (junk / "sub" / "b.bin").write_bytes(bytes(range(256)) * 20)
    (junk / "c.evtx").write_bytes(b"not an event log")  # a name is not a signature
    out = tmp_path / "o.jsonl"
    assert _extract(junk, out) == cli.EXIT_OK
    (message,) = _warnings(out)
    assert message.startswith(f"no Windows layout in {junk} (no Windows, Users, ProgramData or $MFT at its root), so "
                              "each file went to the parsers that recognise it: 3 files, none recognised by any of "
                              "the parsers that read files by signature or name (")
    assert message.endswith("winevtx, winreg, wsb); 0 events")
    assert message in capsys.readouterr().err


def test_a_recognised_log_without_records_says_so(tmp_path):
    from tests.fuzz.test_fuzz_evtx import seed

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "x.bin").write_bytes(seed()[:4096])  # a file header, no chunk: recognised, no record
    out = tmp_path / "o.jsonl"
    assert _extract(logs, out, "--parsers", "winevtx") == cli.EXIT_OK
    assert f"no Windows layout in {logs} (no Windows, Users, ProgramData or $MFT at its root), so each file went to " \
        "the parsers that recognise it: 1 files, 1 recognised (winevtx 1); 0 events" in _warnings(out)


def test_a_windows_layout_keeps_the_path_rules(tmp_path):
    """Logs/ under Windows\\System32\\winevt is read; an export elsewhere in a layout is not
    (it needs --evtx-anywhere, as on an image), and nothing is said about it."""
    root = tmp_path / "triage"
    logs = root / "windows" / "System32" / "winevt" / "Logs"  # any case
    logs.mkdir(parents=True)
    (root / "exports").mkdir()
    shutil.copy(corpus_file("evtx", *LOGS[0]), logs / "System.evtx")
    shutil.copy(corpus_file("evtx", *LOGS[1]), root / "exports" / "other.evtx")
    assert sources.open_source(str(root)).layout == "windows"
    out = tmp_path / "o.jsonl"
    assert _extract(root, out, "--parsers", "winevtx") == cli.EXIT_OK
    records = _records(out)
    assert {r["display_name"] for r in records} == {f"OS:{logs}/System.evtx"}
    assert "collection" not in json.loads(open(f"{out}.meta.json", encoding="utf-8").read())["sources"][0]
    assert _extract(root, tmp_path / "a.jsonl", "--parsers", "winevtx", "--evtx-anywhere") == cli.EXIT_OK
    assert {r["display_name"] for r in _records(tmp_path / "a.jsonl")} == {
        f"OS:{logs}/System.evtx", f"OS:{root}/exports/other.evtx"}


@pytest.mark.parametrize("name", ["Windows", "USERS", "ProgramData", "Program Files", "$MFT", "$Extend"])
def test_what_makes_a_windows_layout(tmp_path, name):
    (tmp_path / name).mkdir()
    (tmp_path / "x.evtx").write_bytes(b"")
    assert sources.windows_layout(str(tmp_path)) == name
    assert not sources.open_source(str(tmp_path)).by_signature


def test_a_layout_one_folder_down_is_pointed_at(tmp_path):
    """A KAPE target folder holding C: read by signature, and the examiner told to name C."""
    kape = tmp_path / "kape"
    logs = kape / "C" / "Windows" / "System32" / "winevt" / "Logs"
    logs.mkdir(parents=True)
    shutil.copy(corpus_file("evtx", *LOGS[1]), logs / "System.evtx")
    out = tmp_path / "o.jsonl"
    assert _extract(kape, out, "--parsers", "winevtx") == cli.EXIT_OK
    records = _records(out)
    assert {r["record_number"] for r in records if r["data_type"] == "windows:evtx:record"} == {1, 2, 3}
    assert _warnings(out) == [
        f"no Windows layout at the root of {kape}, but its folder C is one (it holds Windows): name {kape}/C as the "
        "source for the parsers' path rules; here every file was offered to the parsers that recognise it"]


def test_info_says_what_a_folder_or_a_file_is(folder, tmp_path, capsys):
    assert cli.main(["info", str(folder), "--json"]) == cli.EXIT_OK
    description = json.loads(capsys.readouterr().out)
    assert description["collection"] == {
        "by": "signature", "files": len(LOGS) + 3, "files_recognised": len(LOGS) + 2, "layout_below": None,
        "recognised_by_parser": {"winevtx": len(LOGS), "winreg": 1, "wsb": 1},
        "formats": {"winevtx": "Windows XML EventLog (EVTX) file", "winreg": "Windows NT Registry File (REGF)",
                    "wsb": "Windows Sandbox configuration file (.wsb)"}}
    assert cli.main(["info", str(folder)]) == cli.EXIT_OK
    assert f"no Windows layout: a folder of {len(LOGS) + 3} files, {len(LOGS) + 2} recognised by signature or " \
        f"name (winevtx {len(LOGS)}, winreg 1, wsb 1)" in " ".join(capsys.readouterr().out.replace("│", "").split())
    path = corpus_file("evtx", *LOGS[0])
    assert cli.main(["info", path]) == cli.EXIT_OK
    assert "a single file: Windows XML EventLog (EVTX) file (winevtx)" in capsys.readouterr().out
    (tmp_path / "Users").mkdir()
    assert cli.main(["info", str(tmp_path), "--json"]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out)["collection"] == {"by": "paths", "layout": "Users"}
    (tmp_path / "notes.txt").write_text("case notes\n")
    assert cli.main(["info", str(tmp_path / "notes.txt")]) == cli.EXIT_SOURCE


def test_batch_takes_no_lone_file_of_a_store(folder):
    """docs/batch.md: a store's sources are images and marked folders; its loose logs,
    hives and .wsb files are not sources (name one to extract instead)."""
    assert discovery.discover([str(folder)]) == []
