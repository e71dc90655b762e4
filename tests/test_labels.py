"""Every label sandtrace can put on an event is listed, with its meaning, in data/labels.yaml.

The labels come from three places: the code (parsers, plugins, the engine set
tags), the event catalogues (an entry's tags) and the tagging rules (a rule's
label). The code's are found by reading the source: the strings a ``tags``
list is built from, those appended to one, and the constants named there.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

from sandtrace import data
from sandtrace.report import model

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sandtrace"
LABELS = data.load("labels.yaml")["labels"]


def _constants() -> dict[str, set[str]]:
    """Every module-level ``NAME = "text"`` of the package, by name."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, set()).add(node.value.value)
    return found


def _is_tags(node: ast.AST) -> bool:
    """``tags``, ``more_tags``, ``data.tags`` ..."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "tags" or name.endswith("_tags")


def _is_tag(name: str | None) -> bool:
    return bool(name) and (name == "tag" or name.endswith("_tag"))


def _label_expressions(tree: ast.AST):
    """The expressions a tag list is made of: items of lists given as ``tags=`` or assigned
    to a ``tags``, what is appended or inserted into one, and a tag given as ``*_tag=`` or as
    the default of a ``*_tag`` parameter."""
    for node in ast.walk(tree):
        roots = []
        if isinstance(node, ast.keyword) and node.arg == "tags":
            roots.append(node.value)
        elif isinstance(node, ast.keyword) and _is_tag(node.arg):
            yield node.value
        elif isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            pairs = list(zip(positional[len(positional) - len(node.defaults):], node.defaults))
            pairs += [(arg, default) for arg, default in zip(node.kwonlyargs, node.kw_defaults) if default is not None]
            yield from (default for arg, default in pairs if _is_tag(arg.arg))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_tags(target) for target in targets) and node.value is not None:
                roots.append(node.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("append", "insert") and _is_tags(node.func.value) and node.args):
            yield node.args[-1]
        for root in roots:
            for inner in ast.walk(root):
                if isinstance(inner, ast.List):
                    yield from inner.elts
        # A function that returns tag lists (core/sandbox_names.tags_for) names its tags in them.
        if isinstance(node, ast.FunctionDef) and "tags" in node.name:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    for item in ast.walk(inner.value):
                        if isinstance(item, ast.List):
                            yield from item.elts


def labels_in_code() -> set[str]:
    constants = _constants()
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for expression in _label_expressions(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
                found.add(expression.value)
            elif isinstance(expression, ast.Name) and expression.id in constants:
                found |= constants[expression.id]
    return found


def labels_in_data() -> set[str]:
    found = {rule["label"] for _, text in data.folder("tagging") for rule in data.load_yaml(text)["rules"]}
    for _, text in data.folder("evtx_catalogue"):
        for entry in data.load_yaml(text)["entries"]:
            found.update(entry.get("tags") or ())
            for tags in (entry.get("tags_by_event_id") or {}).values():
                found.update(tags)
    return found


def test_the_source_reader_finds_the_labels_of_each_kind_of_emitter():
    code = labels_in_code()
    # a parser's constant, the engine's literal, a catalogue handler's append, the sandbox-name reader's two tags
    assert {"sandbox_launch_task", "carved", "recovered_deleted", "recovered", "sandbox_disk_created",
            "wsb_cli", "wsb_inline_logon_command", "sandbox_template", "wdag_anomaly",
            "sandbox_execution_trace", "hyperv_host_trace"} <= code


def test_every_label_that_can_be_emitted_is_listed():
    emitted = labels_in_code() | labels_in_data()
    assert sorted(emitted - set(LABELS)) == []


def test_every_listed_label_is_emitted_by_something():
    emitted = labels_in_code() | labels_in_data()
    assert sorted(set(LABELS) - emitted) == []


def test_each_label_has_a_meaning_and_says_whether_the_report_keeps_it():
    for name, label in LABELS.items():
        assert set(label) == {"meaning", "kept"}, name
        assert isinstance(label["meaning"], str) and label["meaning"] and "\n" not in label["meaning"], name
        assert isinstance(label["kept"], bool), name


def test_the_report_keeps_exactly_the_labels_marked_kept():
    assert model.KEPT_LABELS == {name for name, label in LABELS.items() if label["kept"]}


def test_the_report_s_checklist_counts_listed_labels():
    rows = data.load("report_checklist.yaml")["checklist"]
    assert rows and all({"what", "where"} <= set(row) <= {"what", "where", "data_types", "labels", "channels",
                                                          "parsers", "in", "needs", "not_with"}
                        for row in rows)
    assert {label for row in rows for label in row.get("labels", ())} <= set(LABELS)


@pytest.mark.parametrize("name", sorted(LABELS))
def test_an_event_with_the_label_is_kept_by_the_report_as_the_file_says(name):
    builder = model.ReportBuilder()
    builder.add_record({"__container_type__": "event", "data_type": "windows:lnk:link", "timestamp": 1,
                        "display_name": "NTFS:\\Users\\alice\\Desktop\\x.lnk", "tag": {"labels": [name]}})
    assert bool(builder.records) is LABELS[name]["kept"]
