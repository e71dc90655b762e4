"""The Windows Sandbox event catalogue, applied to every decoded EVTX record.

What to look for is data (``sandtrace/data/evtx_catalogue.yaml``): an entry
names a channel or provider, event ids, an optional condition on the
EventData fields, tags, and a message. Code here only does what data cannot:
the command-line reading of the sandbox binaries (the .wsb path, the ``wsb``
subcommand and its switches, an inline ``--config`` parsed by the same code as
.wsb files) and the correlation of scheduled-task events.

Cost matters (every record passes here): entries are indexed by
(channel, event id) and (provider, event id), so a record no entry names costs
two dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any

from sandtrace.data import load_yaml
from sandtrace.core.events import EventData
from sandtrace.parsers.wsb import WsbError, parse_config
from sandtrace.plugins.winevtx.interface import EvtxPlugin

_MISSING = "?"


class Entry:
    """One catalogue entry, compiled."""

    def __init__(self, spec: dict[str, Any], lists: dict[str, list[str]]) -> None:
        self.spec = spec
        self.id: str = spec["id"]
        self.tags: list[str] = list(spec.get("tags") or [])
        self.tags_by_event_id = {int(k): list(v) for k, v in (spec.get("tags_by_event_id") or {}).items()}
        self.action_by_event_id = {int(k): v for k, v in (spec.get("action_by_event_id") or {}).items()}
        self.message: str | None = spec.get("message")
        self.handler: Callable | None = HANDLERS[spec["handler"]] if spec.get("handler") else None
        when = dict(spec.get("when") or {})
        for key, value in when.items():
            if isinstance(value, str) and value.startswith("$"):
                when[key] = lists[value[1:]]
        self.fields: list[str] | None = when.get("fields")
        self.basename_in = frozenset(v.lower() for v in when.get("basename_in") or ())
        self.equals_any = frozenset(v.lower() for v in when.get("equals_any") or ())
        self.contains_all = [v.lower() for v in when.get("contains_all") or ()]
        self.contains_any = [v.lower() for v in when.get("contains_any") or ()]
        self.provider_any = frozenset(v.lower() for v in when.get("provider_any") or ())

    def keys(self) -> list[tuple[str, str, int | None]]:
        spec = self.spec
        ids = spec.get("event_ids") or [None]
        if spec.get("channel") or spec.get("channel_any"):
            names = [spec["channel"]] if spec.get("channel") else spec["channel_any"]
            return [("channel", name.lower(), event_id) for name in names for event_id in ids]
        names = [spec["provider"]] if spec.get("provider") else spec["provider_any"]
        return [("provider", name.lower(), event_id) for name in names for event_id in ids]

    def matches(self, values: dict[str, Any]) -> bool:
        if self.provider_any and (values.get("source_name") or "").lower() not in self.provider_any:
            return False
        texts = _texts(values, self.fields)
        if self.basename_in and not any(_basename(t) in self.basename_in for t in texts):
            return False
        if self.equals_any and not any(t.lower() in self.equals_any for t in texts):
            return False
        if self.contains_all or self.contains_any:
            joined = "\n".join(texts).lower()
            if not all(needle in joined for needle in self.contains_all):
                return False
            if self.contains_any and not any(needle in joined for needle in self.contains_any):
                return False
        return True


def _texts(values: dict[str, Any], fields: list[str] | None) -> list[str]:
    if fields is None:
        return [s for s in values.get("strings") or () if s]
    event_data = values.get("event_data") or {}
    texts = []
    for name in fields:
        value = event_data.get(name)
        if isinstance(value, str) and value:
            texts.append(value)
    return texts


def _basename(path: str) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1].strip().strip('"').lower()


@lru_cache(maxsize=1)
def load_catalogue(text: str | None = None) -> tuple[Entry, ...]:
    if text is None:
        text = resources.files("sandtrace.data").joinpath("evtx_catalogue.yaml").read_text("utf-8")
    document = load_yaml(text)
    lists = document.get("lists") or {}
    return tuple(Entry(spec, lists) for spec in document["entries"])


class _Format(dict):
    def __missing__(self, key: str) -> str:
        return _MISSING


class EvtxCataloguePlugin(EvtxPlugin):
    """Tags and explains the records the catalogue names."""

    NAME = "sandbox_catalogue"
    DATA_FORMAT = "Windows Sandbox event catalogue (data/evtx_catalogue.yaml)"
    def __init__(self, entries: tuple[Entry, ...] | None = None) -> None:
        self.entries = entries if entries is not None else load_catalogue()
        self._index: dict[tuple[str, str, int | None], list[Entry]] = {}
        for entry in self.entries:
            for key in entry.keys():
                self._index.setdefault(key, []).append(entry)
        self._sandbox_tasks: set[str] = set()

    def process(self, data: EventData) -> bool:
        """Applies matching entries; True asks the parser to hold the record to the end of the file."""
        values = data.values
        event_id = values.get("event_identifier")
        channel = (values.get("channel") or "").lower()
        provider = (values.get("source_name") or "").lower()
        index = self._index
        candidates = (
            index.get(("channel", channel, event_id), [])
            + index.get(("channel", channel, None), [])
            + index.get(("provider", provider, event_id), [])
        )
        if not candidates:
            return False
        defer = False
        for entry in candidates:
            if not entry.matches(values):
                continue
            extra: dict[str, Any] = {}
            tags = list(entry.tags) + entry.tags_by_event_id.get(event_id, [])
            if entry.handler is not None:
                verdict = entry.handler(self, values, extra, tags)
                if verdict == "defer":
                    defer = True
                    values["_catalogue_pending"] = entry
                    continue
                if verdict is False:
                    continue
            self._apply(data, entry, extra, tags)
        return defer

    def finish(self, deferred: list[EventData]) -> None:
        """Resolves held records (task registrations) once the whole log was seen."""
        for data in deferred:
            entry = data.values.pop("_catalogue_pending", None)
            if entry is None:
                continue
            name = ((data.values.get("event_data") or {}).get("TaskName") or "").lower()
            if name and name in self._sandbox_tasks:
                tags = list(entry.tags) + entry.tags_by_event_id.get(data.values.get("event_identifier"), [])
                self._apply(data, entry, {"task_launches_sandbox": True}, tags)
        self._sandbox_tasks.clear()

    @staticmethod
    def _apply(data: EventData, entry: Entry, extra: dict[str, Any], tags: list[str]) -> None:
        values = data.values
        action = entry.action_by_event_id.get(values.get("event_identifier"))
        if action:
            extra.setdefault("catalogue_action", action)
        values.update({k: v for k, v in extra.items() if v is not None})
        values["catalogue_id"] = entry.id
        if entry.message:
            fields = _Format(values.get("event_data") or {})
            fields.update({k: v for k, v in values.items() if k != "event_data" and v is not None})
            try:
                values["catalogue_message"] = entry.message.format_map(fields)
            except (ValueError, IndexError, AttributeError, TypeError):
                values["catalogue_message"] = entry.message
        for tag in tags:
            if tag not in data.tags:
                data.tags.append(tag)


# -- handlers: what data cannot say --------------------------------------------------


def _servicing_update(plugin, values, extra, tags):
    event_data = values.get("event_data") or {}
    name = event_data.get("UpdateName")
    if not isinstance(name, str):
        name = next((s for s in values.get("strings") or () if s.lower() == "containers-disposableclientvm"), None)
    extra["update_name"] = name
    extra["package_identifier"] = event_data.get("PackageIdentifier")
    return True


def _feature_command(plugin, values, extra, tags):
    text = " ".join(s for s in values.get("strings") or () if s).lower()
    extra["feature_action"] = "disabled" if "disable-" in text else "enabled"
    extra["catalogue_action"] = "turned off" if "disable-" in text else "turned on"
    return True


def _scheduled_task(plugin, values, extra, tags):
    event_data = values.get("event_data") or {}
    event_id = values.get("event_identifier")
    task = (event_data.get("TaskName") or "").lower()
    if event_id in (200, 201):
        action = event_data.get("ActionName") or ""
        if _basename(action) in _SANDBOX_LAUNCHERS or ".wsb" in action.lower():
            plugin._sandbox_tasks.add(task)
            extra["task_launches_sandbox"] = True
            return True
        return False
    return "defer" if task else False


_SANDBOX_LAUNCHERS = frozenset({"windowssandbox.exe", "windowssandboxclient.exe", "wsb.exe"})
_WSB_SUBCOMMANDS = ("start", "exec", "share", "map", "connect", "stop", "list", "ip")


def split_command_line(command_line: str) -> list[str]:
    """CommandLineToArgvW's rules: quotes group, 2n backslashes + quote -> n and a quote toggles."""
    arguments: list[str] = []
    current: list[str] = []
    in_quotes = False
    has_token = False
    index = 0
    length = len(command_line)
    while index < length:
        char = command_line[index]
        if char == "\\":
            start = index
            while index < length and command_line[index] == "\\":
                index += 1
            count = index - start
            if index < length and command_line[index] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    index += 1
                has_token = True
            else:
                current.append("\\" * count)
                has_token = True
            continue
        if char == '"':
            if in_quotes and index + 1 < length and command_line[index + 1] == '"':
                current.append('"')
                index += 2
                continue
            in_quotes = not in_quotes
            has_token = True
        elif char in " \t" and not in_quotes:
            if has_token:
                arguments.append("".join(current))
                current, has_token = [], False
        else:
            current.append(char)
            has_token = True
        index += 1
    if has_token:
        arguments.append("".join(current))
    return arguments


def parse_sandbox_command_line(image: str, command_line: str | None) -> tuple[dict[str, Any], list[str], str]:
    """(attributes, tags, sentence) for one sandbox binary's command line."""
    name = _basename(image)
    attributes: dict[str, Any] = {"sandbox_binary": name}
    tags: list[str] = []
    arguments = split_command_line(command_line or "")[1:]
    sentence = f"Windows Sandbox process {name} started"
    if name in ("windowssandbox.exe", "windowssandboxclient.exe"):
        wsb_path = next((a for a in arguments if a.lower().endswith(".wsb")), None)
        attributes["wsb_path"] = wsb_path
        inline = next((a for a in arguments if a.lstrip().startswith("<")), None)
        if wsb_path:
            tags.append("sandbox_started_with_wsb")
            sentence = f"Windows Sandbox started with configuration {wsb_path}"
        elif name == "windowssandbox.exe":
            sentence = "Windows Sandbox started (default configuration)"
        if inline:
            summary = _inline_config(inline, attributes, tags)
            sentence = f"{sentence} with inline configuration ({summary})"
        return attributes, tags, sentence
    if name != "wsb.exe":
        return attributes, tags, sentence
    tags.append("wsb_cli")
    subcommand = next((a.lower() for a in arguments if a.lower() in _WSB_SUBCOMMANDS), None)
    attributes["wsb_subcommand"] = subcommand
    options = _options(arguments)
    attributes["wsb_id"] = options.get("--id")
    if subcommand == "start":
        config = options.get("--config") or options.get("-c")
        sentence = "Windows Sandbox started with wsb start"
        if config:
            summary = _inline_config(config, attributes, tags)
            sentence += f" and an inline configuration ({summary})"
    elif subcommand == "exec":
        command = options.get("-c") or options.get("--command")
        run_as = options.get("-r") or options.get("--run-as")
        attributes.update({"wsb_command": command, "wsb_run_as": run_as,
                           "wsb_working_directory": options.get("-d") or options.get("--working-directory")})
        if run_as and run_as.lower() == "system":
            tags.append("wsb_exec_system")
        sentence = f"Command run in Windows Sandbox {attributes['wsb_id'] or ''} as {run_as or '?'}: {command or '?'}"
    elif subcommand in ("share", "map"):
        writable = "-w" in options or "--allow-write" in options
        attributes.update({
            "wsb_host_folder": options.get("-f") or options.get("--host-path"),
            "wsb_sandbox_folder": options.get("-s") or options.get("--sandbox-path"),
            "wsb_allow_write": writable,
        })
        if writable:
            tags.append("wsb_share_writable")
        mode = "writable" if writable else "read-only"
        sentence = (f"Host folder {attributes['wsb_host_folder'] or '?'} shared {mode} into Windows Sandbox "
                    f"{attributes['wsb_id'] or ''} at {attributes['wsb_sandbox_folder'] or '?'}")
    elif subcommand:
        sentence = f"wsb {subcommand} {attributes['wsb_id'] or ''}".rstrip()
    return attributes, tags, " ".join(sentence.split())


def _options(arguments: list[str]) -> dict[str, str | None]:
    options: dict[str, str | None] = {}
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument.startswith("-"):
            key, _, inline_value = argument.partition("=") if argument.startswith("--") else (argument, "", "")
            key = key.lower()
            if inline_value:
                options[key] = inline_value
            elif index + 1 < len(arguments) and not arguments[index + 1].startswith("-"):
                options[key] = arguments[index + 1]
                index += 1
            else:
                options[key] = None
        index += 1
    return options


def _inline_config(text: str, attributes: dict[str, Any], tags: list[str]) -> str:
    attributes["wsb_inline_config"] = text
    tags.append("wsb_inline_config")
    try:
        config = parse_config(text)
    except WsbError as problem:
        attributes["wsb_config_problem"] = str(problem)
        return f"unreadable: {problem}"
    for key, value in config.attributes().items():
        attributes[f"wsb_{key}"] = value
    if config.logon_command:
        tags.append("wsb_inline_logon_command")
    return config.summary()


def _sandbox_command_line(plugin, values, extra, tags):
    event_data = values.get("event_data") or {}
    image = event_data.get("NewProcessName") or event_data.get("Image") or event_data.get("OriginalFileName") or ""
    command_line = event_data.get("CommandLine")
    attributes, more_tags, sentence = parse_sandbox_command_line(image, command_line)
    extra.update(attributes)
    extra["sandbox_summary"] = sentence
    tags.extend(more_tags)
    return True


HANDLERS: dict[str, Callable] = {
    "servicing_update": _servicing_update,
    "feature_command": _feature_command,
    "scheduled_task": _scheduled_task,
    "sandbox_command_line": _sandbox_command_line,
}
