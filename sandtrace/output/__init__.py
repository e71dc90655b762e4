"""Output modules: sorted events in, plaso-compatible timelines out.

Use ``manager.create_writer(name, path, OutputOptions(...))`` and feed it the
events from ``sandtrace.timeline.sorter.sort_events``.
"""

from sandtrace.output.base import OutputOptions, Writer
from sandtrace.output.manager import create_writer, names

__all__ = ["OutputOptions", "Writer", "create_writer", "names"]
