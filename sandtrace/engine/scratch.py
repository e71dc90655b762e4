"""Scratch folders that a later run can tell are orphaned.

A run killed with SIGKILL cannot remove its scratch (sort runs, a parallel
merge's run files, disks rebuilt by --carve): tens of MB to gigabytes left in
the temporary folder. Each scratch folder therefore holds a lock file locked
(``flock``) for as long as its run lives; the kernel drops the lock when the
process dies, however it dies. ``sweep`` removes the folders whose lock is
free and never one whose owner still runs (a PID can be reused; a lock
cannot outlive its process).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile

LOCK_NAME = ".sandtrace-owner.lock"
PREFIXES = ("sandtrace-parallel-", "sandtrace-sort-", "sandtrace-carved-")

_held: dict[str, int] = {}  # folder -> descriptor holding its lock


def claim(folder: str) -> None:
    """Locks ``folder`` for this process's lifetime (or until ``release``)."""
    handle = os.open(os.path.join(folder, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(handle, f"{os.getpid()}\n".encode())
    _held[folder] = handle


def release(folder: str) -> None:
    handle = _held.pop(folder, None)
    if handle is not None:
        os.close(handle)


def make(prefix: str, directory: str | None = None) -> str:
    """A new scratch folder, claimed."""
    folder = tempfile.mkdtemp(prefix=prefix, dir=directory)
    claim(folder)
    return folder


def remove(folder: str) -> None:
    """Deletes a folder this process made and releases it."""
    shutil.rmtree(folder, ignore_errors=True)
    release(folder)


class Folder:
    """``tempfile.TemporaryDirectory``'s interface for a claimed scratch folder."""

    def __init__(self, prefix: str, directory: str | None = None) -> None:
        self.name = make(prefix, directory)

    def cleanup(self) -> None:
        remove(self.name)


def sweep(directory: str | None = None) -> list[str]:
    """Removes the scratch folders of dead runs in ``directory``; the folders removed.

    A folder without a lock file is left alone: it may be one being made this
    instant, or one of an older version that cannot be proven dead."""
    directory = directory or tempfile.gettempdir()
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIXES) or not entry.is_dir(follow_symlinks=False):
            continue
        if entry.path in _held or not _owner_is_dead(entry.path):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _owner_is_dead(folder: str) -> bool:
    try:
        handle = os.open(os.path.join(folder, LOCK_NAME), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its run is alive
    finally:
        os.close(handle)
    return True
