"""PipeStore: a child process's read-only Store, answered by the process that owns the store.

chDB belongs to the one process that opened its folder, so a child of that process (the
detector of `leash up`) reads through its parent: `query` sends a StoreQuery down a
`multiprocessing` connection and waits for the StoreReply, which the parent makes with
`answer_query` whenever it finds a StoreQuery among the messages it receives. The child writes
nothing through it: its results go back to the parent, which stores them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ingest.store.base import Store, StoreUnavailable

__all__ = ["PipeStore", "StoreQuery", "StoreReply", "answer_query"]


@dataclass(frozen=True)
class StoreQuery:
    """One `Store.query` call, sent by the child."""

    sql: str
    params: dict[str, Any] | None


@dataclass(frozen=True)
class StoreReply:
    """The rows of a StoreQuery, or why the store could not answer (`error` set)."""

    rows: list[tuple[Any, ...]]
    error: str = ""


def answer_query(store: Store, query: StoreQuery) -> StoreReply:
    """Run a child's query on the owner's store; a failure travels back as text."""
    try:
        return StoreReply(store.query(query.sql, query.params))
    except Exception as exc:  # noqa: BLE001 - the child decides what a failed read means
        return StoreReply([], f"{type(exc).__name__}: {exc}")


class PipeStore:
    """Queries over `connection` to the store's owner; `command` and `insert` are refused.

    Only valid while the owner waits on the same connection for this process's answer to a
    message it sent (the detector child queries while it handles one), so calls never cross.
    """

    def __init__(self, connection: Connection, *, shared: bool) -> None:
        self.shared = shared
        self._connection = connection
        self._lock = threading.Lock()

    def command(self, sql: str) -> None:
        raise StoreUnavailable(f"a PipeStore is read-only (the owning process writes): {sql!r}")

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        raise StoreUnavailable(
            f"a PipeStore is read-only (the owning process writes): {len(rows)} rows of "
            f"{table} ({', '.join(columns)})"
        )

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            self._connection.send(StoreQuery(sql, dict(params) if params else None))
            reply = self._connection.recv()
        if not isinstance(reply, StoreReply):
            raise StoreUnavailable(f"expected a StoreReply, got {type(reply).__name__}")
        if reply.error:
            raise StoreUnavailable(reply.error)
        return reply.rows

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        """The connection belongs to the caller."""
