"""Differential test: sandtrace's outputs against psort's for the same events.

The events go into a .plaso store through sandtrace's plaso writer, plaso's
own psort renders them, and sandtrace renders them directly. Rows must be
identical byte for byte; the only option difference (l2tcsv's inode column,
filled by default by sandtrace) is pinned by running psort both ways.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("plaso")

from sandtrace.timeline.sorter import sort_events  # noqa: E402
from sandtrace.output import OutputOptions, create_writer  # noqa: E402
from tests.output_fixtures import realistic_events  # noqa: E402

PSORT = os.path.join(os.path.dirname(sys.executable), "psort")
FORMATTERS = os.path.join(os.path.dirname(__file__), "..", "sandtrace", "data", "formatters",
                          "sandtrace.yaml")

# name: (psort format, psort flags, sandtrace format, sandtrace options)
CASES = {
    "l2tcsv": ("l2tcsv", ["--output_fallback_path"], "l2tcsv", OutputOptions()),
    "l2tcsv_no_fallback": ("l2tcsv", [], "l2tcsv", OutputOptions(fallback_path=False)),
    "l2tcsv_new_york": ("l2tcsv", ["--output_fallback_path"], "l2tcsv",
                        OutputOptions(timezone="America/New_York")),
    "dynamic": ("dynamic", [], "dynamic", OutputOptions()),
    "dynamic_berlin": ("dynamic", [], "dynamic", OutputOptions(timezone="Europe/Berlin")),
    "dynamic_fields": (
        "dynamic",
        ["--fields", "datetime,date,time,timezone,macb,message_short,inode,filename,"
                     "hostname,username,file_reference,sourcetype,type,is_allocated"],
        "dynamic",
        OutputOptions(fields=["datetime", "date", "time", "timezone", "macb", "message_short",
                              "inode", "filename", "hostname", "username", "file_reference",
                              "sourcetype", "type", "is_allocated"])),
    "dynamic_include_all": ("dynamic", ["-a"], "dynamic", OutputOptions(include_all=True)),
    "json_line": ("json_line", [], "json_line", OutputOptions()),
    "json_line_fallback": ("json_line", ["--output_fallback_path"], "json_line",
                           OutputOptions(fallback_path=True)),
}


def _psort_command(store: str, output: str, psort_format: str, flags: list[str],
                   options: OutputOptions, log: str) -> list[str]:
    return [PSORT, "-q", "-u", "--status_view", "none", "--logfile", log,
            "--output_time_zone", options.timezone,
            "--custom_formatter_definitions", FORMATTERS,
            "-o", psort_format, "-w", output, *flags, store]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{case: (psort bytes, sandtrace bytes)}; psort runs in parallel (l2tcsv waits 15 s)."""
    directory = tmp_path_factory.mktemp("parity")
    events = realistic_events()
    store = str(directory / "events.plaso")
    with create_writer("plaso", store, OutputOptions()) as writer:
        for event in events:  # production order, as an extraction would store them
            writer.write(event)
    processes = {}
    for case, (psort_format, flags, _, options) in CASES.items():
        command = _psort_command(store, str(directory / f"psort.{case}"), psort_format, flags,
                                 options, str(directory / f"psort.{case}.log"))
        processes[case] = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    results = {}
    for case, (_, _, name, options) in CASES.items():
        path = directory / f"sandtrace.{case}"
        with create_writer(name, str(path), options) as writer:
            for event in sort_events(events, include_all=options.include_all):
                writer.write(event)
        output, _ = processes[case].communicate(timeout=300)
        assert processes[case].returncode == 0, output.decode("utf-8", "replace")
        results[case] = ((directory / f"psort.{case}").read_bytes(), path.read_bytes())
    return results


@pytest.mark.plaso
@pytest.mark.parametrize("case", sorted(CASES))
def test_output_is_identical_to_psort(rendered, case):
    psort_output, sandtrace_output = rendered[case]
    psort_rows = psort_output.decode("utf-8").splitlines()
    sandtrace_rows = sandtrace_output.decode("utf-8").splitlines()
    assert len(psort_rows) > 10
    for number, (expected, actual) in enumerate(zip(psort_rows, sandtrace_rows)):
        assert actual == expected, f"row {number} differs"
    assert len(sandtrace_rows) == len(psort_rows)
    assert sandtrace_output == psort_output  # and byte for byte, newlines included


@pytest.mark.plaso
def test_the_parity_set_exercises_ties_duplicates_and_placeholders(rendered):
    default_rows = rendered["dynamic"][1].decode().splitlines()
    all_rows = rendered["dynamic_include_all"][1].decode().splitlines()
    assert len(all_rows) - len(default_rows) == 4  # the SYSTEM record parsed twice
    l2t = rendered["l2tcsv"][1].decode().splitlines()
    assert any(",MACB," in row for row in l2t) and any(",MA.B," in row for row in l2t)
    assert any("(unallocated)" in row for row in l2t)
    assert any(row.startswith("00/00/0000,--:--:--,-,....,LOG,sandtrace warning") for row in l2t)
    assert any("VSS1:NTFS:" in row for row in l2t)


@pytest.mark.plaso
def test_the_only_option_difference_is_the_l2tcsv_inode_column(rendered):
    """sandtrace fills l2tcsv's inode (psort needs --output_fallback_path)."""
    filled = rendered["l2tcsv"][1].decode().splitlines()
    plain = rendered["l2tcsv_no_fallback"][0].decode().splitlines()
    assert len(filled) == len(plain)
    for row_filled, row_plain in zip(filled, plain):
        a, b = row_filled.split(","), row_plain.split(",")
        assert a[:13] + a[14:] == b[:13] + b[14:]
        assert b[13] == "-" or b[0] == "date"
