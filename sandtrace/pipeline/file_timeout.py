"""The per-file timeout (``--file-timeout``): how long one parser may spend on one file.

A parser stuck on one file (a loop in damaged data, a huge record) must cost
that file only: it is stopped, what it yielded before is kept, and the
``FileTimeout`` becomes a warning like any other parser failure.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

from sandtrace.core.events import EventData


class FileTimeout(Exception):
    """One parser spent longer than ``--file-timeout`` on one file (becomes a warning)."""


def time_limited(stream: Iterator[EventData], seconds: float) -> Iterator[EventData]:
    """``stream`` with a budget of ``seconds`` of its own time (not the consumer's).

    The parser's time is counted with the clock while it computes its next
    item; a SIGALRM timer, set for what is left of the budget, stops it inside
    the item that uses the budget up. A parser blocked inside one C call is
    interrupted when that call returns. Off the main thread (the Extractor used
    from a thread) or without SIGALRM (Windows) the budget is checked between
    items instead: a parser is stopped at the first item it yields late.
    (Batch tasks, also on Dask, run in child processes: the timer applies.)
    """
    if not seconds or seconds <= 0:
        yield from stream
        return
    left = float(seconds)
    message = f"parsing stopped after {seconds:g}s (--file-timeout); what was read before is kept"
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        while True:
            started = time.monotonic()
            try:
                data = next(stream)
            except StopIteration:
                return
            left -= time.monotonic() - started
            yield data
            if left < 0:
                raise FileTimeout(message)

    # One timer for the whole stream, not armed and stopped around every item
    # (two system calls per record were 5% of a worker's time, more in a VM):
    # when it goes off, the parser's own time so far is worked out from the
    # clock, and the timer is set again for what is left of the budget.
    used = 0.0  # the parser's time over the items it has finished
    entered: float | None = None  # when the parser was last resumed; None while the consumer runs

    def expired(signum, frame):
        spent = used if entered is None else used + time.monotonic() - entered
        if spent < seconds:
            signal.setitimer(signal.ITIMER_REAL, max(seconds - spent, 0.001))
        elif entered is not None:
            raise FileTimeout(message)
        # else: over while the consumer runs; the next resume stops the parser

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    clock = time.monotonic
    try:
        while True:
            if used >= seconds:
                raise FileTimeout(message)
            entered = clock()
            try:
                data = next(stream)
            except StopIteration:
                return
            finally:
                started, entered = entered, None  # the handler must never count this item twice
                used += clock() - started
            yield data
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
