"""The S3 + SQS puller against moto's server mode (real HTTP S3/SQS/SNS) and a real runtime:
every record stored once, messages deleted only after that, poison left for redrive."""

from __future__ import annotations

import gzip
import logging
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.aws.deliver import ServiceDelivery
from ingest.aws.pull import DeliveryUnavailable, PullerFatal, SqsPuller
from ingest.parse import ParsedBody
from ingest.runtime import Runtime
from ingest.sink.worker import SinkWorker
from tests.aws_local import AwsLocal, aws_local, invictus_files, trail_key
from tests.factories import make_record
from tests.publishers import held_service
from tests.wait import wait_until

__all__ = ["aws_local"]  # the fixture, imported for pytest

BUCKET = "org-trail-logs"


def stored_ids(runtime: Runtime) -> list[str]:
    """Every stored row's event id (no FINAL: a record stored twice shows twice)."""
    sinks = [w for w in runtime.workers if isinstance(w, SinkWorker)]
    deadline = time.monotonic() + 30
    while any(s.backlog() for s in sinks) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [str(r[0]) for r in runtime.store.query("SELECT event_id FROM events")]


def puller(aws: AwsLocal, runtime: Runtime, queue: str, **kwargs: Any) -> SqsPuller:
    options: dict[str, Any] = {"concurrency": 2, "wait_s": 0, "visibility_s": 30, **kwargs}
    deliver = options.pop("deliver", None) or ServiceDelivery(runtime.service)
    return SqsPuller(queue, deliver, sqs=aws.sqs, s3=aws.s3, metrics=runtime.metrics, **options)


def trail_bucket(aws: AwsLocal, files: list[Path]) -> tuple[list[str], set[str]]:
    """A bucket laid out as CloudTrail writes it (gzip'd logs plus digests); returns the log keys
    and the eventIDs they hold."""
    aws.s3.create_bucket(Bucket=BUCKET)
    keys, ids = [], set()
    for path in files:
        records = orjson.loads(path.read_bytes())["Records"]
        ids |= {r["eventID"] for r in records}
        key = trail_key(path.name + ".gz")
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(path.read_bytes()))
        keys.append(key)
        digest = trail_key(
            path.name.replace("CloudTrail_", "CloudTrail-Digest_") + ".gz", digest=True
        )
        aws.s3.put_object(Bucket=BUCKET, Key=digest, Body=gzip.compress(b'{"digestS3Bucket": "x"}'))
        keys.append(digest)
    return keys, ids


def test_every_notification_shape_stores_each_record_once_and_empties_the_queue(
    aws_local: AwsLocal, runtime: Runtime
) -> None:
    files = invictus_files()[:12]
    keys, ids = trail_bucket(aws_local, files)
    queue = aws_local.queue("trail")
    logs = [k for k in keys if "/CloudTrail/" in k]
    digests = [k for k in keys if "CloudTrail-Digest" in k]
    send = lambda body: aws_local.sqs.send_message(QueueUrl=queue, MessageBody=body)  # noqa: E731
    # CloudTrail's own notification through SNS (envelope), and raw-delivered; with a digest
    topic = aws_local.sns.create_topic(Name="trail")["TopicArn"]
    aws_local.sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=aws_local.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"],
    )
    aws_local.sns.publish(
        TopicArn=topic,
        Message=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": logs[:4] + digests[:1]}).decode(),
    )
    send(orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": logs[4:8]}).decode())
    # S3 event notifications, keys URL-encoded as S3 writes them; and S3's test event
    for key in logs[8:]:
        record = {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": key.replace("/", "%2F")}},
        }
        send(orjson.dumps({"Records": [record]}).decode())
    send(orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}).decode())
    # the same file announced twice (S3 and CloudTrail both notify): stored once
    send(orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": logs[:1]}).decode())

    pull = puller(aws_local, runtime, queue)
    stats = pull.run(until_empty=True)

    stored = stored_ids(runtime)
    assert sorted(stored) == sorted(ids)  # every record, each once
    assert aws_local.depth(queue) == (0, 0)  # every message deleted
    counts = (stats.objects, stats.digests, stats.left)
    if stats.messages == 4 + len(logs[8:]):  # each message handled once: exact counts
        assert counts == (len(logs) + 1, 1, 0)
    else:  # SQS standard queues deliver at least once, and moto's server takes no lock in
        # ReceiveMessage: under load two threads can be handed one message. It reads its files
        # again (more objects) but stores nothing twice (asserted above).
        assert stats.objects > len(logs) + 1 and stats.digests >= 1 and stats.left == 0
    assert stats.accepted == len(ids) and stats.rejected == 0
    assert stats.duplicates >= 1  # the file announced twice


def test_a_file_two_threads_read_at_once_is_published_once_and_counted_accepted_once(
    aws_local: AwsLocal, runtime: Runtime
) -> None:
    """CloudTrail's notification and an S3 event name the same file, and the two messages land
    on two threads: the second reads the records while the first is still publishing them. It
    waits for that publish and counts duplicates (this made the test above flaky under load:
    both threads counted the file's records as accepted)."""
    aws_local.s3.create_bucket(Bucket=BUCKET)
    key = trail_key("twice.json.gz")
    ids = [f"twice-{i}" for i in range(5)]
    aws_local.put_log(BUCKET, key, [make_record(eventID=i) for i in ids])
    queue = aws_local.queue("trail")
    notify = lambda: aws_local.sqs.send_message(  # noqa: E731
        QueueUrl=queue,
        MessageBody=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode(),
    )
    notify()
    service, publisher = held_service(runtime)
    real = ServiceDelivery(service)
    readers: list[str] = []
    second_began = threading.Event()

    def deliver(parsed: ParsedBody, labels: list[str]) -> dict[str, Any]:
        readers.append(threading.current_thread().name)
        if len(readers) == 1:
            notify()  # the second notification, while this thread is busy with the file
        else:
            second_began.set()
        return real(parsed, labels)

    def bus_catches_up() -> None:
        # a second publish of the records is the race itself; otherwise give the second
        # thread time to see the records in flight (too little time only lets it pass)
        second_began.wait(20)
        publisher.second.wait(0.5)
        publisher.release()

    threading.Thread(target=bus_catches_up, daemon=True).start()
    pull = puller(aws_local, runtime, queue, deliver=deliver, wait_s=1)
    stop = threading.Event()
    running = threading.Thread(target=pull.run, args=(stop,), daemon=True)
    running.start()
    try:
        wait_until(lambda: pull.stats.deleted + pull.stats.left >= 2, timeout_s=30, what="both")
    finally:
        stop.set()
        running.join(10)

    assert len(set(readers)) == 2  # two threads read the file
    assert (pull.stats.deleted, pull.stats.left) == (2, 0)
    assert (pull.stats.accepted, pull.stats.duplicates) == (5, 5)
    assert publisher.calls == [5]  # one copy on the bus
    assert sorted(stored_ids(runtime)) == ids
    assert aws_local.depth(queue) == (0, 0)


def test_a_poisoned_object_is_left_for_redrive_and_its_neighbours_are_stored(
    aws_local: AwsLocal, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    aws_local.s3.create_bucket(Bucket=BUCKET)
    good, bad = trail_key("good.json.gz"), trail_key("corrupt.json.gz")
    aws_local.put_log(BUCKET, good, [make_record(eventID=f"ok-{i}") for i in range(5)])
    aws_local.s3.put_object(Bucket=BUCKET, Key=bad, Body=gzip.compress(b'{"Records": []}')[:-9])
    queue = aws_local.queue("trail", visibility_s=30)
    for key in (good, bad, trail_key("missing.json.gz")):
        aws_local.sqs.send_message(
            QueueUrl=queue,
            MessageBody=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode(),
        )
    aws_local.sqs.send_message(QueueUrl=queue, MessageBody='{"Type": "SubscriptionConfirmation"}')

    with caplog.at_level(logging.ERROR, logger="ingest.aws.pull"):
        stats = puller(aws_local, runtime, queue, visibility_s=30).run(until_empty=True)

    assert sorted(stored_ids(runtime)) == [f"ok-{i}" for i in range(5)]
    assert (stats.deleted, stats.left) == (1, 3)
    assert aws_local.depth(queue) == (0, 3)  # in flight until their visibility ends: redrive
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        f"s3://{BUCKET}/{bad}" in line and "gzip" in line and "redrive" in line for line in lines
    )
    assert any("missing.json.gz" in line and "NoSuchKey" in line for line in lines)
    assert any("not a CloudTrail, S3 or EventBridge notification" in line for line in lines)


def test_while_leash_cannot_take_records_the_message_is_kept_alive_not_redelivered(
    aws_local: AwsLocal, runtime: Runtime
) -> None:
    """A bus outage longer than the visibility timeout must not burn receive counts: the
    puller keeps the message invisible and retries the delivery in place."""
    aws_local.s3.create_bucket(Bucket=BUCKET)
    key = trail_key("slow.json.gz")
    aws_local.put_log(BUCKET, key, [make_record(eventID=f"slow-{i}") for i in range(3)])
    queue = aws_local.queue("trail")
    aws_local.sqs.send_message(
        QueueUrl=queue,
        MessageBody=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode(),
    )
    real = ServiceDelivery(runtime.service)
    refused_until = time.monotonic() + 4.5  # longer than the 3 s visibility timeout
    attempts = []

    def flaky(parsed: ParsedBody, labels: list[str]) -> dict[str, Any]:
        attempts.append(time.monotonic())
        if time.monotonic() < refused_until:
            raise DeliveryUnavailable("bus is down")
        return real(parsed, labels)

    stats = puller(aws_local, runtime, queue, visibility_s=3, deliver=flaky, concurrency=1).run(
        until_empty=True
    )

    assert len(attempts) >= 3
    assert sorted(stored_ids(runtime)) == [f"slow-{i}" for i in range(3)]
    assert (stats.messages, stats.deleted, stats.duplicates) == (1, 1, 0)  # received once
    assert aws_local.depth(queue) == (0, 0)


def test_an_unforeseen_failure_leaves_one_message_and_the_rest_of_its_batch_goes_on(
    aws_local: AwsLocal, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """A delivery error nothing classifies (the API answering 500) leaves that message for
    redrive, named in the log; its neighbours in the same receive are still stored and deleted,
    and nothing stays held invisible."""
    aws_local.s3.create_bucket(Bucket=BUCKET)
    queue = aws_local.queue("trail")
    for n in range(3):
        key = trail_key(f"f{n}.json.gz")
        aws_local.put_log(BUCKET, key, [make_record(eventID=f"f{n}-{i}") for i in range(2)])
        aws_local.sqs.send_message(
            QueueUrl=queue,
            MessageBody=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode(),
        )
    real = ServiceDelivery(runtime.service)

    def broken_for_f1(parsed: ParsedBody, labels: list[str]) -> dict[str, Any]:
        if "f1.json.gz" in labels[0]:
            raise RuntimeError("500 from Leash: Internal Server Error")
        return real(parsed, labels)

    pull = puller(aws_local, runtime, queue, deliver=broken_for_f1, concurrency=1)
    with caplog.at_level(logging.ERROR, logger="ingest.aws.pull"):
        stats = pull.run(until_empty=True)

    assert sorted(stored_ids(runtime)) == ["f0-0", "f0-1", "f2-0", "f2-1"]
    assert (stats.deleted, stats.left) == (2, 1)
    assert pull._held == {}
    assert any("500 from Leash" in r.getMessage() for r in caplog.records)


def test_stopping_a_drain_mid_retry_returns_and_hands_the_message_back(
    aws_local: AwsLocal, runtime: Runtime
) -> None:
    aws_local.s3.create_bucket(Bucket=BUCKET)
    key = trail_key("stuck.json.gz")
    aws_local.put_log(BUCKET, key, [make_record(eventID="stuck-0")])
    queue = aws_local.queue("trail", visibility_s=300)
    aws_local.sqs.send_message(
        QueueUrl=queue,
        MessageBody=orjson.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).decode(),
    )

    def down(parsed: ParsedBody, labels: list[str]) -> dict[str, Any]:
        raise DeliveryUnavailable("bus is down")

    stop = threading.Event()
    threading.Timer(2.0, stop.set).start()
    started = time.monotonic()
    stats = puller(aws_local, runtime, queue, deliver=down, visibility_s=300).run(
        stop, until_empty=True
    )
    assert time.monotonic() - started < 10
    assert (stats.deleted, stats.left) == (0, 0)
    assert aws_local.depth(queue) == (1, 0)  # visible again at once, not after 300 s


def test_a_queue_that_does_not_exist_stops_the_puller_with_the_reason(
    aws_local: AwsLocal, runtime: Runtime
) -> None:
    missing = f"{aws_local.endpoint}/123456789012/no-such-queue"
    with pytest.raises(PullerFatal, match="no-such-queue.*NonExistentQueue|NonExistentQueue"):
        puller(aws_local, runtime, missing).run(until_empty=True)
