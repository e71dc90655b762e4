"""Windows message strings as Python format strings, and their formatting as psort does it.

A message table string uses FormatMessage's inserts (``%1``, ``%2!s!``),
escapes (``%n``, ``%t``, ``%%``, ``%.``, ``%!``, ``% ``, ``%r``, ``%b``) and
ends at ``%0``. plaso stores and formats the PEP 3101 form: text after
``%0`` and trailing NULs dropped, CR, LF and ``%b`` removed, an escape kept
as a backslash and its character, braces doubled, ``%N`` as ``{N-1:s}``
(plaso.helpers.windows.resource_files). A record's strings fill the
placeholders; a string that is ``%%N`` is first replaced by parameter string
N of the provider (plaso.formatters.winevt).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_END = re.compile(r"%0(?!\d)")
_WHITE_SPACE = re.compile(r"%b|[\r\n]")
_ESCAPE = re.compile(r"%([ .!%nrt])")
_BRACE = re.compile(r"([{}])")
_INSERT = re.compile(r"%([1-9][0-9]?)!?s?!?")
_PARAMETER = re.compile(r"(%%[1-9][0-9]*)")


def to_format_string(text: str | None) -> str | None:
    """A message table string in the form plaso formats (None for an empty one)."""
    if not text:
        return None
    text = _END.split(text, maxsplit=1)[0].rstrip("\0")
    text = _WHITE_SPACE.sub("", text)
    text = _ESCAPE.sub(r"\\\1", text)
    text = _BRACE.sub(r"\1\1", text)
    return _INSERT.sub(lambda match: f"{{{int(match.group(1)) - 1}:s}}", text)


def expand_parameters(value: str | None, parameter: Callable[[int], str | None]) -> str:
    """An insertion string with each ``%%N`` replaced by parameter string N, when there is one."""
    if value is None:
        return ""
    if "%%" not in value:
        return value
    parts = _PARAMETER.split(value)
    for index in range(1, len(parts), 2):
        found = parameter(int(parts[index][2:]))
        if found:
            parts[index] = found
    return "".join(parts)


def format_message(template: str, strings: Sequence[str | None],
                   parameter: Callable[[int], str | None]) -> str | None:
    """The message string psort writes, or None where psort gives none (too few
    strings; psort stops on a malformed template, sandtrace leaves the message out)."""
    values = [expand_parameters(value, parameter) for value in strings]
    try:
        return template.format(*values)
    except (IndexError, TypeError, ValueError, KeyError, AttributeError):
        return None
