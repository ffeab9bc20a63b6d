"""PipeStore: a child's reads answered by the store's owner over a real multiprocessing pipe."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

import pytest

from ingest.store import Store, StoreUnavailable
from ingest.store.pipe import PipeStore, StoreQuery, answer_query


@pytest.fixture
def pipe_store(store: Store) -> Iterator[PipeStore]:
    """A PipeStore whose queries a thread answers from the chDB store (the owner's side)."""
    owner_end, child_end = multiprocessing.Pipe()

    def owner() -> None:
        while True:
            try:
                query = owner_end.recv()
            except EOFError:
                return
            assert isinstance(query, StoreQuery)
            owner_end.send(answer_query(store, query))

    thread = threading.Thread(target=owner, daemon=True)
    thread.start()
    yield PipeStore(child_end, shared=False)
    child_end.close()
    thread.join(5)


def test_a_query_crosses_the_pipe_with_its_parameters(pipe_store: PipeStore) -> None:
    rows = pipe_store.query("SELECT {n:UInt32} + 1, 'x'", {"n": 41})
    assert rows == [(42, "x")]


def test_a_failed_query_comes_back_as_store_unavailable(pipe_store: PipeStore) -> None:
    with pytest.raises(StoreUnavailable, match="no_such_table"):
        pipe_store.query("SELECT * FROM no_such_table")
    assert pipe_store.query("SELECT 1") == [(1,)]  # the pipe is still in step


def test_writes_are_refused(pipe_store: PipeStore) -> None:
    with pytest.raises(StoreUnavailable, match="read-only"):
        pipe_store.insert("alerts", [("a",)], ("id",))
    with pytest.raises(StoreUnavailable, match="read-only"):
        pipe_store.command("DROP TABLE events")
