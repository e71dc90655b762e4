"""The Windows Sandbox event catalogue, applied to every decoded EVTX record.

What to look for is data (``sandtrace/data/evtx_catalogue/sandbox.yaml``): an entry
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

import re
from functools import lru_cache
from typing import Any

from sandtrace.core import sandbox_names
from sandtrace.core.events import EventData
from sandtrace.core.rules import basename
from sandtrace.parsers.wsb import WsbError, parse_config
from sandtrace.plugins.winevtx.interface import CataloguePlugin, Entry

class EvtxCataloguePlugin(CataloguePlugin):
    """Tags and explains the records the Windows Sandbox catalogue names, and ties
    task registrations to the sandbox launches seen in the same log."""

    NAME = "sandbox_catalogue"
    DATA_FORMAT = "Windows Sandbox event catalogue (data/evtx_catalogue/sandbox.yaml)"
    CATALOGUE = "evtx_catalogue/sandbox.yaml"

    def __init__(self, entries: tuple[Entry, ...] | None = None) -> None:
        super().__init__(entries)
        self._sandbox_tasks: set[str] = set()

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


def _cleared_log(plugin, values, extra, tags):
    """The log a clearing record names: 104 carries it in its data, 1102 is the Security log's own."""
    channel = (values.get("event_data") or {}).get("Channel")
    if not isinstance(channel, str) or not channel:
        channel = values.get("channel") if values.get("event_identifier") == 1102 else None
    extra["cleared_log"] = channel
    return True


def _scheduled_task(plugin, values, extra, tags):
    event_data = values.get("event_data") or {}
    event_id = values.get("event_identifier")
    task = (event_data.get("TaskName") or "").lower()
    if event_id in (200, 201):
        action = event_data.get("ActionName") or ""
        if basename(action) in _launchers() or ".wsb" in action.lower():
            plugin._sandbox_tasks.add(task)
            extra["task_launches_sandbox"] = True
            return True
        return False
    return "defer" if task else False


@lru_cache(maxsize=1)
def _launchers() -> dict[str, str]:
    """Each sandbox launcher's file name (lower case) -> how its command line starts a sandbox."""
    return {name.name.lower(): name.launcher for name in sandbox_names.select(kind="binary", launcher=True)}


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
    name = basename(image)
    launcher = _launchers().get(name)
    attributes: dict[str, Any] = {"sandbox_binary": name}
    tags: list[str] = []
    arguments = split_command_line(command_line or "")[1:]
    sentence = f"Windows Sandbox process {name} started"
    if launcher in (sandbox_names.START, sandbox_names.WINDOW):
        wsb_path = next((a for a in arguments if a.lower().endswith(".wsb")), None)
        attributes["wsb_path"] = wsb_path
        inline = next((a for a in arguments if a.lstrip().startswith("<")), None)
        if wsb_path:
            tags.append("sandbox_started_with_wsb")
            sentence = f"Windows Sandbox started with configuration {wsb_path}"
        elif launcher == sandbox_names.START:
            sentence = "Windows Sandbox started (default configuration)"
        if inline:
            summary = _inline_config(inline, attributes, tags)
            sentence = f"{sentence} with inline configuration ({summary})"
        return attributes, tags, sentence
    if launcher != sandbox_names.CLI:
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


@lru_cache(maxsize=1)
def _binaries() -> tuple[frozenset[str], re.Pattern | None]:
    """The sandbox binaries' file names (lower case), and one pattern for those written
    with a ``*`` (WindowsSandbox*.exe), which a rule's ``$kind=binary`` leaves out."""
    names = sandbox_names.select(kind="binary")
    patterns = [name.pattern() for name in names if name.is_pattern]
    return (frozenset(name.name.lower() for name in names if not name.is_pattern),
            re.compile("|".join(patterns), re.IGNORECASE) if patterns else None)


def is_sandbox_binary(path: object) -> bool:
    """Whether a path's last part is a binary of sandbox_names.yaml, a pattern's match included."""
    if not isinstance(path, str) or not path:
        return False
    name = basename(path)
    exact, pattern = _binaries()
    return name in exact or bool(pattern and pattern.fullmatch(name))


def _sandbox_command_line(plugin, values, extra, tags):
    event_data = values.get("event_data") or {}
    if not any(is_sandbox_binary(event_data.get(field)) for field in ("NewProcessName", "Image", "OriginalFileName")):
        return False
    image = event_data.get("NewProcessName") or event_data.get("Image") or event_data.get("OriginalFileName") or ""
    command_line = event_data.get("CommandLine")
    attributes, more_tags, sentence = parse_sandbox_command_line(image, command_line)
    extra.update(attributes)
    extra["sandbox_summary"] = sentence
    tags.extend(more_tags)
    return True


EvtxCataloguePlugin.HANDLERS = {
    "servicing_update": _servicing_update,
    "feature_command": _feature_command,
    "scheduled_task": _scheduled_task,
    "cleared_log": _cleared_log,
    "sandbox_command_line": _sandbox_command_line,
}
