"""Outputs written atomically: a temporary file beside the output, renamed over it.

A reader (or a run killed half-way) never sees a half-written output, and a
failed run leaves an existing one as it was. Every file sandtrace writes for
the examiner goes through here: timelines (output/base.py), sidecars, reports,
batch's parts, results and merged timelines.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


class AtomicFile:
    """The temporary file of one output: ``commit`` makes it the output, ``discard`` drops it."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        directory = os.path.dirname(self.path)
        self.descriptor, self.temp_path = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(self.path)}.", suffix=".tmp")

    def open(self, mode: str, **options) -> IO:
        """The temporary file as a file object (the descriptor mkstemp opened: reopening
        with "w" would truncate, and ext4 then writes the whole file out at close)."""
        descriptor, self.descriptor = self.descriptor, -1
        return os.fdopen(descriptor, mode, **options)

    def close_descriptor(self) -> None:
        """For a file another library opens by its path (the .plaso store)."""
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1

    def commit(self) -> None:
        self.close_descriptor()
        os.replace(self.temp_path, self.path)

    def discard(self) -> None:
        self.close_descriptor()
        if os.path.exists(self.temp_path):
            os.unlink(self.temp_path)


@contextmanager
def atomic_file(path: str, mode: str = "wb", **options) -> Iterator[IO]:
    """A file object whose content becomes ``path`` when the block ends without an error."""
    target = AtomicFile(path)
    try:
        with target.open(mode, **options) as stream:
            yield stream
        target.commit()
    except BaseException:
        target.discard()
        raise


def write_atomically(path: str, text: str) -> None:
    """``text`` (UTF-8) as the whole content of ``path``."""
    with atomic_file(path, "w", encoding="utf-8") as stream:
        stream.write(text)
