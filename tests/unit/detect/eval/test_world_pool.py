"""`leash eval --worlds --procs N`: the replay processes each get an embedded store of their own."""

from __future__ import annotations

from concurrent.futures import wait
from multiprocessing import active_children

from detect.cli import world_pool
from ingest.store.chdb import ChdbStore


def _open_store_and_count() -> int:
    with ChdbStore(None) as store:
        return int(store.query("SELECT count() FROM system.one")[0][0])


def test_concurrent_replays_each_start_their_embedded_store() -> None:
    # A forked child of a process that imported chDB drew the same working-directory name as its
    # sibling: the second store failed to start and that replay hung, so `leash eval --worlds`
    # with two processes never finished.
    pool = world_pool(2)
    futures = [pool.submit(_open_store_and_count) for _ in range(4)]
    _, pending = wait(futures, timeout=60)
    if pending:  # do not wait for the hung children on the way out
        for child in active_children():
            child.kill()
    pool.shutdown(cancel_futures=True)
    assert not pending, "a replay process never started its store"
    assert [future.result() for future in futures] == [1, 1, 1, 1]
