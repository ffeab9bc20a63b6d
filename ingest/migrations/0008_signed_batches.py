"""Signed chain heads: each batch's hash signed with the sink's Ed25519 key (ingest.signing)."""

from ingest import schema

STATEMENTS = [
    f"ALTER TABLE {schema.BATCHES} ADD COLUMN IF NOT EXISTS signer String DEFAULT ''",
    f"ALTER TABLE {schema.BATCHES} ADD COLUMN IF NOT EXISTS signature String DEFAULT ''",
]
