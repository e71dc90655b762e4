"""Benchmarks (``make bench``); docs/performance.md has their figures."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The third-party test corpus (docs/test-data.md): SANDTRACE_CORPUS, else a
# shared/corpus folder beside the checkout. Benchmarks that need it skip without it.
CORPUS = os.environ.get("SANDTRACE_CORPUS") or os.path.join(ROOT, "..", "shared", "corpus")
