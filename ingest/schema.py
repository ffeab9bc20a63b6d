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
    origin LowCardinality(String) DEFAULT '',
    trusted Bool DEFAULT true,
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
    hash String,
    signer String DEFAULT '',
    signature String DEFAULT ''
) ENGINE = MergeTree ORDER BY (chain, seq)"""


# --- response layer (detect/webhooks, outbox, principals, gate, approvals, suppression) ---------
WEBHOOK_OUTBOX = "webhook_outbox"
PRINCIPAL_CHANGES = "principal_changes"
DECISIONS = "decisions"
APPROVALS = "approvals"
SUPPRESSIONS = "suppressions"
ALERT_FEEDBACK = "alert_feedback"

__all__ += [
    "ALERT_FEEDBACK",
    "APPROVALS",
    "DECISIONS",
    "PRINCIPAL_CHANGES",
    "SUPPRESSIONS",
    "WEBHOOK_OUTBOX",
    "alert_feedback_ddl",
    "approvals_ddl",
    "decisions_ddl",
    "principal_changes_ddl",
    "suppressions_ddl",
    "webhook_outbox_ddl",
]


def webhook_outbox_ddl() -> str:
    # One row version per delivery attempt outcome; FINAL gives each delivery's current state.
    # `body` is kept verbatim so every retry signs and sends the same bytes.
    return f"""
CREATE TABLE IF NOT EXISTS {WEBHOOK_OUTBOX} (
    delivery_id String,
    message_id String,
    endpoint String,
    event_type LowCardinality(String),
    body String CODEC(ZSTD(3)),
    created_at DateTime64(3, 'UTC'),
    status LowCardinality(String),
    attempts UInt32,
    next_attempt_at DateTime64(3, 'UTC'),
    last_error String,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY delivery_id"""


def principal_changes_ddl() -> str:
    # Append-only audit log of principal state changes; a principal's state is its latest row.
    return f"""
CREATE TABLE IF NOT EXISTS {PRINCIPAL_CHANGES} (
    change_id String,
    changed_at DateTime64(3, 'UTC'),
    principal_key String,
    principal String,
    actor_kind LowCardinality(String),
    from_state LowCardinality(String),
    to_state LowCardinality(String),
    reason String,
    actor String,
    origin LowCardinality(String),
    alert_id String
) ENGINE = MergeTree ORDER BY (principal_key, changed_at, change_id)"""


def decisions_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {DECISIONS} (
    decision_id String,
    decided_at DateTime64(3, 'UTC'),
    principal String,
    principal_key String,
    actor_kind LowCardinality(String),
    source LowCardinality(String),
    action LowCardinality(String),
    action_class LowCardinality(String),
    resources Array(String),
    decision LowCardinality(String),
    reason String,
    rule LowCardinality(String),
    approval_id String,
    key_id String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (principal_key, decided_at, decision_id)"""


def approvals_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {APPROVALS} (
    approval_id String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    principal String,
    principal_key String,
    actor_kind LowCardinality(String),
    source LowCardinality(String),
    action LowCardinality(String),
    action_class LowCardinality(String),
    resources Array(String),
    reason String,
    requested_by String,
    status LowCardinality(String),
    decided_by String,
    decided_as String,
    decided_at DateTime64(3, 'UTC'),
    note String,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY approval_id"""


def suppressions_ddl() -> str:
    # expires_at = 1970-01-01 means "never expires"; active = 0 marks a deleted suppression.
    return f"""
CREATE TABLE IF NOT EXISTS {SUPPRESSIONS} (
    suppression_id String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    principal_pattern String,
    action_pattern String,
    resource_pattern String,
    rule_pattern String,
    reason String,
    created_by String,
    alert_id String,
    active UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY suppression_id"""


def alert_feedback_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {ALERT_FEEDBACK} (
    feedback_id String,
    created_at DateTime64(3, 'UTC'),
    alert_id String,
    principal String,
    rule String,
    verdict LowCardinality(String),
    event_ids Array(String),
    note String,
    actor String,
    suppression_id String
) ENGINE = MergeTree ORDER BY (created_at, feedback_id)"""


# --- detection layer (detect/alerts, detect/model_store) ------------------------------------------
ALERTS = "alerts"
ALERT_STATUS = "alert_status"
DETECTOR_MODELS = "detector_models"

__all__ += [
    "ALERTS",
    "ALERT_STATUS",
    "DETECTOR_MODELS",
    "alert_status_ddl",
    "alerts_ddl",
    "detector_models_ddl",
]


def alerts_ddl() -> str:
    # The detector owns these rows: each change inserts the whole alert with a higher version and
    # reads use FINAL. Status lives in alert_status so API acks never race the detector's updates.
    return f"""
CREATE TABLE IF NOT EXISTS {ALERTS} (
    id String,
    version UInt64,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    principal String,
    actor_kind LowCardinality(String),
    kind LowCardinality(String),
    rule String,
    rules Array(String),
    severity LowCardinality(String),
    score Float64,
    first_event_time DateTime64(3, 'UTC'),
    last_event_time DateTime64(3, 'UTC'),
    event_count UInt32,
    event_ids Array(String),
    summary String,
    explanation String CODEC(ZSTD(3))
) ENGINE = ReplacingMergeTree(version) ORDER BY id"""


def alert_status_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {ALERT_STATUS} (
    id String,
    version UInt64,
    status LowCardinality(String),
    actor String,
    note String,
    changed_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(version) ORDER BY id"""


def detector_models_ddl() -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {DETECTOR_MODELS} (
    version String,
    trained_at DateTime64(3, 'UTC'),
    path String,
    rows UInt64,
    principals UInt32,
    metadata String
) ENGINE = MergeTree ORDER BY (trained_at, version)"""


# --- Leash's own ledger (ingest/ledger): chained batches of ledger rows, the pre-chain watermark --
LEDGER_BATCHES = "ledger_batches"
LEDGER_LEGACY = "ledger_legacy"

__all__ += ["LEDGER_BATCHES", "LEDGER_LEGACY", "ledger_batches_ddl", "ledger_legacy_ddl"]


def ledger_batches_ddl() -> str:
    # One row per chained batch of ledger rows (one insert into one ledger table): the key and
    # digest of each row, hashed and chained like ingest_batches, one chain per writer process.
    return f"""
CREATE TABLE IF NOT EXISTS {LEDGER_BATCHES} (
    chain String,
    seq UInt64,
    batch_id String,
    created_at DateTime64(3, 'UTC'),
    table_name LowCardinality(String),
    columns Array(String),
    row_count UInt32,
    row_keys Array(String),
    row_digests Array(String),
    rows_hash String,
    prev_hash String,
    hash String,
    signer String DEFAULT '',
    signature String DEFAULT ''
) ENGINE = MergeTree ORDER BY (chain, seq)"""


def ledger_legacy_ddl() -> str:
    # Per ledger table, what it held when chaining began: rows in no ledger batch that are this
    # old, and no more of them than this, were written before Leash chained them.
    return f"""
CREATE TABLE IF NOT EXISTS {LEDGER_LEGACY} (
    table_name String,
    row_count UInt64,
    mark_ns Int64,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY table_name"""
