"""LedgerChain: one writer process's hash chain over the ledger rows it inserts, signed.

Each insert into a ledger table becomes one batch record in `ledger_batches`: the table, the
columns as inserted, each row's key and digest (ingest.chain.row_digest over the row's canonical
text), their rows hash, and the link to the chain's previous batch -- the same hashing and the
same Ed25519 key (ingest.signing) as the ingest chain. Each process has a chain of its own (its
id names the host and the process's journal folder), so processes sharing a store never
interleave one sequence, and a restart starts a new chain instead of racing the old one's head.

The hashing happens where the rows are inserted: at a journaled writer's flush (a batch every
few seconds for the gate's decisions), never on the request that queued the row. Records go to
a journaled writer of their own, so one insert carries every batch of a few seconds, and a
record a killed process had not yet inserted is recovered like any journaled row.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.chain import GENESIS_HASH, chain_hash, encode_row, row_digest, rows_hash
from ingest.ledger.tables import LedgerTable
from ingest.signing import ChainSigner

__all__ = ["LEDGER_COLUMNS", "LedgerChain", "SealedRows", "digest_rows", "ledger_body"]

# Rows digested between two hand-overs of the GIL (~1 ms of work): a flush of thousands of
# rows would otherwise hold it for tens of ms, and a decide answered meanwhile would wait
YIELD_ROWS = 256
LEDGER_COLUMNS = (
    "chain",
    "seq",
    "batch_id",
    "created_at",
    "table_name",
    "columns",
    "row_count",
    "row_keys",
    "row_digests",
    "rows_hash",
    "prev_hash",
    "hash",
    "signer",
    "signature",
)


def ledger_body(table: str, columns: Sequence[str], rows: str) -> str:
    """What a ledger batch's hash covers besides its link: the table and columns its rows were
    inserted with (what verify reads back), and their rows hash."""
    return hashlib.sha256(f"{table}|{','.join(columns)}|{rows}".encode()).hexdigest()


@dataclass(frozen=True)
class SealedRows:
    """The digests of rows about to be inserted into a ledger table, ready to be chained."""

    table: str
    columns: tuple[str, ...]
    keys: list[str]
    digests: list[str]
    rows_hash: str
    body: str


def digest_rows(
    table: LedgerTable, rows: Sequence[Sequence[object]], columns: Sequence[str]
) -> SealedRows:
    """Key and digest of each row (tuples in `columns` order), and the batch body over them."""
    at = [columns.index(name) for name in table.key]
    keys: list[str] = []
    digests: list[str] = []
    for start in range(0, len(rows), YIELD_ROWS):
        if start:
            time.sleep(0)  # hand the GIL over: the API's event loop waits on it otherwise
        for row in rows[start : start + YIELD_ROWS]:
            key = table.row_key([row[i] for i in at])
            keys.append(key)
            digests.append(row_digest(key, encode_row(row)))
    hashed = rows_hash(list(zip(keys, digests, strict=True)))
    return SealedRows(
        table.name, tuple(columns), keys, digests, hashed, ledger_body(table.name, columns, hashed)
    )


class LedgerChain:
    """Appends batch records to one chain: `append(sealed)` links the rows (already stored) to
    the chain's last batch, signs the link with `signer`, and hands the record (LEDGER_COLUMNS
    order) to `log`, in sequence order. Thread-safe."""

    def __init__(
        self,
        *,
        chain: str,
        log: Callable[[tuple[object, ...]], None],
        signer: ChainSigner | None = None,
    ) -> None:
        self.chain = chain
        self._log = log
        self._signer = signer  # None: an unsigned chain (verify with a key calls it unsigned)
        self._lock = threading.Lock()
        self._seq, self._prev = 0, GENESIS_HASH

    def append(self, sealed: SealedRows) -> None:
        batch_id = uuid.uuid4().hex
        with self._lock:
            seq = self._seq + 1
            digest = chain_hash(self._prev, seq, batch_id, sealed.body)
            record = (
                self.chain,
                seq,
                batch_id,
                datetime.now(UTC),
                sealed.table,
                list(sealed.columns),
                len(sealed.keys),
                sealed.keys,
                sealed.digests,
                sealed.rows_hash,
                self._prev,
                digest,
                self._signer.key_id if self._signer else "",
                self._signer.sign(digest) if self._signer else "",
            )
            self._log(record)  # under the lock: records reach the journal in sequence order
            self._seq, self._prev = seq, digest
