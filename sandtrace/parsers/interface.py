"""What a parser and a plugin are: a name, what they want, one generator.

A parser reads one file format; its plugins each read one artifact inside it
(as plaso's winreg plugins each read some keys). Both are small and
declarative: the patterns they want as constants and a ``parse`` generator
that yields ``EventData``. Errors are raised, not printed: the extraction
engine turns them into warning records and goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from sandtrace.engine.collection import FileTarget
from sandtrace.engine.events import EventData


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
    WANTS_DELETED: ClassVar[bool] = True  # also parse unallocated MFT records
    ALL_TARGETS: ClassVar[bool] = False  # runs on every collected file (filestat)
    WANTS_DIRECTORIES: ClassVar[bool] = False  # also given the folders its patterns match
    NESTED_ONLY: ClassVar[bool] = False  # only inside disks found in the evidence (sandbox disks)

    _plugin_classes: ClassVar[dict[str, type[BasePlugin]]]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._plugin_classes = {}

    @classmethod
    def register_plugin(cls, plugin_class: type[BasePlugin]) -> type[BasePlugin]:
        name = plugin_class.NAME.lower()
        if name in cls._plugin_classes:
            raise KeyError(f"plugin {name} already registered on {cls.NAME}")
        cls._plugin_classes[name] = plugin_class
        return plugin_class

    @classmethod
    def plugins(cls) -> dict[str, type[BasePlugin]]:
        return dict(cls._plugin_classes)

    def __init__(self, options: dict | None = None) -> None:
        self.options = options or {}

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        raise NotImplementedError
