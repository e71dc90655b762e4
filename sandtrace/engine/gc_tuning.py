"""The cyclic garbage collector set for throughput, not for latency.

A parser's records are small dicts and lists that live for one record. By
default CPython collects its youngest generation after every 700 container
allocations, and each collection walks what is young and alive at that
moment (the event log chunk being decoded, the sort's window of events),
and set-up objects (modules, parsers, rules) are frozen out of every
collection. Garbage in reference cycles is still collected, after at most
50,000 allocations (a few MB). The measurements: docs/performance.md.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
_frozen = [False]


def for_throughput() -> None:
    """A later first collection; the older generations keep their thresholds."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def freeze_set_up() -> None:
    """Everything alive now (a worker's modules and configured parsers) out of
    every later collection; once per process (a second set-up's leftovers stay
    collectable)."""
    if not _frozen[0]:
        gc.collect()
        gc.freeze()
        _frozen[0] = True
