"""Table and topic names plus DDL builders; the SQL runs unchanged on chDB and ClickHouse server."""

from __future__ import annotations

__all__ = [
    "BATCHES",
    "EVENTS",
    "EVENTS_REJECTED",
    "EVENTS_TOPIC",
    "DLQ_TOPIC",
    "SCHEMA_MIGRATIONS",
    "batches_ddl",
    "events_ddl",
    "events_rejected_ddl",
    "schema_migrations_ddl",
]

EVENTS = "events"
EVENTS_REJECTED = "events_rejected"
BATCHES = "ingest_batches"
SCHEMA_MIGRATIONS = "schema_migrations"
EVENTS_TOPIC = "leash.events"
DLQ_TOPIC = "leash.events.dlq"


def schema_migrations_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {SCHEMA_MIGRATIONS} (
    id UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY id"""


def events_ddl() -> str:
    # ReplacingMergeTree collapses at-least-once replays of the same event; the sort key serves
    # per-principal time-range reads, and the bloom filter serves lookups by event_id.
    return f"""
CREATE TABLE IF NOT EXISTS {EVENTS} (
    event_id String,
    event_time DateTime64(3, 'UTC'),
    principal String,
    principal_key String,
    actor_kind LowCardinality(String),
    account LowCardinality(String),
    region LowCardinality(String),
    source LowCardinality(String),
    action LowCardinality(String),
    action_class LowCardinality(String),
    resources Array(String),
    error_code LowCardinality(String),
    source_ip String,
    user_agent String CODEC(ZSTD(3)),
    raw String CODEC(ZSTD(3)),
    schema_version UInt16,
    ingested_at DateTime64(3, 'UTC'),
    batch_id String,
    INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_action action TYPE set(1024) GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (principal_key, event_time, event_id)"""


def events_rejected_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {EVENTS_REJECTED} (
    received_at DateTime64(3, 'UTC'),
    origin LowCardinality(String),
    topic String,
    partition Int32,
    offset Int64,
    error String,
    raw String CODEC(ZSTD(3))
) ENGINE = MergeTree ORDER BY received_at"""


def batches_ddl() -> str:
    # One row per stored batch: hash of its rows chained to the previous batch of the same chain,
    # in the style of CloudTrail digest files; `leash verify` recomputes both.
    return f"""
CREATE TABLE IF NOT EXISTS {BATCHES} (
    chain String,
    seq UInt64,
    batch_id String,
    created_at DateTime64(3, 'UTC'),
    row_count UInt32,
    event_ids Array(String),
    rows_hash String,
    prev_hash String,
    hash String
) ENGINE = MergeTree ORDER BY (chain, seq)"""
