"""Windows Sandbox configuration files (.wsb), and inline ``--config`` strings.

A .wsb file says what the sandbox may do; the examiner needs what it
*effectively* allowed, so missing elements take Microsoft's documented
defaults (``data/wsb_schema.yaml``): no ``<ReadOnly>`` means a writable host
folder, no ``<Networking>`` means networking on. Names and values are read
without regard to case. The XML is parsed with defusedxml and a size cap:
DTDs, entities and 100 MB of junk give a warning, never a hang.

``parse_config`` is also what the EVTX catalogue uses for the configuration
given inline to ``wsb start --config``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

from sandtrace import data
from sandtrace.engine.collection import FileTarget
from sandtrace.core.events import EventData, warning
from sandtrace.parsers.interface import BaseParser

DATA_TYPE = "windows:sandbox:wsb_config"
MAX_SIZE = 1024 * 1024  # real .wsb files are a few KiB
_DRIVE_ROOT = re.compile(r"^[a-z]:\\?$", re.IGNORECASE)
_USER_PROFILE = re.compile(r"^([a-z]:\\users\\[^\\]+|%userprofile%|%homepath%)\\?$", re.IGNORECASE)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UNMARKED = (  # XML 1.0 appendix F: "<" or "<?" in UTF-32/16 without a byte order mark
    (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"),
)
_DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]{0,200}?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]{0,39})["']""")
# Names Windows reads as a wider code page than the standard one Python's codec of that name implements.
_WINDOWS_CODE_PAGES = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "gb2312": "gbk", "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "big5": "cp950",
}


class WsbError(ValueError):
    """The configuration cannot be read; the message says why in plain words."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return data.load("wsb_schema.yaml")


@dataclass
class MappedFolder:
    host_folder: str
    sandbox_folder: str  # effective: the desktop folder when not given
    read_only: bool  # effective: False when not given
    sandbox_folder_as_written: str | None = None
    read_only_as_written: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "host_folder": self.host_folder,
            "sandbox_folder": self.sandbox_folder,
            "read_only": self.read_only,
            "sandbox_folder_as_written": self.sandbox_folder_as_written,
            "read_only_as_written": self.read_only_as_written,
        }


@dataclass
class WsbConfig:
    """What a configuration says, and what it effectively allows."""

    as_written: dict[str, str] = field(default_factory=dict)  # canonical element -> text
    effective: dict[str, bool] = field(default_factory=dict)  # toggle -> on/off
    mapped_folders: list[MappedFolder] = field(default_factory=list)
    logon_command: str | None = None
    memory_in_mb: int | None = None
    unknown_elements: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # invalid values, kept and reported
    risk_flags: list[str] = field(default_factory=list)
    encoding: str | None = None  # the codec a .wsb file was read with, when not UTF-8

    def attributes(self) -> dict[str, Any]:
        """plaso-style flat attributes for ``windows:sandbox:wsb_config``."""
        values: dict[str, Any] = {
            f"{_snake(name)}_enabled": on for name, on in self.effective.items()
        }
        values.update(
            {
                "logon_command": self.logon_command,
                "memory_in_mb": self.memory_in_mb,
                "mapped_folders": [folder.as_dict() for folder in self.mapped_folders] or None,
                "settings_as_written": dict(self.as_written) or None,
                "unknown_elements": self.unknown_elements or None,
                "problems": self.problems or None,
                "risk_flags": self.risk_flags or None,
                "summary": self.summary(),
                "encoding": self.encoding,
            }
        )
        return {name: value for name, value in values.items() if value is not None}

    def summary(self) -> str:
        parts = [f"networking {'on' if self.effective.get('Networking') else 'off'}"]
        for folder in self.mapped_folders:
            mode = "read-only" if folder.read_only else "writable"
            parts.append(f"{mode} mapping {folder.host_folder} -> {folder.sandbox_folder}")
        if self.logon_command:
            parts.append(f"logon command {self.logon_command}")
        if self.memory_in_mb is not None:
            parts.append(f"memory {self.memory_in_mb} MB")
        return ", ".join(parts)


def parse_config(data: bytes | str) -> WsbConfig:
    """Parses a .wsb document; raises WsbError for anything that is not one."""
    encoding = None
    if isinstance(data, bytes):
        if len(data) > MAX_SIZE:
            raise WsbError(f"too large for a .wsb file ({len(data)} bytes, limit {MAX_SIZE})")
        data, encoding = decode(data)
    elif len(data) > MAX_SIZE:
        raise WsbError(f"too large for a .wsb file ({len(data)} characters, limit {MAX_SIZE})")
    try:
        # Text, not bytes: expat reads only UTF-8/16 and single-byte code pages, and a
        # str is parsed as what it is whatever its declaration names (decode() honoured it).
        root = SafeElementTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exception:
        raise WsbError(f"refused hostile XML ({type(exception).__name__})") from None
    except (ParseError, ValueError, UnicodeError) as exception:
        raise WsbError(f"not well-formed XML: {exception}") from None
    except LookupError as exception:  # an XML declaration naming an encoding Python lacks (fuzzing found it)
        raise WsbError(f"not readable XML: {exception}") from None
    if _local(root.tag).lower() != "configuration":
        raise WsbError(f"root element is <{_local(root.tag)}>, not <Configuration>")
    config = _interpret(root)
    config.encoding = None if encoding == "utf-8" else encoding
    return config


def decode(data: bytes) -> tuple[str, str]:
    """The document as text and the codec that read it.

    Windows reads a .wsb in whatever encoding its byte order mark or XML
    declaration names (a Japanese Notepad saves ``encoding="Shift_JIS"``), so
    this does too: the BOM first (UTF-32 before UTF-16, whose mark it begins
    with), then UTF-16/32 without one (``<?`` as two or four bytes), then the
    declaration, else UTF-8. A code page name is read as Windows reads it
    (``Shift_JIS`` is code page 932). Raises WsbError for an encoding Python
    does not know or bytes it cannot decode.
    """
    for mark, codec in _BOMS:
        if data.startswith(mark):
            return _decode(data[len(mark):], codec, "the byte order mark"), codec
    for start, codec in _UNMARKED:
        if data.startswith(start):
            return _decode(data, codec, "the first bytes"), codec
    if b"\x00" in data[:4096]:
        raise WsbError("binary data, not XML")
    declared = _DECLARED_ENCODING.match(data)
    if not declared:
        return _decode(data, "utf-8", "the default, none declared"), "utf-8"
    name = declared.group(1).decode("ascii")
    try:
        codec = codecs.lookup(_WINDOWS_CODE_PAGES.get(name.lower(), name)).name
    except LookupError:
        raise WsbError(f"unknown encoding {name!r} named in the XML declaration; not parsed") from None
    if codec.startswith(("utf-16", "utf-32")):  # no byte order mark and "<?xml" in single bytes
        raise WsbError(f"the XML declaration names {name} but the file is not {name} (its first bytes are "
                       "single-byte text, without a byte order mark); not parsed")
    return _decode(data, codec, f"the XML declaration, {name}"), codec


def _decode(data: bytes, codec: str, named_by: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exception:
        raise WsbError(f"not {codec} text (encoding from {named_by}): byte {exception.start} "
                       f"cannot be decoded ({exception.reason}); not parsed") from None
    except (LookupError, ValueError) as exception:  # a codec that is not a text encoding (e.g. base64)
        raise WsbError(f"{codec} (encoding from {named_by}) is not a text encoding; not parsed") from None


def _interpret(root: Element) -> WsbConfig:
    spec = schema()
    toggles = {name.lower(): name for name in spec["toggles"]}
    config = WsbConfig()
    for child in root:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = _local(child.tag)
        key = name.lower()
        text = (child.text or "").strip()
        if key in toggles:
            canonical = toggles[key]
            config.as_written[canonical] = text
        elif key == "mappedfolders":
            config.mapped_folders.extend(_mapped_folders(child, config))
        elif key == "logoncommand":
            commands = [(c.text or "").strip() for c in child if isinstance(c.tag, str) and _local(c.tag).lower() == "command"]
            config.logon_command = " & ".join(c for c in commands if c) or None
            if config.logon_command:
                config.as_written["LogonCommand"] = config.logon_command
        elif key == "memoryinmb":
            config.as_written["MemoryInMB"] = text
            try:
                config.memory_in_mb = int(text)
            except ValueError:
                config.problems.append(f"MemoryInMB is not a number: {text!r}")
        else:
            config.unknown_elements.append(name)
    for canonical, definition in spec["toggles"].items():
        config.effective[canonical] = _toggle(config.as_written.get(canonical), definition["default"], canonical, config)
    config.risk_flags = _risks(config)
    return config


def _mapped_folders(element: Element, config: WsbConfig) -> Iterator[MappedFolder]:
    spec = schema()["mapped_folder"]
    for folder in element:
        if not isinstance(folder.tag, str) or _local(folder.tag).lower() != "mappedfolder":
            continue
        parts = {_local(c.tag).lower(): (c.text or "").strip() for c in folder if isinstance(c.tag, str)}
        host = parts.get("hostfolder", "")
        if not host:
            config.problems.append("MappedFolder without a HostFolder (the sandbox would fail to start)")
            continue
        sandbox_as_written = parts.get("sandboxfolder") or None
        # The folder's own name on the desktop; a drive root "C:\\" becomes "C" [I].
        name = host.rstrip("\\/").replace("/", "\\").rsplit("\\", 1)[-1].rstrip(":") or host
        read_only_text = parts.get("readonly")
        read_only = spec["read_only_default"]
        if read_only_text is not None:
            lowered = read_only_text.lower()
            if lowered in ("true", "1"):
                read_only = True
            elif lowered in ("false", "0"):
                read_only = False
            else:
                config.problems.append(f"ReadOnly has an invalid value {read_only_text!r}; taken as the default (writable)")
        yield MappedFolder(
            host_folder=host,
            sandbox_folder=sandbox_as_written or spec["default_sandbox_folder"].format(name=name),
            read_only=read_only,
            sandbox_folder_as_written=sandbox_as_written,
            read_only_as_written=read_only_text,
        )


def _toggle(text: str | None, default: bool, name: str, config: WsbConfig) -> bool:
    if text is None:
        return default
    values = schema()["toggle_values"]
    lowered = text.lower()
    if lowered in values["enable"]:
        return True
    if lowered in values["disable"]:
        return False
    if lowered not in values["default"]:
        config.problems.append(f"{name} has an invalid value {text!r}; taken as the default")
    return default


def _risks(config: WsbConfig) -> list[str]:
    flags = []
    if any(not folder.read_only for folder in config.mapped_folders):
        flags.append("writable_mapped_folder")
    if any(_DRIVE_ROOT.match(folder.host_folder) for folder in config.mapped_folders):
        flags.append("mapped_drive_root")
    if any(_is_profile(folder.host_folder) for folder in config.mapped_folders):
        flags.append("mapped_user_profile")
    if config.logon_command:
        flags.append("logon_command")
        command = config.logon_command.lower()
        if any(folder.sandbox_folder.lower().rstrip("\\") + "\\" in command for folder in config.mapped_folders):
            flags.append("logon_command_from_mapped_folder")
    effective = config.effective
    if effective.get("Networking"):
        flags.append("networking_enabled")
    if effective.get("ClipboardRedirection"):
        flags.append("clipboard_enabled")
    if effective.get("vGPU"):
        flags.append("vgpu_enabled")
    if not effective.get("ProtectedClient"):
        flags.append("protected_client_disabled")
    return flags


def _is_profile(path: str) -> bool:
    cleaned = path.replace("/", "\\")
    return bool(_USER_PROFILE.match(cleaned)) or cleaned.lower().rstrip("\\") in ("c:\\users\\%username%",)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _snake(name: str) -> str:
    special = {"vGPU": "vgpu", "MemoryInMB": "memory_in_mb"}
    if name in special:
        return special[name]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class WsbParser(BaseParser):
    NAME = "wsb"
    DATA_FORMAT = "Windows Sandbox configuration file (.wsb)"
    DATA_TYPES = (DATA_TYPE,)
    PATTERNS = ("**\\*.wsb",)
    NAMES = ("*.wsb",)  # XML with no fixed first bytes: Windows opens a configuration by this extension

    def parse(self, target: FileTarget) -> Iterator[EventData]:
        try:
            data = target.read_limited(MAX_SIZE, "a .wsb file")
        except ValueError as exception:
            raise WsbError(str(exception)) from None
        config = parse_config(data)
        values = config.attributes()
        values["configuration_source"] = "file"
        values.update(target.file_record(data))
        yield EventData(DATA_TYPE, {k: v for k, v in values.items() if v is not None})
        for problem in config.problems:  # invalid values: kept in the event, and said as warnings
            yield warning(f"invalid .wsb setting: {problem}", parser=self.NAME, provenance=target.provenance)
