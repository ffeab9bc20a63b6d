"""Prometheus metrics of the ingest path, one registry per app so tests can build many apps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["IngestMetrics"]


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "leash_events_accepted", "Events acknowledged (durable)", registry=r
        )
        self.duplicates = Counter(
            "leash_events_duplicate", "Events dropped as duplicates", registry=r
        )
        self.rejected = Counter("leash_events_rejected", "Records rejected at ingest", registry=r)
        self.ingest_seconds = Histogram(
            "leash_ingest_request_seconds",
            "POST /v1/events latency",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.sink_events = Counter("leash_sink_events", "Events written to the store", registry=r)
        self.sink_batch_rows = Histogram(
            "leash_sink_batch_rows",
            "Rows per store insert",
            registry=r,
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
        )
        self.sink_insert_seconds = Histogram(
            "leash_sink_insert_seconds",
            "Store insert latency",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.receiver_requests = Counter(
            "leash_receiver_requests",
            "Requests to the AWS delivery receivers, by receiver and HTTP status",
            ["receiver", "code"],
            registry=r,
        )
        self.receiver_records = Counter(
            "leash_receiver_records",
            "CloudTrail records found by the receivers, by outcome (accepted, duplicate, rejected)",
            ["receiver", "outcome"],
            registry=r,
        )
        self.receiver_control_messages = Counter(
            "leash_receiver_control_messages_skipped",
            "CloudWatch Logs CONTROL_MESSAGE records skipped by the Firehose receiver",
            registry=r,
        )
        self.receiver_seconds = Histogram(
            "leash_receiver_request_seconds",
            "Receiver latency (EventBridge gives up at 5 s)",
            ["receiver"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.pull_messages = Counter(
            "leash_pull_messages",
            "SQS messages handled by the S3 + SQS puller, by outcome (deleted, left, test)",
            ["outcome"],
            registry=r,
        )
        self.pull_objects = Counter(
            "leash_pull_objects",
            "S3 objects named by SQS messages, by outcome (stored, digest, skipped, failed)",
            ["outcome"],
            registry=r,
        )
        self.pull_records = Counter(
            "leash_pull_records",
            "CloudTrail records read from S3 objects, by outcome (accepted, duplicate, rejected)",
            ["outcome"],
            registry=r,
        )
        self.pull_oldest_message_age = Gauge(
            "leash_pull_oldest_message_age_seconds",
            "Age of the oldest message in the latest SQS receive (the puller's lag)",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "leash_sink_consumer_lag", "Messages not yet committed", registry=r
        )
