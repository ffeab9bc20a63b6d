"""Leash's own ledger, chained (ingest.ledger): its batches, and what each ledger table held
before chaining began (those rows are legacy, not tampering)."""

from ingest import schema
from ingest.ledger.tables import LEDGER_TABLES, legacy_mark_statement

# the tables chained when this migration was written (a table added later records its own)
_CHAINED = (
    schema.ALERTS,
    schema.ALERT_STATUS,
    schema.APPROVALS,
    schema.SUPPRESSIONS,
    schema.DECISIONS,
    schema.PRINCIPAL_CHANGES,
    schema.ALERT_FEEDBACK,
)

STATEMENTS = [
    schema.ledger_batches_ddl(),
    schema.ledger_legacy_ddl(),
    *(legacy_mark_statement(LEDGER_TABLES[name]) for name in _CHAINED),
]
