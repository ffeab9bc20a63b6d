"""Dead-letter hook for EventWriter: copies undecodable bus messages to the DLQ topic."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from ingest.bus import Publisher, Record
from ingest.schema import DLQ_TOPIC

__all__ = ["dead_letter_hook"]

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 30.0  # seconds to wait for the DLQ acknowledgement before failing the batch


def dead_letter_hook(
    publisher: Publisher, topic: str = DLQ_TOPIC
) -> Callable[[Sequence[Record]], None]:
    """An `on_reject` hook that publishes poison messages, key and raw value as received.

    The publish is awaited before the batch is stored; a failed publish raises, so the consumer
    keeps the batch and retries it: nothing is committed past a poison message that is in neither
    the DLQ nor `events_rejected`. A retry may publish the same message twice (at least once).
    """

    def publish(poison: Sequence[Record]) -> None:
        messages = [(r.key or b"", r.value) for r in poison]
        publisher.publish(topic, messages).result(timeout=PUBLISH_TIMEOUT_S)
        logger.warning("sink: %d undecodable message(s) copied to %s", len(poison), topic)

    return publish
