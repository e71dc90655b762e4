"""The YAML data files read the same with libyaml's loader as with PyYAML's own."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandtrace import data

FILES = sorted(p for p in Path(data.__file__).parent.rglob("*") if p.suffix in (".yaml", ".yml"))


def test_there_are_data_files():
    assert len(FILES) >= 8
    names = {p.relative_to(Path(data.__file__).parent).as_posix() for p in FILES}
    assert {"timeliner/timeliner.yaml", "evtx_catalogue/sandbox.yaml", "wsb_schema.yaml"} <= names


def test_a_data_folder_is_read_in_name_order():
    paths = [path for path, _ in data.folder("formatters")]
    assert paths == sorted(paths) and "formatters/winreg.yaml" in paths
    assert all(path.endswith((".yaml", ".yml")) for path in paths)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fast_loader_builds_the_same_documents(path):
    text = path.read_text(encoding="utf-8")
    assert list(data.load_yaml_all(text)) == list(yaml.safe_load_all(text))


def test_the_loader_is_safe():
    with pytest.raises(yaml.YAMLError):
        data.load_yaml("!!python/object/apply:os.system ['true']")
