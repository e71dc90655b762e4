"""Prefetch: what a sandbox launch leaves in C:\\Windows\\Prefetch, read back exactly.

No public .pf for the sandbox binaries exists, so the files are built here
from libscca's format description (Win10 v30 in both file-information
variants, Win8.1 v26). libscca, the reader plaso uses, must accept them.
"""

from __future__ import annotations

import datetime
import os
import struct

import pytest

from sandtrace.engine import sources
from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
from sandtrace.timeline.timeliner import Timeliner

VOLUME = "\\VOLUME{01db6a3f2c1e4d00-5a6b7c8d}"


def filetime(*args: int) -> int:
    moment = datetime.datetime(*args)
    return (moment - datetime.datetime(1601, 1, 1)) // datetime.timedelta(microseconds=1) * 10


def micros(*args: int) -> int:
    return (datetime.datetime(*args) - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\0\0"


def build_pf(executable, prefetch_hash, run_times, run_count, filenames, directories=(),
             volume=VOLUME, serial=0x5A6B7C8D, volume_created=0, version=30, metrics_offset=0x130,
             file_references=None):
    """An uncompressed SCCA file: header, file information, metrics, trace chains, strings, volumes."""
    metrics = strings = b""
    for index, name in enumerate(filenames):
        reference = (file_references or {}).get(index, 0)
        metrics += struct.pack("<6IQ", 0, 0, 0, len(strings), len(name), 0x200, reference)
        strings += _utf16z(name)
    trace_entry = struct.pack("<IBBH", 1, 2, 1, 0xFFFF) if version == 30 else struct.pack("<IIBBH", 0xFFFFFFFF, 1, 2, 1, 0xFFFF)
    trace = trace_entry * len(filenames)
    trace_offset = metrics_offset + len(metrics)
    strings_offset = trace_offset + len(trace)
    volumes_offset = strings_offset + len(strings)
    entry_size = 96 if version == 30 else 104
    device = _utf16z(volume)
    references = struct.pack("<II", 3, 0)
    dirs = b"".join(struct.pack("<H", len(d)) + _utf16z(d) for d in directories)
    entry = struct.pack(
        "<IIQIIIII", entry_size, len(volume), volume_created, serial,
        entry_size + len(device), len(references), entry_size + len(device) + len(references), len(directories),
    ).ljust(entry_size, b"\0")
    volumes = entry + device + references + dirs + b"\0" * 8  # real files have trailing data too
    times = list(run_times) + [0] * (8 - len(run_times))
    info = struct.pack("<9I", metrics_offset, len(filenames), trace_offset, len(filenames), strings_offset,
                       len(strings), volumes_offset, 1, len(volumes))
    # Windows 10 has two file-information layouts: metrics at 0x130 (run count at +124) or 0x128 (+116).
    gap = 8 if metrics_offset == 0x128 else 16
    info += b"\0" * 8 + struct.pack("<8Q", *times) + b"\0" * gap + struct.pack("<III", run_count, 1, 0)
    info = info.ljust(224, b"\0")[: metrics_offset - 84]
    body = info + metrics + trace + strings + volumes
    header = struct.pack("<I4sII", version, b"SCCA", 0x11, 84 + len(body))
    header += executable.encode("utf-16-le")[:58].ljust(60, b"\0") + struct.pack("<II", prefetch_hash, 0)
    return header + body


SANDBOX_RUNS = [filetime(2025, 1, 15, 10, 0, 1), filetime(2025, 1, 14, 6, 20, 1)]


@pytest.fixture
def prefetch_folder(tmp_path):
    folder = tmp_path / "Windows" / "Prefetch"
    folder.mkdir(parents=True)
    (folder / "WINDOWSSANDBOX.EXE-1A2B3C4D.pf").write_bytes(build_pf(
        "WINDOWSSANDBOX.EXE", 0x1A2B3C4D, SANDBOX_RUNS, 2,
        [
            f"{VOLUME}\\WINDOWS\\SYSTEM32\\NTDLL.DLL",
            f"{VOLUME}\\WINDOWS\\SYSTEM32\\WINDOWSSANDBOX.EXE",
            f"{VOLUME}\\PROGRAMDATA\\SYSCACHE\\UPDATE.WSB",
        ],
        directories=[f"{VOLUME}\\PROGRAMDATA\\SYSCACHE"],
        volume_created=filetime(2024, 3, 4, 8, 20),
        file_references={2: (7 << 48) | 0x1234},
    ))
    (folder / "VMWP.EXE-0D0E0F10.pf").write_bytes(build_pf(
        "VMWP.EXE", 0x0D0E0F10, [filetime(2025, 1, 14, 6, 20, 6)], 1,
        [
            f"{VOLUME}\\WINDOWS\\SYSTEM32\\VMWP.EXE",
            f"{VOLUME}\\PROGRAMDATA\\MICROSOFT\\WINDOWS\\CONTAINERS\\CONTAINERSTORAGES\\5D1F3A2B-7C4E-4B8A-9F10-2A3B4C5D6E71\\SANDBOX.VHDX",
        ],
        metrics_offset=0x128,
    ))
    (folder / "NOTEPAD.EXE-D8414F97.pf").write_bytes(build_pf(
        "NOTEPAD.EXE", 0xD8414F97, [filetime(2024, 6, 11, 14, 0, i) for i in range(8)], 12,
        [f"{VOLUME}\\WINDOWS\\SYSTEM32\\NOTEPAD.EXE", f"{VOLUME}\\USERS\\ALICE\\DOCUMENTS\\NOTES.TXT"],
        version=26,
    ))
    (folder / "WSL.EXE-7E1B2C3D.pf").write_bytes(build_pf(
        "WSL.EXE", 0x7E1B2C3D, [filetime(2024, 9, 1, 12, 0, 0)], 3,
        [f"{VOLUME}\\WINDOWS\\SYSTEM32\\WSL.EXE", f"{VOLUME}\\USERS\\ALICE\\APPDATA\\LOCAL\\WSL\\EXT4.VHDX"],
    ))
    (folder / "JUNK.EXE-00000000.pf").write_bytes(b"\x1e\x00\x00\x00SCCA" + os.urandom(300))
    (folder / "MAMJUNK.EXE-00000001.pf").write_bytes(b"MAM\x04\x00\x10\x00\x00" + b"\xff" * 64)
    (folder / "EMPTY.EXE-00000002.pf").write_bytes(b"")
    return tmp_path


def _extract(root):
    extractor = Extractor(ExtractionOptions(parsers="prefetch"))
    data = list(extractor.run(sources.open_source(str(root))))
    return data, extractor


def _by_executable(data):
    return {d.values["executable"]: d for d in data if d.data_type == "windows:prefetch:execution"}


def test_the_sandbox_launcher_prefetch_gives_its_runs_and_the_wsb_it_loaded(prefetch_folder):
    data, _ = _extract(prefetch_folder)
    sandbox = _by_executable(data)["WINDOWSSANDBOX.EXE"]
    values = sandbox.values
    assert values["run_count"] == 2
    assert values["version"] == 30
    assert values["prefetch_hash"] == 0x1A2B3C4D
    assert values["last_run_time"].timestamp == SANDBOX_RUNS[0]
    assert [t.timestamp for t in values["previous_run_times"]] == [SANDBOX_RUNS[1]]
    assert values["path_hints"] == ["\\WINDOWS\\SYSTEM32\\WINDOWSSANDBOX.EXE"]
    assert values["sandbox_paths"] == [f"{VOLUME}\\PROGRAMDATA\\SYSCACHE\\UPDATE.WSB"]
    assert values["mapped_files"][2] == f"{VOLUME}\\PROGRAMDATA\\SYSCACHE\\UPDATE.WSB [4660-7]"
    assert values["volume_serial_numbers"] == [0x5A6B7C8D]
    assert values["volume_device_paths"] == [VOLUME]
    assert sandbox.tags == ["sandbox_execution_trace"]
    assert sandbox.parser == "prefetch"

    events = [e for e in Timeliner().events(sandbox)]
    assert [(e.timestamp_desc, e.timestamp) for e in events] == [
        ("Last Time Executed", micros(2025, 1, 15, 10, 0, 1)),
        ("Previous Last Time Executed", micros(2025, 1, 14, 6, 20, 1)),
    ]
    assert all(e.tags == ["sandbox_execution_trace"] for e in events)


def test_the_hyper_v_worker_names_the_sandbox_disk_in_the_second_windows10_layout(prefetch_folder):
    data, _ = _extract(prefetch_folder)
    vmwp = _by_executable(data)["VMWP.EXE"]
    assert vmwp.values["run_count"] == 1
    assert vmwp.values["last_run_time"].timestamp == filetime(2025, 1, 14, 6, 20, 6)
    assert "previous_run_times" not in vmwp.values
    assert vmwp.values["sandbox_paths"][0].endswith("\\5D1F3A2B-7C4E-4B8A-9F10-2A3B4C5D6E71\\SANDBOX.VHDX")
    # vmwp.exe alone would be a Hyper-V host trace (other VMs use it too); the Containers path makes it the sandbox's.
    assert vmwp.tags == ["sandbox_execution_trace"]


def test_an_unrelated_program_is_reported_but_not_tagged(prefetch_folder):
    data, _ = _extract(prefetch_folder)
    notepad = _by_executable(data)["NOTEPAD.EXE"]
    assert notepad.values["version"] == 26
    assert notepad.values["run_count"] == 12
    assert notepad.values["last_run_time"].timestamp == filetime(2024, 6, 11, 14, 0, 0)
    assert [t.timestamp for t in notepad.values["previous_run_times"]] == [filetime(2024, 6, 11, 14, 0, i) for i in range(1, 8)]
    assert notepad.tags == []
    assert "sandbox_paths" not in notepad.values


def test_volume_creation_is_timelined_like_plaso(prefetch_folder):
    data, _ = _extract(prefetch_folder)
    volumes = [d for d in data if d.data_type == "windows:volume:creation"]
    assert len(volumes) == 1  # only the launcher's file sets a volume creation time
    assert volumes[0].values["origin"] == "WINDOWSSANDBOX.EXE-1A2B3C4D.pf"
    assert volumes[0].values["serial_number"] == 0x5A6B7C8D
    [event] = Timeliner().events(volumes[0])
    assert (event.timestamp_desc, event.timestamp) == ("Creation Time", micros(2024, 3, 4, 8, 20))


def test_junk_prefetch_files_give_warnings_not_crashes(prefetch_folder):
    data, extractor = _extract(prefetch_folder)
    warnings = {os.path.basename(d.values["path"]): d.values["error"] for d in data if d.data_type == "sandtrace:warning"}
    assert set(warnings) == {"JUNK.EXE-00000000.pf", "MAMJUNK.EXE-00000001.pf", "EMPTY.EXE-00000002.pf"}
    assert all("OSError" in error for error in warnings.values())
    assert len(_by_executable(data)) == 4


def test_prefetch_like_files_in_the_corpus_parse(corpus):
    found = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(corpus)
        for name in names
        if name.lower().endswith(".pf")
    ]
    if not found:
        pytest.skip("no Prefetch files in the test corpus (docs/test-data.md)")
    import pyscca

    for path in found:
        scca = pyscca.file()
        scca.open(path)
        assert scca.executable_filename
        scca.close()


def test_a_wsl_disk_is_listed_but_does_not_make_a_sandbox_trace(prefetch_folder):
    data, _ = _extract(prefetch_folder)
    wsl = _by_executable(data)["WSL.EXE"]
    assert wsl.values["sandbox_paths"] == [f"{VOLUME}\\USERS\\ALICE\\APPDATA\\LOCAL\\WSL\\EXT4.VHDX"]
    assert wsl.tags == []
