"""Bytes written from an offset of a file around the page cache (O_DIRECT).

Why: a merge writes GBs of timeline that this process never reads back.
Through the page cache the kernel first copies them into freshly allocated
pages (on the benchmark VM 2.4 s of CPU per GB, against 0.45 s direct, see
docs/performance.md), and those pages push the evidence's out of the cache.
O_DIRECT wants the memory, the file offset and the length aligned: the
aligned middle is written direct from an aligned buffer, the unaligned head
and tail through an ordinary descriptor (two writers of one file meet only
in such a shared block, never in a direct one). Where the file system
refuses O_DIRECT (tmpfs; not Linux) everything is written the ordinary way.
"""

from __future__ import annotations

import errno
import mmap
import os

ALIGN = 4096  # covers 512- and 4096-byte logical blocks
_BUFFER = 8 << 20  # bytes per direct write


class OffsetWriter:
    """Writes consecutive bytes into ``path`` from ``offset`` on (the file exists)."""

    def __init__(self, path: str, offset: int, direct: bool = True) -> None:
        self.end = offset  # the file offset of the next byte given to write()
        self._base = offset  # where the buffer's first byte goes
        self._plain = os.open(path, os.O_WRONLY)
        self._direct: int | None = None
        flag = getattr(os, "O_DIRECT", 0)
        if direct and flag:
            try:
                self._direct = os.open(path, os.O_WRONLY | flag)
            except OSError:
                self._direct = None
        self._buffer = mmap.mmap(-1, _BUFFER) if self._direct is not None else None  # page-aligned
        self.direct = self._direct is not None  # whether the aligned middle went around the page cache
        self._fill = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        self.end += len(view)
        if self._direct is None:
            self._plain_write(view, self._base)
            self._base += len(view)
            return
        if self._fill == 0 and self._base % ALIGN:  # the head, up to the first aligned offset
            head = view[:-self._base % ALIGN]
            self._plain_write(head, self._base)
            self._base += len(head)
            view = view[len(head):]
        while view:
            take = min(len(view), _BUFFER - self._fill)
            self._buffer[self._fill:self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == _BUFFER:
                self._flush(_BUFFER)

    def close(self) -> None:
        """The rest written (the aligned part direct, the tail plainly); descriptors closed."""
        try:
            if self._fill:
                self._flush(self._fill - self._fill % ALIGN)
            if self._fill:
                with memoryview(self._buffer) as view:
                    self._plain_write(view[:self._fill], self._base)
                self._base += self._fill
                self._fill = 0
        finally:
            for handle in (self._plain, self._direct):
                if handle is not None:
                    os.close(handle)
            if self._buffer is not None:
                self._buffer.close()
            self._direct = self._buffer = None

    def __enter__(self) -> OffsetWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _flush(self, size: int) -> None:
        """The buffer's first ``size`` bytes (a multiple of ALIGN) written direct."""
        view = memoryview(self._buffer)
        done = 0
        try:
            while done < size:
                done += os.pwrite(self._direct, view[done:size], self._base + done)
                if done % ALIGN:  # a short write that broke the alignment: the rest plainly
                    raise OSError(errno.EINVAL, "short direct write")
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            # Accepted at open, refused at write (some file systems): plain from here on.
            os.close(self._direct)
            self._direct, self.direct = None, False
            self._plain_write(view[done:self._fill], self._base + done)
            self._base += self._fill
            self._fill = 0
            view.release()
            return
        self._base += size
        self._buffer.move(0, size, self._fill - size)
        self._fill -= size
        view.release()

    def _plain_write(self, view: memoryview, offset: int) -> None:
        while view:
            done = os.pwrite(self._plain, view, offset)
            view, offset = view[done:], offset + done
