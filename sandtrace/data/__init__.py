"""Knowledge as data: timeliner mapping, formatters, catalogues, rules.

YAML is read with libyaml's safe loader when PyYAML was built with it: the
pure-Python one spent a fifth of a second per process on these files, paid
again by every worker process. Both build the same documents (a test
checks every file here).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """One YAML document, safely (no tags that build Python objects)."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def load_yaml_all(text: str) -> Iterator[Any]:
    """Every document of a YAML stream, safely."""
    return yaml.load_all(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def read(name: str) -> str:
    """The text of a data file, ``name`` relative to ``sandtrace/data`` (``wsb_schema.yaml``)."""
    return resources.files(__name__).joinpath(name).read_text("utf-8")


def load(name: str) -> Any:
    """A data file's one YAML document."""
    return load_yaml(read(name))


def folder(name: str) -> list[tuple[str, str]]:
    """(path, text) of each ``.yaml`` file in a data folder, in name order: where adding a
    file adds knowledge (a plugin's timeliner entries, its formatters, its rules)."""
    entries = sorted(resources.files(__name__).joinpath(name).iterdir(), key=lambda entry: entry.name)
    return [(f"{name}/{entry.name}", entry.read_text("utf-8")) for entry in entries
            if entry.name.endswith((".yaml", ".yml"))]
