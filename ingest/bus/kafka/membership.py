"""A KafkaSubscriber's group membership: the errors that mean it fell out of its group, and the
rebalance listener that sees it rejoin, plus the group calls its recovery makes. Only
ingest.bus.kafka.subscriber imports this."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata
from kafka import TopicPartition as KafkaTP
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)

__all__ = ["MEMBERSHIP_ERRORS", "Membership"]

logger = logging.getLogger(__name__)

REJOIN_POLL_S = 0.1  # seconds per poll while rejoining

# The member is out of the group (it left on its own after max_poll_interval_ms without a poll,
# or a rebalance fenced it): a poll rejoins it, then a commit of what it still owns can land.
MEMBERSHIP_ERRORS = (
    CommitFailedError,
    IllegalGenerationError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)


class Membership(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """The rebalance listener of one consumer: counts the joins it completed and collects the
    partitions it lost with its membership (the group restarts those at its last commit).

    kafka-python calls the listener inside KafkaConsumer.poll, maybe on its IO thread while the
    subscriber's thread waits in that poll: it records under its own lock, and calls nothing
    but `pause`, and only while `rejoin` runs, so a rejoin fetches nothing before its seeks.
    Everything else runs on the subscriber's thread, under the subscriber's lock. The joins are
    counted by `on_partitions_assigned`, which kafka-python's default (eager) assignors call
    after every join, with an empty set too.
    """

    def __init__(self, consumer: KafkaConsumer, *, group_id: str, timeout_ms: int) -> None:
        self._consumer = consumer
        self._group_id = group_id
        self._timeout_ms = timeout_ms  # bounds each commit and committed-offset request
        self._lock = threading.Lock()
        self._lost: set[KafkaTP] = set()
        self._pausing = False
        self.joins = 0

    def on_partitions_revoked(self, _revoked: set[KafkaTP]) -> None:
        pass  # the subscriber drops buffered records of partitions it no longer owns

    def on_partitions_assigned(self, assigned: set[KafkaTP]) -> None:
        if self._pausing:
            self._consumer.pause(*assigned)
        with self._lock:
            self.joins += 1

    def on_partitions_lost(self, lost: set[KafkaTP]) -> None:
        with self._lock:
            self._lost |= set(lost)

    def take_lost(self) -> set[KafkaTP]:
        """Partitions lost with the membership since the last call."""
        with self._lock:
            lost, self._lost = self._lost, set()
        return lost

    def rejoin(self, keep_alive: Callable[[float], None], timeout_s: float) -> bool:
        """Call `keep_alive` (a poll with every partition paused) until the group has assigned
        this member its partitions again; partitions the join assigns are paused too. False if
        `timeout_s` passed first (the next poll goes on with the join)."""
        joins = self.joins
        deadline = time.monotonic() + timeout_s
        self._pausing = True
        try:
            while self.joins == joins and time.monotonic() < deadline:
                keep_alive(REJOIN_POLL_S)
        finally:
            self._pausing = False
        if self.joins == joins:
            logger.warning("kafka group %s: not rejoined within %.1fs", self._group_id, timeout_s)
            return False
        return True

    def committed(self, partitions: Collection[KafkaTP]) -> dict[KafkaTP, int]:
        """The group's committed next offset per partition; -1 where it has none."""
        out = {}
        for tp in partitions:
            offset = self._consumer.committed(tp, timeout_ms=self._timeout_ms)
            out[tp] = -1 if offset is None else offset
        return out

    def commit(self, offsets: Mapping[KafkaTP, int]) -> None:
        self._consumer.commit(
            {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()},
            timeout_ms=self._timeout_ms,
        )

    def recommit(self, mine: Mapping[KafkaTP, int], group: dict[KafkaTP, int]) -> None:
        """After a rejoin: commit what the group's commit has not passed (another member may
        have moved it meanwhile: never move it back); `group` then holds the new commits."""
        ahead = {tp: offset for tp, offset in mine.items() if offset > group[tp]}
        if not ahead:
            return
        try:
            self.commit(ahead)
        except KafkaError as exc:
            logger.warning(
                "kafka group %s: commit failed again after rejoining (%s); %d partition(s) "
                "will be read again from their last commit",
                self._group_id,
                exc,
                len(ahead),
            )
            return
        group.update(ahead)

    def warn_lost(self, lost: Mapping[KafkaTP, int], group: Mapping[KafkaTP, int]) -> None:
        """Say how many processed messages the new owners of `lost` will read again."""
        if not lost:
            return
        again = sum(max(offset - max(group[tp], 0), 0) for tp, offset in lost.items())
        logger.warning(
            "kafka group %s: %d partition(s) now belong to another member; their commit is "
            "dropped and the new owner will read %d message(s) again (at least once)",
            self._group_id,
            len(lost),
            again,
        )

    def start_at(self, group: Mapping[KafkaTP, int]) -> None:
        """Fetch each partition from the group's commit next (none: from the beginning)."""
        for tp, offset in group.items():
            if offset >= 0:
                self._consumer.seek(tp, offset)
            else:
                self._consumer.seek_to_beginning(tp)  # the consumer's auto_offset_reset
