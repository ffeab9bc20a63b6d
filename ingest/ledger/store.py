"""LedgerStore: a Store whose inserts into ledger tables are chained; open_ledger builds it.

Wrapping the store, rather than each writer, chains every ledger row a process inserts by
construction: the gate's journaled writers (at their flush, and when they recover a killed
process's journal), and the alert, status, principal-change and suppression writers that insert
directly. A writer added later cannot forget to chain its rows. Rows are digested before the
insert and the batch record is appended only after the insert returned, so a failed insert is
never chained (the journaled writers retry it, and chain it then).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ingest import schema
from ingest.ledger.chain import LEDGER_COLUMNS, LedgerChain, digest_rows
from ingest.ledger.tables import LEDGER_TABLES
from ingest.signing import ChainSigner
from ingest.store import Store
from ingest.store.journal import (
    FLUSH_INTERVAL_S,
    JournaledWriter,
    JournalFolder,
    process_folder,
)

__all__ = ["LedgerStore", "open_ledger"]


class LedgerStore:
    """The Store protocol over `store`; an insert into a table of LEDGER_TABLES is also chained
    (see module). `close` stores the pending batch records, then closes `store`."""

    def __init__(
        self, store: Store, chain: LedgerChain, log: JournaledWriter | None = None
    ) -> None:
        self._store = store
        self.chain = chain
        self._log = log
        self.shared = store.shared

    @property
    def backend(self) -> Store:
        """The store underneath (what open_store opened)."""
        return self._store

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        spec = LEDGER_TABLES.get(table)
        if spec is None or not rows:
            self._store.insert(table, rows, columns)
            return
        sealed = digest_rows(spec, rows, columns)
        self._store.insert(table, rows, columns)
        self.chain.append(sealed)

    def command(self, sql: str) -> None:
        self._store.command(sql)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._store.query(sql, params)

    def ping(self) -> bool:
        return self._store.ping()

    def stop(self) -> None:
        """Store the pending batch records and stop their writer; the store stays open."""
        if self._log is not None:
            self._log.stop()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._store.close()

    def __getattr__(self, name: str) -> Any:
        # what a backend offers beyond the protocol (ChdbStore.query_arrow) stays reachable
        return getattr(self._store, name)


def open_ledger(
    store: Store,
    *,
    journal_dir: Path,
    signer: ChainSigner | None,
    journal_folder: JournalFolder | None = None,
    flush_s: float = FLUSH_INTERVAL_S,
) -> LedgerStore:
    """`store` with this process's ledger chain: batch records a killed process left in its
    journal are stored first, then this process's records are journaled and inserted every
    `flush_s` by a writer thread of their own (stopped by `LedgerStore.close`). The
    chain is named after the host and the process's journal folder (`journal_folder`, default
    the process's own)."""
    folder = journal_folder or process_folder(journal_dir)
    log = JournaledWriter(
        store,
        table=schema.LEDGER_BATCHES,
        columns=LEDGER_COLUMNS,
        key=("chain", "seq"),
        journal_dir=journal_dir,
        journal_folder=folder,
        interval_s=flush_s,
    )
    log.recover()
    chain = f"{socket.gethostname()}/{folder.path.name}"
    return LedgerStore(store, LedgerChain(chain=chain, log=log.add, signer=signer), log.start())
