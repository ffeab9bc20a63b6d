"""Provenance: how each event arrived (`origin`) and whether automatic response may act on it."""

from ingest import schema

STATEMENTS = [
    f"ALTER TABLE {schema.EVENTS} ADD COLUMN IF NOT EXISTS origin LowCardinality(String) "
    "DEFAULT '' AFTER raw",
    f"ALTER TABLE {schema.EVENTS} ADD COLUMN IF NOT EXISTS trusted Bool DEFAULT true AFTER origin",
]
