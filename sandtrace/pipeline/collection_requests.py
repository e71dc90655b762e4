"""What the extractor asks the collector for on a volume (engine/collection.py).

Each parser's patterns; on a container layer the same paths under ``\\Files``
too; and, for a second pass, the host folders a ``.wsb`` configuration maps
into the sandbox (what the sandbox wrote there persists on the host).
"""

from __future__ import annotations

import re

from dfvfs.lib import errors as dfvfs_errors
from dfvfs.path import factory as path_spec_factory
from dfvfs.resolver import resolver

from sandtrace.core.events import EventData
from sandtrace.engine.collection import PathPattern, Request
from sandtrace.engine.sources import Volume
from sandtrace.parsers.interface import BaseParser


def parser_requests(parsers: dict[str, BaseParser], extra_patterns: list[str], nested: str) -> list[Request]:
    """A request per parser with patterns (``--paths`` added to those that take every
    file), after one for every virtual disk when ``--nested-disks all``."""
    requests = []
    if nested == "all":
        requests.append(Request("nested_disk", [PathPattern("**\\*.vhdx"), PathPattern("**\\*.vhd")]))
    for name, parser in parsers.items():
        texts = list(parser.PATTERNS)
        if parser.ALL_TARGETS:
            texts += extra_patterns
        if texts:
            requests.append(
                Request(name, [PathPattern(t) for t in texts], deleted=parser.WANTS_DELETED, nested_only=parser.NESTED_ONLY)
            )
    return requests


def is_layer(volume: Volume) -> bool:
    """A container layer keeps the OS under ``\\Files`` and its hives under ``\\Hives``."""
    for name in ("\\Files", "\\Hives"):
        spec = path_spec_factory.Factory.NewPathSpec(volume.type_indicator, location=name, parent=volume.path_spec.parent)
        try:
            if resolver.Resolver.OpenFileEntry(spec) is None:
                return False
        except (dfvfs_errors.Error, OSError):
            return False
    return True


def rooted_in_layer(requests: list[Request]) -> list[Request]:
    """The same requests, each anchored pattern also looked for under ``\\Files``."""
    rooted = []
    for request in requests:
        patterns = list(request.patterns)
        patterns += [PathPattern("\\Files" + p.text) for p in request.patterns if p.anchored]
        rooted.append(Request(request.parser, patterns, deleted=request.deleted, nested_only=request.nested_only))
    return rooted


def mapped_host_folders(data: EventData) -> set[str]:
    """Volume paths of the host folders a configuration maps (``C:\\x`` -> ``\\x``).

    Environment variables become wildcards; relative paths are left out [I].
    """
    folders = set()
    for folder in data.values.get("mapped_folders") or []:
        host = (folder.get("host_folder") or "").replace("/", "\\").rstrip("\\")
        if len(host) > 2 and host[1] == ":":
            path = re.sub(r"%[^%\\]+%", "*", host[2:])
            if path.strip("\\*"):
                folders.add(path)
    return folders


def mapped_folders_request(folders: set[str]) -> Request:
    """The second pass's request: filestat on the mapped folders and everything in them."""
    patterns = [PathPattern(folder) for folder in sorted(folders)]
    patterns += [PathPattern(folder + "\\**") for folder in sorted(folders)]
    return Request("filestat", patterns, deleted=True)
