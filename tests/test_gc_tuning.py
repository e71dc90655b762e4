"""The collector's settings for throughput: set where sandtrace's processes start."""

from __future__ import annotations

import gc
import subprocess
import sys

from sandtrace.engine import gc_tuning
from sandtrace.pipeline import tasks


def test_a_later_first_collection_and_the_older_generations_as_they_were(monkeypatch):
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 11, 12)
        gc_tuning.for_throughput()
        assert gc.get_threshold() == (gc_tuning.GEN0_THRESHOLD, 11, 12)
    finally:
        gc.set_threshold(*before)


def test_cycles_are_still_collected_after_the_threshold():
    before = gc.get_threshold()
    gc.collect()
    try:
        gc_tuning.for_throughput()

        class Node:
            pass

        collected = []
        import weakref

        first = Node()
        first.other = first  # a cycle
        ref = weakref.ref(first, collected.append)
        del first
        junk = [[] for _ in range(gc_tuning.GEN0_THRESHOLD * 2)]  # allocations, no explicit collect
        assert collected and ref() is None
        del junk
    finally:
        gc.set_threshold(*before)


def test_a_spawned_worker_and_the_cli_set_it():
    code = ("import gc, sandtrace.pipeline.pool as w; w._warm(); print(gc.get_threshold()[0]);"
            "import sandtrace.cli as c, unittest.mock as m;"
            "gc.set_threshold(700);"
            "m.patch.object(c, '_plugins', lambda: 0).start(); c.main(['plugins']); print(gc.get_threshold()[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(gc_tuning.GEN0_THRESHOLD)] * 2


def test_a_worker_s_set_up_is_frozen_once(monkeypatch):
    from sandtrace.pipeline.extraction import ExtractionOptions
    from sandtrace.output import manager

    calls = []
    monkeypatch.setattr(gc_tuning, "_frozen", [False])
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(tasks, "_WORKER", {})
    config = {"options": ExtractionOptions(), "format": "json_line", "output_options": manager.OutputOptions(), "tagging_files": []}
    tasks._configure(config)
    assert calls == ["freeze"] and "extractor" in tasks._WORKER
    tasks._configure(dict(config, directory="another run"))
    assert calls == ["freeze"]  # a second run's set-up stays collectable
