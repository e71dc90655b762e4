"""The parsers (every BaseParser with a NAME in a module of this package), and
selection by name, preset, ``parser/plugin`` or ``!exclusion``."""

from __future__ import annotations

from sandtrace.parsers.interface import BaseParser, discover

_PARSERS: dict[str, type[BaseParser]] = {}

PRESETS: dict[str, tuple[str, ...]] = {
    "all": (),  # filled from the registry
}


def parser_classes() -> dict[str, type[BaseParser]]:
    _load()
    return dict(sorted(_PARSERS.items()))


def select(expression: str | None) -> list[str]:
    """Parser names for ``--parsers``: comma-separated names or presets, ``!name`` excludes.

    A name may also be ``parser/plugin``; the parser is then selected with that
    plugin only (``plugin_filter`` says which).
    """
    _load()
    known = set(_PARSERS)
    if not expression:
        return sorted(known)
    included: set[str] = set()
    excluded: set[str] = set()
    for item, exclude in _items(expression):
        (excluded if exclude else included).update(_expand(item, known))
    if not included:
        included = set(known)
    return sorted(included - excluded)


def _items(expression: str | None) -> list[tuple[str, bool]]:
    """The ``--parsers`` items, lower-cased, each with whether it excludes (``!name``)."""
    items = (raw.strip().lower() for raw in (expression or "").split(","))
    return [(item.lstrip("!"), item.startswith("!")) for item in items if item]


def _expand(item: str, known: set[str]) -> set[str]:
    if item == "all":
        return set(known)
    if item in PRESETS:
        return set(PRESETS[item])
    parser, _, plugin = item.partition("/")
    if parser not in known:
        raise ValueError(f"unknown parser or preset: {item} (see 'sandtrace plugins')")
    if plugin and plugin not in _PARSERS[parser].plugins():
        raise ValueError(f"unknown plugin: {item} (see 'sandtrace plugins')")
    return {parser}


def plugin_filter(expression: str | None) -> dict[str, set[str]]:
    """The plugins ``--parsers`` names as ``parser/plugin``, per parser (a parser
    named on its own, or not at all, runs every plugin)."""
    chosen: dict[str, set[str]] = {}
    whole: set[str] = set()
    for item, exclude in _items(expression):
        if exclude:
            continue
        parser, _, plugin = item.partition("/")
        if plugin:
            chosen.setdefault(parser, set()).add(plugin)
        else:
            whole.add(parser)
    return {parser: plugins for parser, plugins in chosen.items() if parser not in whole}


def create(names: list[str], options: dict | None = None, expression: str | None = None) -> dict[str, BaseParser]:
    """The parsers ``names``; ``expression`` (``--parsers``) also chooses their plugins."""
    _load()
    options = dict(options or {}, plugins=plugin_filter(expression))
    return {name: _PARSERS[name](options) for name in names}


def _load() -> None:
    if not _PARSERS:
        _PARSERS.update(discover("sandtrace.parsers", BaseParser))
