"""Making text from hostile evidence safe to show (docs/reliability.md).

File names, registry values and log strings come from the evidence and may
hold control characters (a newline splits a CSV row; an escape sequence
rewrites a terminal), bidirectional overrides (U+202E makes
``invoice‮fdp.exe`` read as ``invoiceexe.pdf``) or formulas a spreadsheet
runs when the CSV is opened.

- ``escape_text``: C0/C1 controls become ``\\xNN`` (plaso's display-name
  escape, ``core/display.py``), bidirectional controls and other invisible
  format characters ``\\uNNNN``. Nothing is dropped or shortened: a long path
  is kept whole, so the examiner still sees exactly what was there. Two kinds
  are left as they are, as plaso leaves them: the tab (it splits no row or
  cell, and event log text is full of it) and the directional marks LRM, RLM
  and ALM (Windows writes them into the dates of its own messages; unlike the
  embeddings, overrides and isolates they reorder nothing).
- ``neutralize_formula``: ``--neutralize-formulas`` prefixes a cell starting
  with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with ``'``
  (OWASP's CSV-injection advice). plaso's empty value ``-`` is left alone.
- ``safe_file_name``: one path component for a file or folder this tool
  creates from evidence-derived text: no separators, no ``..``, no NUL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ESCAPES: dict[int, str] = {}
_ESCAPES.update({value: f"\\x{value:02x}" for value in range(0, 0x20) if value != 0x09})
_ESCAPES.update({value: f"\\x{value:02x}" for value in range(0x7F, 0xA0)})
# Bidirectional controls (LRE RLE PDF LRO RLO, LRI RLI FSI PDI) and invisible
# characters that hide text or break lines.
for _value in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
               0x200B, 0x200C, 0x200D, 0x2028, 0x2029, 0xFEFF):
    _ESCAPES[_value] = f"\\u{_value:04x}"
_ESCAPES.update({value: f"\\U{value:08x}" for value in range(0xD800, 0xE000)})  # lone surrogates
_TABLE = str.maketrans(_ESCAPES)


def _any_of(codes: Iterable[int]) -> re.Pattern:
    """A character class of ``codes`` and every lone surrogate (a range: not listed one by one)."""
    return re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(codes) if c < 0xD800 or c >= 0xE000)
                      + "\ud800-\udfff]")


_UNSAFE = _any_of(_ESCAPES)

# JSON text written with ensure_ascii=False (readable non-Latin names) still
# carries C1 controls, bidi overrides and lone surrogates raw: escape them as
# JSON does the C0 ones. They can only occur inside strings, so this is exact.
# The directional marks too: JSON readers show them escaped, as plaso's ASCII JSON does.
_JSON_ESCAPED = sorted({*(value for value in _ESCAPES if value >= 0x7F), 0x200E, 0x200F, 0x061C})
_JSON_TABLE = str.maketrans({value: f"\\u{value:04x}" for value in _JSON_ESCAPED})
_JSON_UNSAFE = _any_of(_JSON_ESCAPED)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_text(text: str) -> str:
    """``text`` with every control, bidirectional and invisible format character escaped."""
    if not _UNSAFE.search(text):
        return text
    return text.translate(_TABLE)


def escape_json_text(text: str) -> str:
    """JSON from ``json.dumps(..., ensure_ascii=False)`` with C1, bidi and invisible characters as ``\\uNNNN``."""
    if not _JSON_UNSAFE.search(text):
        return text
    return text.translate(_JSON_TABLE)


def escape_cell(text: str) -> str:
    """A CSV cell (no quoting, plaso's rule): commas become spaces, controls escaped."""
    return escape_text(text.replace(",", " "))


def neutralize_formula(cell: str) -> str:
    """``'`` before a cell a spreadsheet would read as a formula; ``-`` (no value) stays."""
    if cell and cell != "-" and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(text: str, default: str = "source", limit: int = 120) -> str:
    """One safe path component from evidence-derived text (never ``.``, ``..``, empty or absolute)."""
    name = _NAME_UNSAFE.sub("_", text.replace("\x00", "")).strip("._")[:limit].strip("._")
    return name or default
