"""Knowledge as data: timeliner mapping, formatters, catalogues, rules.

YAML is read with libyaml's safe loader when PyYAML was built with it: the
pure-Python one spent a fifth of a second per process on these files, paid
again by every worker process. Both build the same documents (a test
checks every file here).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """One YAML document, safely (no tags that build Python objects)."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def load_yaml_all(text: str) -> Iterator[Any]:
    """Every document of a YAML stream, safely."""
    return yaml.load_all(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
