"""SQS message bodies as AWS writes them -> the S3 objects they announce."""

from __future__ import annotations

import orjson
import pytest

from ingest.aws.notifications import NotANotification, S3Object, is_digest, parse_notification
from ingest.aws.pull import is_log_object

KEY = (
    "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/12/01/"
    "111122223333_CloudTrail_eu-west-1_20261201T1005Z_Ab12Cd34.json.gz"
)


def cloudtrail_message(*keys: str) -> dict[str, object]:
    return {"s3Bucket": "org-trail-logs", "s3ObjectKey": list(keys)}


def sns_envelope(message: dict[str, object]) -> bytes:
    """What an SQS subscription to CloudTrail's SNS topic receives (RawMessageDelivery off)."""
    return orjson.dumps(
        {
            "Type": "Notification",
            "MessageId": "9b1c4f0e-6a43-5d6b-9a1e-0f2a3b4c5d6e",
            "TopicArn": "arn:aws:sns:eu-west-1:111122223333:org-trail-notifications",
            "Message": orjson.dumps(message).decode(),
            "Timestamp": "2026-12-01T10:05:31.045Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def s3_event(key: str, event_name: str = "ObjectCreated:Put") -> dict[str, object]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "eu-west-1",
                "eventTime": "2026-12-01T10:05:30.912Z",
                "eventName": event_name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "leash",
                    "bucket": {
                        "name": "org-trail-logs",
                        "arn": "arn:aws:s3:::org-trail-logs",
                    },
                    "object": {"key": key, "size": 1843, "sequencer": "0063A1B2C3D4E5F6"},
                },
            }
        ]
    }


def test_cloudtrail_sns_notification_names_every_log_file() -> None:
    body = sns_envelope(cloudtrail_message(KEY, KEY.replace("Ab12Cd34", "Ef56Gh78")))
    found = parse_notification(body)
    assert found.shape == "cloudtrail"
    assert found.objects == (
        S3Object("org-trail-logs", KEY),
        S3Object("org-trail-logs", KEY.replace("Ab12Cd34", "Ef56Gh78")),
    )


def test_raw_delivered_cloudtrail_notification_needs_no_envelope() -> None:
    found = parse_notification(orjson.dumps(cloudtrail_message(KEY)))
    assert found.objects == (S3Object("org-trail-logs", KEY),)


def test_s3_event_keys_are_url_decoded_with_plus_for_space() -> None:
    found = parse_notification(orjson.dumps(s3_event("AWSLogs/my+trail/a%2Bb%3D.json.gz")))
    assert found.shape == "s3"
    assert found.objects == (S3Object("org-trail-logs", "AWSLogs/my trail/a+b=.json.gz"),)


def test_s3_event_through_sns_and_delete_events_announce_nothing_new() -> None:
    assert parse_notification(sns_envelope(s3_event(KEY))).objects == (
        S3Object("org-trail-logs", KEY),
    )
    gone = parse_notification(orjson.dumps(s3_event(KEY, "ObjectRemoved:Delete")))
    assert gone.objects == ()


def test_s3_test_event_is_recognised_and_names_no_object() -> None:
    body = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-12-01T10:00:00.000Z",
        "Bucket": "org-trail-logs",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    found = parse_notification(orjson.dumps(body))
    assert (found.shape, found.objects) == ("test", ())


def test_eventbridge_object_created_event() -> None:
    body = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2026-12-01T10:05:31Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:s3:::org-trail-logs"],
        "detail": {
            "version": "0",
            "bucket": {"name": "org-trail-logs"},
            "object": {"key": KEY, "size": 1843},
            "reason": "PutObject",
        },
    }
    found = parse_notification(orjson.dumps(body))
    assert (found.shape, found.objects) == ("eventbridge", (S3Object("org-trail-logs", KEY),))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"hello": "world"}', "not a CloudTrail, S3 or EventBridge notification"),
        (orjson.dumps({"Type": "Notification", "Message": "{oops"}), "SNS Message is not JSON"),
        (orjson.dumps({"s3Bucket": "b"}), "without s3Bucket and s3ObjectKey"),
    ],
)
def test_other_bodies_are_refused_with_the_reason(body: bytes, says: str) -> None:
    with pytest.raises(NotANotification, match=says):
        parse_notification(body)


def test_digests_and_non_log_objects_are_told_apart() -> None:
    digest = KEY.replace("/CloudTrail/", "/CloudTrail-Digest/").replace(
        "CloudTrail_", "CloudTrail-Digest_"
    )
    assert is_digest(digest) and not is_log_object(digest)
    assert not is_digest(KEY) and is_log_object(KEY)
    assert not is_log_object("AWSLogs/o-abc123/111122223333/CloudTrail/")  # a folder marker
