"""Resource guards: the per-file parse time limit and the nested-disk depth limit."""

from __future__ import annotations

import os
import struct
import subprocess
import time

import pytest

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.pipeline.file_timeout import FileTimeout, time_limited
from sandtrace.parsers.wsb import WsbParser

writer = pytest.importorskip("test_images.writers.vhdx")
MiB = 1024 * 1024
WSB = b"<Configuration><Networking>Disable</Networking></Configuration>"


def _slow_parse(self, target):
    yield from WsbParser._real_parse(self, target)
    while True:  # a parser stuck in a loop (pure Python: the alarm interrupts it)
        time.sleep(0.01)


def test_a_parser_over_the_file_timeout_becomes_a_warning_and_keeps_what_it_read(tmp_path, monkeypatch):
    (tmp_path / "a.wsb").write_bytes(WSB)
    monkeypatch.setattr(WsbParser, "_real_parse", WsbParser.parse, raising=False)
    monkeypatch.setattr(WsbParser, "parse", _slow_parse)
    started = time.monotonic()
    extractor = Extractor(ExtractionOptions(parsers="wsb", file_timeout=0.3))
    out = list(extractor.run(sources.open_source(str(tmp_path))))
    assert time.monotonic() - started < 5
    kinds = [d.data_type for d in out]
    assert "windows:sandbox:wsb_config" in kinds  # read before the limit: kept
    warning, = [d for d in out if d.data_type == "sandtrace:warning"]
    assert warning.values["error"] == "FileTimeout: parsing stopped after 0.3s (--file-timeout); what was read before is kept"
    assert warning.values["parser_name"] == "wsb"


def test_the_time_limit_counts_the_parser_only_not_the_consumer():
    def quick():
        for index in range(3):
            yield index

    got = []
    for item in time_limited(quick(), 0.2):
        time.sleep(0.15)  # the consumer is slow; 0.45 s in all, over the 0.2 s budget
        got.append(item)
    assert got == [0, 1, 2]


def test_the_alarm_stops_the_parser_inside_the_item_that_uses_up_its_budget():
    """Parser time adds up over items while the consumer's time between them does
    not count: 0.1 s per item against 0.35 s is spent inside the fourth item."""
    def slow():
        for index in range(20):
            time.sleep(0.1)
            yield index

    got = []
    started = time.monotonic()
    with pytest.raises(FileTimeout):
        for item in time_limited(slow(), 0.35):
            time.sleep(0.2)  # 0.6 s of the consumer's over the first three items: not counted
            got.append(item)
    assert got == [0, 1, 2]
    assert 0.9 < time.monotonic() - started < 3


def test_off_the_main_thread_the_budget_is_checked_between_items():
    """No SIGALRM in a thread: the parser is stopped at the first item it yields late."""
    import threading

    def slow():
        for index in range(20):
            time.sleep(0.1)  # the parser's own time
            yield index

    def quick_consumer_but_slow_parser(result):
        got = []
        try:
            for item in time_limited(slow(), 0.35):
                time.sleep(0.2)  # the consumer's time does not count
                got.append(item)
        except FileTimeout as exception:
            result["error"] = str(exception)
        result["got"] = got

    result: dict = {}
    thread = threading.Thread(target=quick_consumer_but_slow_parser, args=(result,))
    thread.start()
    thread.join(30)
    assert result["got"] == [0, 1, 2, 3]  # 0.4 s of parsing: over at the fourth item, which is kept
    assert result["error"].startswith("parsing stopped after 0.35s (--file-timeout)")


def test_the_alarm_handler_is_put_back_when_the_stream_ends_or_is_dropped():
    import signal

    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        assert list(time_limited(iter([1, 2]), 5)) == [1, 2]
        assert signal.getsignal(signal.SIGALRM) is mine
        stream = time_limited(iter([1, 2, 3]), 5)
        assert next(stream) == 1
        assert signal.getsignal(signal.SIGALRM) is not mine  # armed while the parser is open
        stream.close()
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_no_limit_passes_the_stream_through():
    assert list(time_limited(iter([1, 2]), 0)) == [1, 2]


def test_file_timeout_flag_reaches_the_extractor_and_batch():
    from sandtrace import cli

    args = cli.build_parser().parse_args(["extract", "x", "-o", "y", "--file-timeout", "12"])
    assert args.file_timeout == 12
    args = cli.build_parser().parse_args(["batch", "x", "-o", "y", "--file-timeout", "7"])
    assert cli._batch_extraction(args)["file_timeout"] == 7
    assert args.verify is False and args.neutralize_formulas is False  # batch takes them too (off by default)


# -- nested-disk depth -------------------------------------------------------------


def _fat_with_file(size_mib: int, name83: bytes, content: bytes, path) -> bytes:
    """A FAT16 volume (mkfs.fat) holding one file in its root folder, written by hand."""
    sectors_per_cluster = str(max(1, size_mib // 8))
    subprocess.run(["mkfs.fat", "-F", "16", "-s", sectors_per_cluster, "-C", str(path), str(size_mib * 1024)],
                   check=True, capture_output=True)
    image = bytearray(open(path, "rb").read())
    bps, spc = struct.unpack_from("<HB", image, 11)
    reserved, fats, root_entries = struct.unpack_from("<HBH", image, 14)
    per_fat = struct.unpack_from("<H", image, 22)[0]
    fat_start = reserved * bps
    root_start = fat_start + fats * per_fat * bps
    data_start = root_start + root_entries * 32
    cluster = spc * bps
    count = -(-len(content) // cluster)
    assert data_start + count * cluster <= len(image), "FAT too small for the file"
    image[data_start:data_start + len(content)] = content
    for copy in range(fats):
        base = fat_start + copy * per_fat * bps
        for index in range(count):
            struct.pack_into("<H", image, base + (2 + index) * 2, 0xFFFF if index == count - 1 else 3 + index)
    entry = name83.ljust(11)[:11] + bytes([0x20]) + bytes(8) + struct.pack("<H", 0) + bytes(4) + struct.pack("<HI", 2, len(content))
    image[root_start:root_start + 32] = entry
    return bytes(image)


def _vhdx_bytes(raw: bytes, path) -> bytes:
    writer.write_dynamic(raw, path)
    return open(path, "rb").read()


@pytest.fixture(scope="module")
def three_deep(tmp_path_factory):
    """A triage folder holding D1.vhdx > FAT > D2.VHD > FAT > D3.VHD > FAT > DEEPEST.TXT."""
    if not shutil_which("mkfs.fat"):
        pytest.skip("mkfs.fat (dosfstools) is not installed")
    work = tmp_path_factory.mktemp("nested")
    level3 = _fat_with_file(4, b"DEEPEST TXT", b"three disks down\n", work / "f3.img")
    level2 = _fat_with_file(16, b"D3      VHD", _vhdx_bytes(level3, work / "d3.vhdx"), work / "f2.img")
    level1 = _fat_with_file(32, b"D2      VHD", _vhdx_bytes(level2, work / "d2.vhdx"), work / "f1.img")
    triage = work / "triage"
    triage.mkdir()
    writer.write_dynamic(level1, triage / "D1.vhdx")
    return str(triage)


def shutil_which(name: str):
    import shutil

    return shutil.which(name)


@pytest.mark.parametrize("max_depth,deepest", [(0, 0), (1, 1), (2, 2), (3, 3), (5, 3)])
def test_max_depth_bounds_how_deep_disks_inside_disks_are_opened(three_deep, max_depth, deepest):
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**"], nested="all", max_depth=max_depth))
    out = list(extractor.run(sources.open_source(three_deep)))
    assert not [d.values for d in out if d.data_type == "sandtrace:warning"]
    depth = max(d.provenance.display_name.count(">") for d in out)
    assert depth == deepest
    assert extractor.stats.nested_sources == deepest
    names = {d.provenance.display_name.rsplit(">", 1)[-1] for d in out}
    assert any(name.upper().endswith("DEEPEST.TXT") for name in names) == (deepest == 3)


def test_a_symbolic_link_loop_in_a_triage_folder_is_not_followed(tmp_path):
    """A folder holding a link back to its root: '**' ends, each real file once (dfVFS lstat()s)."""
    import os

    from sandtrace.engine import sources
    from sandtrace.pipeline.extraction import ExtractionOptions, Extractor

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.wsb").write_text("<Configuration/>")
    os.symlink(tmp_path, tmp_path / "a" / "back")
    extractor = Extractor(ExtractionOptions(parsers="filestat,wsb", extra_patterns=["**"]))
    data = list(extractor.run(sources.open_source(str(tmp_path))))
    configs = [d for d in data if d.data_type == "windows:sandbox:wsb_config"]
    assert [d.values["filename"] for d in configs] == ["\\a\\x.wsb"]
    assert extractor.stats.files <= 4  # a, a\x.wsb, a\back (the link itself), nothing below it


def test_an_ntfs_directory_loop_ends(tmp_path):
    """\\test\\3.txt's index entry made to point at the root directory: a directory cycle.

    The '**' search is one pass over the MFT and anchored patterns go only as
    deep as they are written, so nothing recurses; the run ends and reports
    what it saw.
    """
    import gzip
    import struct

    from sandtrace.engine import sources
    from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
    from tests.conftest import corpus_file

    raw = bytearray(gzip.open(corpus_file("ntfs", "dfir_ntfs", "ntfs3.raw.gz")).read())
    bytes_per_sector, sectors_per_cluster = struct.unpack_from("<HB", raw, 0x0B)
    (mft_cluster,) = struct.unpack_from("<Q", raw, 0x30)
    record = mft_cluster * bytes_per_sector * sectors_per_cluster + 27 * 1024  # \test
    entry = raw.index("3.txt".encode("utf-16-le"), record, record + 1024) - 0x52
    struct.pack_into("<Q", raw, entry, 5 | (5 << 48))  # file reference: the root directory
    struct.pack_into("<I", raw, entry + 0x48, 0x10000000)  # $FILE_NAME flags: a directory
    image = tmp_path / "loop.raw"
    image.write_bytes(bytes(raw))
    extractor = Extractor(ExtractionOptions(parsers="filestat", extra_patterns=["**", "\\test\\*\\*\\*\\*\\*\\*"]))
    names = {d.provenance.display_name for d in extractor.run(sources.open_source(str(image)))}
    assert "NTFS:\\test\\3.txt" in names
    assert max(name.count("\\") for name in names) <= 7  # bounded by the pattern, not by the loop


# --- crafted NTFS: attribute lists and a junction loop (test_images/build_hardening.py) ---

def _loops_image(tmp_path):
    import gzip
    import json

    from tests.conftest import TEST_IMAGES

    folder = os.path.join(TEST_IMAGES, "hardening")
    image = tmp_path / "ntfs_loops.raw"
    with gzip.open(os.path.join(folder, "ntfs_loops.raw.gz")) as packed:
        image.write_bytes(packed.read())
    with open(os.path.join(folder, "ntfs_loops.json")) as handle:
        return str(image), json.load(handle)


def _extract_in_child(image: str, output: str, *patterns: str) -> list[dict]:
    """The CLI in a child process with a deadline: a loop fails the test instead of hanging it."""
    import json
    import sys

    args = [sys.executable, "-c", "import sys; from sandtrace.cli import main; sys.exit(main())",
            "extract", image, "--parsers", "filestat", "--format", "json_line", "-o", output, "--quiet"]
    for pattern in patterns:
        args += ["--paths", pattern]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with open(output) as handle:
        return [json.loads(line) for line in handle]


def test_attribute_lists_intact_and_looping_end_with_every_readable_file_and_one_warning(tmp_path):
    """intact.txt: one file (its 30 extension records are not files of their own);
    selfref.txt: its list names its own record for everything, hiding its $FILE_NAME: one warning."""
    image, truth = _loops_image(tmp_path)
    events = _extract_in_child(image, str(tmp_path / "out.jsonl"), "**")
    files = [e for e in events if e["data_type"] == "fs:stat:ntfs"]
    intact = [e for e in files if e["display_name"] == "NTFS:\\loop\\intact.txt"]
    assert len(intact) == 8  # $STANDARD_INFORMATION and $FILE_NAME, four times each
    assert {e["file_reference"] & 0xFFFFFFFFFFFF for e in intact} == {truth["entries"]["intact.txt"]}
    # No event from any extension record (they hold $FILE_NAME copies ntfs-3g moved there).
    base_records = set(truth["entries"].values()) | set(range(0, 64))
    assert {e["file_reference"] & 0xFFFFFFFFFFFF for e in files} <= base_records
    warnings = [e for e in events if e["data_type"] == "sandtrace:warning"]
    assert [w["error"] for w in warnings] == [
        f"MFT entry {truth['entries']['selfref.txt']} is in use but no $FILE_NAME is readable through "
        "its $ATTRIBUTE_LIST (damaged, or naming the wrong records): not timelined"]
    assert not [e for e in files if "selfref" in e["display_name"]]


def test_a_junction_to_its_own_parent_is_reported_once_and_not_followed(tmp_path):
    image, truth = _loops_image(tmp_path)
    events = _extract_in_child(image, str(tmp_path / "out.jsonl"), "**", "\\loop\\back\\back\\back\\*")
    names = [e["display_name"] for e in events if e["data_type"] == "fs:stat:ntfs"]
    assert names.count("NTFS:\\loop\\back") == 8
    assert not [name for name in names if name.startswith("NTFS:\\loop\\back\\")]
    assert {e["file_reference"] & 0xFFFFFFFFFFFF for e in events
            if e.get("display_name") == "NTFS:\\loop\\back"} == {truth["entries"]["back"]}
