"""Deduplicate a retried insert by its insert_deduplication_token (non-replicated MergeTree)."""

from ingest import schema

STATEMENTS = [
    f"ALTER TABLE {schema.EVENTS} MODIFY SETTING non_replicated_deduplication_window = 1000"
]
