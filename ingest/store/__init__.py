"""Store role: the Store protocol and open_store(url), the only backend switch."""

from __future__ import annotations

from urllib.parse import urlparse

from ingest.store.base import ArrowRows, Store, StoreUnavailable

__all__ = ["ArrowRows", "Store", "StoreUnavailable", "open_store"]


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
