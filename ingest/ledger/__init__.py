"""Tamper evidence for Leash's own ledger: alerts, statuses, decisions, approvals, principal
changes, suppressions and feedback, hash-chained and signed per writer process (see chain,
tables, store) and checked by verify_ledger (verify)."""

from ingest.ledger.chain import LedgerChain
from ingest.ledger.store import LedgerStore, open_ledger
from ingest.ledger.tables import LEDGER_TABLES, LedgerTable
from ingest.ledger.verify import LedgerReport, verify_ledger

__all__ = [
    "LEDGER_TABLES",
    "LedgerChain",
    "LedgerReport",
    "LedgerStore",
    "LedgerTable",
    "open_ledger",
    "verify_ledger",
]
