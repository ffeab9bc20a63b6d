"""Approvals that need several approvers: how many (`required`) and who approved so far."""

from ingest import schema

STATEMENTS = [
    f"ALTER TABLE {schema.APPROVALS} ADD COLUMN IF NOT EXISTS required UInt8 DEFAULT 1",
    f"ALTER TABLE {schema.APPROVALS} ADD COLUMN IF NOT EXISTS approvers Array(String) DEFAULT []",
]
