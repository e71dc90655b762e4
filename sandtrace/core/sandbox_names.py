"""What names Windows Sandbox in an execution trace: its binaries, its services, its storage.

The names are data (``data/sandbox_names.yaml``: each with how specific it is,
its confidence and its source); this module is their only reader. Every
parser and plugin that tags execution traces asks it (Prefetch, LNK and jump
lists, scheduled-task XML, the registry's BAM, UserAssist, AppCompatCache,
Amcache, MRU lists and TaskCache), so one name gets one verdict everywhere;
the change journal, the services plugin and the rules (``core/rules.py``:
the EVTX catalogue, the tagging rules) take their names from ``select``:

- ``specific``: the entry names something only the sandbox uses (a
  WindowsSandbox*.exe binary, wsb.exe or the ``wsb`` command, the Store
  package, the Start-menu shortcut, a .wsb file). It is a sandbox trace:
  ``sandbox_execution_trace`` (scheduled-task XML: ``sandbox_launch_task``).
- ``shared``: the entry names only Hyper-V or container host binaries
  (vmwp.exe, vmcompute.exe, cmproxyd.exe, ManagedWindowsVM.exe) that other
  VMs and containers use too. It proves a VM or container ran, not that it
  was the sandbox: ``hyperv_host_trace``.
- ``None``: neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sandtrace import data

EXECUTION_TAG = "sandbox_execution_trace"
HOST_TRACE_TAG = "hyperv_host_trace"
SPECIFIC = "specific"
SHARED = "shared"
# Prefetch keeps at most 29 characters of the executable's name: "WINDOWSSANDBOXREMOTESESSION.E".
PREFETCH_NAME_LENGTH = 29

# The launcher values (data/sandbox_names.yaml, "launcher").
START, WINDOW, CLI = "start", "window", "cli"

# Where a name of each kind may start and what may follow it (data/sandbox_names.yaml, "kind");
# these kinds are the execution-trace verdict's, the others (services, drivers) are not.
_AFTER_SEPARATOR = r"(?<![^\\/\s\"'=}:])"  # the text's start, or a path or argument separator
_END_OF_FILE_NAME = r"(?![\w-]|\.\w)"  # not the start of a longer name (wsb.exe.bak, wsb.exe-1)
_BOUNDS = {
    "binary": (_AFTER_SEPARATOR, _END_OF_FILE_NAME),
    "shortcut": (_AFTER_SEPARATOR, _END_OF_FILE_NAME),
    "alias": (r"(?<![^\s\"'=])", r"(?=$|[\s\"'])"),  # a command word, not a path's last part
    "package": ("", ""),
    "extension": ("", r"(?!\w)"),
}


@dataclass(frozen=True)
class SandboxName:
    name: str
    kind: str
    specificity: str
    confidence: str
    source: str
    note: str = ""
    launcher: str | None = None
    event_name: str | None = None
    session_marker: bool = False
    prefetch: bool = True
    guest: bool = False
    process_role: str | None = None

    @property
    def is_pattern(self) -> bool:
        """A name with a ``*``: matched as a pattern, never compared as a name."""
        return "*" in self.name

    def pattern(self) -> str:
        """The name as a regular expression (its ``*`` stands for letters)."""
        return r"\w*".join(re.escape(part) for part in self.name.split("*"))


@lru_cache(maxsize=1)
def sandbox_names() -> tuple[SandboxName, ...]:
    return tuple(SandboxName(**entry) for entry in data.load("sandbox_names.yaml")["names"])


def select(**conditions: object) -> tuple[SandboxName, ...]:
    """The names, in file order, whose properties meet every condition: a value (a
    string compares case-insensitively), a tuple of values (any of them), or True (the
    property is set: not empty, not false)."""
    fields = SandboxName.__dataclass_fields__
    unknown = set(conditions) - set(fields)
    if unknown:
        raise ValueError(f"sandbox names have no property {', '.join(sorted(unknown))}")
    return tuple(name for name in sandbox_names()
                 if all(_meets(getattr(name, key), wanted) for key, wanted in conditions.items()))


def _meets(value: object, wanted: object) -> bool:
    if wanted is True:
        return bool(value)
    options = wanted if isinstance(wanted, tuple) else (wanted,)
    return any(str(value).lower() == str(option).lower() for option in options)


@lru_cache(maxsize=1)
def _in_text() -> dict[str, re.Pattern]:
    """One pattern per specificity, matching any of its names anywhere in a text."""
    patterns: dict[str, list[str]] = {SPECIFIC: [], SHARED: []}
    for name in sandbox_names():
        if name.kind not in _BOUNDS:
            continue
        before, after = _BOUNDS[name.kind]
        patterns[name.specificity].append(before + name.pattern() + after)
    return {specificity: re.compile("|".join(parts), re.IGNORECASE) for specificity, parts in patterns.items()}


@lru_cache(maxsize=1)
def _file_names() -> tuple[tuple[re.Pattern, re.Pattern, str], ...]:
    """(the whole name, any start of it, specificity) for each binary."""
    found = []
    for name in sandbox_names():
        if name.kind == "binary":
            tokens = [r"\w*" if char == "*" else re.escape(char) for char in name.name]
            start = ""
            for token in reversed(tokens):  # a(?:b(?:c)?)?: "", "a", "ab" or "abc"
                start = f"(?:{token}{start})?"
            found.append((re.compile(name.pattern(), re.IGNORECASE), re.compile(start, re.IGNORECASE),
                          name.specificity))
    return tuple(found)


def verdict(*texts: object) -> str | None:
    """``specific`` when a text names something only the sandbox uses, else ``shared`` when
    one names a Hyper-V or container host binary, else None (texts that are not strings
    are ignored)."""
    strings = [text for text in texts if isinstance(text, str) and text]
    patterns = _in_text()
    if any(patterns[SPECIFIC].search(text) for text in strings):
        return SPECIFIC
    if any(patterns[SHARED].search(text) for text in strings):
        return SHARED
    return None


def file_verdict(name: str | None) -> str | None:
    """The verdict on a file name (or a path's last part) such as Prefetch's executable;
    a name of 29 characters may be cut short and counts when it begins a binary's name."""
    if not name:
        return None
    base = re.split(r"[\\/]", name.strip().strip('"'))[-1]
    found = None
    for whole, prefix, specificity in _file_names():
        if whole.fullmatch(base) or (len(base) == PREFETCH_NAME_LENGTH and prefix.fullmatch(base)):
            if specificity == SPECIFIC:
                return SPECIFIC
            found = SHARED
    return found


def tags_for(found: str | None, sandbox_tag: str = EXECUTION_TAG) -> list[str]:
    """The tag a verdict gives: ``sandbox_tag`` for ``specific``, ``hyperv_host_trace`` for ``shared``."""
    return [sandbox_tag] if found == SPECIFIC else [HOST_TRACE_TAG] if found == SHARED else []


def trace_tags(*texts: object, sandbox_tag: str = EXECUTION_TAG) -> list[str]:
    """The tags of an entry whose texts (paths, command lines, names) are these."""
    return tags_for(verdict(*texts), sandbox_tag)


# A .wsb, a .vhdx, or anything in the Containers tree (docs/domain.md §2).
_SANDBOX_PATH = re.compile(
    r"\.wsb\b|\.vhdx\b|\\programdata\\microsoft\\windows\\containers(\\|\b|$)",
    re.IGNORECASE,
)
_WSB = re.compile(r"\.wsb\b", re.IGNORECASE)
_CONTAINERS = re.compile(r"\\programdata\\microsoft\\windows\\containers(\\|$)", re.IGNORECASE)


def sandbox_paths(paths) -> list[str]:
    """The paths that name a .wsb, a .vhdx or the Containers tree, in order, once each."""
    found: list[str] = []
    for path in paths or ():
        if path and _SANDBOX_PATH.search(path) and path not in found:
            found.append(path)
    return found


def is_sandbox_specific_path(path: str | None) -> bool:
    """A .wsb or the Containers tree; a bare .vhdx may be any VM's (WSL, Hyper-V)."""
    return bool(path and (_WSB.search(path) or _CONTAINERS.search(path)))
