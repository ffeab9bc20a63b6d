"""Contract fixtures: a session-wide Tansu broker (`kafka_url`) and one bus per backend param."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.bus import Bus
from ingest.bus.embedded import EmbeddedBroker
from ingest.bus.kafka import KafkaBus
from tests.contract.kafka_broker import TansuBroker, fast_kafka_settings, running_tansu
from tests.integration.containers import clickhouse_server_url, docker_images

__all__ = ["clickhouse_server_url", "docker_images"]  # fixtures shared with tests/integration

PARTITIONS = 3


@pytest.fixture(scope="session")
def tansu() -> Iterator[TansuBroker]:
    yield from running_tansu()


@pytest.fixture(scope="session")
def kafka_url(tansu: TansuBroker) -> str:
    """`kafka://127.0.0.1:PORT` of a running Kafka-protocol broker; use unique topic names."""
    return tansu.url


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["memory", "memory-durable", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus(request: pytest.FixtureRequest, tmp_path: Path, topic: str) -> Iterator[Bus]:
    opened: Bus
    if request.param == "memory":
        opened = EmbeddedBroker(partitions=PARTITIONS)
    elif request.param == "memory-durable":
        opened = EmbeddedBroker(partitions=PARTITIONS, log_dir=tmp_path / "bus")
    else:
        url = request.getfixturevalue("kafka_url")
        opened = KafkaBus(url, options=fast_kafka_settings(partitions=PARTITIONS))
    opened.ensure_topics([topic])
    yield opened
    opened.close()
