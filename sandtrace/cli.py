"""Command line: ``sandtrace extract | info | plugins``.

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
import logging
import os
import sys
import time
from collections.abc import Iterator

from sandtrace import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_SOURCE, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

log = logging.getLogger("sandtrace")


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sandtrace",
        description="Windows Sandbox traces from disk images, as a plaso-compatible timeline.",
    )
    parser.add_argument("--version", action="version", version=f"sandtrace {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    extract = commands.add_parser("extract", help="extract a sorted timeline from one or more sources")
    extract.add_argument("sources", nargs="+", metavar="SOURCE", help="E01 (first segment), raw/dd (.001), VHD/VHDX, VMDK, QCOW2 or a folder")
    extract.add_argument("-o", "--output", required=True, help="output file")
    extract.add_argument("--format", default="dynamic", help="output format (default: dynamic); see 'sandtrace plugins'")
    extract.add_argument("--parsers", help="parsers to run: names or presets, comma-separated; !name excludes")
    extract.add_argument("--paths", action="append", default=[], metavar="PATTERN", help="extra path pattern to timeline (case-insensitive, * ? and **), repeatable")
    extract.add_argument("--no-vss", dest="vss", action="store_false", help="skip volume shadow copies")
    extract.add_argument("--no-deleted", dest="deleted", action="store_false", help="do not look for deleted MFT records")
    extract.add_argument("--evtx-backend", choices=("pyevtx-rs", "python-evtx"), default="pyevtx-rs", help="EVTX decoder (default pyevtx-rs; python-evtx is pure Python and slower)")
    extract.add_argument("--evtx-anywhere", action="store_true", help="parse .evtx files anywhere, not only under Windows\\System32\\winevt\\Logs")
    extract.add_argument("--nested-disks", choices=("sandbox", "all", "none"), default="sandbox", help="virtual disks to open and parse inside: those in the Windows Sandbox Containers tree (default), every .vhd/.vhdx, or none")
    extract.add_argument("--max-depth", type=int, default=3, metavar="N", help="how deep disks inside disks are opened (default 3)")
    extract.add_argument("--carve", action="store_true", help="search NTFS free space for deleted sandbox disks (VHDX) and parse what can be rebuilt; reads every free cluster")
    extract.add_argument("--no-templates", dest="templates", action="store_false", help="leave out base-layer template content found in sandbox disks (otherwise tagged sandbox_template)")
    extract.add_argument("--timezone", default="UTC", help="time zone for the l2tcsv and dynamic outputs (default UTC)")
    extract.add_argument("--fields", help="dynamic output: comma-separated field list")
    extract.add_argument("--include-all", action="store_true", help="keep duplicate events (psort -a)")
    extract.add_argument("--overwrite", action="store_true", help="replace an existing output")
    extract.add_argument("--no-hash", dest="hash", action="store_false", help="do not hash the source files for the .meta.json sidecar")
    extract.add_argument("--sort-memory", type=int, default=200_000, metavar="N", help="events kept in memory before spilling to disk (default 200000)")
    _common(extract)

    info = commands.add_parser("info", help="show the volumes, shadow copies and image metadata of a source")
    info.add_argument("source", metavar="SOURCE")
    info.add_argument("--no-vss", dest="vss", action="store_false", help="skip volume shadow copies")
    info.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    _common(info)

    plugins = commands.add_parser("plugins", help="list parsers, plugins, data types and output formats")
    _common(plugins)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--log-file", help="write a debug log to this file")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["sandtrace", *(sys.argv[1:] if argv is None else argv)]
    _setup_logging(args)
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if args.command == "extract":
            return _extract(args, err)
        if args.command == "info":
            return _info(args)
        if args.command == "plugins":
            return _plugins()
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
    except Exception as exception:  # noqa: BLE001
        log.exception("internal error")
        err.print(f"sandtrace: internal error: {type(exception).__name__}: {exception}")
        return EXIT_INTERNAL
    return EXIT_OK


class _OutputError(Exception):
    pass


def _SourceErrors() -> type[Exception]:
    from sandtrace.engine.sources import SourceError

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
    from sandtrace.engine import provenance, sorter, sources
    from sandtrace.engine.extraction import ExtractionOptions, Extractor
    from sandtrace.engine.timeliner import Timeliner
    from sandtrace.output import manager as output_manager

    if args.format not in output_manager.names():
        raise UsageError(f"unknown output format: {args.format} (choose from {', '.join(output_manager.names())})")
    output = os.path.abspath(args.output)
    if os.path.exists(output) and not args.overwrite:
        raise UsageError(f"output exists: {args.output} (use --overwrite to replace it)")
    for source_path in args.sources:
        if os.path.exists(source_path) and os.path.exists(output) and os.path.samefile(source_path, output):
            raise UsageError("the output must not be one of the sources")
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
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
        parser_options={"evtx_backend": args.evtx_backend, "evtx_anywhere": args.evtx_anywhere},
    )
    try:
        progress = _Progress(err, quiet=args.quiet)
        extractor = Extractor(options, progress=progress.update)
    except ValueError as exception:
        raise UsageError(str(exception)) from None

    run = provenance.RunRecord.start(args.argv)
    opened = []
    for source_path in args.sources:
        source = sources.open_source(source_path, vss=args.vss)
        opened.append(source)
        run.add_source(source, hash_files=args.hash)

    timeliner = Timeliner()
    output_options = output_manager.OutputOptions(
        timezone=args.timezone,
        fields=args.fields.split(",") if args.fields else None,
        include_all=args.include_all,
        overwrite=args.overwrite,
    )
    try:
        writer = output_manager.create_writer(args.format, output, output_options)
    except (OSError, ValueError, RuntimeError, ImportError) as exception:
        raise _OutputError(str(exception)) from None

    def events() -> Iterator:
        for source in opened:
            progress.source(source.path)
            for data in extractor.run(source):
                run.note(data)
                yield from timeliner.events(data)

    try:
        for event in sorter.sort_events(events(), max_in_memory=args.sort_memory, include_all=args.include_all):
            writer.write(event)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        progress.stop()
        extractor.close()

    run.finish(extractor.stats, timeliner, writer, output, args.format)
    try:
        run.write(output + ".meta.json")
    except OSError as exception:
        raise _OutputError(str(exception)) from None
    if not args.quiet:
        stats = extractor.stats
        err.print(
            f"sandtrace: {writer.events_written} events from {stats.files} files "
            f"({stats.warnings} warnings) in {time.time() - stats.started:.1f}s -> {args.output}"
        )
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

    from sandtrace.engine import sources

    source = sources.open_source(args.source, vss=args.vss)
    description = describe_source(source)
    if args.json:
        print(json.dumps(description, indent=2, sort_keys=True))
        return EXIT_OK
    from rich.console import Console
    from rich.tree import Tree

    tree = Tree(f"[bold]{description['path']}[/] ({description['kind']}, {_size(description['size'])})")
    if source.ewf:
        ewf = tree.add("EWF metadata")
        for name, value in sorted(source.ewf["headers"].items()):
            ewf.add(f"{name}: {value}")
        for name, value in sorted(source.ewf["stored_hashes"].items()):
            ewf.add(f"stored {name.upper()}: {value}")
        ewf.add(f"segments: {', '.join(os.path.basename(s) for s in source.ewf['segments'])}")
        ewf.add(f"media size: {source.ewf['media_size']} bytes")
    if description["partitions"]:
        table = tree.add("partitions")
        for part in description["partitions"]:
            table.add(f"{part['identifier']} ({part['scheme']}) offset {part['offset']} size {_size(part['size'])}")
    volumes = tree.add("volumes")
    for volume in description["volumes"]:
        line = f"{volume['label']}: {volume['file_system']}  display prefix {volume['display_prefix']}"
        if volume.get("vss_creation_time"):
            line += f"  shadow copy created {volume['vss_creation_time']}"
        volumes.add(line)
    Console(highlight=False).print(tree)
    return EXIT_OK


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


# -- plugins ---------------------------------------------------------------------


def _plugins() -> int:
    from rich.console import Console
    from rich.table import Table

    from sandtrace.output import manager as output_manager
    from sandtrace.parsers import manager

    table = Table(title="parsers and plugins")
    table.add_column("name")
    table.add_column("format")
    table.add_column("data types")
    for name, parser_class in manager.parser_classes().items():
        table.add_row(name, parser_class.DATA_FORMAT, ", ".join(parser_class.DATA_TYPES))
        for plugin_name, plugin in sorted(parser_class.plugins().items()):
            table.add_row(f"  {name}/{plugin_name}", plugin.DATA_FORMAT, ", ".join(plugin.DATA_TYPES))
    console = Console(highlight=False)
    console.print(table)
    console.print("output formats: " + ", ".join(output_manager.names()))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
