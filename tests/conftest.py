"""Shared fixtures: the third-party corpus (optional) and the committed test images."""

from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.abspath(os.path.join(ROOT, "..", "shared", "corpus"))
TEST_IMAGES = os.path.join(ROOT, "test_images")


@pytest.fixture
def corpus():
    """Path of ../shared/corpus; tests using it skip cleanly when it is absent."""
    if not os.path.isdir(CORPUS):
        pytest.skip("../shared/corpus is not present")
    return CORPUS


def corpus_file(*parts: str) -> str:
    path = os.path.join(CORPUS, *parts)
    if not os.path.exists(path):
        pytest.skip(f"corpus file missing: {os.path.join(*parts)}")
    return path
