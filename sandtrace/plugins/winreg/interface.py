"""What a registry plugin is: the keys it reads, and what each key means."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from sandtrace.core.events import EventData
from sandtrace.parsers.interface import BasePlugin
from sandtrace.parsers.winreg_hive import Hive, Key


class WinRegistryPlugin(BasePlugin):
    """One artifact: ``KEY_PATHS`` (full ``HKEY_...`` paths as plaso writes them,
    ``*`` and ``?`` allowed in a segment) and a ``parse_key`` generator. The
    winreg parser finds every such class in this package's modules."""

    KEY_PATHS: ClassVar[tuple[str, ...]] = ()

    def parse_key(self, key: Key, hive: Hive) -> Iterator[EventData]:
        raise NotImplementedError
