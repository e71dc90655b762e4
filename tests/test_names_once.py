"""The names of Windows Sandbox's binaries, package and services are written once, in
sandtrace/data/sandbox_names.yaml: code and data ask core/sandbox_names.py (a rule names a
set, ``$kind=binary``), so a second list that drifts from the first cannot come back.

Searched: the package's string literals (not docstrings or comments) and its YAML values
(not prose: descriptions, meanings, messages, sources, notes). The command word ``wsb``
and the ``.wsb`` extension are not searched: they are also the configuration format's name.
"""

from __future__ import annotations

import ast
import pathlib
import re
from collections.abc import Iterator

from sandtrace import data
from sandtrace.core import sandbox_names

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sandtrace"
# YAML keys whose values are prose for the reader, and Python names whose value is a description.
PROSE_KEYS = {"description", "doc", "fields", "meaning", "message", "note", "relevance", "source", "what"}
PROSE_NAMES = {"DATA_FORMAT"}
# Files (or folders, ending in /) that still write names, and why: each is a follow-up,
# not a licence for more.
ALLOWED = {
    "data/sandbox_names.yaml": "the one place",
    "data/artifacts/windows_sandbox.yaml": "ForensicArtifacts definitions for other tools: their format "
                                           "has no way to refer to another file",
    "parsers/filestat.py": "collection paths: where the binaries lie on disk (System32, WindowsApps)",
    "plugins/winreg/file_association.py": "registry key paths named after the launcher and the package",
    "report/": "sentences the report writes (findings/anomalies.py, findings/launch.py): words of the text; "
               "what the report matches on comes from sandbox_names.yaml",
}


def needles() -> re.Pattern:
    """Each binary's name without .exe, the package, each service and driver, each event name."""
    found = set()
    for name in sandbox_names.sandbox_names():
        if name.kind in ("binary", "package", "service", "driver"):
            word = name.name.replace("*", "").lower()
            found.add(word[: -len(".exe")] if word.endswith(".exe") and len(word) > 7 else word)
        if name.event_name:
            found.add(name.event_name.lower())
    words = "|".join(re.escape(word) for word in sorted(found, key=len, reverse=True))
    return re.compile(rf"(?<![\w.])({words})(?!\w)")


def yaml_values(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in PROSE_KEYS:
                yield from yaml_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from yaml_values(value)
    elif isinstance(node, str):
        yield node


def python_strings(path: pathlib.Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skipped.add(id(body[0].value))  # a docstring
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in PROSE_NAMES for t in node.targets):
            skipped.update(id(child) for child in ast.walk(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node.value


def texts() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*")):
        where = path.relative_to(PACKAGE).as_posix()
        if path.suffix == ".py":
            for text in python_strings(path):
                yield where, text
        elif path.suffix in (".yaml", ".yml"):
            for document in data.load_yaml_all(path.read_text(encoding="utf-8")):
                for text in yaml_values(document):
                    yield where, text


def allowed(where: str) -> bool:
    return any(where == place or (place.endswith("/") and where.startswith(place)) for place in ALLOWED)


def test_no_sandbox_name_is_written_outside_sandbox_names_yaml():
    pattern = needles()
    found = sorted({(where, match.group(1)) for where, text in texts() if not allowed(where)
                    for match in pattern.finditer(text.lower().replace("\\.", "."))})
    assert found == [], "ask sandtrace/core/sandbox_names.py (a rule: a $filter set) instead"


def test_the_search_finds_a_name_in_code_and_in_a_rule():
    pattern = needles()
    assert pattern.search('_launchers = ("windowssandbox.exe", "wsb.exe")')
    assert pattern.search(r"^(windowssandbox\w*|wsb|cmproxyd|vmwp)\.exe-[0-9a-f]{8}\.pf$")
    assert pattern.search("wsb.exe") and pattern.search("cmservice") and pattern.search("hyper-v host compute")
    assert not pattern.search("wsb start --config x") and not pattern.search("update.wsb")
    assert not pattern.search("windowssandbox_launch")  # a longer word
    assert list(yaml_values({"when": {"basename": {"a": "vmwp.exe"}}, "relevance": "vmwp.exe"})) == ["vmwp.exe"]


def test_every_allowed_place_exists():
    assert [where for where in ALLOWED if not (PACKAGE / where).exists()] == []
