"""Folder sources: names that are not UTF-8, symbolic links, and the files listed in the sidecar."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from sandtrace import cli

WSB = (b"<Configuration><Networking>Disable</Networking>"
       b"<LogonCommand><Command>C:\\%s.cmd</Command></LogonCommand></Configuration>")


def _wsb(tag: str) -> bytes:
    return WSB % tag.encode()


def _records(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def _logon_commands(records) -> dict[str, str]:
    """filename -> logon command of every wsb event."""
    return {r["filename"]: r["logon_command"] for r in records if r["data_type"] == "windows:sandbox:wsb_config"}


@pytest.fixture
def bad_names(tmp_path):
    """A folder with a file and a folder whose names are not UTF-8 (bytes 0xff, 0xfe)."""
    root = os.fsencode(tmp_path / "triage")
    os.makedirs(os.path.join(root, b"bad\xfedir"))
    with open(os.path.join(root, b"bad\xffname.wsb"), "wb") as handle:
        handle.write(_wsb("file"))
    with open(os.path.join(root, b"bad\xfedir", b"ok.wsb"), "wb") as handle:
        handle.write(_wsb("folder"))
    with open(os.path.join(root, b"good.wsb"), "wb") as handle:
        handle.write(_wsb("good"))
    return tmp_path / "triage"


def test_names_that_are_not_utf8_are_parsed_and_shown_with_bytes_escaped(bad_names, tmp_path):
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(bad_names), "--format", "json_line", "-o", str(out), "-q"]) == cli.EXIT_OK
    records = _records(out)
    assert _logon_commands(records) == {
        "\\bad\\xffname.wsb": "C:\\file.cmd",
        "\\bad\\xfedir\\ok.wsb": "C:\\folder.cmd",
        "\\good.wsb": "C:\\good.cmd",
    }
    names = {r["display_name"] for r in records}
    assert f"OS:{bad_names}/bad\\xffname.wsb" in names and f"OS:{bad_names}/bad\\xfedir/ok.wsb" in names
    assert not [r for r in records if r["data_type"] == "sandtrace:warning"]
    files = json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]["files"]
    assert [entry["path"] for entry in files] == ["bad\\xfedir/ok.wsb", "bad\\xffname.wsb", "good.wsb"]


@pytest.mark.parametrize("output_format", ["l2tcsv", "dynamic", "timesketch", "plaso"])
def test_names_that_are_not_utf8_reach_every_output_and_report(bad_names, tmp_path, output_format):
    out = tmp_path / f"t.{output_format}"
    report = tmp_path / "report.html"
    assert cli.main(["extract", str(bad_names), "--format", output_format, "-o", str(out),
                     "--report", str(report), "-q"]) == cli.EXIT_OK
    if output_format != "plaso":
        text = out.read_text(encoding="utf-8")
        if output_format == "timesketch":
            text = " ".join(f"{r['display_name']} {r['message']}" for r in _records(out))  # JSON-decoded
        assert "bad\\xffname.wsb" in text and "bad\\xfedir" in text and "\udcff" not in text
    assert "bad\\xffname.wsb" in report.read_text(encoding="utf-8")


def test_batch_parses_a_triage_folder_with_names_that_are_not_utf8(bad_names, tmp_path):
    (bad_names / ".sandtrace-triage").write_bytes(b"")
    out = tmp_path / "batch"
    assert cli.main(["batch", str(bad_names), "-o", str(out), "-q"]) == cli.EXIT_OK
    assert _logon_commands(_records(out / "merged.jsonl")) == {
        "\\bad\\xffname.wsb": "C:\\file.cmd",
        "\\bad\\xfedir\\ok.wsb": "C:\\folder.cmd",
        "\\good.wsb": "C:\\good.cmd",
    }


@pytest.fixture
def linked(tmp_path):
    """A triage folder whose Security.evtx and a .wsb are links to files outside it,
    one .wsb link inside it, and a real .wsb."""
    from tests.fuzz.test_fuzz_evtx import seed

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Security.evtx").write_bytes(seed())
    (elsewhere / "outside.wsb").write_bytes(_wsb("outside"))
    root = tmp_path / "triage"
    logs = root / "Windows" / "System32" / "winevt" / "Logs"
    logs.mkdir(parents=True)
    (logs / "Security.evtx").symlink_to(elsewhere / "Security.evtx")
    desktop = root / "Users" / "bob" / "Desktop"
    desktop.mkdir(parents=True)
    (desktop / "real.wsb").write_bytes(_wsb("real"))
    (desktop / "outside.wsb").symlink_to(elsewhere / "outside.wsb")
    (desktop / "inside.wsb").symlink_to("real.wsb")
    return root


def test_symbolic_links_are_not_followed_but_reported(linked, tmp_path):
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(linked), "--format", "json_line", "-o", str(out), "-q"]) == cli.EXIT_OK
    records = _records(out)
    assert not [r for r in records if r["data_type"].startswith("windows:evtx")]
    assert _logon_commands(records) == {"\\Users\\bob\\Desktop\\real.wsb": "C:\\real.cmd"}
    errors = sorted(r["error"] for r in records if r["data_type"] == "sandtrace:warning")
    elsewhere = tmp_path / "elsewhere"
    assert errors == [
        "symbolic link not followed: Users/bob/Desktop/inside.wsb -> real.wsb (points inside the folder source)",
        f"symbolic link not followed: Users/bob/Desktop/outside.wsb -> {elsewhere}/outside.wsb (points outside the folder source)",
        "symbolic link not followed: Windows/System32/winevt/Logs/Security.evtx -> "
        f"{elsewhere}/Security.evtx (points outside the folder source)",
    ]
    meta = json.loads((tmp_path / "t.jsonl.meta.json").read_text())
    assert sorted(w["error"] for w in meta["warnings"]) == errors


def test_sidecar_lists_the_files_of_a_folder_source_with_their_hashes(linked, tmp_path):
    (linked / "Windows" / "System32" / "config").mkdir()
    hive = os.urandom(5000)
    (linked / "Windows" / "System32" / "config" / "SYSTEM").write_bytes(hive)
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(linked), "--format", "json_line", "-o", str(out), "-q"]) == cli.EXIT_OK
    source = json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]
    assert source["kind"] == "directory"
    wsb = _wsb("real")
    assert source["files"] == [
        {"path": "Users/bob/Desktop/real.wsb", "size": len(wsb),
         "md5": hashlib.md5(wsb).hexdigest(), "sha256": hashlib.sha256(wsb).hexdigest()},
        {"path": "Windows/System32/config/SYSTEM", "size": 5000,
         "md5": hashlib.md5(hive).hexdigest(), "sha256": hashlib.sha256(hive).hexdigest()},
    ]
    assert cli.main(["extract", str(linked), "--format", "json_line", "-o", str(out), "-q", "--overwrite", "--no-hash"]) == 0
    files = json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]["files"]
    assert files == [{"path": "Users/bob/Desktop/real.wsb", "size": len(wsb)},
                     {"path": "Windows/System32/config/SYSTEM", "size": 5000}]


def test_batch_sidecar_lists_the_files_of_a_folder_source(linked, tmp_path):
    (linked / ".sandtrace-triage").write_bytes(b"")
    out = tmp_path / "batch"
    assert cli.main(["batch", str(linked), "-o", str(out), "-q"]) == cli.EXIT_OK
    (meta,) = list(out.glob("sources/*/timeline.meta.json"))
    document = json.loads(meta.read_text())
    wsb = _wsb("real")
    assert document["sources"][0]["files"] == [
        {"path": "Users/bob/Desktop/real.wsb", "size": len(wsb),
         "md5": hashlib.md5(wsb).hexdigest(), "sha256": hashlib.sha256(wsb).hexdigest()},
    ]
    assert sum("symbolic link not followed" in w["error"] for w in document["warnings"]) == 3


def test_batch_takes_a_source_whose_own_name_is_not_utf8_and_resumes_it(bad_names, tmp_path):
    """The manifest (SQLite, UTF-8 text) stores such a path as its bytes: the batch neither
    ends on it nor processes it twice."""
    store = os.fsencode(tmp_path / "store")
    os.makedirs(store)
    case = os.path.join(store, b"case\xff")
    os.rename(os.fsencode(bad_names), case)
    open(os.path.join(case, b".sandtrace-triage"), "wb").close()
    out = tmp_path / "batch"
    assert cli.main(["batch", os.fsdecode(store), "-o", str(out), "-q"]) == cli.EXIT_OK
    merged = out / "merged.jsonl"
    assert len(_logon_commands(_records(merged))) == 3
    first = merged.read_bytes()
    assert cli.main(["batch", os.fsdecode(store), "-o", str(out), "-q"]) == cli.EXIT_OK
    assert merged.read_bytes() == first
    from sandtrace.batch.manifest import Manifest

    manifest = Manifest(str(out))
    try:
        assert [(row["path"], row["status"], row["completions"]) for row in manifest.sources()] == [
            (os.fsdecode(case), "done", 1)]
    finally:
        manifest.close()


def test_a_named_pipe_in_a_triage_folder_is_reported_not_opened(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: the run hung for ever."""
    root = tmp_path / "triage"
    (root / "Users" / "a").mkdir(parents=True)
    os.mkfifo(root / "Users" / "a" / "pipe.wsb")
    (root / "Users" / "a" / "real.wsb").write_bytes(_wsb("real"))
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(root), "--format", "json_line", "-o", str(out), "-q"]) == cli.EXIT_OK
    records = _records(out)
    assert _logon_commands(records) == {"\\Users\\a\\real.wsb": "C:\\real.cmd"}
    assert [r["error"] for r in records if r["data_type"] == "sandtrace:warning"] == [
        "not a regular file (named pipe): Users/a/pipe.wsb: not read"]
