"""Kafka-path helpers for e2e tests: a Tansu broker fixture and the LEASH_ env that points at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.kafka_broker import TansuBroker, running_tansu

__all__ = ["kafka_env", "tansu_broker"]


def kafka_env(broker: TansuBroker, **extra: str) -> dict[str, str]:
    """Environment for a `leash` process on this broker, with short group and request timeouts."""
    return {
        "LEASH_BUS_URL": broker.url,
        "LEASH_KAFKA__PARTITIONS": "3",
        "LEASH_KAFKA__SESSION_TIMEOUT_MS": "2000",
        "LEASH_KAFKA__HEARTBEAT_INTERVAL_MS": "200",
        "LEASH_KAFKA__MAX_POLL_INTERVAL_MS": "10000",
        "LEASH_KAFKA__REQUEST_TIMEOUT_MS": "2000",
        **extra,
    }


@pytest.fixture
def tansu_broker() -> Iterator[TansuBroker]:
    """A fresh broker per test (memory storage: nothing leaks between tests)."""
    yield from running_tansu()
