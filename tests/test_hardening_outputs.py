"""Outputs never replace evidence; workers never import from the current folder;
a killed run leaves no workers and its scratch is swept; a full disk is exit 4
naming the file (issue 17, items 8, 9, 10, 12, 15)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from sandtrace import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = [os.path.join(ROOT, "test_images", name) for name in ("host.E01", "host.E02")]
WSB = b"<Configuration><LogonCommand><Command>cmd.exe</Command></LogonCommand></Configuration>"


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for path in HOST:
        shutil.copy(path, folder)
    return folder


@pytest.mark.parametrize("name", ["host.E02", "host.E01", "host.E03"])
def test_an_output_on_an_e01_segment_is_refused_even_with_overwrite(case, capsys, name):
    before = {path.name: _digest(path) for path in case.iterdir()}
    code = cli.main(["extract", str(case / "host.E01"), "-o", str(case / name), "--overwrite", "-q"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert f"refusing to write {case / name}" in err and "evidence is never written to" in err
    assert {path.name: _digest(path) for path in case.iterdir()} == before


def test_an_output_beside_the_segments_is_allowed_and_leaves_them_alone(case):
    before = {path.name: _digest(path) for path in case.iterdir()}
    code = cli.main(["extract", str(case / "host.E01"), "-o", str(case / "timeline.jsonl"), "-q",
                     "--parsers", "wsb", "--workers", "0"])
    assert code == cli.EXIT_OK
    assert {name: _digest(case / name) for name in before} == before


def test_outputs_inside_a_folder_source_are_refused_through_links_and_hard_links(tmp_path, capsys):
    evidence = tmp_path / "triage"
    (evidence / "Users" / "a").mkdir(parents=True)
    (evidence / "Users" / "a" / "attack.wsb").write_bytes(WSB)
    os.symlink(evidence / "Users", tmp_path / "alias")
    os.link(evidence / "Users" / "a" / "attack.wsb", tmp_path / "hard.wsb")
    refused = [
        ["-o", str(evidence / "out.jsonl")],
        ["-o", str(tmp_path / "alias" / "out.jsonl")],
        ["-o", str(tmp_path / "x" / ".." / "triage" / "Users" / "a" / "attack.wsb")],
        ["-o", str(tmp_path / "ok.jsonl"), "--report", str(evidence / "report.md")],
    ]
    for argv in refused:
        assert cli.main(["extract", str(evidence), *argv, "--overwrite", "-q"]) == cli.EXIT_USAGE, argv
        assert "refusing to write" in capsys.readouterr().err
    # A hard link to an evidence file outside the folder is that evidence too.
    assert cli.main(["extract", str(evidence / "Users" / "a" / "attack.wsb"), "-o", str(tmp_path / "hard.wsb"),
                     "--overwrite", "-q"]) == cli.EXIT_USAGE
    assert (evidence / "Users" / "a" / "attack.wsb").read_bytes() == WSB
    assert sorted(p.name for p in evidence.rglob("*")) == ["Users", "a", "attack.wsb"]


def test_a_batch_output_folder_inside_the_evidence_store_is_refused(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(HOST[0], store)
    shutil.copy(HOST[1], store)
    code = cli.main(["batch", str(store), "-o", str(store / "out"), "-q"])
    assert code == cli.EXIT_USAGE
    assert "refusing to write" in capsys.readouterr().err
    assert sorted(p.name for p in store.iterdir()) == ["host.E01", "host.E02"]


def test_a_report_never_replaces_its_timeline_or_sidecar(tmp_path, capsys):
    timeline = tmp_path / "t.jsonl"
    assert cli.main(["extract", HOST[0], "-o", str(timeline), "-q", "--parsers", "wsb", "--workers", "0"]) == 0
    before = _digest(str(timeline) + ".meta.json")
    code = cli.main(["report", str(timeline), "-o", str(timeline) + ".meta.json", "--format", "json",
                     "--overwrite", "-q"])
    assert code == cli.EXIT_USAGE and "refusing to write" in capsys.readouterr().err
    assert _digest(str(timeline) + ".meta.json") == before


def test_an_existing_sidecar_alone_is_not_overwritten_without_overwrite(tmp_path, capsys):
    output = tmp_path / "t.jsonl"
    sidecar = tmp_path / "t.jsonl.meta.json"
    sidecar.write_text('{"keep": "me"}')
    code = cli.main(["extract", HOST[0], "-o", str(output), "-q", "--parsers", "wsb"])
    assert code == cli.EXIT_USAGE
    assert f"output exists: {sidecar}" in capsys.readouterr().err
    assert sidecar.read_text() == '{"keep": "me"}' and not output.exists()
    assert cli.main(["extract", HOST[0], "-o", str(output), "-q", "--parsers", "wsb", "--overwrite"]) == 0
    assert json.loads(sidecar.read_text())["command_line"]


# -- item 10: nothing from the current folder runs in a worker -----------------------

PLANT = "import os\nopen(os.path.join({folder!r}, 'PLANTED-' + __name__), 'w').close()\nraise SystemExit('planted module ran')\n"


def _plant(folder) -> None:
    """A sandtrace package and a multiprocessing package that say when they run."""
    for name in ("sandtrace", "multiprocessing", "dfvfs"):
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(PLANT.format(folder=str(folder)))


def test_batch_workers_import_nothing_from_the_current_folder(tmp_path, monkeypatch):
    planted = tmp_path / "evidence"
    planted.mkdir()
    _plant(planted)
    (planted / "triage").mkdir()
    (planted / "triage" / ".sandtrace-triage").write_text("")
    (planted / "triage" / "attack.wsb").write_bytes(WSB)
    monkeypatch.chdir(planted)
    code = cli.main(["batch", "triage", "-o", str(tmp_path / "out"), "-q", "--workers", "1"])
    assert sorted(p.name for p in planted.iterdir() if p.name.startswith("PLANTED")) == []
    assert code == cli.EXIT_OK
    merged = (tmp_path / "out" / "merged.jsonl").read_text()
    assert "cmd.exe" in merged


def test_extract_pool_workers_import_nothing_from_the_current_folder(tmp_path, monkeypatch):

    _plant(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONSAFEPATH", "")  # whatever the caller had
    monkeypatch.delenv("PYTHONSAFEPATH")
    from sandtrace.pipeline import pool

    workers = pool.new_pool(1)
    try:
        assert workers.submit(os.getpid).result(timeout=120) != os.getpid()
    finally:
        workers.shutdown()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("PLANTED")) == []


# -- item 12: workers die with their parent; scratch of killed runs is swept ----------

_PARENT = """
import os, sys, time
sys.path.insert(0, {root!r})
from sandtrace.pipeline import pool
workers = pool.new_pool(2)
busy = [workers.submit(time.sleep, 1) for _ in range(2)]  # two at once: two workers
for future in busy:
    future.result()
print(" ".join(map(str, sorted(workers._processes))), flush=True)
time.sleep(600)
"""

_SCRATCH_OWNER = """
import sys, time
sys.path.insert(0, {root!r})
from sandtrace.engine import scratch
print(scratch.make("sandtrace-parallel-", {tmp!r}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _killed(script: str) -> str:
    """Runs ``script`` until it prints a line, SIGKILLs it, returns the line."""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    process.send_signal(signal.SIGKILL)
    process.wait()
    return line


def test_extract_workers_die_with_a_killed_parent():
    pids = [int(pid) for pid in _killed(_PARENT.format(root=ROOT)).split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if _alive(pid)] == []


def test_the_next_run_sweeps_the_scratch_of_a_killed_run_and_nothing_else(tmp_path, monkeypatch, capsys):
    from sandtrace.engine import scratch

    folder = _killed(_SCRATCH_OWNER.format(root=ROOT, tmp=str(tmp_path)))
    (tmp_path / folder / "run-0001.run").write_bytes(b"x" * 4096)
    live = scratch.make("sandtrace-parallel-", str(tmp_path))  # this process's: alive
    unknown = tmp_path / "sandtrace-carved-old"  # no lock: cannot be proven dead
    unknown.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    code = cli.main(["extract", HOST[0], "-o", str(tmp_path / "t.jsonl"), "--parsers", "wsb", "--workers", "0"])
    assert code == cli.EXIT_OK
    assert not os.path.exists(folder)
    assert os.path.isdir(live) and unknown.is_dir()
    assert f"removed 1 scratch folder(s) of runs that were killed: {os.path.basename(folder)}" in capsys.readouterr().err
    scratch.remove(live)
    assert not os.path.exists(live)


# -- item 15: a full disk is exit 4, naming the file ---------------------------------


@pytest.fixture
def tiny(tmp_path):
    """A 64 KiB file system (tmpfs: the tests run as root)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_exit_4_naming_the_timeline(tiny, capsys):
    output = tiny / "timeline.jsonl"
    code = cli.main(["extract", HOST[0], "-o", str(output), "-q", "--workers", "0"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_OUTPUT == 4
    assert err.startswith(f"sandtrace: cannot write output: {output}: No space left on device")
    assert list(tiny.iterdir()) == []  # the temporary file is gone, nothing half-written is kept


def test_a_full_disk_for_the_report_is_exit_4_naming_it(tmp_path, tiny, capsys):
    timeline = tmp_path / "t.jsonl"
    assert cli.main(["extract", HOST[0], "-o", str(timeline), "-q", "--workers", "0", "--format", "json_line"]) == 0
    (tiny / "filler").write_bytes(b"\0" * (60 << 10))
    report = tiny / "report.html"
    code = cli.main(["report", str(timeline), "-o", str(report), "-q"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_OUTPUT, err
    assert f"sandtrace: cannot write output: {report}: No space left on device" in err
