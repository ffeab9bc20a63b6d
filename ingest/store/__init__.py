"""Store role: the Store protocol and open_store(url), the only backend switch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse

__all__ = ["Store", "StoreUnavailable", "open_store"]


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


def open_store(url: str) -> Store:
    """Open `chdb:///path` (`chdb://:memory:` for a throwaway store) or `clickhouse://u:p@h:8123/db`."""
    parsed = urlparse(url)
    match parsed.scheme:
        case "chdb":
            from ingest.store.chdb import ChdbStore

            path = url[len("chdb://") :]
            return ChdbStore(None if path in ("", ":memory:") else path)
        case "clickhouse" | "clickhouses":
            from ingest.store.clickhouse import ClickHouseStore

            return ClickHouseStore(url)
        case _:
            raise ValueError(
                f"unsupported store URL {url!r}: use chdb:///path or clickhouse://user:pw@host:8123/db"
            )
