"""Handing work to other processes: what is handed out, its keys, and its JSON form.

The Extractor yields a ``HandedOutFile`` (a large event log) or a
``HandedOutDisk`` (a nested disk that can run alone) instead of event data
when the run has processes to hand work to: ``extract``'s workers
(pipeline/parallel.py, pipeline/tasks.py) and ``batch``'s task processes
(batch/worker.py). Both keep the events in the order one process would have
produced them with the same production keys (``sub_key``, ``keyed``), and
batch sends the same things as JSON (``*_to_dict``/``*_from_dict``).
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sandtrace.core.events import Event, EventData, Provenance
from sandtrace.engine.collection import FileTarget
from sandtrace.engine.sources import Source

# Parsers a worker may run on a file (they read the file through its path
# spec only); a file is handed out when its parsers are among these and
# include winevtx, and it is at least HAND_OUT_MIN_BYTES long.
HAND_OUT_PARSERS = frozenset({"winevtx", "filestat", "sandbox_files"})
HAND_OUT_MIN_BYTES = 1 << 20

@dataclass(frozen=True)
class SourceContext:
    """What every event data from a source gets (``parsing.finish``), for a
    file parsed away from its source: a nested disk's container and tags."""

    container: dict[str, str] | None = None
    tags: tuple[str, ...] = ()


def source_context(source: Source) -> SourceContext | None:
    if not source.container and not source.tags:
        return None
    return SourceContext(dict(source.container) if source.container else None, tuple(source.tags))


@dataclass(frozen=True)
class OuterContext:
    """The source a handed-out disk sits in, as far as opening and running the
    disk reads it (``open_nested``, ``nested_disks.open_disk``): another process rebuilds it."""

    path: str
    nesting: tuple[str, ...]
    depth: int
    container: dict[str, str] | None
    all_template: bool
    tags: tuple[str, ...]

    def source(self) -> Source:
        return Source(self.path, "VHD/VHDX", None, nesting=self.nesting, container=self.container,
                      depth=self.depth, all_template=self.all_template, tags=list(self.tags))


def outer_context(source: Source) -> OuterContext:
    return OuterContext(source.path, tuple(source.nesting), source.depth,
                        dict(source.container) if source.container else None, source.all_template, tuple(source.tags))


@dataclass
class HandedOutFile:
    """What the Extractor yields instead of event data for a file a worker will parse."""

    target: FileTarget
    parsers: list[str]
    context: Any = None  # SourceContext of a file inside a nested disk


@dataclass
class HandedOutDisk:
    """What the Extractor yields instead of a nested disk's event data when the
    disk can run in another process (``nested_disks.self_contained``)."""

    target: FileTarget
    label: str  # the disk's volume label prefix (``p2>sandbox.vhdx@95``)
    outer: Any  # OuterContext: the source the disk sits in
    layers: list  # [(GUID, Volume)]: base layers registered when it was handed out

    @property
    def parsers(self) -> list[str]:  # what a failure is blamed on
        return ["nested_disk"]


def sub_key(sub_position: int) -> int:
    """What a handed-out disk's events add to their index: the disk's own production
    position ``sub_position``, so that (position, index) stays its production order."""
    return sub_position << 32




def target_to_dict(target: FileTarget) -> dict[str, Any]:
    """A file target as JSON (a batch task's spec).

    The path spec is pickled (base64): dfVFS's JSON serializer drops some
    attributes (a partition's sector size), and the path spec's text is
    part of the psort values hash, so it must come back whole.
    """
    provenance = target.provenance
    return {
        "path_spec": base64.b64encode(pickle.dumps(target.path_spec, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii"),
        "location": target.location, "is_allocated": target.is_allocated, "mft_entry": target.mft_entry,
        "parsers": sorted(target.parsers),
        "provenance": {"source": provenance.source, "volume": provenance.volume, "display_name": provenance.display_name,
                       "inode": provenance.inode, "nesting": list(provenance.nesting),
                       "path_spec": provenance.path_spec is target.path_spec},
    }


def target_from_dict(document: dict[str, Any]) -> FileTarget:
    path_spec = pickle.loads(base64.b64decode(document["path_spec"]))
    shown = document["provenance"]
    provenance = Provenance(source=shown["source"], volume=shown["volume"],
                            path_spec=path_spec if shown["path_spec"] else None,
                            display_name=shown["display_name"], inode=shown["inode"], nesting=tuple(shown["nesting"]))
    return FileTarget(volume=None, path_spec=path_spec, location=document["location"],
                      is_allocated=document["is_allocated"], mft_entry=document["mft_entry"],
                      parsers=set(document["parsers"]), provenance=provenance)


def context_to_dict(context: Any) -> dict[str, Any] | None:
    """A SourceContext as JSON (a batch task's spec)."""
    if context is None:
        return None
    return {"container": context.container, "tags": list(context.tags)}


def context_from_dict(document: dict[str, Any] | None) -> Any:
    if not document:
        return None
    return SourceContext(document.get("container"), tuple(document.get("tags") or ()))


def disk_to_dict(disk: HandedOutDisk) -> dict[str, Any]:
    """A handed-out disk as JSON (a batch ``disk`` task's spec); the layers' volumes pickled, as path specs are."""
    outer = disk.outer
    return {
        "target": target_to_dict(disk.target), "label": disk.label,
        "outer": {"path": outer.path, "nesting": list(outer.nesting), "depth": outer.depth, "container": outer.container,
                  "all_template": outer.all_template, "tags": list(outer.tags)},
        "layers": base64.b64encode(pickle.dumps(disk.layers, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii"),
    }


def disk_from_dict(document: dict[str, Any]) -> HandedOutDisk:
    outer = document["outer"]
    return HandedOutDisk(
        target_from_dict(document["target"]), document["label"],
        OuterContext(outer["path"], tuple(outer["nesting"]), outer["depth"], outer["container"],
                     outer["all_template"], tuple(outer["tags"])),
        pickle.loads(base64.b64decode(document["layers"])))


def keyed(stream: Iterator, path, base: int | None, handed_out: list) -> Iterator[tuple[EventData, int, list[Event]]]:
    """A handed-out task's event data with the index key of its first event and its
    events, labelled (``path``: the EventPath; the next ones follow on): an event log's keys run on from ``base``; a
    disk's (``base`` None) start at each event data's own position in the disk
    (``sub_key``). Event logs the disk hands on go to ``handed_out`` as
    (sub-position, marker). Shared by extract's workers and batch's tasks."""
    index = base or 0
    for sub, data in enumerate(stream):
        if isinstance(data, HandedOutFile):
            handed_out.append((sub, data))
            continue
        if base is None:
            index = sub_key(sub)
        events = path.events(data)
        yield data, index, events
        index += len(events)


