"""ClickHouseStore: the production store, a ClickHouse server over HTTP via clickhouse-connect."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlparse

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ingest.store.base import ArrowRows, StoreUnavailable

__all__ = ["ClickHouseStore", "client_options"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_DATABASE = "leash"
ATTEMPTS = 4  # tries per call before StoreUnavailable
BACKOFF_START_S = 0.2  # seconds before the first retry
BACKOFF_MAX_S = 3.0  # seconds; cap of the exponential backoff
PING_TIMEOUT_S = 2.0  # seconds; bound of a health probe
CONNECT_TIMEOUT_S = 5  # seconds to open a connection
SEND_RECEIVE_TIMEOUT_S = 120  # seconds for one statement
_TRANSIENT = (OperationalError, OSError)  # network and server-side failures worth a retry


def client_options(url: str) -> dict[str, Any]:
    """clickhouse-connect arguments from `clickhouse[s]://user:pw@host:8123/db?key=value`.

    Query parameters pass through as client arguments (`?compress=lz4`, `?interface=chdb`).
    """
    parsed = urlparse(url)
    options: dict[str, Any] = {
        "host": parsed.hostname or "localhost",
        "username": unquote(parsed.username) if parsed.username else "default",
        "password": unquote(parsed.password) if parsed.password else "",
        "database": parsed.path.strip("/") or DEFAULT_DATABASE,
        "secure": parsed.scheme == "clickhouses",
    }
    if parsed.port:
        options["port"] = parsed.port
    options.update(dict(parse_qsl(parsed.query)))
    return options


class ClickHouseStore:
    """The Store protocol on a ClickHouse server; the same SQL as ChdbStore.

    The database is created when missing. Inserts are columnar and carry an
    `insert_deduplication_token`, so a retried insert that had in fact reached the server is
    stored once (on tables with a deduplication window). Transient failures are retried with
    capped exponential backoff, then raised as StoreUnavailable. One client without a session
    id serves all threads (clickhouse-connect pools HTTP connections).
    """

    shared = True

    def __init__(self, url: str, *, attempts: int = ATTEMPTS) -> None:
        options = client_options(url)
        self.database = str(options.pop("database"))
        self._attempts = attempts
        self._options = options
        self._lock = threading.Lock()
        self._client = self._retry(self._connect)

    def _connect(self) -> Any:
        options: dict[str, Any] = {
            "autogenerate_session_id": False,
            "tz_mode": "aware",
            "connect_timeout": CONNECT_TIMEOUT_S,
            "send_receive_timeout": SEND_RECEIVE_TIMEOUT_S,
            **self._options,
        }
        in_process = options.get("interface") == "chdb"  # clickhouse-connect's embedded engine
        if in_process:
            options = {"interface": "chdb", "tz_mode": "aware"}
        bootstrap = clickhouse_connect.get_client(**options)
        bootstrap.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        if not in_process:  # closing an embedded client would end the engine's session
            bootstrap.close()
        return clickhouse_connect.get_client(**options, database=self.database)

    def _retry(self, call: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=BACKOFF_START_S, max=BACKOFF_MAX_S),
            retry=retry_if_exception_type(_TRANSIENT),
            before_sleep=lambda state: logger.warning(
                "clickhouse call failed (%s); retry %d",
                state.outcome.exception() if state.outcome else "?",
                state.attempt_number,
            ),
            reraise=False,
        )
        try:
            return retrying(call)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise StoreUnavailable(f"clickhouse did not answer: {cause}") from cause

    def command(self, sql: str) -> None:
        self._retry(lambda: self._client.command(sql))

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if not rows:
            return
        if isinstance(rows, ArrowRows):
            data = rows.columns()
        else:
            data = [list(column) for column in zip(*rows, strict=True)]
        settings = {"insert_deduplication_token": uuid.uuid4().hex}  # the same on every retry
        self._retry(
            lambda: self._client.insert(
                table, data, column_names=list(columns), column_oriented=True, settings=settings
            )
        )

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._retry(lambda: self._client.query(sql, parameters=dict(params or {})))
        return [tuple(row) for row in result.result_rows]

    def ping(self) -> bool:
        try:
            return bool(self._client.ping(timeout=PING_TIMEOUT_S))
        except (DatabaseError, OSError):  # a health probe reports, it does not raise
            return False

    def close(self) -> None:
        with self._lock:
            self._client.close()

    def __enter__(self) -> ClickHouseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
