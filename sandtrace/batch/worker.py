"""The child process of a batch task: ``python -m sandtrace.batch.worker``.

Reads a JSON spec on stdin, does one task, writes a JSON result to
``spec["result"]`` (atomically) and exits 0, 3 (the source cannot be used),
5 (memory limit) or 1. It never prints progress; tracebacks go to the task
log next to the result.

- ``plan``: open the source, list its volumes (and the sidecar's description
  of the source, without hashes).
- ``hash``: MD5 and SHA-256 of the source's files (runs beside the parts).
- ``part``: run the Extractor on some of the volumes; events to a part file.
- ``evtx``, ``disk``: a large event log or a nested disk a part handed out
  (a disk may hand on its own large event logs).
- ``assemble``: merge the parts in psort's order, write every chosen format
  and the ``.meta.json`` sidecar (and the report when sandtrace has one).
- ``annotate``: a byte range of a source's timeline with the super-timeline's
  source names added, for the merge.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import traceback
from collections import Counter
from typing import Any

from sandtrace.engine import children, gc_tuning

EXIT_SOURCE, EXIT_MEMORY = 3, 5


def _limit_self(parent: int | None, memory_limit_mb: int | None) -> None:
    children.die_with_parent(parent, code=EXIT_MEMORY + 100)
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandtrace.batch.worker")
    parser.add_argument("--parent", type=int)
    parser.add_argument("--memory-limit", type=int, metavar="MB")
    args = parser.parse_args(argv)
    _limit_self(args.parent, args.memory_limit)
    gc_tuning.for_throughput()
    spec = json.load(sys.stdin)
    from sandtrace.core.errors import SourceError

    code = 0
    try:
        result = {"ok": True, **_HANDLERS[spec["kind"]](spec)}
    except SourceError as exception:
        result, code = {"ok": False, "error": str(exception), "source_error": True}, EXIT_SOURCE
    except MemoryError:
        traceback.print_exc()
        result, code = {"ok": False, "error": f"memory limit of {args.memory_limit} MB exceeded ({spec['kind']} task)"}, EXIT_MEMORY
    except Exception as exception:  # noqa: BLE001 - reported as this task's failure
        traceback.print_exc()
        text = " ".join(str(exception).split())[:400]
        result, code = {"ok": False, "error": f"{spec['kind']} task: {type(exception).__name__}: {text}"}, 1
    from sandtrace.core.atomic import write_atomically

    write_atomically(spec["result"], json.dumps(result, sort_keys=True, default=str))
    return code


# -- plan and hash ------------------------------------------------------------------


def plan(spec: dict[str, Any]) -> dict[str, Any]:
    from sandtrace.engine import provenance, sources

    source = sources.open_source(spec["source"], vss=spec["extract"]["vss"])
    record = provenance.RunRecord.start([])
    record.add_source(source, hash_files=False)
    return {
        "kind": source.kind,
        "files": list(source.files),
        "volumes": [volume.label for volume in source.volumes],
        "source_record": record.sources[0],
    }


def hash_source(spec: dict[str, Any]) -> dict[str, Any]:
    """The source's file hashes and, with ``verify``, an E01's stored hashes against its media."""
    from sandtrace.engine.provenance import hash_file, verify_ewf

    hashes = {name: {"size": os.path.getsize(name), **hash_file(name)} for name in spec["files"]}
    verified = None
    if spec.get("verify"):
        ewf = spec.get("ewf")
        if not ewf:
            verified = {"verified": None, "error": "not an EWF image: nothing stored to verify"}
        else:
            verified = verify_ewf(ewf["segments"], ewf.get("stored_hashes"))
    return {"hashes": hashes, "verify": verified, "chunk_errors": _chunk_errors(spec)}


def _chunk_errors(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Damaged E01 chunks with the files in them (as extract records them), for the sidecar."""
    from sandtrace.engine import provenance, sources

    if not spec.get("ewf"):
        return []
    record = provenance.RunRecord.start([])
    record.add_source(sources.open_source(spec["ewf"]["segments"][0], vss=False), hash_files=True)
    errors = record.sources[0].get("chunk_errors") or []
    for error, (_, message) in zip(errors, record.chunk_warnings):
        error["message"] = message
    return errors


# -- part -------------------------------------------------------------------------


def extraction_options(extract: dict[str, Any]):
    from sandtrace.pipeline.extraction import ExtractionOptions

    known = {f.name for f in dataclasses.fields(ExtractionOptions)}
    return ExtractionOptions(**{k: v for k, v in extract.items() if k in known})


def part(spec: dict[str, Any]) -> dict[str, Any]:
    from sandtrace.batch import merge
    from sandtrace.engine import provenance, sources
    from sandtrace.pipeline import handout
    from sandtrace.pipeline.event_path import EventPath
    from sandtrace.pipeline.extraction import Extractor

    options = extraction_options(spec["extract"])
    source = sources.open_source(spec["source"], vss=options.vss)
    wanted = spec["volumes"]
    chosen = [volume for volume in source.volumes if volume.label in wanted]
    missing = set(wanted) - {volume.label for volume in chosen}
    if missing:
        raise RuntimeError(f"volumes not found on a second opening: {', '.join(sorted(missing))}")
    subset = dataclasses.replace(source, volumes=chosen)
    extractor = Extractor(options)
    extractor.hand_out_bytes = spec.get("split_evtx_bytes") or 0  # large event logs: tasks of their own
    extractor.hand_out_disk_bytes = spec.get("split_disk_bytes") or 0  # and nested disks that can run alone
    path = EventPath(spec["extract"].get("tagging_files") or [])
    record = provenance.RunRecord.start([])
    handed_out: list[dict[str, Any]] = []

    def events():
        # Production keys as in pipeline/parallel.py: a position per event data
        # and per event log or disk handed out, an index per event; so the
        # "evtx" and "disk" tasks' events slot in where this part would have made them.
        position = 0
        for data in extractor.run(subset):
            if isinstance(data, (handout.HandedOutFile, handout.HandedOutDisk)):
                handed_out.append(_handed_out(data, position, 0))
            else:
                record.note(data)
                for index, event in enumerate(path.events(data)):
                    event.sequence = merge.sequence(position, index)
                    yield event
            position += 1

    try:
        count = merge.write_part(events(), spec["output"], spec["sort_memory"], spec.get("tmp_dir"))
    finally:
        extractor.close()
    return {"events": count, "handed_out": handed_out, **_part_counts(extractor, path, record)}


def _handed_out(data, position: int, base: int) -> dict[str, Any]:
    """An HandedOutFile or HandedOutDisk marker as the runner's spec for its task."""
    from sandtrace.pipeline import handout

    if isinstance(data, handout.HandedOutDisk):
        return {"kind": "disk", "position": position, "disk": handout.disk_to_dict(data)}
    return {"kind": "evtx", "position": position, "base": base, "target": handout.target_to_dict(data.target),
            "parsers": data.parsers, "context": handout.context_to_dict(data.context)}


def evtx_file(spec: dict[str, Any]) -> dict[str, Any]:
    """One large event log a part (or a disk task) handed out, in the part's production
    order (its position, and inside a disk its ``base`` index)."""
    from sandtrace.pipeline import handout

    extractor = _handed_extractor(spec)
    target = handout.target_from_dict(spec["target"])
    context = handout.context_from_dict(spec.get("context"))
    return _write_handed(spec, extractor, extractor.parse_names(target, spec["parsers"], context), spec.get("base") or 0)


def disk_file(spec: dict[str, Any]) -> dict[str, Any]:
    """One nested disk a part handed out, run as the part would have run it; its own
    large event logs come back as ``handed_out``, for tasks of their own."""
    from sandtrace.pipeline import handout

    extractor = _handed_extractor(spec)
    extractor.hand_out_bytes = spec.get("split_evtx_bytes") or 0
    return _write_handed(spec, extractor, extractor.run_disk(handout.disk_from_dict(spec["disk"])), None)


def _handed_extractor(spec: dict[str, Any]):
    from sandtrace.engine import vhdi_parents
    from sandtrace.pipeline.extraction import Extractor

    if os.path.isdir(spec["source"]):  # a differencing disk in a triage folder finds its parent there
        vhdi_parents.register_triage_root(os.path.abspath(spec["source"]))
    return Extractor(extraction_options(spec["extract"]))


def _write_handed(spec: dict[str, Any], extractor, stream, base: int | None) -> dict[str, Any]:
    """A handed-out task's events to its part file, keyed (position, index): an event
    log's indexes run on from ``base``; a disk's (``base`` None) start at each event
    data's own position in the disk (``handout.keyed``, shared with extract's workers)."""
    from sandtrace.batch import merge
    from sandtrace.engine import provenance
    from sandtrace.pipeline import handout
    from sandtrace.pipeline.event_path import EventPath

    path = EventPath(spec["extract"].get("tagging_files") or [])
    record = provenance.RunRecord.start([])
    position = spec["position"]
    handed_on: list = []

    def events():
        for data, index, produced in handout.keyed(stream, path, base, handed_on):
            record.note(data)
            for number, event in enumerate(produced):
                event.sequence = merge.sequence(position, index + number)
                yield event

    try:
        count = merge.write_part(events(), spec["output"], spec["sort_memory"], spec.get("tmp_dir"))
    finally:
        extractor.close()
    handed_out = [_handed_out(data, position, handout.sub_key(sub)) for sub, data in handed_on]
    return {"events": count, "handed_out": handed_out, **_part_counts(extractor, path, record)}


def _part_counts(extractor, path, record) -> dict[str, Any]:
    return {
        "stats": extractor.stats.as_dict(),
        **{name: dict(counter) for name, counter in path.counts().items()},
        "warnings": record.warnings,
        "folder_files": extractor.folder_files,
    }


# -- assemble -----------------------------------------------------------------------


def _host_name(counter: Counter) -> str | None:
    return counter.most_common(1)[0][0] if counter else None


def assemble(spec: dict[str, Any]) -> dict[str, Any]:
    import time

    from sandtrace.batch import merge
    from sandtrace.batch.manifest import sha256_file
    from sandtrace.core import atomic
    from sandtrace.engine import provenance
    from sandtrace.output import manager as output_manager
    from sandtrace.pipeline.event_path import EventPath
    from sandtrace.pipeline.extraction import ExtractionStats
    from sandtrace.timeline import sorter

    out = spec["out"]
    options = output_manager.OutputOptions(
        timezone=out["timezone"], fields=out["fields"], include_all=out["include_all"], overwrite=True,
        neutralize_formulas=out.get("neutralize_formulas", False))
    for leftover in os.listdir(spec["output_dir"]) if os.path.isdir(spec["output_dir"]) else []:
        if leftover.startswith(".") and leftover.endswith(".tmp"):  # an earlier attempt's, killed
            os.unlink(os.path.join(spec["output_dir"], leftover))
    writers = []
    try:
        for fmt, path in spec["outputs"].items():
            writers.append(output_manager.create_writer(fmt, path, options))
        offsets = [(item["path"], merge.part_offset(item["order"])) for item in spec["parts"]]
        hosts: Counter = Counter()
        report = _ReportFeed(spec)
        ordered = merge.psort_order(merge.merge_parts(offsets), include_all=out["include_all"])
        for group in sorter.by_event_data(ordered):
            for event in group:
                report.add(event)
            data = group[0].data
            if data.data_type.startswith("windows:evtx") and not data.provenance.nesting and data.values.get("hostname"):
                hosts[data.values["hostname"]] += len(group)
            for writer in writers:
                writer.write_events(group)
        for writer in writers:
            writer.close()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise

    stats = ExtractionStats()
    path = EventPath()  # the parts' counts, summed as extract sums its workers'
    run = provenance.RunRecord(command_line=spec["command_line"], started=spec["started"])
    for result in spec["part_results"]:
        stats.merge(result["stats"])
        path.add_counts(result)
        run.warnings.extend(result["warnings"])
    source_record = dict(spec["source_record"])
    hashes = spec.get("hashes") or {}
    source_record["files"] = [dict(entry, **hashes.get(entry["path"], {})) for entry in source_record["files"]]
    if spec.get("verify") is not None:
        source_record["verify"] = spec["verify"]
        message = provenance.verify_warning(source_record["path"], spec["verify"])
        if message and source_record.get("ewf"):  # as extract: a non-EWF source is noted, not warned about
            run.warnings.append({"source": source_record["path"], "volume": "", "path": source_record["path"],
                                 "parser": "verify", "error": message})
    for error in spec.get("chunk_errors") or []:
        run.warnings.append({"source": source_record["path"], "volume": "", "path": source_record["path"],
                             "parser": "ewf", "error": error.pop("message")})
        source_record.setdefault("chunk_errors", []).append(error)
    run.sources.append(source_record)
    folder_files: dict[str, str] = {}
    for result in spec["part_results"]:
        folder_files.update((result.get("folder_files") or {}).get(source_record["path"], {}))
    if folder_files:
        run.add_folder_files(source_record["path"], folder_files, hash_files=spec.get("hash_folder_files", True))
    first_format, first_path = next(iter(spec["outputs"].items()))
    run.finish(stats, path.timeliner, writers[0], first_path, first_format)
    run.summary["outputs"] = {
        fmt: {"path": writer.path, "events_written": writer.events_written,
              "events_dropped": getattr(writer, "events_dropped", 0)}
        for fmt, writer in zip(spec["outputs"], writers)
    }
    hostname = _host_name(hosts)
    document = run.as_dict()
    document["batch"] = {
        "source_name": spec["name"],
        "hostname": hostname,
        "hostname_from": "most frequent computer name of the source's own EVTX records" if hostname else None,
        "parts": [{k: item[k] for k in ("volumes", "events", "event_log", "disk") if k in item} for item in spec["parts"]],
    }
    meta_path = spec["meta"]
    atomic.write_atomically(meta_path, json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    produced = [*spec["outputs"].values(), meta_path]
    report_path = report.write()
    if report_path:
        produced.append(report_path)
    return {
        "hostname": hostname,
        "events": writers[0].events_written,
        "events_per_format": {fmt: writer.events_written for fmt, writer in zip(spec["outputs"], writers)},
        "event_data": stats.event_data,
        "files_collected": stats.files,
        "warnings": stats.warnings,
        "outputs": {path: sha256_file(path) for path in produced},
        "finished": time.time(),
    }


def _parser_names(spec: dict[str, Any]) -> list[str]:
    from sandtrace.parsers import manager

    return list(manager.select(spec["extract"].get("parsers")))


class _ReportFeed:
    """The findings report of ``extract --report``, fed the same events, when sandtrace has it.

    Optional: the report module (sandtrace/report) may be absent. A report that
    fails is noted in the task log; the timelines stand without it.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.path = os.path.join(spec["output_dir"], "report.md")
        self.builder = None
        if not spec.get("report"):
            return
        try:
            from sandtrace.report import render  # noqa: F401
            from sandtrace.report.model import ReportBuilder

            self.builder = ReportBuilder(sources=[spec["source_record"]["path"]], parsers=_parser_names(spec),
                                         command_line=spec["command_line"])
        except Exception:  # noqa: BLE001 - ImportError, or a report module still being written
            self.builder = None

    def add(self, event) -> None:
        if self.builder is not None:
            try:
                self.builder.add_event(event)
            except Exception:  # noqa: BLE001
                traceback.print_exc()
                self.builder = None

    def write(self) -> str | None:
        if self.builder is None:
            return None
        try:
            from sandtrace.report import render, verdict

            render.write(verdict.compute(self.builder), self.path, "markdown")
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            return None
        return self.path if os.path.exists(self.path) else None


def annotate(spec: dict[str, Any]) -> dict[str, Any]:
    """A byte range of a source's timeline as the super-timeline has its lines (batch/merge.py)."""
    from sandtrace.batch import merge

    count = merge.annotate_range(spec["item"], spec["format"], spec["start"], spec["end"], spec["lines"], spec["keys"])
    return {"lines": count}


_HANDLERS = {"plan": plan, "hash": hash_source, "part": part, "evtx": evtx_file, "disk": disk_file,
             "assemble": assemble, "annotate": annotate}


if __name__ == "__main__":
    sys.exit(main())
