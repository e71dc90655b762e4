"""The findings report's input side: events in, the few records that matter kept.

The report is computed from the event stream only (never by parsing the
evidence again): ``extract --report`` feeds it the sorted events as they are
written, ``sandtrace report`` feeds it the records of a json_line timeline.
Memory stays bounded: an event is kept only when it can support a finding
(its data type or one of its labels says it concerns Windows Sandbox), the
events of one record (an EVTX record has two times, a file four) are folded
into one ``Record``, and the large, uninteresting rest (file-system times,
template content) is only counted. Host file-system times that might turn
out to lie in a mapped folder are kept as small tuples, up to a cap.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandtrace import __version__, data
from sandtrace.core import sandbox_names
from sandtrace.report.presence import Presence, Search, command_option, selection

# What is kept for the findings (everything else is counted): data/report_kept.yaml, and the
# labels data/labels.yaml marks kept.
_KEPT = data.load("report_kept.yaml")
KEPT_DATA_TYPES = frozenset(_KEPT["data_types"])
KEPT_LABELS = frozenset(name for name, label in data.load("labels.yaml")["labels"].items() if label["kept"])
_SANDTRACE_DATA_TYPES = ("windows:sandbox:", "sandtrace:")
# A windows:registry:service record is kept when it is one of the host services the
# feature installs or uses (its installation shows the feature, not its use).
SANDBOX_SERVICES = frozenset(name.name.lower() for name in sandbox_names.select(kind="service", guest=False))
MAX_INNER_RECORDS_PER_DISK = 400
MAX_HOST_FILE_CANDIDATES = 100_000
_SYSTEM_PREFIXES = ("\\windows\\", "\\program files", "\\$", "\\programdata\\microsoft\\")
_BOOKKEEPING = frozenset({"__container_type__", "__type__", "pathspec", "date_time", "message", "tag",
                          "timestamp", "timestamp_desc", "display_name", "data_type", "parser"})


@dataclass(slots=True)
class Record:
    """One record of the evidence (all the events of one event data)."""

    data_type: str
    display_name: str
    values: dict[str, Any]
    tags: set[str]
    parser: str = ""
    times: list[tuple[int, str]] = field(default_factory=list)  # (timestamp, description)
    message: str = ""

    @property
    def first_time(self) -> int:
        real = [t for t, _ in self.times if t]
        return min(real) if real else 0

    @property
    def last_time(self) -> int:
        real = [t for t, _ in self.times if t]
        return max(real) if real else 0

    def time_of(self, *descriptions: str) -> int:
        for wanted in descriptions:
            for timestamp, description in self.times:
                if description == wanted and timestamp:
                    return timestamp
        return 0

    @property
    def is_template(self) -> bool:
        return "sandbox_template" in self.tags

    @property
    def disk_key(self) -> str:
        """The host-level disk an inner record comes from ('' for host records)."""
        head, sep, _ = self.display_name.partition(">")
        return head if sep else ""


def record_key(data_type: str, display_name: str, values: dict[str, Any]) -> tuple:
    identity = []
    for name in ("record_number", "key_path", "value_name", "entry_index", "username", "account_rid",
                 "line_number", "name", "feature", "source", "association", "registration", "role",
                 "path", "layer_relative_name", "file_reference", "update_sequence_number",
                 "volume_offset", "filename", "error", "task_identifier", "package_full_name"):
        value = values.get(name)
        if value is not None:
            identity.append((name, str(value)))
    return (data_type, display_name, tuple(identity))


@dataclass
class ReportBuilder:
    """Collects what the findings need while events stream by."""

    sources: list[str] = field(default_factory=list)
    parsers: list[str] = field(default_factory=list)
    parsers_complete: bool = True  # ``parsers`` is the run's selection (not only those that wrote something)
    command_line: list[str] = field(default_factory=list)
    timeline_path: str = ""
    records: dict[tuple, Record] = field(default_factory=dict)
    counts_by_data_type: Counter = field(default_factory=Counter)
    counts_by_label: Counter = field(default_factory=Counter)
    counts_by_channel: Counter = field(default_factory=Counter)
    inner_counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    inner_kept: Counter = field(default_factory=Counter)
    inner_spans: dict[str, list[int]] = field(default_factory=dict)
    host_files: list[tuple[str, int, str, str, bool]] = field(default_factory=list)
    host_files_dropped: int = 0
    presence: Presence = field(default_factory=Presence)
    events_seen: int = 0
    template_events: int = 0
    # What the examiner must know about the input before reading any finding.
    caveats: list[str] = field(default_factory=list)
    recorded_events: int | None = None  # events_written in the timeline's .meta.json
    written_by_sandtrace: bool = False  # the sidecar says so
    sandtrace_records: int = 0  # records only sandtrace writes (its data types, catalogue matches)
    incomplete: bool = False  # the timeline read is not all the run wrote
    foreign: bool = False  # the timeline is not sandtrace's: nothing could be looked for

    @classmethod
    def for_timeline(cls, path: str) -> ReportBuilder:
        """A builder for a json_line timeline; sources and parsers from its .meta.json sidecar.

        The parsers are those the recorded ``extract`` command line selected;
        of another command, those that wrote something (not all that ran).
        """
        builder = cls(timeline_path=os.path.abspath(path), parsers_complete=False)
        sidecar = path + ".meta.json"
        if os.path.exists(sidecar):
            try:
                with open(sidecar, encoding="utf-8") as handle:
                    meta = json.load(handle)
                builder.sources = [s.get("path", "") for s in meta.get("sources", [])]
                builder.command_line = list(meta.get("command_line") or [])
                summary = meta.get("summary") or {}
                selected = selection(builder.command_line)
                if selected is not None:
                    builder.parsers, builder.parsers_complete = selected[0], True
                else:
                    builder.parsers = list(summary.get("parsers") or summary.get("event_data_per_parser") or [])
                builder.written_by_sandtrace = "sandtrace" in meta
                if isinstance(summary.get("events_written"), int):
                    builder.recorded_events = summary["events_written"]
            except (OSError, ValueError):
                pass
        return builder

    # -- input ------------------------------------------------------------------

    def add_event(self, event) -> None:
        """An engine Event (extract --report)."""
        from sandtrace.output import fields

        data = event.data
        labels = fields.labels(event)
        self._add(event.timestamp, event.timestamp_desc or "", data.data_type,
                  data.provenance.display_name, labels, data.parser, data.plain_values, "")

    def add_record(self, record: dict[str, Any]) -> None:
        """One json_line record (sandtrace report)."""
        if record.get("__container_type__") != "event" or "data_type" not in record:
            raise ValueError("not a sandtrace/plaso json_line record (no event container or data_type)")
        if str(record["data_type"]).startswith(_SANDTRACE_DATA_TYPES) or "catalogue_id" in record:
            self.sandtrace_records += 1
        labels = (record.get("tag") or {}).get("labels") or []
        self._add(int(record.get("timestamp") or 0), record.get("timestamp_desc") or "",
                  record["data_type"], record.get("display_name") or "", labels,
                  record.get("parser") or "",
                  lambda: {k: v for k, v in record.items() if k not in _BOOKKEEPING},
                  record.get("message") or "")

    def _add(self, timestamp, description, data_type, display_name, labels, parser, values_of, message) -> None:
        self.events_seen += 1
        self.counts_by_data_type[data_type] += 1
        label_set = set(labels)
        for label in label_set:
            self.counts_by_label[label] += 1
        template = "sandbox_template" in label_set
        if template:
            self.template_events += 1
        inner = ">" in display_name
        self.presence.note(display_name, data_type, parser, host=not inner)
        if inner and not template:
            disk = display_name.partition(">")[0]
            self.inner_counts[disk][data_type] += 1
            span = self.inner_spans.setdefault(disk, [0, 0])
            if timestamp:
                span[0] = timestamp if not span[0] else min(span[0], timestamp)
                span[1] = max(span[1], timestamp)
        keep = data_type in KEPT_DATA_TYPES or bool(label_set & KEPT_LABELS)
        values = None
        if data_type == "windows:evtx:record":
            values = values_of()
            self.counts_by_channel[values.get("channel") or "?"] += 1
        if not keep and data_type == "windows:registry:service":
            values = values_of()
            keep = str(values.get("name", "")).lower() in SANDBOX_SERVICES
        if not keep and data_type == "windows:registry:sam_users":
            values = values_of()
            keep = str(values.get("username", "")).lower() == "wdagutilityaccount"
        if not keep and data_type == "fs:stat:ntfs" and display_name.lower().endswith(".wsb"):
            keep = True  # a configuration file's $SI and $FN times: when it was planted, and whether its times were changed
        if not keep and data_type == "windows:prefetch:execution":
            keep = "sandbox_execution_trace" in label_set
        if not keep and inner and not template and "sandbox_inner_activity" in label_set:
            disk = display_name.partition(">")[0]
            keep = self.inner_kept[disk] < MAX_INNER_RECORDS_PER_DISK or data_type != "fs:stat:ntfs"
        if not keep and not inner and data_type in ("fs:stat:ntfs", "fs:ntfs:usn_change"):
            self._host_file(values_of(), timestamp, description, display_name)
            return
        if not keep:
            return
        if template and data_type not in ("windows:sandbox:container", "windows:sandbox:wci_summary"):
            return  # template content never counts as activity; counted above
        if values is None:
            values = values_of()
        key = record_key(data_type, display_name, values)
        kept = self.records.get(key)
        if kept is None:
            kept = Record(data_type, display_name, values, label_set, parser, message=message)
            self.records[key] = kept
            if inner:
                self.inner_kept[display_name.partition(">")[0]] += 1
        else:
            kept.tags |= label_set
        if (timestamp, description) not in kept.times:
            kept.times.append((timestamp, description))
        if data_type in ("fs:stat:ntfs",) and not inner:
            self._host_file(values, timestamp, description, display_name)

    def _host_file(self, values: dict[str, Any], timestamp: int, description: str, display_name: str) -> None:
        path = values.get("filename") or ""
        if not path or not timestamp or path.lower().startswith(_SYSTEM_PREFIXES):
            return
        if len(self.host_files) >= MAX_HOST_FILE_CANDIDATES:
            self.host_files_dropped += 1
            return
        self.host_files.append((path, timestamp, description, display_name, bool(values.get("is_allocated", True))))

    # -- output -----------------------------------------------------------------

    def check_input(self, cut_line: int | None = None) -> None:
        """Caveats on a timeline read by ``sandtrace report``: cut, or not sandtrace's."""
        name = os.path.basename(self.timeline_path) or "the timeline"
        if cut_line is not None:
            self.caveats.append(f"{name} ends in the middle of line {cut_line} (the file was cut short): that line "
                                "is not read, and the findings cover only the lines before it.")
        if self.recorded_events is not None and self.events_seen != self.recorded_events:
            self.caveats.append(
                f"{name} holds {self.events_seen:,} of the {self.recorded_events:,} events its .meta.json recorded: "
                "the timeline is incomplete (cut or edited) or the sidecar is another run's; the findings cover "
                "only what is there.")
        if self.caveats:
            self.incomplete = True
        if self.events_seen and not self.written_by_sandtrace and not self.sandtrace_records:
            self.foreign = True
            self.caveats.append(
                f"{name} has none of what the findings are computed from: no windows:sandbox:* or sandtrace:* "
                "records, no event catalogue matches (catalogue_id) and no sandtrace .meta.json beside it. It was "
                "probably not written by sandtrace (plaso's psort, for one, writes none of these): 'no evidence' "
                "here means nothing could be looked for. Run sandtrace extract on the evidence itself.")

    def search(self) -> Search:
        """What the run searched: its parser selection when known, with the plugins its --parsers chose."""
        known = self.parsers_complete and bool(self.parsers)
        expression = command_option(self.command_line, "--parsers")
        plugins: dict[str, set[str]] = {}
        if known and isinstance(expression, str):
            from sandtrace.parsers import manager

            plugins = manager.plugin_filter(expression)
        return Search(frozenset(self.parsers) if known else None, plugins, list(self.command_line), self.presence)

    def about(self) -> dict[str, Any]:
        return {
            "generator": f"sandtrace {__version__}",
            "sources": self.sources,
            "timeline": self.timeline_path,
            "command_line": self.command_line,
            "parsers": self.parsers,
            "events_seen": self.events_seen,
            "events_recorded": self.recorded_events,
            "caveats": list(self.caveats),
            "records_kept": len(self.records),
            "template_events_ignored": self.template_events,
        }


def read_timeline(path: str, cut: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The records of a json_line timeline, one by one. A last line without its
    newline that is not JSON is a file cut short: its number goes to ``cut``."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                if cut is not None and not raw.endswith("\n") and not handle.read(1):
                    cut.append(number)
                    return
                raise ValueError(f"{path}: line {number} is not JSON (the report reads sandtrace's json_line output)") from None
