"""Shared fixtures: the third-party corpus (optional) and the committed test images."""

from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The third-party test corpus (docs/test-data.md): SANDTRACE_CORPUS, else a
# shared/corpus folder beside the checkout (where this project's CI keeps it).
CORPUS = os.path.abspath(os.environ.get("SANDTRACE_CORPUS") or os.path.join(ROOT, "..", "shared", "corpus"))
TEST_IMAGES = os.path.join(ROOT, "test_images")


@pytest.fixture
def corpus():
    """Path of the test corpus; tests using it skip cleanly when it is absent."""
    if not os.path.isdir(CORPUS):
        pytest.skip(f"the test corpus is not present ({CORPUS}; set SANDTRACE_CORPUS, docs/test-data.md)")
    return CORPUS


def corpus_file(*parts: str) -> str:
    path = os.path.join(CORPUS, *parts)
    if not os.path.exists(path):
        pytest.skip(f"corpus file missing: {os.path.join(*parts)}")
    return path


@pytest.fixture(autouse=True)
def no_data_type_without_a_timeliner_entry(monkeypatch, request):
    """Fails any test in which this process timelined a data type that has no
    timeliner entry (issue 18): every data type sandtrace makes must be mapped.
    A test of that very case marks itself ``unmapped_data_types``."""
    from sandtrace.timeline import timeliner

    made = []
    original = timeliner.Timeliner.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(timeliner.Timeliner, "__init__", init)
    yield
    if request.node.get_closest_marker("unmapped_data_types") is None:
        unmapped = sorted({name for instance in made for name in instance.unmapped})
        assert unmapped == [], f"data types without a timeliner entry: {unmapped}"
