"""Display names as plaso writes them (``NTFS:\\path``, ``VSS2:NTFS:\\path``).

Computed from the path spec the same way plaso's path helper does, so that a
sandtrace timeline and a psort timeline of the same events name files alike.
"""

from __future__ import annotations

from dfvfs.lib import definitions as dfvfs_definitions
from dfvfs.path.path_spec import PathSpec

_ESCAPES: dict[int, str] = {}
_ESCAPES.update({value: f"\\x{value:02x}" for value in range(0, 0x20)})
_ESCAPES.update({value: f"\\x{value:02x}" for value in range(0x7F, 0xA0)})
_ESCAPES.update({value: f"\\U{value:08x}" for value in range(0xD800, 0xE000)})
NON_PRINTABLE = str.maketrans(_ESCAPES)


def display_location(location: str) -> str:
    """A folder source's ``location`` with each byte that is not UTF-8 written ``\\xNN``.

    Python keeps such a byte of a name as a lone surrogate (``os.fsdecode``);
    written back as the byte it was, the examiner sees ``bad\\xffname.wsb``,
    the spelling used for control characters. Other text is left as it is.
    """
    if location.isascii():
        return location
    try:
        location.encode("utf-8")
        return location
    except UnicodeEncodeError:
        pass
    try:
        return location.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte became: NON_PRINTABLE escapes it
        return location


def relative_path(path_spec: PathSpec | None) -> str | None:
    """The location inside the file system, with a data stream name if any."""
    if path_spec is None:
        return None
    location = getattr(path_spec, "location", None)
    if not location and path_spec.HasParent():
        location = getattr(path_spec.parent, "location", None)
    if not location:
        return None
    if path_spec.type_indicator == dfvfs_definitions.TYPE_INDICATOR_OS:
        location = display_location(location)
    data_stream = getattr(path_spec, "data_stream", None)
    if data_stream:
        location = f"{location}:{data_stream}"
    return location.translate(NON_PRINTABLE)


def display_name_for_path_spec(path_spec: PathSpec | None) -> str | None:
    """plaso's display name for one path spec (no nesting); None without one."""
    if path_spec is None:
        return None
    location = relative_path(path_spec)
    if not location:
        return path_spec.type_indicator
    type_indicator = path_spec.type_indicator
    parent = path_spec.parent
    if parent is not None:
        if type_indicator == dfvfs_definitions.TYPE_INDICATOR_COMPRESSED_STREAM:
            type_indicator = path_spec.compression_method.upper()
            parent = parent.parent
        elif type_indicator == dfvfs_definitions.TYPE_INDICATOR_GZIP:
            parent = parent.parent
    name = f"{type_indicator}:{location}".translate(NON_PRINTABLE)
    if parent is not None and parent.type_indicator == dfvfs_definitions.TYPE_INDICATOR_VSHADOW:
        store_index = getattr(path_spec.parent, "store_index", None)
        if store_index is not None:
            return f"VSS{store_index + 1}:{name}"
    return name


def nested_display_name(outer: tuple[str, ...], inner: str) -> str:
    """Display name of a file inside nested disks: ``outer>inner``."""
    return ">".join((*outer, inner)) if outer else inner
