"""The fuzzing budget: short and reproducible in ``make test``, long in ``make fuzz``.

``SANDTRACE_FUZZ_EXAMPLES`` unset: 50 examples per harness, derandomised
(the same inputs on every run: ``make test`` stays fast and deterministic).
Set (``make fuzz`` sets 5000): that many examples, random seeds.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_ENV = os.environ.get("SANDTRACE_FUZZ_EXAMPLES")
EXAMPLES = int(_ENV) if _ENV else 50
# SANDTRACE_FUZZ_DEADLINE (seconds): an input slower than this fails as a hang (make fuzz: 20).
_DEADLINE = os.environ.get("SANDTRACE_FUZZ_DEADLINE")

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=float(_DEADLINE) * 1000 if _DEADLINE else None,
    derandomize=_ENV is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,
)


def fewer(divisor: int):
    """Settings for a slower harness: the budget divided by ``divisor`` (at least 10)."""
    return settings(FUZZ, max_examples=max(10, EXAMPLES // divisor))
