"""LedgerStore: every insert into a ledger table is chained once it is stored, nothing else is;
a row's digest is the same written and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import detect.gate.service as decisions_mod
from ingest import schema
from ingest.chain import GENESIS_HASH, encode_row
from ingest.ledger import open_ledger
from ingest.settings import Settings
from ingest.store.chdb import ChdbStore
from ingest.store.journal import JournalFolder
from tests.unit.ingest.store.test_journal import decision_row


class FailingStore:
    """A real chDB store whose inserts into one table fail (a store down for that insert)."""

    def __init__(self, store: ChdbStore, failing: str) -> None:
        self.store, self.failing, self.shared = store, failing, False

    def insert(self, table: str, rows: Any, columns: Any) -> None:
        if table == self.failing:
            raise ConnectionError("store down")
        self.store.insert(table, rows, columns)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.store.query(sql, params)


def test_ledger_inserts_are_chained_in_order_and_others_pass_through(
    store: ChdbStore, tmp_path: Path
) -> None:
    ledger = open_ledger(
        store, journal_dir=tmp_path, journal_folder=JournalFolder(tmp_path), signer=None
    )
    ledger.insert(schema.DECISIONS, [decision_row(1), decision_row(2)], decisions_mod.COLUMNS)
    ledger.insert(schema.DECISIONS, [decision_row(3)], decisions_mod.COLUMNS)
    ledger.insert(schema.SCHEMA_MIGRATIONS, [(99, "not_ledger")], ["id", "name"])
    ledger.stop()
    records = store.query(
        "SELECT chain, seq, table_name, row_keys, prev_hash, hash FROM ledger_batches ORDER BY seq"
    )
    assert [(r[1], r[2], r[3]) for r in records] == [
        (1, "decisions", ["dec_000001", "dec_000002"]),
        (2, "decisions", ["dec_000003"]),
    ]
    assert records[0][0] == records[1][0] == ledger.chain.chain
    assert (records[0][4], records[1][4]) == (GENESIS_HASH, records[0][5])


def test_a_failed_insert_is_not_chained(store: ChdbStore, tmp_path: Path) -> None:
    ledger = open_ledger(
        FailingStore(store, schema.DECISIONS),  # type: ignore[arg-type]
        journal_dir=tmp_path,
        journal_folder=JournalFolder(tmp_path),
        signer=None,
    )
    with pytest.raises(ConnectionError):
        ledger.insert(schema.DECISIONS, [decision_row(1)], decisions_mod.COLUMNS)
    ledger.stop()
    assert store.query("SELECT count() FROM ledger_batches") == [(0,)]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(datetime(2026, 12, 3, 1, 2, 3, 456789, tzinfo=UTC), id="microseconds floor"),
        pytest.param(datetime(1999, 1, 1, tzinfo=UTC), id="whole seconds"),
    ],
)
def test_a_row_encodes_the_same_written_and_read_back(store: ChdbStore, value: datetime) -> None:
    row = ("al_1", 7, "resolved", "key_ops", "naïve ✓ \\ ' \t", value)
    columns = ["id", "version", "status", "actor", "note", "changed_at"]
    store.insert(schema.ALERT_STATUS, [row], columns)
    (read,) = store.query(f"SELECT {', '.join(columns)} FROM {schema.ALERT_STATUS}")
    assert read[-1].microsecond == value.microsecond // 1000 * 1000  # DateTime64(3) floors
    assert encode_row(read) == encode_row(row)
    floats = (1.0, 0.1 + 0.2, True, ("a", "b"), [])
    assert encode_row(floats) == encode_row((1, 0.30000000000000004, 1, ["a", "b"], ()))


def test_the_runtime_store_is_chained_and_signed(settings: Settings) -> None:
    from ingest.runtime import open_runtime

    with open_runtime(settings) as runtime:
        runtime.store.insert(schema.DECISIONS, [decision_row(1)], decisions_mod.COLUMNS)
    store = ChdbStore(settings.resolved_store_url.removeprefix("chdb://"))
    try:
        signers = store.query("SELECT signer, signature != '' FROM ledger_batches")
    finally:
        store.close()
    assert len(signers) == 1 and signers[0][0].startswith("ed25519:") and signers[0][1]
