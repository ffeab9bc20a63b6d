"""trim_heap hands the pages a burst freed back to the OS (glibc keeps them otherwise)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from ingest.allocator import HeapTrimmer, trim_heap
from ingest.store import Store

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def anon_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024
    raise LookupError("no RssAnon in /proc/self/status")


def test_a_bursts_freed_buffers_leave_rss_until_the_heap_is_trimmed() -> None:
    held: list[list[bytes]] = []

    def burst() -> None:  # on its own thread, so in its own arena, as a request's are
        buffers = [bytes(20_000) + bytes([i % 256]) for i in range(10_000)]  # ~200 MB
        del buffers[:-1]  # the newest stays alive and pins the top of the arena
        held.append(buffers)

    before = anon_mib()
    thread = threading.Thread(target=burst)
    thread.start()
    thread.join()
    freed = anon_mib()
    assert freed - before > 150  # freed, yet still resident
    assert trim_heap()
    assert freed - anon_mib() > 150


def test_the_trimmer_has_the_store_release_its_allocator_too() -> None:
    released = threading.Event()
    trimmer = HeapTrimmer(0.001, release=released.set).start()
    try:
        assert released.wait(10)
    finally:
        trimmer.stop()
    assert not trimmer.alive()


def test_chdb_releases_its_allocators_free_pages_on_request(store: Store) -> None:
    release = getattr(store, "release_memory", None)
    assert release is not None  # the embedded store offers it; leash.app wires it when present
    release()
    assert store.query("SELECT 1") == [(1,)]
