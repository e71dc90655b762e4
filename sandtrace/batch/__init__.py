"""Batch processing over an evidence store: many sources, one super-timeline.

The pieces, in the order data flows through them:

- ``discovery``: which files and folders under the evidence directories are
  sources (an E01 set by its first segment, ``.001``, VHD/VHDX, VMDK, QCOW2,
  folders marked ``.sandtrace-triage``).
- ``tasks``: one unit of work (plan a source, hash it, extract a group of its
  volumes, assemble its timelines) run as a child process with a memory cap
  and a time limit; ``worker`` is that child.
- ``runner``: the scheduler. It keeps every worker busy, records each step in
  the SQLite ``manifest`` and runs tasks on local processes or, with
  ``dask_runner``, on a Dask cluster.
- ``merge``: the psort-ordered merge of a source's parts and the
  super-timeline across sources.

See docs/batch.md.
"""

from sandtrace.batch.runner import BatchBusy, BatchOptions, BatchSummary, run_batch  # noqa: F401
