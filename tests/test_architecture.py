"""The package's layers (docs/architecture.md): every import goes down, none goes round.

The imports are read from the source (every ``import`` and ``from ... import``,
those inside functions too), so a lazy import cannot hide a climb.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sandtrace"

# Bottom to top, as docs/architecture.md draws them: a module may import its own
# layer and those below it.
LAYERS = (
    ("core", ("sandtrace", "sandtrace.core", "sandtrace.data")),
    ("engine", ("sandtrace.engine",)),
    ("parsers", ("sandtrace.parsers", "sandtrace.plugins", "sandtrace.eventlog_messages")),
    ("timeline", ("sandtrace.timeline",)),
    ("output", ("sandtrace.output",)),
    ("pipeline", ("sandtrace.pipeline",)),
    ("report", ("sandtrace.report",)),
    ("commands", ("sandtrace.cli", "sandtrace.batch")),
)


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: pathlib.Path, known: dict[str, pathlib.Path]) -> set[str]:
    """The package modules ``name`` imports (a name imported from a package counts as
    its module when it is one, else as the package)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                found.add(target)
    return found


def layer_of(name: str) -> int:
    best = None
    for number, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (number, len(prefix))
    assert best is not None, f"{name} is in no layer: add it to LAYERS and to docs/architecture.md"
    return best[0]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_has_a_layer(graph):
    for name in graph:
        layer_of(name)


def test_no_import_climbs(graph):
    climbs = [f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for name, targets in graph.items() for target in targets if layer_of(target) > layer_of(name)]
    assert climbs == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_circles(graph):
    assert cycles(graph) == []


def test_the_circle_finder_finds_circles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_climb_is_seen(tmp_path):
    """The walker sees an import inside a function, and a relative one."""
    module = tmp_path / "sandtrace" / "engine" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from sandtrace.pipeline import extraction\n    from ..report import model\n")
    known = {"sandtrace.engine.x": module, "sandtrace.pipeline.extraction": module, "sandtrace.report.model": module,
             "sandtrace.report": module}
    assert imports("sandtrace.engine.x", module, known) == {"sandtrace.pipeline.extraction", "sandtrace.report.model"}


def test_parsers_find_their_plugins_without_importing_them(graph):
    """A parser imports its plugins' interface only; the plugins are found in their folder."""
    for name, targets in graph.items():
        if name.startswith("sandtrace.parsers."):
            for target in targets:
                assert not target.startswith("sandtrace.plugins.") or target.endswith(".interface"), (name, target)
    from sandtrace.parsers import manager

    classes = manager.parser_classes()
    for parser in ("winreg", "winevtx"):
        folder = PACKAGE / "plugins" / parser
        modules_with_plugins = {path.stem for path in folder.glob("*.py") if path.stem not in ("__init__", "interface")}
        found = {plugin.__module__.rsplit(".", 1)[1] for plugin in classes[parser].plugins().values()}
        assert found == modules_with_plugins


def test_the_architecture_document_opens_with_these_layers():
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("Layers")
    diagram = first_section.split("```")[1]
    drawn = [line.split()[0] for line in diagram.splitlines() if line.strip() and line.strip() != "|"]
    assert drawn == [name for name, _ in reversed(LAYERS)]
