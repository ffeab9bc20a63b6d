"""Tamper evidence for Leash's own ledger: alerts, statuses, decisions, approvals, principal
changes, suppressions and feedback, hash-chained and signed per writer process (see chain,
tables, store)."""

from ingest.ledger.chain import LedgerChain
from ingest.ledger.store import LedgerStore, open_ledger
from ingest.ledger.tables import LEDGER_TABLES, LedgerTable

__all__ = ["LEDGER_TABLES", "LedgerChain", "LedgerStore", "LedgerTable", "open_ledger"]
