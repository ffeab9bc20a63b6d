"""Allocator hygiene: hand the C heap's free pages back to the OS now and then (glibc only).

Request bodies, bus records and store batches are large short-lived C allocations (bytes over
512 B do not go through pymalloc), made and freed on many threads; glibc keeps what they freed
in its per-thread arenas, so a burst leaves the process's RSS at its peak long after the
memory is free. `malloc_trim(0)` returns those pages. The API process runs a `HeapTrimmer`;
the detector child calls `trim_heap` between batches. chDB allocates through its own
jemalloc, which keeps freed pages the same way; the trimmer has it purge them too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable
from functools import cache

from ingest.worker import ThreadWorker

__all__ = ["HeapTrimmer", "trim_heap"]

logger = logging.getLogger(__name__)


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - musl has no malloc_trim: then there is nothing to do
    except (OSError, AttributeError):
        return None
    return libc


def trim_heap() -> bool:
    """Return the C heap's free pages to the OS; False where the C library cannot."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))


class HeapTrimmer(ThreadWorker):
    """Every `interval_s` seconds: `release` (the embedded store's own allocator, when the
    process holds one: ChdbStore.release_memory), then `trim_heap` (a walk of the arenas:
    milliseconds)."""

    def __init__(self, interval_s: float, release: Callable[[], object] | None = None) -> None:
        super().__init__("heap-trim")
        self.interval_s = interval_s
        self._release = release
        self.trims = 0

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            if self._release is not None:
                self._release()
            trim_heap()
            self.trims += 1
