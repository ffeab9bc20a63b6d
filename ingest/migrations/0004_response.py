"""Response layer: webhook outbox, principal changes, decisions, approvals, suppressions."""

from ingest import schema

STATEMENTS = [
    schema.webhook_outbox_ddl(),
    schema.principal_changes_ddl(),
    schema.decisions_ddl(),
    schema.approvals_ddl(),
    schema.suppressions_ddl(),
    schema.alert_feedback_ddl(),
]
