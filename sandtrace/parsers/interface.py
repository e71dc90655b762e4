"""What a parser and a plugin are: a name, what they want, one generator.

A parser reads one file format; its plugins each read one artifact inside it
(as plaso's winreg plugins each read some keys). Both are small and
declarative: the patterns they want as constants and a ``parse`` generator
that yields ``EventData``. Errors are raised, not printed: the extraction
engine turns them into warning records and goes on.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData


@dataclass(frozen=True, slots=True)
class Signature:
    """Bytes at an offset that identify a format, whatever the file is called."""

    data: bytes
    offset: int = 0


class BasePlugin:
    """One artifact inside a parser's format."""

    NAME: ClassVar[str] = ""
    DATA_FORMAT: ClassVar[str] = ""
    DATA_TYPES: ClassVar[tuple[str, ...]] = ()


class BaseParser:
    """One file format."""

    NAME: ClassVar[str] = ""
    DATA_FORMAT: ClassVar[str] = ""
    DATA_TYPES: ClassVar[tuple[str, ...]] = ()
    PATTERNS: ClassVar[tuple[str, ...]] = ()  # case-insensitive Windows paths
    SIGNATURES: ClassVar[tuple[Signature, ...]] = ()
    # File names (``*`` ``?``) that identify a format with no magic bytes of its own (``*.wsb``):
    # with SIGNATURES, what the parser recognises wherever a file lies (a folder that is no
    # Windows layout, a single file named as the source: docs/cli.md, "Sources").
    NAMES: ClassVar[tuple[str, ...]] = ()
    WANTS_DELETED: ClassVar[bool] = True  # also parse unallocated MFT records
    ALL_TARGETS: ClassVar[bool] = False  # runs on every collected file (filestat)
    WANTS_DIRECTORIES: ClassVar[bool] = False  # also given the folders its patterns match
    NESTED_ONLY: ClassVar[bool] = False  # only inside disks found in the evidence (sandbox disks)
    ACTIVITY_DISKS_ONLY: ClassVar[bool] = False  # only inside sandbox disks and carved disks, not base layers

    PLUGIN_PACKAGE: ClassVar[str] = ""  # the package whose modules hold the plugins, e.g. sandtrace.plugins.winreg

    @classmethod
    def plugins(cls) -> dict[str, type[BasePlugin]]:
        """The plugins found in PLUGIN_PACKAGE, by name: adding one is adding its module."""
        if not cls.PLUGIN_PACKAGE:
            return {}
        if "_plugin_classes" not in cls.__dict__:
            cls._plugin_classes = discover(cls.PLUGIN_PACKAGE, BasePlugin)
        return dict(cls._plugin_classes)

    @classmethod
    def data_types(cls) -> tuple[str, ...]:
        """What the parser and its plugins emit (the parser's own first)."""
        names = list(cls.DATA_TYPES)
        for plugin in cls.plugins().values():
            names += [name for name in plugin.DATA_TYPES if name not in names]
        return tuple(names)

    def __init__(self, options: dict | None = None) -> None:
        self.options = options or {}

    def plugin_classes(self) -> list[type[BasePlugin]]:
        """The plugins to run (those ``--parsers parser/plugin`` chose, or all), in the
        order of their modules' names and, within a module, of their definitions."""
        chosen = self.options.get("plugins", {}).get(self.NAME)
        return [plugin for name, plugin in self.plugins().items() if not chosen or name in chosen]

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        """The file's event data (warnings are raised as exceptions or yielded as warning records)."""
        raise NotImplementedError


def discover(package: str, base: type) -> dict[str, type]:
    """The classes deriving from ``base`` with a NAME that the modules of
    ``package`` define (one level down), by lower-case NAME."""
    found: dict[str, type] = {}
    for info in sorted(pkgutil.iter_modules(importlib.import_module(package).__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, base) and value.__module__ == module.__name__
                    and getattr(value, "NAME", "")):
                name = value.NAME.lower()
                if name in found:
                    raise KeyError(f"{name} is defined twice in {package}")
                found[name] = value
    return found
