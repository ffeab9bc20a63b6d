"""KafkaSubscriber: a consumer-group member over kafka-python; manual commit, pause/resume, lag."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, OffsetSpec
from kafka import TopicPartition as KafkaTP
from kafka.errors import KafkaError

from ingest.bus.base import BusUnavailable, Record, TopicPartition
from ingest.bus.kafka.config import KafkaConfig, unpack
from ingest.bus.kafka.joins import keep_finished_joins
from ingest.bus.kafka.membership import MEMBERSHIP_ERRORS, Membership

AdminCall = Callable[[Callable[[KafkaAdminClient], Any]], Any]  # KafkaBus.admin

__all__ = ["KafkaSubscriber"]

logger = logging.getLogger(__name__)

FETCH_MAX_BYTES = 16 * 1024 * 1024  # bytes per fetch; bounds what a subscriber buffers
PARTITION_FETCH_MAX_BYTES = 4 * 1024 * 1024  # bytes per partition per fetch
KEEP_ALIVE_SHARE = 0.5  # of max_poll_interval_ms without a real poll before a keep-alive one


class KafkaSubscriber:
    """A member of `group_id` reading `topics`; auto-commit is off, commits are synchronous.

    Packed values (see ingest.bus.kafka.config.pack) come out as one Record per event. Every
    event of a pack but the last carries the offset *before* the pack, so committing `offset + 1`
    after any of them re-reads the whole pack (at least once); only the last one moves past it.
    So `poll` hands out whole packs: it returns fewer than `max_records` rather than end inside
    one (only a pack larger than `max_records` on its own is split), and a consumer that stops
    after a poll commits exactly what it processed, with nothing to read twice after a restart.
    Records of partitions this member lost in a rebalance are dropped from its buffer, never
    handed out.

    The buffer holds what one `KafkaConsumer.poll` returned and is refilled only once empty, so
    it needs no cap of its own: at most `max_records` Kafka messages of at most PACK_MAX_EVENTS
    events and PACK_MAX_BYTES bytes each, and no more than the fetches behind that poll brought
    (FETCH_MAX_BYTES each, compressed). Packed, that is up to `max_records` * PACK_MAX_EVENTS
    records, and serving them can outlast `max_poll_interval_ms`, after which kafka-python
    leaves the group. So once KEEP_ALIVE_SHARE of that interval passed without a real poll,
    `poll` makes one with every partition paused before it hands out more.

    A member can still fall out of the group (one batch took longer than the interval); its
    commit then fails. It drops its buffer (those partitions may be another member's now),
    rejoins, commits what it still owns unless the group's commit is already past it, warns of
    what it lost (the new owner reads it again: at least once), and fetches every partition it
    owns from the group's commit next, so nothing it dropped is skipped.

    Thread use: poll / commit / pause / resume / close from one thread (the consumer loop);
    `lag` may be called from any thread (it goes through the bus's shared admin client).
    """

    def __init__(
        self,
        config: KafkaConfig,
        admin: AdminCall,
        topics: Sequence[str],
        group_id: str,
        *,
        warm_messages: int = 0,
        warm_s: float = 0.0,
    ) -> None:
        self.topics = list(topics)
        self.group_id = group_id
        self._warm_messages = warm_messages
        self._warm_ms = int(warm_s * 1000)
        self._owned: set[KafkaTP] = set()  # the assignment as of the last real poll
        # partition -> the group's commit when this member took it over: messages before it
        # were processed by a former owner and are handed out as replays (see _warm)
        self._warm_until: dict[KafkaTP, int] = {}
        # partition -> the offset after the last message this member handed out: what its
        # consumer already holds, never replayed to it again (a partition back after a spell
        # with another member, or after this member fell out of the group and rejoined)
        self._handed_to: dict[KafkaTP, int] = {}
        self._config = config
        self._admin = admin
        self._lock = threading.Lock()
        self._buffer: deque[list[Record]] = deque()  # one list per Kafka message (pack)
        self._paused = False
        self._closed = False
        self._highwater: dict[TopicPartition, int] = {}
        self._last_lag = 0
        self._last_poll_s = time.monotonic()  # when KafkaConsumer.poll was last called
        keep_finished_joins()  # a join finished between two short polls must not be re-sent
        try:
            self._consumer = KafkaConsumer(
                **config.client(),
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=config.session_timeout_ms,
                heartbeat_interval_ms=config.heartbeat_interval_ms,
                max_poll_interval_ms=config.max_poll_interval_ms,
                fetch_max_bytes=FETCH_MAX_BYTES,
                max_partition_fetch_bytes=PARTITION_FETCH_MAX_BYTES,
            )
        except KafkaError as exc:
            raise BusUnavailable(f"cannot reach kafka: {exc}") from exc
        self._membership = Membership(
            self._consumer, group_id=group_id, timeout_ms=config.request_timeout_ms
        )
        self._consumer.subscribe(self.topics, listener=self._membership)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        with self._lock:
            if self._closed:
                return []
            if self._paused or max_records <= 0:
                self._keep_alive(timeout_s)
                return []
            if not self._buffer:
                self._fetch(max_records, timeout_s)
            elif self._poll_due():
                self._keep_alive(0.0)  # serving the buffer must not cost the membership
            return self._take(max_records)

    def _poll_due(self) -> bool:
        elapsed_s = time.monotonic() - self._last_poll_s
        return elapsed_s > self._config.max_poll_interval_ms / 1000 * KEEP_ALIVE_SHARE

    def _take(self, max_records: int) -> list[Record]:
        """Whole messages from the buffer, at most `max_records` records (see the class)."""
        out: list[Record] = []
        while self._buffer and len(out) + len(self._buffer[0]) <= max_records:
            out.extend(self._buffer.popleft())
        if not out and self._buffer:  # one pack larger than max_records: split it
            head = self._buffer[0]
            out, self._buffer[0] = head[:max_records], head[max_records:]
        for record in out:
            tp = KafkaTP(record.topic, record.partition)
            if record.offset + 1 > self._handed_to.get(tp, 0):
                self._handed_to[tp] = record.offset + 1
        return out

    def _fetch(self, max_records: int, timeout_s: float) -> None:
        self._last_poll_s = time.monotonic()
        try:
            batch = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as exc:  # broker gone: report nothing, the group rejoins on its own
            logger.warning("kafka poll failed: %s", exc)
            batch = {}
        self._forget_lost()
        rewound = self._warm()
        now_ms = int(time.time() * 1000)
        for tp, messages in batch.items():
            if tp in rewound:
                continue  # (fetched from the group's commit: read again after the replays)
            until = self._warm_until.get(tp)
            for message in messages:
                replay = until is not None and message.offset < until
                if replay and self._warm_ms and message.timestamp < now_ms - self._warm_ms:
                    continue  # older than the warm-up wants: nothing left of it in a window
                self._buffer.append(_records(tp.topic, tp.partition, message, replay=replay))
            if until is not None and messages and messages[-1].offset >= until - 1:
                del self._warm_until[tp]  # (the replays end where the group's commit is)
        self._after_poll()

    def _warm(self) -> set[KafkaTP]:
        """Partitions assigned since the last poll start `warm_messages` before the group's
        commit: a member that takes a partition over (a rebalance, a restart) first replays
        what its former owner processed lately, so a burst that straddles the hand-over is
        counted whole and an incident the former owner opened goes on as the same alert --
        but never what this member handed out itself (a partition back from another member,
        or kept through a lost membership): its consumer counted those already (review).
        Returns the partitions rewound (their records of this poll are dropped)."""
        assigned = set(self._consumer.assignment())
        new, self._owned = assigned - self._owned, assigned
        for tp in [tp for tp in self._warm_until if tp not in assigned]:
            del self._warm_until[tp]
        if not new or self._warm_messages <= 0:
            return set()
        try:
            commits = self._membership.committed(new)
        except KafkaError as exc:  # (a coordinator moving, as it does in rebalances)
            logger.warning(
                "kafka group %s: no warm-up for %d partition(s) taken over, their commits "
                "could not be read (%s); they start where the group left them",
                self.group_id,
                len(new),
                exc,
            )
            return set()
        rewound = set()
        for tp, commit in commits.items():
            # what this member handed out of it before is in its consumer's memory already
            start = max(commit - self._warm_messages, self._handed_to.get(tp, 0), 0)
            if start >= commit:
                continue  # nothing processed by another member to replay
            self._consumer.seek(tp, start)
            self._warm_until[tp] = commit
            rewound.add(tp)
        if rewound:
            logger.info(
                "kafka group %s: replaying up to %d message(s) before the commit of %d "
                "partition(s) taken over",
                self.group_id,
                self._warm_messages,
                len(rewound),
            )
        return rewound

    def _keep_alive(self, timeout_s: float) -> None:
        """Poll with every partition paused: group membership stays, no record is consumed."""
        assigned = self._consumer.assignment()
        self._consumer.pause(*assigned)
        self._fetch(1, timeout_s)  # anything from a partition assigned meanwhile is buffered
        if not self._paused:
            self._consumer.resume(*self._consumer.paused())

    def _forget_lost(self) -> None:
        """Drop buffered records of partitions lost with the membership: the group restarts
        them at its last commit, so they would come twice if given back to this member."""
        lost = self._membership.take_lost()
        if not lost:
            return
        names = {(tp.topic, tp.partition) for tp in lost}
        self._buffer = deque(m for m in self._buffer if (m[0].topic, m[0].partition) not in names)

    def _after_poll(self) -> None:
        assigned = self._consumer.assignment()
        if self._paused:
            self._consumer.pause(*assigned)
        owned = {(tp.topic, tp.partition) for tp in assigned}
        if any((m[0].topic, m[0].partition) not in owned for m in self._buffer):
            self._buffer = deque(m for m in self._buffer if (m[0].topic, m[0].partition) in owned)
        for tp in assigned:
            high = self._consumer.highwater(tp)
            if high is not None:
                self._highwater[(tp.topic, tp.partition)] = high

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit next offsets of partitions this member still owns; a lost race only logs.

        A member that fell out of the group rejoins first (see the class). Any other failed
        commit (broker gone) is safe to drop: the next one carries newer offsets, and until
        then a restart re-reads, which is at least once.
        """
        with self._lock:
            wanted = {KafkaTP(t, p): offset for (t, p), offset in offsets.items()}
            try:
                self._commit_owned(wanted)
            except MEMBERSHIP_ERRORS as exc:
                self._rejoin_and_commit(wanted, exc)
            except KafkaError as exc:
                logger.warning("kafka commit of %d partition(s) failed: %s", len(wanted), exc)

    def _commit_owned(self, wanted: Mapping[KafkaTP, int]) -> None:
        owned = self._consumer.assignment()
        mine = {tp: offset for tp, offset in wanted.items() if tp in owned}
        if mine:
            self._membership.commit(mine)

    def _rejoin_and_commit(self, wanted: Mapping[KafkaTP, int], error: KafkaError) -> None:
        """The member is out of the group: its buffer may hold partitions another member owns
        now. Drop it, rejoin, commit what is still this member's and restart every partition it
        owns at the group's commit, so nothing dropped is skipped."""
        dropped_at, dropped = self._drop_buffer()
        logger.warning(
            "kafka group %s: commit failed, this member is out of the group (%s); dropped %d "
            "buffered record(s), rejoining",
            self.group_id,
            error,
            dropped,
        )
        timeout_ms = self._config.session_timeout_ms + self._config.request_timeout_ms
        if self._membership.rejoin(self._keep_alive, timeout_ms / 1000):
            try:
                self._commit_rejoined(wanted)
                return
            except KafkaError as exc:
                logger.warning("kafka group %s: commit after rejoining: %s", self.group_id, exc)
        # the commit waits for the next one; fetch from the first dropped message: no skips
        owned = self._consumer.assignment()
        for tp, offset in dropped_at.items():
            if tp in owned:
                self._consumer.seek(tp, offset)

    def _commit_rejoined(self, wanted: Mapping[KafkaTP, int]) -> None:
        owned = self._consumer.assignment()
        group = self._membership.committed(owned | wanted.keys())
        self._membership.warn_lost({tp: o for tp, o in wanted.items() if tp not in owned}, group)
        self._membership.recommit({tp: o for tp, o in wanted.items() if tp in owned}, group)
        self._membership.start_at({tp: group[tp] for tp in owned})

    def _drop_buffer(self) -> tuple[dict[KafkaTP, int], int]:
        """Empty the buffer; the first dropped offset per partition and the records dropped."""
        first: dict[KafkaTP, int] = {}
        for message in self._buffer:
            first.setdefault(KafkaTP(message[-1].topic, message[-1].partition), message[-1].offset)
        dropped = sum(map(len, self._buffer))
        self._buffer.clear()
        return first, dropped

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._consumer.resume(*self._consumer.paused())

    def lag(self) -> int:
        """Messages not yet committed by the group, over every partition of its topics."""
        try:
            self._last_lag = self._admin(self._group_lag)
        except BusUnavailable as exc:
            logger.warning("kafka lag unavailable (%s); reporting the last value", exc)
        return self._last_lag

    def _group_lag(self, admin: Any) -> int:
        described = admin.describe_topics(self.topics)
        tps = [KafkaTP(t["name"], p["partition_index"]) for t in described for p in t["partitions"]]
        ends = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST))
        committed = admin.list_group_offsets(self.group_id).get(self.group_id, {})
        total = 0
        for tp in tps:
            # some brokers (Tansu) under-report LATEST; the fetch high-water mark is a floor too
            end = max(ends[tp].offset, self._highwater.get((tp.topic, tp.partition), 0))
            done = committed[tp].offset if tp in committed else 0
            total += max(end - max(done, 0), 0)
        return total

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._buffer.clear()
            try:
                self._consumer.close(autocommit=False, timeout_ms=self._config.request_timeout_ms)
            except KafkaError as exc:
                logger.warning("kafka consumer close: %s", exc)


def _records(topic: str, partition: int, message: Any, *, replay: bool = False) -> list[Record]:
    values = unpack(message.value)
    last = len(values) - 1
    return [
        Record(
            topic,
            partition,
            message.offset if i == last else message.offset - 1,
            message.key,
            value,
            message.timestamp,
            replay,
        )
        for i, value in enumerate(values)
    ]
