"""The plaso view of an event data: what plaso would store for it, computed once.

The sort (psort's values hash), the outputs (attributes, display name,
``pathspec``) and the ``.plaso`` store all ask the same questions of an event
data, once for each of its events. The answers are computed the first time:
the view of an event data is kept on it (``EventData.view``); what every
record of a file shares (its path spec's display name, ``comparable`` and
JSON form) is computed once per path spec object. An event data is complete
once its parser has yielded it; nothing changes it afterwards, so a view
never goes stale. Views are read-only: a caller that needs a changed copy
makes one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dfdatetime import interface as dfdatetime_interface
from dfvfs.path import factory as path_spec_factory

from sandtrace import data as data_files
from sandtrace.core.display import display_name_for_path_spec
from sandtrace.core.events import EventData

_PLAIN_VALUES = frozenset({str, int, bool, float})  # most values: neither unset nor a date-time
_HASH_SKIPPED = frozenset({
    "_event_data_stream_identifier", "_event_values_hash", "_parser_chain", "data_type",
})
# plaso's own attributes of each plaso data type sandtrace writes: only these
# are hashed, so sandtrace's additions leave psort's order of ties as plaso's.
PLASO_ATTRIBUTES: dict[str, frozenset[str]] = {
    data_type: frozenset(names) for data_type, names in data_files.load("plaso_attributes.yaml").items()}


class PathSpecView:
    """What every record of one file shares, from its dfVFS path spec."""

    __slots__ = ("display_name", "comparable", "_path_spec", "_json", "_json_text")

    def __init__(self, path_spec: Any) -> None:
        self._path_spec = path_spec
        self._json: dict[str, Any] | None = None
        self._json_text: str | None = None
        # plaso's display name from the path spec alone (None: no path spec)
        self.display_name: str | None = display_name_for_path_spec(path_spec)
        # dfVFS ``comparable``, its parents' included: psort's values hash ends with it
        self.comparable: str | None = path_spec.comparable if path_spec is not None else None

    @property
    def json(self) -> dict[str, Any] | None:
        """The path spec as plaso's JSON serializer writes it (json_line's ``pathspec``)."""
        if self._json is None and self._path_spec is not None:
            self._json = path_spec_json(self._path_spec)
        return self._json

    @property
    def json_text(self) -> str:
        """``json``, encoded with sorted keys as psort's json_line writes it ("" without a path spec)."""
        if self._json_text is None:
            self._json_text = json.dumps(self.json, sort_keys=True, default=str) if self._path_spec is not None else ""
        return self._json_text


class PlasoView:
    """The attributes of the plaso EventData an event data corresponds to, its
    display name and (when first asked) psort's values hash."""

    __slots__ = ("attributes", "display_name", "path", "_values_hash")

    def __init__(self, data: EventData) -> None:
        # No reference back to the event data: a cycle would keep both alive until a garbage collection.
        self.path = path_view(data.provenance.path_spec)
        # ``data_type`` first, then the set values in order. A provenance
        # display name that plaso could not derive from the path spec is kept
        # as a ``display_name`` attribute, so it also survives in a .plaso store.
        attributes: dict[str, Any] = {"data_type": data.data_type}
        attributes.update((k, v) for k, v in data.values.items() if v is not None)
        shown = data.provenance.display_name
        if "display_name" not in attributes and shown and shown != self.path.display_name:
            attributes["display_name"] = shown
        self.attributes = attributes
        self.display_name: str = attributes.get("display_name") or self.path.display_name or "-"
        self._values_hash: str | None = None

    @property
    def values_hash(self) -> str:
        """plaso's CalculateEventValuesHash for this event data.

        MD5 of "data_type: X, name: value, ..." over the sorted attributes that
        are neither unset nor date-times (for a plaso data type, plaso's own
        attributes only), then the data stream's path spec (``comparable``), so
        copies of one record from two VSS stores differ, and its ``sha256_hash``.
        Most events never need it (a timestamp without ties): computed when asked.
        """
        if self._values_hash is None:
            attributes = self.attributes
            plaso_names = PLASO_ATTRIBUTES.get(attributes["data_type"])
            parts = [f"data_type: {attributes['data_type']}"]
            parts += [f"{name}: {value!s}" for name, value in sorted(attributes.items())  # names are unique
                      if name not in _HASH_SKIPPED and (plaso_names is None or name in plaso_names)
                      and (type(value) in _PLAIN_VALUES or (value is not None and not is_date_time(value)))]
            if self.path.comparable is not None:
                parts.append(f"path_spec: {self.path.comparable}")
            if plaso_names is not None and attributes.get("sha256_hash") is not None:
                parts.append(f"sha256_hash: {attributes['sha256_hash']}")  # plaso's: on the event data stream
            # surrogateescape: a folder name that is not UTF-8 hashes as its own bytes (engine/folder.py)
            self._values_hash = hashlib.md5(", ".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
        return self._values_hash


def plaso_view(data: EventData) -> PlasoView:
    """The event data's view, made the first time it is asked for."""
    view = data.view
    if view is None:
        view = data.view = PlasoView(data)
    return view


def path_view(path_spec: Any) -> PathSpecView:
    """The path spec's view. Every record of a file shares its path spec object:
    the views of the last 4096 path specs are kept (each object is held, so
    its id stays its own). Not kept on the provenance: a sort holds every
    file's provenance until its end, and views would grow with the image."""
    known = _PATH_VIEWS.get(id(path_spec))
    if known is not None and known[0] is path_spec:
        return known[1]
    view = PathSpecView(path_spec)
    if len(_PATH_VIEWS) >= 4096:
        _PATH_VIEWS.clear()
    _PATH_VIEWS[id(path_spec)] = (path_spec, view)
    return view


_PATH_VIEWS: dict[int, tuple[Any, PathSpecView]] = {}


def path_spec_json(path_spec: Any) -> dict[str, Any]:
    """A path spec as plaso's JSON serializer writes it: its set properties, its parent, its type."""
    result: dict[str, Any] = {"__type__": "PathSpec"}
    for name in path_spec_factory.Factory.PROPERTY_NAMES:
        value = getattr(path_spec, name, None)
        if value is not None:
            result[name] = value
    if path_spec.parent is not None:
        result["parent"] = path_spec_json(path_spec.parent)
    result["type_indicator"] = path_spec.type_indicator
    return result


def is_date_time(value: Any) -> bool:
    """A dfdatetime value, or a list of them (plaso leaves both out of hashes and messages)."""
    if isinstance(value, dfdatetime_interface.DateTimeValues):
        return True
    return isinstance(value, list) and bool(value) and isinstance(
        value[0], dfdatetime_interface.DateTimeValues)
