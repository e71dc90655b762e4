"""The worker processes of parallel extraction, startable before the heavy imports.

A spawned worker needs ~0.3 s to import dfVFS and the parsers. For a large
image ``extract`` starts them first thing, so that this happens while the
main process does the same, not after it has reached the first event log.
This module imports nothing heavy itself: the workers import
``pipeline.tasks`` when they start, and each task brings the configuration
(``tasks.parse_file``).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

# The formats whose events are formatted in workers: Writer.line_format
# (a test keeps the two in step; importing the writers here is what this
# module avoids).
LINE_FORMATS = frozenset({"json_line", "timesketch"})
# Start with the run when the image files add up to this much (their event
# logs will keep the workers busy); otherwise at the first large event log.
START_EARLY_BYTES = 64 << 20


def _warm(parent: int | None = None) -> None:
    from sandtrace.engine import children, gc_tuning

    children.die_with_parent(parent)

    gc_tuning.for_throughput()
    import sandtrace.pipeline.tasks  # noqa: F401 - dfVFS, the parsers, the writers


def new_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """Spawned workers that import nothing from the current folder and die with this process."""
    from sandtrace.engine import children

    children.isolate_spawned_workers()
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm,
        initargs=(os.getpid(),))


def start_early(workers: int, sources: list[str], output_format: str) -> concurrent.futures.ProcessPoolExecutor | None:
    """A pool with its workers starting, when a run will hand them work; else None."""
    if not workers or output_format not in LINE_FORMATS:
        return None
    try:
        if not all(os.path.isfile(path) for path in sources) or sum(
                os.path.getsize(path) for path in sources) < START_EARLY_BYTES:
            return None
    except OSError:
        return None
    pool = new_pool(workers)
    for _ in range(workers):
        pool.submit(_warm)  # a pool spawns a process per task until it has ``workers``
    return pool
