"""The store role's types: the Store protocol and StoreUnavailable."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, overload

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ArrowRows", "Store", "StoreUnavailable", "table_rows"]


def table_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """An Arrow table's rows as tuples (what Store.query returns).

    Here, not beside ChdbStore: the processes that turn Arrow history into rows (the detector
    child, a training fit) never open a store, and importing chdb maps its ~170 MB library."""
    columns = [column.to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


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


class ArrowRows(Sequence[tuple[Any, ...]]):
    """Rows held as the columns of an Arrow table whose names are the insert's columns.

    A batch built column by column (the sink's events) need never become row tuples: a store
    that takes Arrow inserts `table` as it is, and everything else (another backend, a wrapper
    in a test) reads it as the sequence of rows it stands for, with the same values.
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def columns(self) -> list[list[Any]]:
        """The values column by column (timestamps as timezone-aware datetimes)."""
        return [column.to_pylist() for column in self.table.columns]

    @cached_property
    def _rows(self) -> list[tuple[Any, ...]]:
        return list(zip(*self.columns(), strict=True))

    def __len__(self) -> int:
        return int(self.table.num_rows)

    @overload
    def __getitem__(self, index: int) -> tuple[Any, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[Any, ...]]: ...

    def __getitem__(self, index: int | slice) -> tuple[Any, ...] | Sequence[tuple[Any, ...]]:
        return self._rows[index]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)
