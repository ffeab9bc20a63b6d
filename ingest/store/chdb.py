"""ChdbStore: the embedded default store, the ClickHouse engine in-process via chDB."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from chdb import session as chdb_session

from ingest.store.base import ArrowRows, StoreUnavailable, table_rows

__all__ = ["ChdbStore", "table_rows"]

logger = logging.getLogger(__name__)


class ChdbStore:
    """One chDB session over a data directory (or a temporary one when `path` is None).

    Only one process can open a chDB path; the owner serves everyone else through the HTTP API.
    """

    shared = False

    def __init__(self, path: str | None) -> None:
        if path is not None:
            Path(path).mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._session = chdb_session.Session(path) if path else chdb_session.Session()
        except Exception as exc:  # chDB raises a bare RuntimeError when the path is held
            raise StoreUnavailable(
                f"cannot open chDB at {path}: {exc}. Only one process can hold an embedded store; "
                "stop the running `leash up` or point LEASH_DATA_DIR elsewhere."
            ) from exc

    def command(self, sql: str) -> None:
        with self._lock:
            self._session.query(sql, "Null")

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if not rows:
            return
        arrow_rows = _arrow_of(rows, columns)  # noqa: F841 - chDB resolves Python(arrow_rows) by name
        names = ", ".join(f"`{c}`" for c in columns)
        with self._lock:
            self._session.query(
                f"INSERT INTO {table} ({names}) SELECT * FROM Python(arrow_rows)", "Null"
            )

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return table_rows(self.query_arrow(sql, params))

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result as an Arrow table (chDB runs the query without holding the GIL)."""
        with self._lock:
            return self._session.query(sql, "ArrowTable", params=_bindable(params))

    def release_memory(self) -> None:
        """Hand the pages chDB's allocator (jemalloc) keeps for reuse back to the OS: under
        steady inserts it keeps ~100-300 MB that the process never needs at once again."""
        try:
            self.command("SYSTEM JEMALLOC PURGE")
        except Exception as exc:  # noqa: BLE001 - a chDB built without jemalloc has none to free
            logger.debug("chDB could not purge its allocator: %s", exc)

    def ping(self) -> bool:
        try:
            return self.query("SELECT 1") == [(1,)]
        except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
            return False

    def close(self) -> None:
        with self._lock:
            self._session.close()

    def __enter__(self) -> ChdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ClickHouse parses a bound value in its escaped text format: a raw tab or newline ends it and a
# backslash starts an escape, so such characters are escaped rather than sent as they are
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _bindable(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """chDB formats tz-aware datetimes with an offset it cannot parse (send naive UTC), binds
    no Python list (send an Array literal, as clickhouse-connect would), and reads strings in
    the escaped format (a tab, newline or backslash in an id or filter is escaped)."""
    return {k: _bind(v) for k, v in (params or {}).items()}


def _bind(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    return value


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPES).replace("'", "\\'") + "'"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"cannot bind {type(value).__name__} in an array")
    return repr(value)


def _arrow_of(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pa.Table:
    if not isinstance(rows, ArrowRows):
        return _to_arrow(rows, columns)
    if rows.table.column_names != list(columns):  # the insert maps the table's columns in order
        raise ValueError(f"Arrow columns {rows.table.column_names} are not {list(columns)}")
    return rows.table


def _to_arrow(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pa.Table:
    arrays = []
    for values in zip(*rows, strict=True):
        sample = next((v for v in values if v is not None), None)
        if isinstance(sample, datetime):
            arrays.append(pa.array(values, pa.timestamp("ms", tz="UTC")))
        elif isinstance(sample, (list, tuple)):
            arrays.append(pa.array([list(v) for v in values], pa.list_(pa.string())))
        else:
            arrays.append(pa.array(values))
    return pa.Table.from_arrays(arrays, names=list(columns))
