"""Runs batch tasks on a Dask distributed cluster.

The scheduler loop stays in the batch process (it alone writes the
manifest); each task is ``tasks.execute`` submitted to the cluster, so on a
worker it is the same child process, with the same limits, as locally. The
workers need sandtrace installed and the evidence and the output folder at
the same paths as the batch process (a shared file system): parts are written
to and read from ``OUT_DIR/.work``. See docs/batch.md.
"""

from __future__ import annotations

from typing import Any

from sandtrace.batch import tasks


class DaskExecutor:
    def __init__(self, target: Any, limit: int | None = None) -> None:
        from distributed import Client

        if isinstance(target, Client):
            self.client, self._owned = target, False
        else:
            self.client, self._owned = Client(target), True
        self.limit = limit  # None: as many tasks in flight as the cluster has threads

    def has_room(self, running: int) -> bool:
        if self.limit:
            return running < self.limit
        threads = sum(self.client.nthreads().values()) or 1
        return running < 2 * threads

    def submit(self, task: tasks.Task):
        return self.client.submit(tasks.execute, task, pure=False, key=f"sandtrace-{task.key}-{id(task)}")

    def wait(self, futures: list) -> list:
        from distributed import wait

        try:
            done, _ = wait(futures, timeout=0.5, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        except Exception as exception:  # distributed's own TimeoutError on older versions
            if type(exception).__name__ == "TimeoutError":
                return []
            raise
        return list(done)

    def shutdown(self) -> None:
        if self._owned:
            self.client.close()
