"""Differential test: sandtrace's outputs against psort's for the same events.

The events go into a .plaso store through sandtrace's plaso writer, plaso's
own psort renders them, and sandtrace renders them directly. Rows must be
identical byte for byte; the only option difference (l2tcsv's inode column,
filled by default by sandtrace) is pinned by running psort both ways.

The same holds for whole runs (the demo image with --carve, real third-party
event logs): ``sandtrace extract --format plaso`` read by psort with the
formatters ``sandtrace formatters`` prints gives sandtrace's own l2tcsv and
dynamic rows, no default-formatter row; pinfo reports the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

pytest.importorskip("plaso")

from sandtrace import cli  # noqa: E402
from sandtrace.timeline.sorter import sort_events  # noqa: E402
from sandtrace.output import OutputOptions, create_writer, formatting, sanitize  # noqa: E402
from tests.conftest import CORPUS, ROOT  # noqa: E402
from tests.output_fixtures import pinfo_report, realistic_events  # noqa: E402

PSORT = os.path.join(os.path.dirname(sys.executable), "psort")
DEFAULT_FORMATTER = ("<WARNING DEFAULT FORMATTER>", "<DEFAULT>")

# Whole runs: name -> (source, extract options). Event logs in a folder: read wherever they are.
RUNS = {
    "demo": (os.path.join(ROOT, "test_images", "host.E01"), ["--carve"]),
    "corpus": (os.path.join(CORPUS, "evtx", "evtx-attack-samples"), ["--paths", "**", "--evtx-anywhere"]),
}

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
                   options: OutputOptions, log: str, formatters: str) -> list[str]:
    return [PSORT, "-q", "-u", "--status_view", "none", "--logfile", log,
            "--output_time_zone", options.timezone,
            "--custom_formatter_definitions", formatters,
            "-o", psort_format, "-w", output, *flags, store]


def _psort(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finished(process: subprocess.Popen, output) -> bytes:
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log.decode("utf-8", "replace")
    return output.read_bytes()


@pytest.fixture(scope="module")
def formatters(tmp_path_factory) -> str:
    """The one file psort takes: what ``sandtrace formatters`` prints."""
    path = tmp_path_factory.mktemp("formatters") / "sandtrace_formatters.yaml"
    path.write_text(formatting.definitions_text(), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def psort_runs(tmp_path_factory, formatters):
    """Every psort this module compares, started at once (psort's l2tcsv waits 15 s)."""
    directory = tmp_path_factory.mktemp("parity")
    runs = {"events": _start_realistic(directory, formatters)}
    present = {name: run for name, run in RUNS.items() if os.path.exists(run[0])}
    for name, (source, options) in present.items():  # the stores first: psort starts on them at once
        runs[name] = _start_run(directory / name, source, options, formatters)
    for name, (source, options) in present.items():  # sandtrace's own outputs while psort waits
        for fmt in ("l2tcsv", "dynamic"):
            _extract(source, options, directory / name / f"timeline.{fmt}", fmt)
    return runs


def _extract(source: str, options: list[str], output, fmt: str) -> None:
    argv = ["extract", source, *options, "-o", str(output), "--format", fmt, "-q", "--workers", "0"]
    assert cli.main(argv) == cli.EXIT_OK


def _start_run(directory, source: str, options: list[str], formatters: str) -> dict:
    """sandtrace's .plaso store of one source, and psort started on it."""
    directory.mkdir()
    store = str(directory / "timeline.plaso")
    _extract(source, options, store, "plaso")
    started = {}
    for name, flags in (("l2tcsv", ["--output_fallback_path"]), ("dynamic", [])):
        output = directory / f"psort.{name}"
        started[name] = (_psort(_psort_command(store, str(output), name, flags, OutputOptions(),
                                               str(directory / f"psort.{name}.log"), formatters)), output)
    return {"store": store, "directory": directory, "psort": started}


def _start_realistic(directory, formatters: str) -> dict:
    events = realistic_events()
    store = str(directory / "events.plaso")
    with create_writer("plaso", store, OutputOptions()) as writer:
        for event in events:  # production order, as an extraction would store them
            writer.write(event)
    processes = {}
    for case, (psort_format, flags, _, options) in CASES.items():
        command = _psort_command(store, str(directory / f"psort.{case}"), psort_format, flags,
                                 options, str(directory / f"psort.{case}.log"), formatters)
        processes[case] = _psort(command)
    return {"events": events, "directory": directory, "processes": processes}


@pytest.fixture(scope="module")
def rendered(psort_runs):
    """{case: (psort bytes, sandtrace bytes)}."""
    run = psort_runs["events"]
    events, directory, processes = run["events"], run["directory"], run["processes"]
    results = {}
    for case, (_, _, name, options) in CASES.items():
        path = directory / f"sandtrace.{case}"
        with create_writer(name, str(path), options) as writer:
            for event in sort_events(events, include_all=options.include_all):
                writer.write(event)
        results[case] = (_finished(processes[case], directory / f"psort.{case}"), path.read_bytes())
    return results


@pytest.fixture(scope="module")
def whole_runs(psort_runs):
    """{run: {format: (psort rows, sandtrace rows)}, "store": path, ...} of the whole runs present."""
    results = {}
    for name in RUNS:
        run = psort_runs.get(name)
        if run is None:
            continue
        results[name] = {"store": run["store"]}
        for fmt, (process, output) in run["psort"].items():
            ours = (run["directory"] / f"timeline.{fmt}").read_text(encoding="utf-8").splitlines()
            results[name][fmt] = (_finished(process, output).decode("utf-8").splitlines(), ours)
    return results


def _run(whole_runs, name: str) -> dict:
    if name not in whole_runs:
        pytest.skip(f"{RUNS[name][0]} is not present")
    return whole_runs[name]


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


# -- whole runs: sandtrace's .plaso read by psort and pinfo -------------------------------


@pytest.mark.plaso
@pytest.mark.parametrize("name", sorted(RUNS))
def test_psort_renders_a_run_row_for_row_as_sandtrace(whole_runs, name):
    """psort's l2tcsv and dynamic of the store are sandtrace's own rows, none from the default formatter.

    Two deliberate differences are applied to psort's rows: sandtrace escapes control characters in
    cells (a tab in an event's XML: docs/reliability.md), and fills l2tcsv's inode where psort's
    --output_fallback_path finds none in the path spec (docs/output-formats.md)."""
    run = _run(whole_runs, name)
    for fmt in ("l2tcsv", "dynamic"):
        psort_rows, ours = run[fmt]
        assert len(ours) > 300 and len(psort_rows) == len(ours), fmt
        assert not [row for row in psort_rows if any(marker in row for marker in DEFAULT_FORMATTER)]
        for number, (theirs, mine) in enumerate(zip(psort_rows, ours)):
            theirs = sanitize.escape_text(theirs)
            if fmt == "l2tcsv" and theirs != mine:
                a, b = theirs.split(","), mine.split(",")
                assert a[:13] + a[14:] == b[:13] + b[14:] and a[13] == "-", f"{fmt} row {number} differs"
            else:
                assert theirs == mine, f"{fmt} row {number} differs"


def _own_counts(dynamic_rows: list[str]) -> tuple[Counter, Counter]:
    """Events per parser (the chain's last element, as plaso counts) and per label, from sandtrace's dynamic."""
    header = dynamic_rows[0].split(",")
    parser, tag = header.index("parser"), header.index("tag")
    parsers, labels = Counter(), Counter()
    for row in dynamic_rows[1:]:
        cells = row.split(",")
        parsers[cells[parser].rsplit("/", 1)[-1]] += 1
        labels.update(label for label in cells[tag].split() if cells[tag] != "-")
    return parsers, labels


@pytest.mark.plaso
@pytest.mark.parametrize("name", sorted(RUNS))
def test_pinfo_reports_the_run_as_for_a_log2timeline_store(whole_runs, name):
    run = _run(whole_runs, name)
    report = pinfo_report(run["store"])
    [session] = report["sessions"]
    source = RUNS[name][0]
    assert session["product_name"] == "sandtrace"
    assert session["command_line_arguments"].startswith(f"sandtrace extract {source} ")
    assert "--format plaso" in session["command_line_arguments"]
    assert {"filestat", "winevtx/sandbox_catalogue", "winreg/bam"} <= set(session["enabled_parser_names"])
    assert session["start_time"] < session["completion_time"]
    parsers, labels = _own_counts(run["dynamic"][1])
    assert report["parsers"] == {**parsers, "total": sum(parsers.values())}
    assert report["event_labels"] == {**labels, "total": sum(labels.values())} and labels
    assert report["data_types"]["total"] == len(run["dynamic"][1]) - 1
    # event sources: the file systems first (as log2timeline), then every file that gave event data
    locations = [dict(source_spec["path_spec"]).get("location") for source_spec in report["event_sources"]]
    assert locations[0] in ("\\", source) and len(locations) > 10


@pytest.mark.plaso
def test_the_store_holds_what_plasos_preprocessing_finds_in_the_image(whole_runs):
    """Hostname, operating system and time zone, by plaso's own preprocessing plugins (as log2timeline's
    store of the demo image holds them); user accounts are left out (plaso_session.NOT_STORED)."""
    from plaso.storage import factory

    run = _run(whole_runs, "demo")
    reader = factory.StorageFactory.CreateStorageReaderForFile(run["store"])
    try:
        [configuration] = list(reader.GetAttributeContainers("system_configuration"))
        [source] = list(reader.GetAttributeContainers("source_configuration"))
        assert not list(reader.GetAttributeContainers("user_account"))
        services = {service.name for service in reader.GetAttributeContainers("windows_service_configuration")}
    finally:
        reader.Close()
    assert configuration.hostname.name == "WIN11-HOST"  # test_images/host_common.py COMPUTER
    assert configuration.time_zone == "Asia/Tokyo"  # its TimeZoneKeyName, Tokyo Standard Time
    assert configuration.operating_system == "Windows NT"
    assert (source.path, source.source_type) == (RUNS["demo"][0], "storage media image")
    assert {"vmcompute", "CmService"} <= services


def test_every_data_type_has_a_formatter_psort_loads(formatters):
    """The file ``sandtrace formatters`` prints is read by plaso's own reader, every piece builds (one
    attribute per conditional piece), and every data type sandtrace declares has its definition."""
    from plaso.formatters import yaml_formatters_file

    from tests.test_data_types import declared

    loaded = {}
    for formatter in yaml_formatters_file.YAMLFormattersFile().ReadFromFile(formatters):
        if hasattr(formatter, "_CreateFormatStringMaps"):
            formatter._CreateFormatStringMaps()  # raises on a piece naming two attributes
        loaded[formatter.data_type] = formatter
    assert sorted(declared() - set(loaded)) == []
    assert set(loaded) == set(formatting.default_formatters().data_types())
    for data_type, formatter in loaded.items():
        ours = formatting.default_formatters().get(data_type)
        assert formatter.GetFormatStringAttributeNames() == ours.attribute_names(), data_type
        assert formatter.source_mapping == formatting.default_formatters().source(data_type)


def test_sandtrace_formatters_prints_that_file(capsys):
    assert cli.main(["formatters"]) == cli.EXIT_OK
    assert capsys.readouterr().out == formatting.definitions_text()
