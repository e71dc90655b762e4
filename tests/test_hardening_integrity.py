"""Evidence integrity: a run never alters a source, opens sources read-only, and --verify checks E01 hashes.

Missing/truncated E01 segments are covered in tests/test_sources.py; this file
covers what the examiner must be able to swear to about the evidence itself.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import shutil
import stat

import pytest

from sandtrace import cli
from sandtrace.engine import provenance

IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test_images")
WSB = b"<Configuration><MappedFolders><MappedFolder><HostFolder>C:\\case</HostFolder></MappedFolder></MappedFolders></Configuration>"


def _state(root: str) -> dict[str, tuple]:
    """Every file and folder under ``root``: content hash and the os-level identity a write would change."""
    found = {}
    for directory, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            digest = None
            if stat.S_ISREG(status.st_mode):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            found[os.path.relpath(path, root)] = (
                digest, status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, stat.S_IMODE(status.st_mode),
            )
    status = os.lstat(root)
    found["."] = (None, None, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, stat.S_IMODE(status.st_mode))
    return found


def _read_only(root: str) -> None:
    for directory, folders, files in os.walk(root, topdown=False):
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
        os.chmod(directory, 0o555)


def _writable(root: str) -> None:
    for directory, folders, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)


@pytest.fixture
def evidence(tmp_path):
    """Read-only copies of foundation.E01/E02, host.E01/E02 and a triage folder (files 0444, folders 0555)."""
    root = tmp_path / "evidence"
    root.mkdir()
    for name in ("foundation.E01", "foundation.E02", "host.E01", "host.E02"):
        shutil.copy2(os.path.join(IMAGES, name), root / name)
    triage = root / "triage"
    desktop = triage / "Users" / "alice" / "Desktop"
    desktop.mkdir(parents=True)
    (desktop / "case.wsb").write_bytes(WSB)
    (desktop / "evil\u202etxt.wsb").write_bytes(WSB)
    (triage / ".sandtrace-triage").write_bytes(b"")
    _read_only(str(root))
    yield root
    _writable(str(root))


def test_extract_leaves_every_source_byte_and_inode_unchanged_and_opens_none_for_writing(evidence, tmp_path, monkeypatch):
    before = _state(str(evidence))
    root = str(evidence)
    write_modes = []
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and os.fspath(file).__str__().startswith(root) and set(str(mode)) & set("wax+"):
            write_modes.append((file, mode))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if str(os.fspath(path)).startswith(root) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
            write_modes.append((path, flags))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    out = tmp_path / "out"
    runs = [
        [str(evidence / "foundation.E01"), "--verify", "--format", "l2tcsv", "-o", str(out / "f.csv")],
        [str(evidence / "host.E01"), "--verify", "--format", "json_line", "-o", str(out / "h.jsonl")],
        [str(evidence / "triage"), "--nested-disks", "all", "--paths", "**", "-o", str(out / "t.csv")],
    ]
    for arguments in runs:
        assert cli.main(["extract", *arguments, "-q"]) == cli.EXIT_OK
    monkeypatch.undo()
    assert write_modes == []
    assert _state(str(evidence)) == before
    assert not [name for name in os.listdir(evidence) if name.startswith(".sandtrace")]  # no temp file beside the evidence
    meta = json.loads((out / "f.csv.meta.json").read_text())
    hashes = {entry["path"]: entry["sha256"] for entry in meta["sources"][0]["files"]}
    assert hashes[str(evidence / "foundation.E01")] == before["foundation.E01"][0]
    assert meta["sources"][0]["verify"]["verified"] is True


def test_verify_records_stored_and_computed_hashes_that_match(tmp_path):
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", os.path.join(IMAGES, "foundation.E01"), "--verify", "--format", "json_line",
                     "--parsers", "wsb", "-o", str(out), "-q"]) == cli.EXIT_OK
    verify = json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]["verify"]
    import pyewf

    handle = pyewf.handle()
    handle.open(pyewf.glob(os.path.join(IMAGES, "foundation.E01")), "r")
    stored = {k.lower(): v for k, v in handle.get_hash_values().items()}
    handle.close()
    assert verify["verified"] is True
    for name in ("md5", "sha1"):
        assert verify[name] == {"stored": stored[name], "computed": stored[name], "match": True}


def test_verify_without_the_flag_records_nothing(tmp_path):
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", os.path.join(IMAGES, "foundation.E01"), "--format", "json_line",
                     "--parsers", "wsb", "--no-hash", "-o", str(out), "-q"]) == cli.EXIT_OK
    assert "verify" not in json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]


def test_a_flipped_byte_in_a_chunk_is_a_clear_mismatch_warning_not_a_failure(tmp_path, capsys):
    for name in ("foundation.E01", "foundation.E02"):
        shutil.copy(os.path.join(IMAGES, name), tmp_path / name)
    image = tmp_path / "foundation.E01"
    data = bytearray(image.read_bytes())
    data[300_000] ^= 0xFF  # inside the compressed chunk data of the first segment
    image.write_bytes(bytes(data))
    out = tmp_path / "t.jsonl"
    code = cli.main(["extract", str(image), "--verify", "--format", "json_line", "--parsers", "wsb", "-o", str(out)])
    assert code == cli.EXIT_OK
    meta = json.loads((tmp_path / "t.jsonl.meta.json").read_text())
    verify = meta["sources"][0]["verify"]
    assert verify["verified"] is False
    assert verify["md5"]["stored"] == "70860e2583eadc225e97132e7073f04f"
    assert verify["md5"]["match"] is False or "error" in verify
    warnings = [w for w in meta["warnings"] if w["parser"] == "verify"]
    assert len(warnings) == 1
    assert "does not match the media" in warnings[0]["error"] or "media unreadable" in warnings[0]["error"]
    assert "verify: foundation.E01:" in capsys.readouterr().err


def test_verify_reports_an_unreadable_media_as_an_error_not_an_exception(tmp_path):
    result = provenance.verify_ewf([str(tmp_path / "absent.E01")], {"md5": "0" * 32})
    assert result["verified"] is False and "error" in result
    assert result["md5"] == {"stored": "0" * 32, "computed": None, "match": None}
    assert provenance.verify_warning("absent.E01", result).startswith("verify: absent.E01: media unreadable")


def test_verify_on_a_folder_says_there_is_nothing_to_verify(tmp_path):
    folder = tmp_path / "triage"
    folder.mkdir()
    (folder / "a.wsb").write_bytes(WSB)
    out = tmp_path / "t.jsonl"
    assert cli.main(["extract", str(folder), "--verify", "--format", "json_line", "-o", str(out), "-q"]) == cli.EXIT_OK
    verify = json.loads((tmp_path / "t.jsonl.meta.json").read_text())["sources"][0]["verify"]
    assert verify == {"verified": None, "error": "not an EWF image: nothing stored to verify"}


def test_batch_verifies_each_e01_and_neutralizes_formulas(tmp_path):
    """batch --verify --neutralize-formulas: as extract, per source (docs/batch.md)."""
    from sandtrace.batch import discovery

    store = tmp_path / "store"
    (store / "good").mkdir(parents=True)
    (store / "bad").mkdir()
    for name in ("foundation.E01", "foundation.E02"):
        shutil.copy(os.path.join(IMAGES, name), store / "good" / name)
        shutil.copy(os.path.join(IMAGES, name), store / "bad" / name)
    flipped = store / "bad" / "foundation.E01"
    data = bytearray(flipped.read_bytes())
    data[300_000] ^= 0xFF
    flipped.write_bytes(bytes(data))
    triage = store / "triage"
    triage.mkdir()
    (triage / discovery.TRIAGE_MARKER).write_text("")
    (triage / "x.wsb").write_text('<Configuration><LogonCommand><Command>=HYPERLINK("http://x")</Command>'
                                  "</LogonCommand></Configuration>")
    out = tmp_path / "out"
    assert cli.main(["batch", str(store), "-o", str(out), "--verify", "--neutralize-formulas", "--workers", "1",
                     "--format", "dynamic", "--fields", "logon_command,display_name", "--parsers", "wsb",
                     "-q"]) == cli.EXIT_OK
    metas = {name: json.loads(path.read_text()) for name in os.listdir(out / "sources")
             for path in [out / "sources" / name / "timeline.meta.json"]}
    assert len(metas) == 3
    by_kind = {}
    for meta in metas.values():
        source = meta["sources"][0]
        by_kind["bad" if "bad" in source["path"] else "good" if "good" in source["path"] else "triage"] = meta
    assert by_kind["good"]["sources"][0]["verify"]["verified"] is True
    assert by_kind["good"]["sources"][0]["verify"]["md5"]["match"] is True
    assert not [w for w in by_kind["good"]["warnings"] if w["parser"] == "verify"]
    assert by_kind["bad"]["sources"][0]["verify"]["verified"] is False
    assert [w["error"].split(":")[0:2] for w in by_kind["bad"]["warnings"] if w["parser"] == "verify"] == [
        ["verify", " foundation.E01"]]
    assert by_kind["triage"]["sources"][0]["verify"] == {
        "verified": None, "error": "not an EWF image: nothing stored to verify"}
    triage_name = next(name for name, meta in metas.items() if meta is by_kind["triage"])
    rows = (out / "sources" / triage_name / "timeline.dynamic.csv").read_text().splitlines()
    assert rows[1].startswith("'=HYPERLINK(\"http://x\"),OS:")
