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

import concurrent.futures
import errno
import mmap
import os

ALIGN = 4096  # covers 512- and 4096-byte logical blocks
_BUFFER = 8 << 20  # bytes per direct write


class OffsetWriter:
    """Writes consecutive bytes into ``path`` from ``offset`` on (the file exists).

    Two buffers: while a thread writes a full one (``os.pwrite`` lets go of the
    GIL), the caller fills the other; a direct write makes the caller wait
    for the device, and the merge behind it has CPU work to do meanwhile.
    """

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
        self.direct = self._direct is not None  # whether the aligned middle went around the page cache
        # page-aligned, as mmap's memory is
        self._buffers = [mmap.mmap(-1, _BUFFER), mmap.mmap(-1, _BUFFER)] if self.direct else []
        self._buffer = self._buffers[0] if self._buffers else None
        self._fill = 0
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._writing: tuple[concurrent.futures.Future, mmap.mmap, int, int] | None = None

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
                self._hand_over(_BUFFER)
                if self._direct is None:  # refused: the rest plainly
                    self._plain_write(view, self._base)
                    self._base += len(view)
                    return

    def close(self) -> None:
        """The rest written (the aligned part direct, the tail plainly); descriptors closed."""
        try:
            if self._direct is not None and self._fill >= ALIGN:
                self._hand_over(self._fill - self._fill % ALIGN)
            self._wait()
            if self._fill:
                with memoryview(self._buffer) as view:
                    self._plain_write(view[:self._fill], self._base)
                self._base += self._fill
                self._fill = 0
        finally:
            if self._thread is not None:
                self._thread.shutdown()
            for handle in (self._plain, self._direct):
                if handle is not None:
                    os.close(handle)
            for buffer in self._buffers:
                buffer.close()
            self._direct, self._buffer, self._buffers, self._thread = None, None, [], None

    def __enter__(self) -> OffsetWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _hand_over(self, size: int) -> None:
        """The buffer's first ``size`` bytes (a multiple of ALIGN) to the writing
        thread; filling goes on in the other buffer."""
        self._wait()
        if self._direct is None:  # the previous direct write was refused
            with memoryview(self._buffer) as view:
                self._plain_write(view[:self._fill], self._base)
            self._base += self._fill
            self._fill = 0
            return
        full = self._buffer
        self._buffer = self._buffers[1] if full is self._buffers[0] else self._buffers[0]
        rest = self._fill - size
        if rest:
            self._buffer[:rest] = full[size:self._fill]
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sandtrace-direct")
        self._writing = (self._thread.submit(_direct_write, self._direct, full, size, self._base), full, size, self._base)
        self._base += size
        self._fill = rest

    def _wait(self) -> None:
        """The write in flight done; refused (some file systems refuse at write,
        not at open), it is written plainly and so is everything after it."""
        if self._writing is None:
            return
        future, buffer, size, offset = self._writing
        self._writing = None
        done, error = future.result()
        if error is None:
            return
        if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise error
        os.close(self._direct)
        self._direct, self.direct = None, False
        with memoryview(buffer) as view:
            self._plain_write(view[done:size], offset + done)

    def _plain_write(self, view: memoryview, offset: int) -> None:
        while view:
            done = os.pwrite(self._plain, view, offset)
            view, offset = view[done:], offset + done


def _direct_write(handle: int, buffer: mmap.mmap, size: int, offset: int) -> tuple[int, OSError | None]:
    """``buffer[:size]`` written at ``offset``: (bytes written, the error that stopped it)."""
    done = 0
    with memoryview(buffer) as view:
        try:
            while done < size:
                done += os.pwrite(handle, view[done:size], offset + done)
                if done % ALIGN:  # a short write that broke the alignment: the rest plainly
                    raise OSError(errno.EINVAL, "short direct write")
        except OSError as error:  # a copy: the original's traceback holds views of the buffer
            return done, OSError(error.errno, error.strerror)
    return done, None
