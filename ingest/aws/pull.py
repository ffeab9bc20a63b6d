"""The S3 + SQS puller: long-poll a queue a trail feeds, read the log files its messages name,
deliver their records durably, and only then delete the message.

At least once, stored once: a message is deleted only after every record of every object it
names is durable (delivered to the bus in-process, or acknowledged by `POST /v1/events`); a
crash in between redelivers the message after its visibility timeout, and event-id dedupe (the
store's ReplacingMergeTree underneath) keeps the repeat out.

Two kinds of failure, two answers:

- the object cannot be used (missing, corrupt gzip, not JSON, too large, a message in no known
  shape): retrying soon will not help, so the message is left for SQS's redrive policy -- it
  comes back after the visibility timeout and, after maxReceiveCount receives, moves to the
  dead-letter queue. The log line names the message, the object and the reason.
- Leash cannot take the records now (bus down, API answering 503): the puller keeps the message,
  keeps extending its visibility and retries the delivery with backoff, so an outage does not
  burn receive counts and push healthy files into the dead-letter queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ingest.aws.notifications import NotANotification, S3Object, is_digest, parse_notification
from ingest.metrics import IngestMetrics
from ingest.parse import BodyTooLarge, ParsedBody, decompress, gzipped, parse_records

__all__ = [
    "Deliver",
    "DeliveryUnavailable",
    "PullStats",
    "PullerFatal",
    "SqsPuller",
    "is_log_object",
    "read_records",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

LOG_SUFFIXES = (".json.gz", ".json", ".jsonl", ".ndjson", ".gz")
# errors no retry fixes: a message naming such an object is left for redrive
PERMANENT_S3_CODES = frozenset(
    {"NoSuchKey", "NoSuchBucket", "AccessDenied", "InvalidObjectState", "403", "404"}
)
# errors that make the queue unusable: the puller stops and says why
FATAL_SQS_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidAddress",
    }
)
MAX_RECEIVE = 10  # messages per ReceiveMessage: SQS's maximum
RETRY_MAX_S = 30.0  # longest pause between deliveries while Leash cannot take records


class PullerFatal(RuntimeError):
    """The queue cannot be used at all (missing, forbidden, bad credentials): stop and say so."""


class DeliveryUnavailable(RuntimeError):
    """Leash cannot take records right now (bus down, 503): retry later, the data is fine."""


# (records, labels) -> {"accepted", "duplicates", "rejected": [{"index", "error"}]}; returns
# once the accepted records are durable, raises DeliveryUnavailable when they are not
Deliver = Callable[[ParsedBody, list[str]], dict[str, Any]]


class ObjectUnusable(ValueError):
    """An S3 object that no retry will make readable (missing, corrupt, too large)."""


@dataclass
class PullStats:
    """Running totals of one puller (also exported as leash_pull_* metrics)."""

    messages: int = 0
    deleted: int = 0
    left: int = 0  # left for redrive: a permanent problem with the message or an object
    objects: int = 0
    digests: int = 0
    skipped: int = 0  # objects that are not log files (a notification without a suffix filter)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failures: list[str] = field(default_factory=list)  # the latest few, for a summary

    def failed(self, reason: str) -> None:
        self.failures = [*self.failures[-19:], reason]


def is_log_object(key: str) -> bool:
    """A CloudTrail log file (or another JSON file Leash can read): not a digest, not a marker."""
    return not is_digest(key) and key.lower().endswith(LOG_SUFFIXES)


def read_records(data: bytes, *, max_decompressed: int) -> ParsedBody:
    """The records of one log file's bytes (gzip or not); ObjectUnusable when it is not one."""
    try:
        if gzipped(data):
            data = decompress(data, limit=max_decompressed)
        return parse_records(data)
    except BodyTooLarge as exc:
        raise ObjectUnusable(f"{exc} (LEASH_MAX_DECOMPRESSED_BYTES)") from None
    except ValueError as exc:
        raise ObjectUnusable(str(exc)) from None


class SqsPuller:
    """Long-polls `queue_url` on `concurrency` threads; each handles its messages one by one.

    `sqs` and `s3` are boto3 clients (credentials, region and endpoint from the standard AWS
    chain, AWS_ENDPOINT_URL included). `deliver` makes records durable (see Deliver).
    """

    def __init__(
        self,
        queue_url: str,
        deliver: Deliver,
        *,
        sqs: Any,
        s3: Any,
        metrics: IngestMetrics | None = None,
        concurrency: int = 4,
        wait_s: int = 20,
        visibility_s: int = 300,
        batch_records: int = 5000,
        max_object_bytes: int = 512 * 1024 * 1024,
        max_decompressed_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        self.queue_url = queue_url
        self._deliver = deliver
        self._sqs = sqs
        self._s3 = s3
        self._metrics = metrics or IngestMetrics()
        self.concurrency = concurrency
        self.wait_s = wait_s
        self.visibility_s = visibility_s
        self.batch_records = batch_records
        self.max_object_bytes = max_object_bytes
        self.max_decompressed = max_decompressed_bytes
        self.stats = PullStats()
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # receipt handle -> message id, visibility kept alive
        self._stop = threading.Event()

    # -- loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, until_empty: bool = False) -> PullStats:
        """Pull until `stop` is set (or, with `until_empty`, until a receive comes back empty
        on every thread); a heartbeat thread keeps held messages invisible meanwhile."""
        if stop is not None:
            self._stop = stop
        self._probe()
        heartbeat = threading.Thread(target=self._heartbeat, name="sqs-heartbeat", daemon=True)
        heartbeat.start()
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="sqs-pull") as pool:
                futures = [pool.submit(self._loop, until_empty) for _ in range(self.concurrency)]
                for future in futures:
                    future.result()
        finally:
            if stop is None or until_empty:
                self._stop.set()
            heartbeat.join(timeout=5)
        return self.stats

    def stop(self) -> None:
        self._stop.set()

    def _probe(self) -> None:
        """Fail at once, with the reason, when the queue is missing or the credentials cannot
        read it (no retry fixes those)."""
        try:
            self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except Exception as exc:  # noqa: BLE001 - botocore's errors, classified below
            if _aws_code(exc) in FATAL_SQS_CODES:
                raise PullerFatal(
                    f"cannot use queue {self.queue_url}: {_aws_reason(exc)}; check the URL, "
                    "AWS credentials and region (AWS_PROFILE, AWS_DEFAULT_REGION) and that they "
                    "allow sqs:GetQueueAttributes, ReceiveMessage, DeleteMessage and "
                    "ChangeMessageVisibility"
                ) from None
            logger.warning("queue %s not reachable yet: %s", self.queue_url, _aws_reason(exc))

    def _loop(self, until_empty: bool) -> None:
        pause = 1.0
        while not self._stop.is_set():
            try:
                handled = self.poll_once(until_empty=until_empty)
            except PermissionError as exc:  # Leash refused the key: no retry fixes that
                logger.error("stopping: %s", exc)
                self._stop.set()
                raise
            except Exception as exc:  # noqa: BLE001 - SQS unreachable: wait, then try again
                if _aws_code(exc) in FATAL_SQS_CODES:
                    self._stop.set()
                    raise PullerFatal(f"{self.queue_url}: {_aws_reason(exc)}") from None
                logger.warning(
                    "receiving from %s failed: %s; retrying in %.0f s",
                    self.queue_url,
                    _aws_reason(exc),
                    pause,
                )
                self._stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            pause = 1.0
            if handled == 0 and until_empty:
                return

    def poll_once(self, *, until_empty: bool = False) -> int:
        """One ReceiveMessage (long poll) and every message it returned handled; returns the
        number of messages received. A message that fails in a way nothing here foresaw is
        logged and left for redrive; it never stops the rest of the batch."""
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=MAX_RECEIVE,
            # a short poll samples only some SQS servers: draining needs at least a 1 s wait
            WaitTimeSeconds=max(self.wait_s, 1) if until_empty else self.wait_s,
            VisibilityTimeout=self.visibility_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        messages = response.get("Messages", [])
        if messages:
            sent = min(int(m.get("Attributes", {}).get("SentTimestamp", 0)) for m in messages)
            if sent:
                self._metrics.pull_oldest_message_age.set(max(0.0, time.time() - sent / 1000))
        with self._lock:
            self._held.update((m["ReceiptHandle"], m["MessageId"]) for m in messages)
        for message in messages:
            try:
                if self._stop.is_set():
                    self._release(message)  # shutting down: hand it back now, not in 5 min
                else:
                    self.handle(message)
            except PermissionError:
                self._release(message)
                raise
            except Exception as exc:  # noqa: BLE001 - one message's failure, not the batch's
                self._leave(f"SQS message {message['MessageId']}", f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._held.pop(message["ReceiptHandle"], None)
        return len(messages)

    def _release(self, message: dict[str, Any]) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=0,
            )
        except Exception as exc:  # noqa: BLE001 - it comes back after its timeout anyway
            logger.info("could not hand message %s back: %s", message["MessageId"], exc)

    # -- one message --------------------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> bool:
        """Deliver every object the message names, then delete it; True when deleted."""
        with self._lock:
            self.stats.messages += 1
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        where = f"SQS message {message['MessageId']} (received {receives}x)"
        try:
            notification = parse_notification(message.get("Body", ""))
            for obj in notification.objects:
                if self._stop.is_set():
                    self._release(message)  # shutting down: delivered ids dedupe on return
                    return False
                self._object(obj)
        except (NotANotification, ObjectUnusable) as exc:
            self._leave(where, str(exc))
            return False
        except DeliveryUnavailable:
            self._release(message)  # only when stopping mid-retry: nothing is lost
            return False
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        outcome = "test" if notification.shape == "test" else "deleted"
        self._metrics.pull_messages.labels(outcome).inc()
        with self._lock:
            self.stats.deleted += 1
        return True

    def _leave(self, where: str, reason: str) -> None:
        logger.error(
            "%s left for the queue's redrive policy: %s. SQS delivers it again after the "
            "visibility timeout and moves it to the dead-letter queue after maxReceiveCount "
            "receives; fix the cause or delete the message there.",
            where,
            reason,
        )
        self._metrics.pull_messages.labels("left").inc()
        with self._lock:
            self.stats.left += 1
            self.stats.failed(f"{where}: {reason}")

    def _object(self, obj: S3Object) -> None:
        if is_digest(obj.key):
            self._count_object("digest")
            return
        if not is_log_object(obj.key):
            logger.info("%s skipped: not a log file (no .json/.json.gz suffix)", obj)
            self._count_object("skipped")
            return
        try:
            parsed = read_records(self._read(obj), max_decompressed=self.max_decompressed)
        except ObjectUnusable as exc:
            self._count_object("failed")
            raise ObjectUnusable(f"{obj}: {exc}") from None
        labels = [f"{obj} record {i}" for i in range(len(parsed.records))]
        for start in range(0, len(parsed.records), self.batch_records):
            stop = start + self.batch_records
            chunk = ParsedBody(
                parsed.records[start:stop],
                {i - start: e for i, e in parsed.errors.items() if start <= i < stop},
            )
            result = self._deliver_with_retry(chunk, labels[start:stop])
            self._count_records(result, obj)
        self._count_object("stored")

    def _read(self, obj: S3Object) -> bytes:
        return self._retrying(lambda: self._get(obj), f"reading {obj}")

    def _get(self, obj: S3Object) -> bytes:
        """The object's bytes; ObjectUnusable for what no retry fixes (missing, forbidden),
        DeliveryUnavailable for what may pass (throttling, 5xx, a broken connection)."""
        try:
            response = self._s3.get_object(Bucket=obj.bucket, Key=obj.key)
        except Exception as exc:  # noqa: BLE001 - botocore's errors, classified by code
            if _aws_code(exc) in PERMANENT_S3_CODES:
                raise ObjectUnusable(f"cannot read: {_aws_reason(exc)}") from None
            raise DeliveryUnavailable(f"S3: {_aws_reason(exc)}") from None
        size = int(response.get("ContentLength") or 0)
        if size > self.max_object_bytes:
            response["Body"].close()
            raise ObjectUnusable(f"{size} bytes, above the {self.max_object_bytes} limit")
        try:
            data: bytes = response["Body"].read()
            return data
        except Exception as exc:  # noqa: BLE001 - a broken download: try again
            raise DeliveryUnavailable(f"S3 download of {obj} broke off: {exc}") from None

    def _deliver_with_retry(self, chunk: ParsedBody, labels: list[str]) -> dict[str, Any]:
        return self._retrying(lambda: self._deliver(chunk, labels), "delivering records")

    def _retrying(self, attempt: Callable[[], _T], what: str) -> _T:
        """`attempt` until it stops raising DeliveryUnavailable (the heartbeat keeps the
        message invisible meanwhile) or the puller stops."""
        pause = 1.0
        while True:
            try:
                return attempt()
            except DeliveryUnavailable as exc:
                if self._stop.is_set():
                    raise
                logger.warning("%s failed (%s); retrying in %.0f s", what, exc, pause)
                self._stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX_S)

    def _count_object(self, outcome: str) -> None:
        self._metrics.pull_objects.labels(outcome).inc()
        with self._lock:
            if outcome == "stored":
                self.stats.objects += 1
            elif outcome == "digest":
                self.stats.digests += 1
            elif outcome == "skipped":
                self.stats.skipped += 1

    def _count_records(self, result: dict[str, Any], obj: S3Object) -> None:
        rejected = result.get("rejected") or []
        for item in rejected[:20]:
            logger.warning("rejected: %s", item.get("error"))
        if len(rejected) > 20:
            logger.warning("... and %d more rejected records in %s", len(rejected) - 20, obj)
        metrics = self._metrics.pull_records
        metrics.labels("accepted").inc(int(result.get("accepted", 0)))
        metrics.labels("duplicate").inc(int(result.get("duplicates", 0)))
        metrics.labels("rejected").inc(len(rejected))
        with self._lock:
            self.stats.accepted += int(result.get("accepted", 0))
            self.stats.duplicates += int(result.get("duplicates", 0))
            self.stats.rejected += len(rejected)

    # -- visibility ---------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        """Every third of the visibility timeout, push held messages' visibility out again, so a
        large object or a retried delivery does not let the message reappear meanwhile."""
        period = max(1.0, self.visibility_s / 3)
        while not self._stop.wait(period):
            with self._lock:
                handles = list(self._held)
            for batch in _chunks(handles, MAX_RECEIVE):
                try:
                    result = self._sqs.change_message_visibility_batch(
                        QueueUrl=self.queue_url,
                        Entries=[
                            {
                                "Id": str(i),
                                "ReceiptHandle": h,
                                "VisibilityTimeout": self.visibility_s,
                            }
                            for i, h in enumerate(batch)
                        ],
                    )
                except Exception as exc:  # noqa: BLE001 - the next beat tries again
                    logger.warning("extending message visibility failed: %s", exc)
                    continue
                for failed in result.get("Failed", ()):
                    logger.warning(
                        "message visibility not extended (%s: %s): it may be delivered again "
                        "while it is being read; event ids keep the repeat out of the store",
                        failed.get("Code"),
                        failed.get("Message"),
                    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _aws_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _aws_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '') or exc}"
    return str(exc)
