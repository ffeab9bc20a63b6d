"""SQS message bodies that announce CloudTrail log files, unwrapped into the S3 objects they name.

Three shapes arrive on a queue a trail feeds:

- CloudTrail's own notification, through SNS (`{"Type": "Notification", "Message":
  "{\\"s3Bucket\\": ..., \\"s3ObjectKey\\": [...]}"}`) or raw-delivered without the envelope;
- an S3 event notification (`{"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name"},
  "object": {"key"}}}]}`, keys URL-encoded with `+` for a space), also through SNS, and the
  `s3:TestEvent` S3 sends when a notification is configured;
- an EventBridge "Object Created" event from S3 (`detail.bucket.name`, `detail.object.key`, not
  encoded) for buckets that send their events to EventBridge.

Pure functions: no AWS calls here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

__all__ = ["Notification", "NotANotification", "S3Object", "is_digest", "parse_notification"]

DIGEST_MARKER = "/CloudTrail-Digest/"  # AWSLogs/<org>/<account>/CloudTrail-Digest/<region>/...


class NotANotification(ValueError):
    """A message body that announces no S3 object in any shape Leash knows."""


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Notification:
    """What one message announced: `objects` to read, and which shape it came in."""

    shape: str  # "cloudtrail", "s3", "eventbridge" or "test"
    objects: tuple[S3Object, ...]


def is_digest(key: str) -> bool:
    """A CloudTrail digest file (hashes and signatures of log files, not events)."""
    return DIGEST_MARKER in f"/{key}" or key.startswith("CloudTrail-Digest/")


def parse_notification(body: str | bytes) -> Notification:
    """The S3 objects an SQS message body announces; raises NotANotification naming the shape."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotANotification(f"message body is not JSON ({exc})") from None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        inner = doc["Message"]  # SNS envelope: the publisher's message is a JSON string
        try:
            doc = orjson.loads(inner) if isinstance(inner, str) else inner
        except orjson.JSONDecodeError as exc:
            raise NotANotification(f"SNS Message is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise NotANotification(f"message body is a JSON {type(doc).__name__}, not an object")
    if "s3Bucket" in doc:
        return Notification("cloudtrail", _cloudtrail_objects(doc))
    if doc.get("Event") == "s3:TestEvent":
        return Notification("test", ())
    if isinstance(doc.get("Records"), list):
        return Notification("s3", _s3_event_objects(doc["Records"]))
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), dict):
        if doc.get("detail-type") != "Object Created":
            return Notification("eventbridge", ())  # a delete or restore: no new log file
        return Notification("eventbridge", _eventbridge_objects(doc["detail"]))
    raise NotANotification(
        "message is not a CloudTrail, S3 or EventBridge notification (keys: "
        f"{', '.join(sorted(map(str, doc))[:8])}): point the queue at the trail's SNS topic or "
        "the bucket's s3:ObjectCreated:* notifications"
    )


def _cloudtrail_objects(doc: dict[str, Any]) -> tuple[S3Object, ...]:
    bucket = doc.get("s3Bucket")
    keys = doc.get("s3ObjectKey")
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(bucket, str) or not bucket or not isinstance(keys, list):
        raise NotANotification("CloudTrail notification without s3Bucket and s3ObjectKey list")
    return tuple(S3Object(bucket, str(key)) for key in keys if key)


def _s3_event_objects(records: list[Any]) -> tuple[S3Object, ...]:
    found = []
    for record in records:
        s3 = record.get("s3") if isinstance(record, dict) else None
        if not isinstance(s3, dict):
            raise NotANotification("S3 event record without an s3 block")
        if not str(record.get("eventName", "ObjectCreated")).startswith("ObjectCreated"):
            continue  # a delete or restore notification announces no new log file
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise NotANotification("S3 event record without bucket name and object key")
        found.append(S3Object(bucket, unquote_plus(key)))  # S3 form-encodes keys: + is a space
    return tuple(found)


def _eventbridge_objects(detail: dict[str, Any]) -> tuple[S3Object, ...]:
    bucket = (detail.get("bucket") or {}).get("name")
    key = (detail.get("object") or {}).get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise NotANotification("EventBridge S3 event without detail.bucket.name/object.key")
    return (S3Object(bucket, key),)
