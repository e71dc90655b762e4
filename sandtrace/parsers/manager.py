"""The registry of parsers, and selection by name, preset or ``!exclusion``."""

from __future__ import annotations

from sandtrace.parsers.interface import BaseParser

_PARSERS: dict[str, type[BaseParser]] = {}

PRESETS: dict[str, tuple[str, ...]] = {
    "all": (),  # filled from the registry
}


def register(parser_class: type[BaseParser]) -> type[BaseParser]:
    """Class decorator: registers a parser under its lower-case NAME."""
    name = parser_class.NAME.lower()
    if name in _PARSERS:
        raise KeyError(f"parser {name} already registered")
    _PARSERS[name] = parser_class
    return parser_class


def parser_classes() -> dict[str, type[BaseParser]]:
    _load()
    return dict(sorted(_PARSERS.items()))


def select(expression: str | None) -> list[str]:
    """Parser names for ``--parsers``: comma-separated names or presets, ``!name`` excludes.

    A name may also be ``parser/plugin``; the parser is then selected with that
    plugin only (the plugin list is kept by ``plugin_filter``).
    """
    _load()
    known = set(_PARSERS)
    if not expression:
        return sorted(known)
    included: set[str] = set()
    excluded: set[str] = set()
    for raw in expression.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        target = excluded if item.startswith("!") else included
        item = item.lstrip("!")
        names = _expand(item, known)
        target.update(names)
    if not included:
        included = set(known)
    return sorted(included - excluded)


def _expand(item: str, known: set[str]) -> set[str]:
    if item == "all":
        return set(known)
    if item in PRESETS:
        return set(PRESETS[item])
    parser = item.split("/", 1)[0]
    if parser not in known:
        raise ValueError(f"unknown parser or preset: {item} (see 'sandtrace plugins')")
    return {parser}


def create(names: list[str], options: dict | None = None) -> dict[str, BaseParser]:
    _load()
    return {name: _PARSERS[name](options) for name in names}


def _load() -> None:
    import sandtrace.parsers  # noqa: F401  (registration happens on import)
