"""The store role's types: the Store protocol and StoreUnavailable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["Store", "StoreUnavailable"]


class StoreUnavailable(RuntimeError):
    """The store did not answer; the caller may retry with backoff."""


class Store(Protocol):
    """A ClickHouse-SQL store.

    `command` runs DDL or other statements without a result; `insert` writes rows (tuples in the
    order of `columns`; DateTime64 columns take timezone-aware datetimes) in one round trip;
    `query` binds `{name:Type}` placeholders from `params` and returns rows as tuples. The same SQL
    must behave the same on every backend. Implementations are thread-safe. `shared` tells
    whether other processes may write to it too (a ClickHouse server) or not (embedded chDB, which
    one process owns), i.e. whether state cached from it must be re-read now and then.
    """

    shared: bool

    def command(self, sql: str) -> None: ...

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None: ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
