"""Scheduled-task definitions under ``Windows\\System32\\Tasks``.

MirrorFace launched its .wsb through Task Scheduler as SYSTEM at startup,
which shows no sandbox window (docs/domain.md §1 and §3 [S]); the task leaves its
XML here and its TaskCache entry in the SOFTWARE hive (read by the registry
plugins). One ``windows:sandbox:scheduled_task`` per task file: name,
author, registration date, principal, triggers, actions, hidden flag, and
the file's times. A task whose action runs a sandbox binary or names a
.wsb is tagged ``sandbox_launch_task``; one whose action names only a
Hyper-V or container host binary, ``hyperv_host_trace``
(``core/sandbox_names.py``).

``RegistrationInfo/Date`` is written by Windows as local time without a zone
(the task XML schema's xs:dateTime; observed values have no offset) [I]: it
is kept as written in ``registration_date`` and timelined as if it were UTC,
with ``registration_date_is_local_time`` saying so. A date with a zone is
converted. Hostile or broken XML (DTDs, entities, junk) gives a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from dfdatetime import time_elements as dfdatetime_time_elements

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData
from sandtrace.core.sandbox_names import trace_tags
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:scheduled_task"
LAUNCH_TAG = "sandbox_launch_task"
MAX_SIZE = 1024 * 1024  # task files are a few KiB
_TASKS_FOLDER = "\\windows\\system32\\tasks"
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_ZONE = re.compile(r"(Z|[+-]\d\d:\d\d)$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


class TaskXmlError(ValueError):
    """The file is not a readable task definition; the message says why."""


def decode(data: bytes) -> str:
    """Task files are UTF-16 with a BOM; accept UTF-8 and BOM-less UTF-16 too."""
    if b"\0" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff", b"<\0", b"\0<")):
        raise TaskXmlError("binary data, not XML")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    elif data.startswith(b"<\0"):
        text = data.decode("utf-16-le")
    elif data.startswith(b"\0<"):
        text = data.decode("utf-16-be")
    else:
        text = data.decode("utf-8-sig")
    return _DECLARATION.sub("", text, count=1)


def parse_task(data: bytes) -> dict[str, Any]:
    """The task's attributes; raises TaskXmlError for anything that is not a task."""
    if len(data) > MAX_SIZE:
        raise TaskXmlError(f"too large for a task file ({len(data)} bytes, limit {MAX_SIZE})")
    try:
        text = decode(data)
        root = SafeElementTree.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except TaskXmlError:
        raise
    except DefusedXmlException as exception:
        raise TaskXmlError(f"refused hostile XML ({type(exception).__name__})") from None
    except (ParseError, ValueError, UnicodeError) as exception:
        raise TaskXmlError(f"not well-formed XML: {exception}") from None
    if _local(root.tag) != "Task":
        raise TaskXmlError(f"root element is <{_local(root.tag)}>, not <Task>")

    registration = _child(root, "RegistrationInfo")
    principal = _child(_child(root, "Principals"), "Principal")
    settings = _child(root, "Settings")
    triggers = [_trigger(t) for t in _children(_child(root, "Triggers"))]
    actions_element = _child(root, "Actions")
    actions = [_action(a) for a in _children(actions_element)]
    date = _text(registration, "Date")
    values: dict[str, Any] = {
        "author": _text(registration, "Author"),
        "description": _text(registration, "Description"),
        "uri": _text(registration, "URI"),
        "registration_date": date,
        "user_id": _text(principal, "UserId"),
        "group_id": _text(principal, "GroupId"),
        "logon_type": _text(principal, "LogonType"),
        "run_level": _text(principal, "RunLevel"),
        "hidden": _boolean(_text(settings, "Hidden")),
        "enabled": _boolean(_text(settings, "Enabled")),
        "triggers": triggers or None,
        "trigger": ", ".join(t["trigger_type"] for t in triggers) or None,
        "actions": actions or None,
    }
    executable = [a for a in actions if a.get("command")]
    if executable:  # the first program run, flat, as the TaskCache side and examiners quote it
        values["command"] = executable[0]["command"]
        values["arguments"] = executable[0].get("arguments")
    if date:
        values["registration_time"], local = _registration_time(date)
        values["registration_date_is_local_time"] = local
    values["summary"] = _summary(values)
    return {name: value for name, value in values.items() if value is not None}


def command_lines(values: dict[str, Any]) -> list[str]:
    """Every Exec action as one command line."""
    return [_command_line(a) for a in values.get("actions") or [] if a.get("command")]


def sandbox_tags(values: dict[str, Any]) -> list[str]:
    """``sandbox_launch_task`` when an action names the sandbox (``core/sandbox_names``),
    ``hyperv_host_trace`` when it names only a Hyper-V or container host binary."""
    return trace_tags(*command_lines(values), sandbox_tag=LAUNCH_TAG)


def _registration_time(date: str):
    date = _FRACTION.sub(r"\1", date.strip())
    date_time = dfdatetime_time_elements.TimeElementsInMicroseconds()
    try:
        date_time.CopyFromStringISO8601(date)
    except ValueError:
        return None, None
    local = not _ZONE.search(date)
    date_time.is_local_time = local
    return date_time, local


_TRIGGER_FIELDS = (("start_boundary", "StartBoundary"), ("end_boundary", "EndBoundary"), ("delay", "Delay"),
                   ("user_id", "UserId"))
_ACTION_FIELDS = (("command", "Command"), ("arguments", "Arguments"), ("working_directory", "WorkingDirectory"),
                  ("class_id", "ClassId"), ("data", "Data"))


def _fields(element: Element, kind: str, names: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The element's kind (its tag) and the child elements' texts that are there."""
    values = {kind: _local(element.tag), **{name: _text(element, tag) for name, tag in names}}
    return {k: v for k, v in values.items() if v is not None}


def _trigger(element: Element) -> dict[str, Any]:
    values = _fields(element, "trigger_type", _TRIGGER_FIELDS)
    enabled = _boolean(_text(element, "Enabled"))
    if enabled is not None:
        values["enabled"] = enabled
    interval = _text(_child(element, "Repetition"), "Interval")
    if interval:
        values["repetition_interval"] = interval
    return values


def _action(element: Element) -> dict[str, Any]:
    return _fields(element, "action_type", _ACTION_FIELDS)


def _command_line(action: dict[str, Any]) -> str:
    return " ".join(part for part in (action.get("command"), action.get("arguments")) if part)


def _summary(values: dict[str, Any]) -> str:
    parts = []
    if command_lines(values):
        parts.append("runs " + "; ".join(command_lines(values)))
    if values.get("trigger"):
        parts.append("on " + values["trigger"])
    if values.get("user_id") or values.get("group_id"):
        parts.append("as " + (values.get("user_id") or values.get("group_id")))
    if values.get("run_level"):
        parts.append(values["run_level"])
    if values.get("hidden"):
        parts.append("hidden")
    return ", ".join(parts)


def task_path(location: str) -> str:
    """``\\Windows\\System32\\Tasks\\Microsoft\\X`` -> ``\\Microsoft\\X``."""
    index = location.lower().find(_TASKS_FOLDER)
    if index < 0:
        return location
    return location[index + len(_TASKS_FOLDER):] or "\\"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: Element | None) -> list[Element]:
    return [c for c in element if isinstance(c.tag, str)] if element is not None else []


def _child(element: Element | None, name: str) -> Element | None:
    for child in _children(element):
        if _local(child.tag) == name:
            return child
    return None


def _text(element: Element | None, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _boolean(text: str | None) -> bool | None:
    if text is None:
        return None
    return text.strip().lower() in ("true", "1")


class TaskXmlParser(BaseParser):
    NAME = "task_xml"
    DATA_FORMAT = "Windows Task Scheduler task definition (XML)"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = ("\\Windows\\System32\\Tasks\\**",)

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        try:
            data = target.read_limited(MAX_SIZE, "a task file")
        except ValueError as exception:
            raise TaskXmlError(str(exception)) from None
        values = parse_task(data)
        values.update({
            "task_path": task_path(target.location),
            "task_name": target.location.rstrip("\\").rsplit("\\", 1)[-1],
            **target.file_record(data),
        })
        tags = sandbox_tags(values)
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None}, tags=tags)
