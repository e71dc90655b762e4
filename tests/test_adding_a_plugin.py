"""Adding a registry plugin or an event catalogue is adding its files, nothing else.

The package is copied, the new plugin's module and YAML are written into the
copy, and the copy runs on the committed host image: the plugin is found, its
data type is timelined and formatted, ``--parsers parser/plugin`` selects it,
and ``sandtrace plugins`` lists it. No existing file of the copy is changed
(checked by hashing them before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "test_images" / "host.E01"

REGISTRY_PLUGIN = '''
"""Test plugin: the Select key's current control set."""

from sandtrace.plugins.winreg import event
from sandtrace.plugins.winreg.interface import WinRegistryPlugin


class SelectPlugin(WinRegistryPlugin):
    NAME = "test_select"
    DATA_FORMAT = "Select key"
    DATA_TYPES = ("windows:registry:test_select",)
    KEY_PATHS = ("HKEY_LOCAL_MACHINE\\\\System\\\\Select",)

    def parse_key(self, key, hive):
        yield event("windows:registry:test_select", key_path=key.path, current=key.value("Current"),
                    last_written_time=key.last_written_time)
'''
REGISTRY_TIMELINER = """data_type: 'windows:registry:test_select'
attribute_mappings:
- name: 'last_written_time'
  description: 'Content Modification Time'
place_holder_event: true
"""
REGISTRY_FORMATTER = """type: 'basic'
data_type: 'windows:registry:test_select'
message: '[{key_path}] current control set: {current}'
short_message: 'ControlSet00{current}'
short_source: 'REG'
source: 'Registry Key: test select'
"""

CATALOGUE_PLUGIN = '''
"""Test catalogue: process creations, with a handler."""

from sandtrace.plugins.winevtx.interface import CataloguePlugin


def _process_name(plugin, values, extra, tags):
    extra["test_process"] = (values.get("event_data") or {}).get("NewProcessName")
    return True


class ProcessCatalogue(CataloguePlugin):
    NAME = "test_processes"
    DATA_FORMAT = "test process catalogue"
    CATALOGUE = "evtx_catalogue/test_processes.yaml"
    HANDLERS = {"process_name": _process_name}
'''
CATALOGUE_YAML = """entries:
- id: test_process
  channel: Security
  event_ids: [4688]
  tags: [test_process]
  handler: process_name
  message: 'test process {NewProcessName}'
"""


def _hashes(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and "__pycache__" not in path.parts}


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("added")
    shutil.copytree(ROOT / "sandtrace", root / "sandtrace", ignore=shutil.ignore_patterns("__pycache__"))
    before = _hashes(root / "sandtrace")
    package = root / "sandtrace"
    (package / "plugins" / "winreg" / "test_select.py").write_text(REGISTRY_PLUGIN)
    (package / "data" / "timeliner" / "test_select.yaml").write_text(REGISTRY_TIMELINER)
    (package / "data" / "formatters" / "test_select.yaml").write_text(REGISTRY_FORMATTER)
    # a_...: its module sorts before the sandbox catalogue's, so it runs first
    (package / "plugins" / "winevtx" / "a_test_processes.py").write_text(CATALOGUE_PLUGIN)
    (package / "data" / "evtx_catalogue" / "test_processes.yaml").write_text(CATALOGUE_YAML)
    after = _hashes(package)
    assert {name: after[name] for name in before} == before  # only files were added
    return root


def _run(copy: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(copy), COLUMNS="400")  # rich wraps the table otherwise
    return subprocess.run([sys.executable, "-c", "import sys; from sandtrace.cli import main; sys.exit(main())",
                           *arguments], cwd=copy, env=environment, capture_output=True, text=True, timeout=600)


def _records(copy: Path, output: Path, parsers: str) -> list[dict]:
    """The copy's json_line timeline of the host image with ``--parsers parsers``."""
    done = _run(copy, "extract", str(HOST), "-q", "--format", "json_line", "--parsers", parsers, "-o", str(output))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in output.read_text().splitlines()]


def test_a_new_registry_plugin_is_found_timelined_and_formatted(copy, tmp_path):
    records = _records(copy, tmp_path / "select.jsonl", "winreg/test_select")
    assert {record["data_type"] for record in records} == {"windows:registry:test_select"}  # that plugin only
    assert len(records) == 1
    record = records[0]
    assert record["parser"] == "winreg/test_select"
    assert record["timestamp_desc"] == "Content Modification Time"
    assert record["message"] == f"[HKEY_LOCAL_MACHINE\\System\\Select] current control set: {record['current']}"
    assert record["current"] == 1


def test_a_new_event_catalogue_is_found_and_applied(copy, tmp_path):
    records = _records(copy, tmp_path / "processes.jsonl", "winevtx")
    processes = [record for record in records if record.get("event_identifier") == 4688
                 and record.get("channel") == "Security"]
    assert len(processes) == 18
    labels = [(record.get("tag") or {}).get("labels", []) for record in records]
    for record in processes:
        assert "test_process" in record["tag"]["labels"]
        assert record["test_process"] == record["event_data"]["NewProcessName"]
        # The first catalogue to name a record keeps its id and message; the next adds tags and attributes.
        assert record["catalogue_id"] == "test_process"
        assert record["catalogue_message"] == f"test process {record['event_data']['NewProcessName']}"
    assert sum("sandbox_process" in record["tag"]["labels"] for record in processes) >= 1
    assert sum("test_process" in names for names in labels) == 18
    # The sandbox catalogue still runs beside it.
    assert any(str(record.get("catalogue_id")).startswith("sandbox_") for record in records)


def test_plugins_lists_the_new_ones(copy):
    done = _run(copy, "plugins")
    assert done.returncode == 0, done.stderr
    assert "winreg/test_select" in done.stdout and "winevtx/test_processes" in done.stdout
    assert "windows:registry:test_select" in done.stdout
