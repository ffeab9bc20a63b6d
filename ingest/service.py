"""IngestService: parse > normalise > dedupe > publish durably; the logic behind POST /v1/events."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from ingest.bus import BusUnavailable, Publisher
from ingest.dedupe import DedupeCache, Searched
from ingest.events import AuditEvent, Normalizer, Origin, RecordError, encode_event
from ingest.parse import ParsedBody, decompress, gzipped, parse_records
from ingest.schema import EVENTS_TOPIC

__all__ = [
    "ENCODINGS",
    "BodyParser",
    "IngestResult",
    "IngestService",
    "TooManyRecords",
    "UnsupportedEncoding",
]

logger = logging.getLogger(__name__)

# bytes; larger bodies, and every compressed one (its size says nothing of the records in it: a
# profile found 100 records in 17 KB of gzip, 1.9 ms of parsing on the loop at p50), are parsed
# on a worker thread so the event loop keeps serving (decide!)
INLINE_BODY_BYTES = 32 * 1024
INLINE_RECORDS = 16  # records; about INLINE_BODY_BYTES of CloudTrail, normalised inline
# ids; a pool-parsed body's dedupe search (~1 us an id) is made on the loop up to this many
INLINE_SEARCH_IDS = 2_000


ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip"})  # Content-Encoding values accepted


class TooManyRecords(ValueError):
    """More records in one request than the configured maximum."""


Allow = Callable[[AuditEvent], str]  # why an event may not be taken from this caller, or ""


class UnsupportedEncoding(ValueError):
    """A Content-Encoding Leash does not decode (answered 415)."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)  # empty when the parse pool parsed
    ids: list[str] = field(default_factory=list)  # the accepted events' ids, in their order
    # `events`' bus messages (key, value), encoded beside the normalising, off the event loop
    messages: list[tuple[bytes, bytes]] = field(default_factory=list, repr=False)
    # the publish of `events`, which holds their ids until they are durable or it failed
    claim: Future[None] | None = field(default=None, repr=False)
    # one per id another request is publishing right now: a duplicate once that publish succeeded
    waiting: list[Future[None]] = field(default_factory=list, repr=False)
    unbound: int = 0  # records refused because the key is not bound to their principal
    # the dedupe cache's search of `events`' ids, made beside the normalising (off the loop)
    searched: Searched | None = field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class BodyParser:
    """The CPU-only half of ingest: a body's records decoded, validated, normalised and encoded
    for the bus. It shares nothing with other requests, so it runs on any thread, or in the
    parse pool's processes (ingest.parsepool), which build their own from the same settings."""

    def __init__(
        self, normalizer: Normalizer, *, max_decompressed_bytes: int, max_records: int
    ) -> None:
        self.normalizer = normalizer
        self._max_decompressed = max_decompressed_bytes
        self._max_records = max_records

    def parse(self, body: bytes, content_encoding: str = "") -> ParsedBody:
        encoding = content_encoding.strip().lower()
        if encoding not in ENCODINGS:
            raise UnsupportedEncoding(
                f"Content-Encoding {content_encoding.strip()!r} is not supported: send the body "
                "gzip'd (Content-Encoding: gzip) or uncompressed"
            )
        if encoding in ("gzip", "x-gzip") or gzipped(body):
            body = decompress(body, limit=self._max_decompressed)
        parsed = parse_records(body)
        if len(parsed.records) > self._max_records:
            raise TooManyRecords(
                f"{len(parsed.records)} records in one request; the limit is {self._max_records} "
                "(LEASH_MAX_RECORDS_PER_REQUEST): split the batch"
            )
        return parsed

    def normalize(
        self,
        parsed: ParsedBody,
        labels: Sequence[str] | None = None,
        *,
        origin: Origin,
        pushed: bool = True,
        allow: Allow | None = None,
    ) -> IngestResult:
        """Validate and normalise every record (CPU only, thread-safe); no dedupe against others.

        A rejected record's error starts with its label (`labels[index]`, else `record <index>`).
        `pushed=False` for records read from the trail's own S3 objects (the SQS puller): their
        eventTime is AWS's, so this server's clock being slow must not reject them. Whatever
        arrives over HTTP (EventBridge and Firehose included) is a push any key holder can make.
        `allow(event)` (a bound key's binding) returns why the event may not be taken, or "".
        Every event is stamped with `origin`: how it arrived, and whether response may act on it.
        """
        result = IngestResult()
        seen: set[str] = set()
        for index, record in enumerate(parsed.records):
            error = parsed.errors.get(index)
            if error is None:
                try:
                    event = self.normalizer.normalize(record, check_future=pushed, origin=origin)
                except RecordError as exc:
                    error = str(exc)
                except Exception as exc:  # noqa: BLE001 - one odd record must not fail its batch
                    logger.exception("record %d could not be normalised", index)
                    error = (
                        f"cannot be normalised ({type(exc).__name__}: {str(exc)[:200]}); "
                        "check its field types against the CloudTrail record format"
                    )
            if error is None and allow is not None:
                error = allow(event) or None
                result.unbound += error is not None
            if error is not None:
                where = labels[index] if labels is not None else f"record {index}"
                result.rejected.append({"index": index, "error": f"{where}: {error}"})
            elif event.event_id in seen:
                result.duplicates += 1
            else:
                seen.add(event.event_id)
                result.events.append(event)
        result.ids = [event.event_id for event in result.events]
        result.messages = [(e.principal_key.encode(), encode_event(e)) for e in result.events]
        return result

    def parse_and_normalize(
        self,
        body: bytes,
        content_encoding: str = "",
        allow: Allow | None = None,
        *,
        origin: Origin,
    ) -> IngestResult:
        return self.normalize(self.parse(body, content_encoding), allow=allow, origin=origin)


class Offload(Protocol):
    """Where large bodies are parsed off this process's GIL (ingest.parsepool.ParsePool)."""

    async def parse(
        self, body: bytes, encoding: str, allow: Allow | None, origin: Origin
    ) -> IngestResult | None: ...


class IngestService:
    """Validates records with the server's own normaliser and publishes them keyed by principal.

    `ingest` returns only after the bus reported the accepted events durable; a bus failure
    propagates (as BusUnavailable) so the API can answer 503 without acknowledging anything.

    An id is accepted by one request only: from its claim until its publish settles it is held
    for that request, on any thread (the API's event loop, the SQS puller's threads), and a
    request carrying the same id meanwhile waits for that publish, then counts a duplicate, or
    fails with it so its sender retries. A repeat neither counts twice nor is acknowledged
    before the first copy is durable.
    """

    def __init__(
        self,
        publisher: Publisher,
        normalizer: Normalizer,
        dedupe: DedupeCache,
        *,
        max_decompressed_bytes: int,
        max_records: int,
        topic: str = EVENTS_TOPIC,
    ) -> None:
        self._publisher = publisher
        self.parser = BodyParser(
            normalizer, max_decompressed_bytes=max_decompressed_bytes, max_records=max_records
        )
        self.dedupe = dedupe
        self._topic = topic
        self._claims: dict[str, Future[None]] = {}  # event id -> the publish holding it
        self._claims_lock = threading.Lock()
        # set by leash.app.start_workers: large bodies are parsed in its processes
        self.pool: Offload | None = None

    @property
    def normalizer(self) -> Normalizer:
        return self.parser.normalizer

    def normalize(
        self,
        parsed: ParsedBody,
        labels: Sequence[str] | None = None,
        *,
        origin: Origin,
        pushed: bool = True,
        allow: Allow | None = None,
    ) -> IngestResult:
        """`BodyParser.normalize`, and the dedupe cache's search of the accepted ids."""
        return self._searched(
            self.parser.normalize(parsed, labels, origin=origin, pushed=pushed, allow=allow)
        )

    def parse_and_normalize(
        self,
        body: bytes,
        content_encoding: str = "",
        allow: Allow | None = None,
        *,
        origin: Origin,
    ) -> IngestResult:
        """`BodyParser.parse_and_normalize`, and the dedupe cache's search of the accepted ids."""
        return self._searched(
            self.parser.parse_and_normalize(body, content_encoding, allow, origin=origin)
        )

    def _searched(self, result: IngestResult) -> IngestResult:
        """`result` with the dedupe cache's search of its ids, made before `claim`'s lock."""
        result.searched = self.dedupe.search(result.ids)
        return result

    def claim(self, result: IngestResult) -> None:
        """Keep the events no one stored or is publishing and hold their ids for this request;
        ids another request holds go to `waiting` (any thread). Settle the claim once published."""
        mine: Future[None] = Future()
        kept: list[int] = []
        with self._claims_lock:
            stored = self.dedupe.seen(result.ids, result.searched)
            for index, (event_id, seen) in enumerate(zip(result.ids, stored, strict=True)):
                if seen:
                    result.duplicates += 1
                elif (other := self._claims.get(event_id)) is not None:
                    result.waiting.append(other)
                else:
                    self._claims[event_id] = mine
                    kept.append(index)
        if len(kept) < len(result.ids):
            result.ids = [result.ids[i] for i in kept]
            result.messages = [result.messages[i] for i in kept]
            if result.events:  # parsed in this process (the pool sends no AuditEvents back)
                result.events = [result.events[i] for i in kept]
        result.accepted = len(kept)
        result.claim = mine

    def _settle(self, result: IngestResult, error: BaseException | None = None) -> None:
        """Release the result's ids: after they entered the dedupe cache (so a later request
        finds them there), or after a failure (so a later request publishes them itself)."""
        mine = result.claim
        if mine is None or mine.done():
            return
        with self._claims_lock:
            for event_id in result.ids:
                if self._claims.get(event_id) is mine:
                    del self._claims[event_id]
        if error is None:
            mine.set_result(None)
        else:  # whoever waits for these ids fails too, as "retry later"
            mine.set_exception(BusUnavailable(f"publishing these events failed: {error!r}"))

    async def publish(self, result: IngestResult) -> None:
        """Publish the claimed events durably, then wait for the ids other requests held."""
        try:
            if result.messages:
                publishing = self._publisher.publish(self._topic, result.messages)
                await asyncio.wrap_future(publishing)
            self.dedupe.add_all(result.ids)
        except BaseException as exc:
            self._settle(result, exc)
            raise
        self._settle(result)
        for other in dict.fromkeys(result.waiting):
            # its failure fails this request: the client retries
            await asyncio.shield(asyncio.wrap_future(other))
        result.duplicates += len(result.waiting)
        result.waiting.clear()

    async def ingest_parsed(
        self,
        parsed: ParsedBody,
        labels: Sequence[str] | None = None,
        allow: Allow | None = None,
        *,
        origin: Origin,
    ) -> IngestResult:
        """Normalise, dedupe and publish records a receiver has already unwrapped (`allow` as
        in `normalize`).

        No record-count limit here: the receiver's own protocol bounds the batch.
        """
        if len(parsed.records) > INLINE_RECORDS:
            result = await asyncio.to_thread(
                partial(self.normalize, allow=allow, origin=origin), parsed, labels
            )
        else:
            result = self.normalize(parsed, labels, allow=allow, origin=origin)
        self.claim(result)
        await self.publish(result)
        return result

    def ingest_blocking(
        self,
        parsed: ParsedBody,
        labels: Sequence[str] | None = None,
        *,
        origin: Origin,
        timeout_s: float = 60.0,
    ) -> IngestResult:
        """`ingest_parsed` for a worker thread (the S3 + SQS puller): returns once the bus holds
        the accepted events durably, raises (BusUnavailable, TimeoutError) when it does not.

        Ids another request is publishing at this moment (the same file named by two
        notifications, a message delivered again while it is read) are waited for, within the
        same `timeout_s`, and counted as duplicates once that publish succeeded."""
        deadline = time.monotonic() + timeout_s
        result = self.normalize(parsed, labels, pushed=False, origin=origin)
        self.claim(result)
        try:
            if result.messages:
                publishing = self._publisher.publish(self._topic, result.messages)
                publishing.result(timeout=timeout_s)
            self.dedupe.add_all(result.ids)
        except BaseException as exc:
            self._settle(result, exc)
            raise
        self._settle(result)
        for other in dict.fromkeys(result.waiting):
            other.result(timeout=max(0.0, deadline - time.monotonic()))
        result.duplicates += len(result.waiting)
        result.waiting.clear()
        return result

    async def ingest(
        self,
        body: bytes,
        content_encoding: str = "",
        allow: Allow | None = None,
        *,
        origin: Origin,
    ) -> IngestResult:
        """Parse, normalise (off the event loop for large bodies), dedupe and publish durably;
        `allow` as in `normalize`."""
        if (
            len(body) > INLINE_BODY_BYTES
            or content_encoding not in ("", "identity")
            or gzipped(body)  # gzip sent without its header: parse() sniffs it too
        ):
            result = await self._parse_off_loop(body, content_encoding, allow, origin)
        else:
            result = self.parse_and_normalize(body, content_encoding, allow, origin=origin)
        self.claim(result)
        await self.publish(result)
        return result

    async def _parse_off_loop(
        self, body: bytes, content_encoding: str, allow: Allow | None, origin: Origin
    ) -> IngestResult:
        """In the parse pool's processes when there is one (off this process's GIL, which the
        decide path waits for), else on a worker thread; the pool's errors are the same."""
        if self.pool is not None:
            result = await self.pool.parse(body, content_encoding, allow, origin)
            if result is not None:
                if len(result.ids) > INLINE_SEARCH_IDS:
                    return await asyncio.to_thread(self._searched, result)
                return self._searched(result)
        return await asyncio.to_thread(
            partial(self.parse_and_normalize, origin=origin), body, content_encoding, allow
        )
