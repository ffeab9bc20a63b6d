"""The tables of Leash's own ledger and how each one's rows are told apart (key, version, time).

What is chained is every row as it was inserted. Tables whose rows are never changed
(decisions, principal_changes, alert_feedback) are append-only: each row is its own key. Tables
whose rows change later (an alert's content as it grows, its status on ack/resolve, an approval
granted or used, a suppression lifted) are never updated in place in Leash: each change inserts
a new version of the row (ReplacingMergeTree(version)), and reads take the newest. So each
version is chained as written, keyed `id@version`; the engine may merge older versions away at
any time, so a version missing from the store is tampering only when no newer version of the
same row is there (see ingest.ledger.verify).

Not in the ledger: webhook_outbox (a delivery work queue whose content repeats the alerts,
approvals and principal changes that are chained), detector_models (model file bookkeeping).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest import schema

__all__ = ["LEDGER_TABLES", "LedgerTable", "legacy_mark_statement"]


@dataclass(frozen=True)
class LedgerTable:
    """A ledger table: `key` names the columns that identify a row as written (ending with
    `version` when `versioned`: each change of the row is a new version, and the engine keeps
    only the newest); `mark` is SQL giving a row's time in ns (for the pre-chain watermark)."""

    name: str
    key: tuple[str, ...]
    mark: str
    versioned: bool = False

    def row_key(self, values: Sequence[object]) -> str:
        """The key of a row given its key columns' values, e.g. `apr_1f3c@1733300000000000000`."""
        return "@".join(str(v) for v in values)


def _versioned(name: str, id_column: str) -> LedgerTable:
    return LedgerTable(name, (id_column, "version"), "toInt64(version)", versioned=True)


LEDGER_TABLES: dict[str, LedgerTable] = {
    t.name: t
    for t in (
        _versioned(schema.ALERTS, "id"),
        _versioned(schema.ALERT_STATUS, "id"),
        _versioned(schema.APPROVALS, "approval_id"),
        _versioned(schema.SUPPRESSIONS, "suppression_id"),
        LedgerTable(schema.DECISIONS, ("decision_id",), "toUnixTimestamp64Nano(decided_at)"),
        LedgerTable(schema.PRINCIPAL_CHANGES, ("change_id",), "toUnixTimestamp64Nano(changed_at)"),
        LedgerTable(schema.ALERT_FEEDBACK, ("feedback_id",), "toUnixTimestamp64Nano(created_at)"),
    )
}


def legacy_mark_statement(table: LedgerTable) -> str:
    """SQL recording what `table` holds now (rows, newest mark) as its pre-chain watermark."""
    return (
        f"INSERT INTO {schema.LEDGER_LEGACY} (table_name, row_count, mark_ns) "
        f"SELECT '{table.name}', count(), max({table.mark}) FROM {table.name}"
    )
