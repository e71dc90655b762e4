"""Command line: ``sandtrace extract | report | info | plugins | formatters``.

Exit codes (also in docs/cli.md):
  0  done (warnings, if any, are in the output and the .meta.json sidecar)
  1  internal error (a bug: please report it with the --log-file)
  2  usage error (bad flag, unknown parser, output exists without --overwrite)
  3  a source cannot be used at all (missing segment, not a disk image, ...)
  4  the output cannot be written
  130 interrupted (Ctrl-C); no partial output is left behind
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sqlite3
import sys
import time
from collections.abc import Iterator

from sandtrace import __version__
from sandtrace.engine import gc_tuning

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_SOURCE, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

log = logging.getLogger("sandtrace")


class UsageError(Exception):
    pass


REPORT_FORMATS = ("markdown", "html", "json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sandtrace",
        description="Windows Sandbox traces from disk images, as a plaso-compatible timeline.",
    )
    parser.add_argument("--version", action="version", version=f"sandtrace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    extract = commands.add_parser("extract", help="extract a sorted timeline from one or more sources")
    extract.add_argument("sources", nargs="+", metavar="SOURCE", help="E01 (first segment), raw/dd (.001), VHD/VHDX, VMDK, QCOW2, a folder, or a file a parser recognises (.evtx, hive, .wsb ...)")
    extract.add_argument("-o", "--output", required=True, help="output file")
    extract.add_argument("--format", default="dynamic", help="output format (default: dynamic); see 'sandtrace plugins'")
    extract.add_argument("--parsers", help="parsers to run: names or presets, comma-separated; !name excludes")
    extract.add_argument("--paths", action="append", default=[], metavar="PATTERN", help="extra path pattern to timeline (case-insensitive, * ? and **), repeatable")
    extract.add_argument("--no-vss", dest="vss", action="store_false", help="skip volume shadow copies")
    extract.add_argument("--no-deleted", dest="deleted", action="store_false", help="do not look for deleted MFT records")
    extract.add_argument("--evtx-backend", choices=("pyevtx-rs", "python-evtx"), default="pyevtx-rs", help="EVTX decoder (default pyevtx-rs; python-evtx is pure Python and slower)")
    extract.add_argument("--evtx-anywhere", action="store_true", help="parse .evtx files anywhere, not only under Windows\\System32\\winevt\\Logs")
    extract.add_argument("--message-db", metavar="PATH", default=None, help="winevt-rc database of EventLog message strings, used where the evidence's own message files do not give a record's message (default: plaso's winevt-rc.db when plaso is installed)")
    extract.add_argument("--nested-disks", choices=("sandbox", "all", "none"), default="sandbox", help="virtual disks to open and parse inside: those in the Windows Sandbox Containers tree (default), every .vhd/.vhdx, or none")
    extract.add_argument("--max-depth", type=int, default=3, metavar="N", help="how deep disks inside disks are opened (default 3)")
    extract.add_argument("--carve", action="store_true", help="search NTFS free space for deleted sandbox disks (VHDX), event log chunks and hive bins, and parse what can be rebuilt; reads every free cluster")
    extract.add_argument("--no-templates", dest="templates", action="store_false", help="leave out base-layer template content found in sandbox disks (otherwise tagged sandbox_template)")
    extract.add_argument("--timezone", default="UTC", help="time zone for the l2tcsv and dynamic outputs (default UTC)")
    extract.add_argument("--fields", help="dynamic output: comma-separated field list")
    extract.add_argument("--include-all", action="store_true", help="keep duplicate events (psort -a)")
    extract.add_argument("--overwrite", action="store_true", help="replace an existing output")
    extract.add_argument("--no-hash", dest="hash", action="store_false", help="do not hash the source files for the .meta.json sidecar")
    extract.add_argument("--sort-memory", type=int, default=50_000, metavar="N", help="events kept in memory before spilling to disk (default 50000)")
    extract.add_argument("--workers", type=int, default=None, metavar="N", help="json_line/timesketch: worker processes that parse and format event logs of 1 MiB or more and nested disks beside the main process (default: the number of cores; 0 = nothing in parallel: everything in one process); the output is the same")
    # -- hardening (docs/reliability.md) --
    extract.add_argument("--verify", action="store_true", help="E01: compare the stored MD5/SHA1 with hashes of the media (recorded in the .meta.json; a mismatch is a warning)")
    extract.add_argument("--neutralize-formulas", action="store_true", help="l2tcsv/dynamic: prefix cells starting with = + - @ (or tab/CR) with ' for spreadsheet safety")
    extract.add_argument("--file-timeout", type=float, default=900.0, metavar="SEC", help="per-file parse time limit; a file taking longer is a warning (default 900, 0 = none)")
    # -- findings report and tagging (docs/report.md) --
    extract.add_argument("--tagging-file", action="append", default=[], metavar="PATH", help="extra tagging rules (YAML, see docs/report.md), applied after the built-in rules; repeatable")
    extract.add_argument("--report", metavar="PATH", help="also write the findings report, built from the same events")
    extract.add_argument("--report-format", choices=REPORT_FORMATS, help="report format (default: from the --report extension: .md, .html, .json)")
    _common(extract)

    report = commands.add_parser("report", help="findings report (was Windows Sandbox used, how, what ran) from a json_line timeline")
    report.add_argument("timeline", metavar="TIMELINE", help="a sandtrace json_line timeline (extract --format json_line)")
    report.add_argument("-o", "--output", required=True, help="the report to write")
    report.add_argument("--format", dest="report_format", choices=REPORT_FORMATS, help="report format (default: from the output extension: .md, .html, .json)")
    report.add_argument("--overwrite", action="store_true", help="replace an existing report")
    _common(report)

    info = commands.add_parser("info", help="show the volumes, shadow copies and image metadata of a source")
    info.add_argument("source", metavar="SOURCE")
    info.add_argument("--no-vss", dest="vss", action="store_false", help="skip volume shadow copies")
    info.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    _common(info)

    plugins = commands.add_parser("plugins", help="list parsers, plugins, data types and output formats")
    _common(plugins)
    formatters = commands.add_parser(
        "formatters", help="print every message formatter as one YAML file (psort --custom_formatter_definitions)")
    _common(formatters)
    _add_batch(commands, extract)  # -- batch (docs/batch.md) --
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--log-file", help="write a debug log to this file")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    gc_tuning.for_throughput()
    args.argv = ["sandtrace", *(sys.argv[1:] if argv is None else argv)]
    _setup_logging(args)
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "extract":
            return _extract(args, err)
        if args.command == "info":
            return _flushed(_info(args))
        if args.command == "report":
            return _report(args, err)
        if args.command == "plugins":
            return _flushed(_plugins())
        if args.command == "formatters":
            from sandtrace.output import formatting

            sys.stdout.write(formatting.definitions_text())
            return _flushed(EXIT_OK)
        if args.command == "batch":
            return _batch(args, err)
    except KeyboardInterrupt:
        err.print("sandtrace: interrupted; no partial output was kept")
        return EXIT_INTERRUPTED
    except UsageError as exception:
        err.print(f"sandtrace: {exception}")
        return EXIT_USAGE
    except _SourceErrors() as exception:
        err.print(f"sandtrace: {exception}")
        return EXIT_SOURCE
    except _OutputError as exception:
        err.print(f"sandtrace: cannot write output: {exception}")
        return EXIT_OUTPUT
    except BrokenPipeError:
        # The reader of standard output is gone (``sandtrace info --json | head -1``): what
        # it wanted it has; stop quietly, and keep the interpreter's last flush from failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exception:
        if exception.errno not in _OUTPUT_ERRNOS:
            raise
        err.print(f"sandtrace: cannot write output: {_full_file(exception, args)}")
        return EXIT_OUTPUT
    except Exception as exception:  # noqa: BLE001
        log.exception("internal error")
        err.print(f"sandtrace: internal error: {type(exception).__name__}: {exception}")
        return EXIT_INTERNAL
    return EXIT_OK


class _OutputError(Exception):
    pass


def _stdout_console():
    """A rich console on standard output whose closed pipe reaches main() (rich's own handling exits with 1)."""
    from rich.console import Console

    class _StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _StdoutConsole(highlight=False)


def _flushed(code: int) -> int:
    """Standard output written out here, where a reader that has gone (a closed pipe) is caught."""
    sys.stdout.flush()
    return code


# Errors only writing can give: a full disk or quota, a file too large, a read-only file system.
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _full_file(exception: OSError, args: argparse.Namespace) -> str:
    """The message for a write error: the file, or the folder whose file system is full.

    A write through a file object reports no file name; the outputs and the
    scratch folder are the candidates, and the one on a full file system is it."""
    import tempfile

    reason = exception.strerror or str(exception)
    if exception.filename:
        return f"{exception.filename}: {reason}"
    outputs = [path for path in (getattr(args, "output", None), getattr(args, "output_dir", None),
                                 getattr(args, "report", None)) if path]
    candidates = [*outputs, f"scratch files in {tempfile.gettempdir()}"]
    for candidate in candidates:
        folder = candidate.removeprefix("scratch files in ")
        folder = folder if os.path.isdir(folder) else os.path.dirname(os.path.abspath(folder))
        try:
            stat = os.statvfs(folder)
        except OSError:
            continue
        if stat.f_bavail * stat.f_frsize < (1 << 20):
            return f"{candidate}: {reason} ({stat.f_bavail * stat.f_frsize} bytes free there)"
    return f"{' or '.join(candidates)}: {reason}"


def _SourceErrors() -> type[Exception]:
    from sandtrace.core.errors import SourceError

    return SourceError


def _setup_logging(args: argparse.Namespace) -> None:
    """Debug detail goes to --log-file only; the terminal gets one plain line."""
    log.addHandler(logging.NullHandler())
    log.propagate = bool(args.log_file)
    if args.log_file:
        logging.basicConfig(
            filename=args.log_file,
            level=logging.DEBUG,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


# -- extract -------------------------------------------------------------------


def _extract(args: argparse.Namespace, err) -> int:
    from sandtrace.pipeline import pool as worker_processes

    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    # A large image: the workers start now, importing while this process does (pipeline/pool.py).
    refused = args.report or workers < 0 or (not args.overwrite and (
        os.path.exists(args.output) or os.path.exists(args.output + ".meta.json")))
    pool = None if refused else worker_processes.start_early(workers, args.sources, args.format)
    try:
        return _extract_with(args, err, workers, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)  # whatever the pipeline did not take over


def _extract_with(args: argparse.Namespace, err, workers: int, pool) -> int:
    from sandtrace.engine import provenance
    from sandtrace.timeline import sorter
    from sandtrace.core.events import Provenance, warning
    from sandtrace.pipeline.extraction import ExtractionOptions, Extractor
    from sandtrace.pipeline.recognition import open_evidence
    from sandtrace.output import manager as output_manager

    if args.format not in output_manager.names():
        raise UsageError(f"unknown output format: {args.format} (choose from {', '.join(output_manager.names())})")
    if args.workers is not None and args.workers < 0:
        raise UsageError("--workers must be 0 or more")
    output = os.path.abspath(args.output)
    _refuse_existing(args.output, args.overwrite)
    _refuse_evidence([output, output + ".meta.json", *([args.report] if args.report else [])], args.sources)
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    _sweep_scratch(err, args.quiet)
    if args.format == "timesketch" and not output.endswith(".jsonl") and not args.quiet:
        err.print("sandtrace: note: Timesketch imports JSONL only from files named *.jsonl")

    options = ExtractionOptions(
        parsers=args.parsers,
        vss=args.vss,
        deleted=args.deleted,
        extra_patterns=args.paths,
        nested=args.nested_disks,
        max_depth=args.max_depth,
        templates=args.templates,
        carve=args.carve,
        parser_options={"evtx_backend": args.evtx_backend, "evtx_anywhere": args.evtx_anywhere,
                        "message_db": _message_db(args)},
        file_timeout=args.file_timeout,
    )
    try:
        progress = _Progress(err, quiet=args.quiet)
        extractor = Extractor(options, progress=progress.update)
    except ValueError as exception:
        raise UsageError(str(exception)) from None

    run = provenance.RunRecord.start(args.argv)
    opened = []
    for source_path in args.sources:
        source = open_evidence(source_path, args.vss, extractor.parsing)  # an image, a folder, or a file a parser takes
        opened.append(source)
        problem = run.add_source(source, hash_files=args.hash, verify=args.verify)
        if problem:
            err.print(f"sandtrace: warning: {problem}")
    for source_path, message in run.chunk_warnings:
        err.print(f"sandtrace: warning: {message}")
        extractor.source_notes.setdefault(source_path, []).append(
            warning(message, parser="ewf", provenance=Provenance(source=source_path, display_name=source_path)))

    path, report_builder, report_format = _report_setup(args, opened, extractor)
    output_options = output_manager.OutputOptions(
        timezone=args.timezone,
        fields=args.fields.split(",") if args.fields else None,
        include_all=args.include_all,
        overwrite=args.overwrite,
        neutralize_formulas=args.neutralize_formulas,
    )
    try:
        writer = output_manager.create_writer(args.format, output, output_options)
    except (OSError, ValueError, RuntimeError, ImportError) as exception:
        raise _OutputError(str(exception)) from None
    writer.set_session(_run_session(args, extractor, opened))

    def events() -> Iterator:
        for source in opened:
            progress.source(source.path)
            for data in extractor.run(source):
                run.note(data)
                yield from path.events(data)

    pipeline = None
    if workers and writer.line_format and report_builder is None:
        from sandtrace.pipeline import handout, parallel

        extractor.hand_out_bytes = handout.HAND_OUT_MIN_BYTES
        extractor.hand_out_disk_bytes = 1  # a pool task starts at once: every disk that can run alone
        pipeline = parallel.LinePipeline(writer, workers, {
            "options": options, "format": args.format, "output_options": output_options,
            "hand_out_bytes": handout.HAND_OUT_MIN_BYTES,
            "tagging_files": args.tagging_file, "include_all": args.include_all,
        }, args.sort_memory, path, extractor.stats, run, progress=progress.update, pool=pool)
    try:
        if pipeline is not None:
            for source in opened:
                progress.source(source.path)
                for data in extractor.run(source):
                    if isinstance(data, (handout.HandedOutFile, handout.HandedOutDisk)):
                        pipeline.submit(data)
                    else:
                        pipeline.add(data)
            pipeline.finish()
        else:
            ordered = sorter.sort_events(events(), max_in_memory=args.sort_memory, include_all=args.include_all)
            for group in sorter.by_event_data(ordered):
                writer.write_events(group)
                if report_builder is not None:
                    for event in group:
                        report_builder.add_event(event)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        progress.stop()
        extractor.close()
        if pipeline is not None:
            pipeline.close()

    for source_path, files in extractor.folder_files.items():
        run.add_folder_files(source_path, files, hash_files=args.hash)
    for source_path, survey in extractor.surveys.items():  # sources read by signature: what was recognised, or why nothing
        run.add_collection(source_path, survey.as_dict())
        for note in survey.notes:
            err.print(f"sandtrace: warning: {note}")
    run.finish(extractor.stats, path.timeliner, writer, output, args.format)
    if path.timeliner.unmapped:
        err.print("sandtrace: warning: a bug: data types without a timeliner entry (their dates are in the timeline as "
                  f"'Unknown Time'; please report it): {', '.join(sorted(path.timeliner.unmapped))}")
    try:
        run.write(output + ".meta.json")
    except OSError as exception:
        raise _OutputError(f"{output}.meta.json: {exception.strerror or exception}") from None
    if report_builder is not None:
        _write_report(report_builder, args.report, report_format, err, args.quiet, extractor.stats.warnings)
    if not args.quiet:
        stats = extractor.stats
        err.print(
            f"sandtrace: {writer.events_written} events from {stats.files} files "
            f"({stats.warnings} warnings) in {time.time() - stats.started:.1f}s -> {args.output}"
        )
    return EXIT_OK


def _run_session(args: argparse.Namespace, extractor, opened):
    """What a .plaso store records of this run (pinfo's session, sources and preprocessing)."""
    from sandtrace.output import plaso_session

    return plaso_session.RunSession(
        command_line=" ".join(args.argv),
        parser_filter_expression=args.parsers,
        enabled_parser_names=plaso_session.enabled_parser_names(extractor.parsers),
        sources=[plaso_session.StoreSource(source.path, plaso_session.source_type(source.kind),
                                           [volume.path_spec for volume in source.volumes])
                 for source in opened],
        start_time=int(extractor.stats.started * 1_000_000),
    )


# -- findings report (sandtrace/report, docs/report.md) ---------------------------


def _refuse_existing(output: str, overwrite: bool) -> None:
    """An existing timeline or sidecar is replaced only with --overwrite."""
    if overwrite:
        return
    for path in (output, output + ".meta.json"):
        if os.path.lexists(path):
            raise UsageError(f"output exists: {path} (use --overwrite to replace it)")


def _refuse_evidence(outputs: list[str], sources: list[str]) -> None:
    from sandtrace.engine import output_guard

    try:
        output_guard.check(outputs, sources)
    except output_guard.OutputInsideEvidence as exception:
        raise UsageError(str(exception)) from None


def _sweep_scratch(err, quiet: bool) -> None:
    """Removes what runs killed earlier left in the temporary folder (engine/scratch.py)."""
    from sandtrace.engine import scratch

    removed = scratch.sweep()
    if removed and not quiet:
        err.print(f"sandtrace: removed {len(removed)} scratch folder(s) of runs that were killed: "
                  + ", ".join(os.path.basename(path) for path in removed))


def _report_format(path: str, chosen: str | None) -> str:
    if chosen:
        return chosen
    lowered = path.lower()
    if lowered.endswith((".md", ".markdown")):
        return "markdown"
    if lowered.endswith((".html", ".htm")):
        return "html"
    if lowered.endswith(".json"):
        return "json"
    raise UsageError(f"cannot tell the report format from {path!r}: name it .md, .html or .json, or give --report-format")


def _report_setup(args: argparse.Namespace, opened, extractor):
    """The event path (timeliner and tagger), and the report builder fed while the events are written (or None)."""
    from sandtrace.pipeline.event_path import EventPath
    from sandtrace.timeline.tagger import TaggingFileError

    try:
        path = EventPath(args.tagging_file)
    except TaggingFileError as exception:
        raise UsageError(f"tagging file: {exception}") from None
    if not args.report:
        return path, None, None
    report_format = _report_format(args.report, args.report_format)
    report_path = os.path.abspath(args.report)
    if os.path.exists(report_path) and not args.overwrite:
        raise UsageError(f"report exists: {args.report} (use --overwrite to replace it)")
    if report_path == os.path.abspath(args.output):
        raise UsageError("the report must not be the timeline output")
    from sandtrace.report.model import ReportBuilder

    builder = ReportBuilder(
        sources=[source.path for source in opened],
        parsers=list(extractor.parser_names),
        command_line=args.argv,
    )
    return path, builder, report_format


def _write_report(builder, path: str, report_format: str, err, quiet: bool, warnings: int | None = None) -> None:
    from sandtrace.report import render, verdict

    report = verdict.compute(builder)
    try:
        render.write(report, path, report_format)
    except OSError as exception:
        raise _OutputError(f"{path}: {exception.strerror or exception}") from None
    if not quiet:
        err.print(f"sandtrace: report ({report_format}) -> {path}: {report['verdict']['headline']}")


def _report(args: argparse.Namespace, err) -> int:
    from sandtrace.report.model import ReportBuilder, read_timeline

    report_format = _report_format(args.output, args.report_format)
    if not os.path.exists(args.timeline):
        raise UsageError(f"no such timeline: {args.timeline}")
    if os.path.exists(args.output) and not args.overwrite:
        raise UsageError(f"output exists: {args.output} (use --overwrite to replace it)")
    _refuse_evidence([args.output], [args.timeline, args.timeline + ".meta.json"])
    builder = ReportBuilder.for_timeline(args.timeline)
    cut: list[int] = []
    try:
        for record in read_timeline(args.timeline, cut):
            builder.add_record(record)
    except ValueError as exception:
        raise UsageError(str(exception)) from None
    builder.check_input(cut[0] if cut else None)
    for caveat in builder.caveats:
        err.print(f"sandtrace: warning: {caveat}")
    _write_report(builder, args.output, report_format, err, args.quiet)
    return EXIT_OK


class _Progress:
    """Files, events, throughput and elapsed time on stderr (rich), unless quiet."""

    def __init__(self, console, quiet: bool) -> None:
        self._console = console
        self._status = None
        self._quiet = quiet or not console.is_terminal
        self._source = ""

    def source(self, path: str) -> None:
        self._source = os.path.basename(path)
        if not self._quiet and self._status is None:
            self._status = self._console.status(f"opening {self._source}")
            self._status.start()

    def update(self, stats, current: str) -> None:
        if self._quiet or self._status is None:
            return
        elapsed = max(time.time() - stats.started, 1e-6)
        self._status.update(
            f"{self._source}: {stats.files} files, {stats.event_data} records "
            f"({stats.event_data / elapsed:.0f}/s), {stats.warnings} warnings, "
            f"{elapsed:.0f}s  {current[-60:]}"
        )

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


# -- info ------------------------------------------------------------------------


def _info(args: argparse.Namespace) -> int:
    import json

    from sandtrace.core.errors import SourceError
    from sandtrace.pipeline import recognition

    parsing = recognition.every_parser()
    try:
        source = recognition.open_evidence(args.source, args.vss, parsing)
        description = describe_source(source)
        if source.kind in ("directory", "file"):
            description["collection"] = recognition.describe(source, parsing)
    except SourceError:
        description = _partitions_only(args.source)  # a partition table whose partitions hold no known file system
        if description is None:
            raise
    if args.json:
        print(json.dumps(description, indent=2, sort_keys=True))
        return EXIT_OK
    from rich.tree import Tree

    tree = Tree(f"[bold]{description['path']}[/] ({description['kind']}, {_size(description['size'])})")
    metadata = description["ewf"]
    if metadata:
        ewf = tree.add("EWF metadata")
        for name, value in sorted(metadata["headers"].items()):
            ewf.add(f"{name}: {value}")
        for name, value in sorted(metadata["stored_hashes"].items()):
            ewf.add(f"stored {name.upper()}: {value}")
        ewf.add(f"segments: {', '.join(os.path.basename(s) for s in metadata['segments'])}")
        ewf.add(f"media size: {metadata['media_size']} bytes")
    if description.get("collection"):
        tree.add(_collection_line(description["collection"], description["kind"]))
    if description["partitions"]:
        table = tree.add("partitions")
        for part in description["partitions"]:
            table.add(f"{part['identifier']} ({part['scheme']}) offset {part['offset']} size {_size(part['size'])}")
    volumes = tree.add("volumes" + (f": none ({description['note']})" if description.get("note") else ""))
    for volume in description["volumes"]:
        line = f"{volume['label']}: {volume['file_system']}  display prefix {volume['display_prefix']}"
        if volume.get("vss_creation_time"):
            line += f"  shadow copy created {volume['vss_creation_time']}"
        branch = volumes.add(line)
        if volume["containers"]:
            _container_tree(branch.add("Windows Sandbox storage"), volume["containers"])
    _stdout_console().print(tree)
    return EXIT_OK


def _collection_line(collection: dict, kind: str) -> str:
    """How a folder or single-file source is read (pipeline/recognition.py)."""
    if collection["by"] == "paths":
        return f"a Windows layout ({collection['layout']} at its root): the parsers' path rules, as on an image"
    recognised = ", ".join(f"{name} {count}" for name, count in collection["recognised_by_parser"].items())
    if kind == "file":
        formats = "; ".join(f"{text} ({name})" for name, text in collection["formats"].items())
        return f"a single file: {formats or 'recognised by no parser'}"
    line = (f"no Windows layout: a folder of {collection['files']} files, {collection['files_recognised']} recognised "
            f"by signature or name{f' ({recognised})' if recognised else ''}")
    if collection.get("layout_below"):
        line += f"; its folder {collection['layout_below']} is a Windows layout (name it as the source)"
    return line


def _container_tree(branch, items: list[dict]) -> None:
    """Containers items grouped by GUID: role, state, size, disk model."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item.get("container_guid") or "(no GUID)", []).append(item)
    for guid, members in sorted(groups.items()):
        node = branch.add(f"{guid} ({members[0].get('layout', '?')})")
        for item in members:
            state = "live" if item.get("is_allocated", True) else "[bold red]deleted[/]"
            text = f"{item.get('role', '?')}: {item.get('filename', '')}  {state}"
            if item.get("file_size") is not None:
                text += f", {_size(item['file_size'])}"
            if item.get("disk_model"):
                text += f", {item['disk_model']}"
            if item.get("parent_filename"):
                text += f", parent {item['parent_filename']}"
            if item.get("error"):
                text += f"  (unreadable: {item['error']})"
            node.add(text)


def _partitions_only(path: str) -> dict | None:
    """``info`` of an image whose partitions hold no file system dfVFS knows: the partition
    table alone (None when there is none either, and the source's error stands)."""
    from sandtrace.engine import sources

    path = os.path.abspath(path)
    found = sources.partitions(path) if os.path.isfile(path) else []
    if not found:
        return None
    return {"path": path, "kind": "image", "size": os.path.getsize(path), "files": [path], "ewf": None,
            "partitions": found, "volumes": [], "note": "no partition holds a file system sandtrace can read"}


def describe_source(source) -> dict:
    """The volume tree of a source as plain data (the JSON of ``info --json``)."""
    from sandtrace.engine import sources

    volumes = []
    for volume in source.volumes:
        entry = {
            "label": volume.label,
            "file_system": volume.type_indicator,
            "display_prefix": volume.display_prefix,
            "partition": volume.partition,
            "vss_store": volume.vss_store,
            "path_spec": volume.path_spec.comparable.strip().replace("\n", " | "),
        }
        if volume.vss_creation_time:
            entry["vss_creation_time"] = _filetime_iso(volume.vss_creation_time)
        entry["containers"] = container_inventory(source, volume)
        volumes.append(entry)
    return {
        "path": source.path,
        "kind": source.kind,
        "size": source.size if source.files else 0,
        "files": source.files,
        "ewf": source.ewf,
        "partitions": sources.partitions(source.path) if source.kind != "directory" else [],
        "volumes": volumes,
    }


def container_inventory(source, volume) -> list[dict]:
    """Windows Sandbox storage on one volume (live and deleted), for ``info``."""
    from sandtrace.engine.collection import Collector, PathPattern, Request
    from sandtrace.parsers.container_inventory import ContainerInventoryParser

    parser = ContainerInventoryParser()
    pattern = PathPattern("\\ProgramData\\Microsoft\\Windows\\Containers\\**")
    items = []
    for target in Collector([Request(parser.NAME, [pattern])]).collect(source, volume):
        try:
            for data in parser.parse(target):
                values = data.plain_values()
                modified = data.values.get("modification_time")
                items.append(
                    {
                        key: values.get(key)
                        for key in ("role", "container_guid", "layout", "filename", "is_allocated", "file_size",
                                    "disk_model", "disk_type", "parent_filename", "virtual_size")
                        if values.get(key) is not None
                    }
                    | ({"modified": modified.CopyToDateTimeStringISO8601()} if modified else {})
                )
        except Exception as exception:  # noqa: BLE001 - info shows what it can
            items.append({"filename": target.location, "error": str(exception).split(". ")[0]})
    return sorted(items, key=lambda item: item.get("filename", ""))


def _filetime_iso(filetime: int) -> str:
    from dfdatetime import filetime as dfdatetime_filetime

    return dfdatetime_filetime.Filetime(timestamp=filetime).CopyToDateTimeStringISO8601()


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# -- batch (sandtrace/batch, docs/batch.md) ---------------------------------------

# extract's options that batch does not take over: it names its own outputs.
_BATCH_NOT_PASSED = {"help", "sources", "output", "format", "overwrite", "quiet", "log_file", "report", "report_format",
                     "workers"}  # batch has its own --workers (task processes)


def _add_batch(commands, extract: argparse.ArgumentParser) -> None:
    batch = commands.add_parser(
        "batch", help="process every source under evidence folders: parallel, resumable, one merged super-timeline",
        description="Discovers the sources under EVIDENCE (E01 sets, .001, raw/dd, VHD/VHDX, VMDK, QCOW2, folders "
                    "holding a .sandtrace-triage file), extracts each (the extract options below apply to all) and "
                    "merges them into one super-timeline. Rerunning skips what is done. See docs/batch.md.")
    batch.add_argument("evidence", nargs="+", metavar="EVIDENCE", help="evidence folders (or single sources)")
    batch.add_argument("-o", "--output-dir", required=True, metavar="OUT_DIR", help="output folder (manifest, per-source outputs, merged timeline)")
    batch.add_argument("--format", default="json_line", help="comma-separated output formats per source (default json_line); json_line and timesketch also make a merged timeline")
    batch.add_argument("--workers", type=int, default=None, metavar="N", help="task processes at once, as extract's --workers counts them (default: the number of cores; 0 = nothing in parallel: one task at a time)")
    batch.add_argument("--time-limit", type=float, metavar="SEC", help="kill a task (one part of one source) running longer than this")
    batch.add_argument("--memory-limit", type=int, metavar="MB", help="address-space cap of each task process (RLIMIT_AS)")
    batch.add_argument("--dask", metavar="ADDRESS", help="run the tasks on this Dask scheduler (e.g. tcp://10.0.0.5:8786)")
    batch.add_argument("--split-evtx-mb", type=int, default=32, metavar="MB", help="an event log this large (on a source or inside a nested disk) is parsed by a task of its own (default 32; 0 = never)")
    batch.add_argument("--split-disk-mb", type=int, default=64, metavar="MB", help="a nested disk file this large (a sandbox disk, a base layer) is run by a task of its own when no disk inside it would be opened (default 64; 0 = never)")
    # Every extract option (present and future) passes through, unchanged.
    for action in extract._actions:
        if action.dest not in _BATCH_NOT_PASSED and action.option_strings:
            batch._add_action(action)
    _common(batch)


def _batch(args: argparse.Namespace, err) -> int:
    from sandtrace.batch import BatchBusy, BatchOptions, run_batch
    from sandtrace.output import manager as output_manager
    from sandtrace.parsers import manager as parser_manager

    formats = [name.strip() for name in args.format.split(",") if name.strip()]
    for name in formats:
        if name not in output_manager.names():
            raise UsageError(f"unknown output format: {name} (choose from {', '.join(output_manager.names())})")
    if args.workers is not None and args.workers < 0:
        raise UsageError("--workers must be 0 or more (0: nothing in parallel; default: the number of cores)")
    try:
        parser_manager.select(args.parsers)
    except ValueError as exception:
        raise UsageError(str(exception)) from None
    for path in args.evidence:
        if not os.path.exists(path):
            raise UsageError(f"no such evidence folder or source: {path}")
    _refuse_evidence([args.output_dir], args.evidence)
    _sweep_scratch(err, args.quiet)
    options = BatchOptions(
        evidence=args.evidence,
        out_dir=args.output_dir,
        formats=formats,
        workers=args.workers,
        time_limit=args.time_limit,
        memory_limit_mb=args.memory_limit,
        dask=args.dask,
        extract=_batch_extraction(args),
        timezone=args.timezone,
        fields=args.fields.split(",") if args.fields else None,
        include_all=args.include_all,
        sort_memory=args.sort_memory,
        split_evtx_bytes=max(args.split_evtx_mb, 0) << 20,
        split_disk_bytes=max(args.split_disk_mb, 0) << 20,
        hash=args.hash,
        verify=args.verify,
        neutralize_formulas=args.neutralize_formulas,
        quiet=args.quiet,
        command_line=args.argv,
        console=err,
    )
    try:
        summary = run_batch(options)
    except BatchBusy as exception:
        raise UsageError(str(exception)) from None
    if not args.quiet:
        merged = ", ".join(f"{count} events ({fmt})" for fmt, count in summary.merged.items())
        err.print(
            f"sandtrace batch: {len(summary.done)} done, {len(summary.skipped)} already done, "
            f"{len(summary.failed)} failed in {summary.seconds:.1f}s; merged timeline: {merged or 'none'} "
            f"-> {args.output_dir}"
        )
        for name, reason in summary.failed.items():
            err.print(f"  failed: {name}: {reason}")
    return EXIT_SOURCE if summary.failed else EXIT_OK


def _message_db(args: argparse.Namespace) -> str | None:
    """``--message-db`` as an absolute path (workers and batch tasks run elsewhere)."""
    path = getattr(args, "message_db", None)
    if not path:
        return None
    from sandtrace.eventlog_messages.database import MessageDatabase

    try:
        MessageDatabase(path)
    except (OSError, ValueError, sqlite3.Error) as exception:
        raise UsageError(f"--message-db {path}: not a readable winevt-rc database ({exception})") from None
    return os.path.abspath(path)


def _batch_extraction(args: argparse.Namespace) -> dict:
    """ExtractionOptions fields from extract's flags (keep in step with _extract)."""
    return {
        "parsers": args.parsers,
        "vss": args.vss,
        "deleted": args.deleted,
        "extra_patterns": list(args.paths),
        "nested": args.nested_disks,
        "max_depth": args.max_depth,
        "templates": args.templates,
        "carve": getattr(args, "carve", False),
        "parser_options": {"evtx_backend": args.evtx_backend, "evtx_anywhere": args.evtx_anywhere,
                           "message_db": _message_db(args)},
        "tagging_files": [os.path.abspath(path) for path in getattr(args, "tagging_file", []) or []],
        "file_timeout": getattr(args, "file_timeout", 900.0),
    }


# -- plugins ---------------------------------------------------------------------


def _plugins() -> int:
    from rich.table import Table

    from sandtrace.output import manager as output_manager
    from sandtrace.parsers import manager

    table = Table(title="parsers and plugins")
    table.add_column("name")
    table.add_column("format")
    table.add_column("data types")
    for name, parser_class in manager.parser_classes().items():
        table.add_row(name, parser_class.DATA_FORMAT, ", ".join(parser_class.data_types()))
        for plugin_name, plugin in sorted(parser_class.plugins().items()):
            table.add_row(f"  {name}/{plugin_name}", plugin.DATA_FORMAT, ", ".join(plugin.DATA_TYPES))
    console = _stdout_console()
    console.print(table)
    console.print("output formats: " + ", ".join(output_manager.names()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
