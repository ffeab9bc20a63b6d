"""Integration fixtures: session-wide Kafka and ClickHouse containers behind one Docker check."""

from __future__ import annotations

from tests.integration.containers import clickhouse_server_url, docker_images, kafka_container_url

__all__ = ["clickhouse_server_url", "docker_images", "kafka_container_url"]
