"""KafkaBus: topics, ping and lag on a Kafka cluster through one shared admin client."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ingest.bus.base import BusUnavailable
from ingest.bus.kafka.config import KafkaConfig
from ingest.bus.kafka.publisher import KafkaPublisher
from ingest.bus.kafka.subscriber import KafkaSubscriber

__all__ = ["KafkaBus"]

logger = logging.getLogger(__name__)

PING_TIMEOUT_MS = 3000  # admin request bound for ping() and lag()


class KafkaBus:
    """Topics on a Kafka cluster; one admin client for topics, ping and lag, shared under a lock."""

    def __init__(self, url: str, *, options: object = None) -> None:
        self.config = KafkaConfig.from_url(url, options)
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()
        self._closables: list[KafkaPublisher | KafkaSubscriber] = []

    def admin(self, call: Callable[[KafkaAdminClient], Any]) -> Any:
        """Run one admin call; a failure drops the client so the next call reconnects."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(
                        **{**self.config.client(), "request_timeout_ms": PING_TIMEOUT_MS}
                    )
                return call(self._admin)
            except KafkaError as exc:
                self._drop_admin()
                raise BusUnavailable(f"kafka {','.join(self.config.bootstrap)}: {exc}") from exc

    def _drop_admin(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(KafkaError):  # already broken; nothing left to release
                self._admin.close()
            self._admin = None

    def publisher(self) -> KafkaPublisher:
        publisher = KafkaPublisher(self.config)
        self._closables.append(publisher)
        return publisher

    def subscriber(
        self,
        topics: Sequence[str],
        group_id: str,
        *,
        warm_messages: int = 0,
        warm_s: float = 0.0,
    ) -> KafkaSubscriber:
        subscriber = KafkaSubscriber(
            self.config,
            self.admin,
            list(topics),
            group_id,
            warm_messages=warm_messages,
            warm_s=warm_s,
        )
        self._closables.append(subscriber)
        return subscriber

    def ensure_topics(self, topics: Sequence[str]) -> None:
        existing = set(self.admin(lambda a: a.list_topics()))
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        new = [NewTopic(t, self.config.partitions, self.config.replication_factor) for t in missing]
        try:
            self.admin(lambda a: a.create_topics(new))
        except BusUnavailable as exc:
            if not isinstance(exc.__cause__, TopicAlreadyExistsError):  # lost a race: fine
                raise
        logger.info("created kafka topics %s (%d partitions)", missing, self.config.partitions)

    def ping(self) -> bool:
        try:
            self.admin(lambda a: a.list_topics())
        except BusUnavailable:
            return False
        return True

    def close(self) -> None:
        for item in reversed(self._closables):
            item.close()
        self._closables.clear()
        with self._lock:
            self._drop_admin()

    def __enter__(self) -> KafkaBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
