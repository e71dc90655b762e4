"""Message file paths as plaso compares them (plaso.engine.path_helper, eventlog_providers).

The registry names a message file in many spellings (``%SystemRoot%\\...``,
``C:\\Windows\\...``, ``System32\\x.dll``, a bare file name); plaso
normalises them when it reads the registry and compares them as
"folder\\file", lower case, environment variables expanded where known.
"""

from __future__ import annotations

DEFAULT_FOLDER = "%SystemRoot%\\System32"


def _is_drive(segment: str) -> bool:
    return (len(segment) == 2 and segment[1] == ":" and segment[0].isalpha()) or \
        segment.upper() in ("%%ENVIRON_SYSTEMDRIVE%%", "%SYSTEMDRIVE%")


def expand(path: str, variables: dict[str, str]) -> str:
    """``%NAME%`` segments replaced by their values (names upper case); a leading drive dropped."""
    segments = path.split("\\")
    expanded: list[str] = []
    for segment in segments:
        if len(segment) > 2 and segment.startswith("%") and segment.endswith("%"):
            upper = segment.upper()
            key = upper[10:-2] if upper.startswith("%%ENVIRON_") else upper[1:-1]
            expanded.extend(variables.get(key, segment).split("\\"))
        else:
            expanded.append(segment)
    if _is_drive(expanded[0]):
        expanded[0] = ""
    return "\\".join(expanded)


def folder_and_name(path: str, variables: dict[str, str]) -> tuple[str, str]:
    """The folder (expanded; a bare name is in System32) and the file name."""
    folder, _, name = path.rpartition("\\")
    return expand(folder or DEFAULT_FOLDER, variables), name


def lookup_keys(path: str, variables: dict[str, str], language: str) -> list[str]:
    """The keys of a message file and of its language resource file (``<folder>\\<tag>\\<name>.mui``)."""
    folder, name = folder_and_name(path, variables)
    return [f"{folder}\\{name}".lower(), f"{folder}\\{language}\\{name}.mui".lower()]


def normalise(path: str) -> str:
    """A registry message file path in the form plaso stores a provider's."""
    segments = path.split("\\")
    name = segments.pop()
    if segments:
        first = segments[0].lower()
        if (len(first) == 2 and first[1:] == ":") or first == "%systemdrive%":
            segments[0] = ""
    lower = [segment.lower() for segment in segments]
    if not lower:
        segments = ["%SystemRoot%", "System32"]
    elif lower[0] in ("system32", "$(runtime.system32)"):
        segments = ["%SystemRoot%", "System32", *segments[1:]]
    elif lower[0] in ("%systemroot%", "%windir%", "$(runtime.windows)"):
        segments = ["%SystemRoot%", *segments[1:]]
    elif len(lower) > 1 and not lower[0] and lower[1] in ("systemroot", "windows", "winnt"):
        segments = ["%SystemRoot%", *segments[2:]]
    segments.append(name)
    return "\\".join(segments) or "\\"
