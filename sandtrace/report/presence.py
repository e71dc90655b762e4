"""Which artifacts the evidence holds, learnt from the events as they stream by, and what the run searched.

The report must not confuse "not in the evidence" with "searched, nothing
found". sandtrace's filestat parser timelines every file the run collects,
and the run collects the hives, the event logs, the .wsb files and the
Containers tree whether or not they hold anything about the sandbox: a host
record of the SOFTWARE hive (its fs:stat, a record read from it, a warning
about it) shows the hive is there. An artifact no record names is absent
only when filestat and the artifact's parsers ran; otherwise nobody can
say. Which parsers ran is the run's selection: the extractor's while
extracting, that of the ``--parsers`` the ``.meta.json`` sidecar recorded
when a timeline is read, and with neither, the parsers whose records the
timeline holds. The artifacts are ``data/report_checklist.yaml``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sandtrace import data

WARNING_DATA_TYPE = "sandtrace:warning"
PRESENT, WARNED, ABSENT, UNKNOWN = "present", "present, read with warnings", "absent", "not known"
_CACHE_SIZE = 4096


class _Matcher:
    """The artifacts a display name names: its path, or a folder above it, ends in an artifact's path.

    Matched part by part (lower case, either separator, a data stream after
    ``:`` ignored), an artifact looked for only where the name has its first
    part: a few dictionary look-ups per part of the name.
    """

    def __init__(self, paths: dict[str, str]) -> None:
        self._literal: dict[tuple[str, ...], list[str]] = {}  # whole paths without '*'
        self._lengths: dict[str, set[int]] = {}  # first part: the lengths of those paths
        self._patterned: dict[str, list[tuple[str, list]]] = {}  # first part: (artifact, the parts after it)
        self._last_anywhere: list[tuple[str, re.Pattern]] = []  # '**\*.wsb': its last part, in any folder
        for name, path in paths.items():
            parts = [p.lower() for p in re.split(r"[\\/]", path) if p]
            if parts[0] == "**":
                self._last_anywhere.append((name, _part(parts[-1])))
            elif any("*" in p for p in parts):
                self._patterned.setdefault(parts[0], []).append((name, [_part(p) for p in parts[1:]]))
            else:
                self._literal.setdefault(tuple(parts), []).append(name)
                self._lengths.setdefault(parts[0], set()).add(len(parts))

    def __call__(self, display_name: str) -> tuple[str, ...]:
        parts = display_name.replace("/", "\\").lower().split("\\")
        parts[-1] = parts[-1].partition(":")[0]
        found = [name for name, pattern in self._last_anywhere if pattern.fullmatch(parts[-1])]
        for index, part in enumerate(parts):
            for length in self._lengths.get(part, ()):
                if index + length <= len(parts):
                    found += self._literal.get(tuple(parts[index:index + length]), ())
            for name, rest in self._patterned.get(part, ()):
                if len(parts) > index + len(rest) and all(
                        p == parts[index + 1 + k] if isinstance(p, str) else p.fullmatch(parts[index + 1 + k])
                        for k, p in enumerate(rest)):
                    found.append(name)
        return tuple(found)


def _part(part: str) -> str | re.Pattern:
    """A literal part, or a pattern for one with ``*``."""
    return re.compile(re.escape(part).replace(r"\*", ".*")) if "*" in part else part


@lru_cache(maxsize=1)
def artifacts() -> dict[str, dict]:
    return data.load("report_checklist.yaml")["artifacts"]


@lru_cache(maxsize=1)
def _matcher() -> _Matcher:
    return _Matcher({name: entry["path"] for name, entry in artifacts().items()})


@dataclass
class Presence:
    """The artifacts host records named (inside sandbox disks is not the host), and the parsers seen."""

    present: set[str] = field(default_factory=set)
    warned: set[str] = field(default_factory=set)
    parsers_seen: set[str] = field(default_factory=set)
    _names: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def note(self, display_name: str, data_type: str, parser: str, host: bool) -> None:
        if parser:
            self.parsers_seen.add(parser.partition("/")[0])
        if not host:
            return
        found = self._names.get(display_name)
        if found is None:
            if len(self._names) >= _CACHE_SIZE:
                self._names.clear()
            found = self._names[display_name] = _matcher()(display_name)
        if found:
            self.present.update(found)
            if data_type == WARNING_DATA_TYPE:
                self.warned.update(found)


def command_option(command_line: list[str], name: str) -> str | bool | None:
    """An option's value on a command line (True for a flag without one, None when it is not there)."""
    for index, token in enumerate(command_line):
        if token == name:
            following = command_line[index + 1] if index + 1 < len(command_line) else ""
            return following if following and not following.startswith("-") else True
        if token.startswith(name + "="):
            return token.partition("=")[2]
    return None


@dataclass
class Search:
    """What the run searched: its parsers (with the plugins ``--parsers`` chose) and its options."""

    parsers: frozenset[str] | None  # None: not known
    plugins: dict[str, set[str]]
    command_line: list[str]
    presence: Presence

    def ran(self, name: str) -> bool | None:
        """Whether the parser (``parser/plugin``) ran; None when that is not known."""
        parser, _, plugin = name.partition("/")
        if self.parsers is None:
            return True if parser in self.presence.parsers_seen else None
        if parser not in self.parsers:
            return False
        return not (plugin and parser in self.plugins and plugin not in self.plugins[parser])

    def artifact(self, name: str, searched: bool | None) -> str:
        """present, present with warnings, absent (filestat and the searching parsers ran, no record) or not known."""
        if name in self.presence.present:
            return WARNED if name in self.presence.warned else PRESENT
        return ABSENT if searched and self.ran("filestat") else UNKNOWN


def selection(command_line: list[str]) -> tuple[list[str], dict[str, set[str]]] | None:
    """The parsers and plugins an ``extract`` command line selected; None when it is not one, or names unknown parsers."""
    if "extract" not in command_line:
        return None
    from sandtrace.parsers import manager

    expression = command_option(command_line, "--parsers")
    expression = expression if isinstance(expression, str) else None
    try:
        return manager.select(expression), manager.plugin_filter(expression)
    except ValueError:
        return None
