"""CloudTrail normalisation: derived columns, identity keys, actor kinds, errors, bus encoding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.events import (
    Normalizer,
    Origin,
    RecordError,
    decode_event,
    encode_event,
    parse_event_time,
)
from ingest.identity import build_identity_rules
from tests.factories import make_record

NORMALIZER = Normalizer()


def test_derived_columns_of_an_assumed_role_delete() -> None:
    record = make_record(
        eventSource="rds.amazonaws.com",
        eventName="DeleteDBInstance",
        awsRegion="eu-west-1",
        requestParameters={"dBInstanceIdentifier": "prod-db", "skipFinalSnapshot": True},
        errorCode="AccessDenied",
        eventTime="2026-11-02T09:00:01Z",
    )
    event = NORMALIZER.normalize(record)
    assert event.event_id == record["eventID"]
    assert event.event_time_ms == 1793610001000
    assert event.principal == record["userIdentity"]["arn"]
    assert event.principal_key == "arn:aws:sts::123456789012:assumed-role/deploy-agent"
    assert event.actor_kind == "agent"
    assert (event.account, event.region) == ("123456789012", "eu-west-1")
    assert (event.source, event.action, event.action_class) == (
        "rds.amazonaws.com",
        "DeleteDBInstance",
        "destructive",
    )
    assert event.resources == ("prod-db",)
    assert event.error_code == "AccessDenied"


def test_client_label_for_action_class_is_ignored() -> None:
    record = make_record(
        eventName="StopLogging", eventSource="cloudtrail.amazonaws.com", action_class="read"
    )
    assert NORMALIZER.normalize(record).action_class == "defense_evasion"


def test_unknown_fields_are_kept_in_raw() -> None:
    record = make_record(someFutureField={"nested": [1, 2]})
    assert '"someFutureField":{"nested":[1,2]}' in NORMALIZER.normalize(record).raw


def test_missing_event_id_gets_a_stable_content_hash() -> None:
    record = make_record()
    del record["eventID"]
    first = NORMALIZER.normalize(record).event_id
    assert first.startswith("sha256:")
    assert NORMALIZER.normalize(dict(reversed(list(record.items())))).event_id == first


@pytest.mark.parametrize(
    ("session", "key_suffix", "kind"),
    [
        pytest.param("agent-run-7f3a9c", "assumed-role/deploy-agent", "agent", id="per-run agent"),
        pytest.param(
            "alice@example.com",
            "assumed-role/deploy-agent/alice@example.com",
            "agent",
            id="agent role keeps a stable session",
        ),
    ],
)
def test_agent_role_sessions(session: str, key_suffix: str, kind: str) -> None:
    event = NORMALIZER.normalize(make_record(session=session))
    assert event.principal_key.endswith(key_suffix)
    assert event.actor_kind == kind


@pytest.mark.parametrize(
    ("arn", "user_agent", "kind", "key"),
    [
        pytest.param(
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/alice@example.com",
            "aws-cli/2",
            "human",
            "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/alice@example.com",
            id="sso person keeps session",
        ),
        pytest.param(
            "arn:aws:sts::1:assumed-role/ci-deployer/gha-1234567",
            "Boto3/1.34",
            "service",
            "arn:aws:sts::1:assumed-role/ci-deployer",
            id="ci per-run id",
        ),
        pytest.param(
            "arn:aws:iam::1:user/bob",
            "console.amazonaws.com",
            "human",
            "arn:aws:iam::1:user/bob",
            id="iam user",
        ),
        pytest.param(
            "arn:aws:iam::1:user/bob",
            "langchain-aws/0.1 Boto3",
            "agent",
            "arn:aws:iam::1:user/bob",
            id="agent user agent",
        ),
    ],
)
def test_identity_keys_and_kinds(arn: str, user_agent: str, kind: str, key: str) -> None:
    record = make_record(arn=arn, userAgent=user_agent)
    record["userIdentity"]["type"] = "IAMUser" if ":user/" in arn else "AssumedRole"
    event = NORMALIZER.normalize(record)
    assert (event.actor_kind, event.principal_key) == (kind, key)


def test_explicit_agent_block_wins() -> None:
    record = make_record(arn="arn:aws:iam::1:user/bob", agent={"name": "fixer", "run": "42"})
    assert NORMALIZER.normalize(record).actor_kind == "agent"


def test_aws_service_events() -> None:
    record = make_record(
        userIdentity={"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}
    )
    event = NORMALIZER.normalize(record)
    assert (event.principal, event.actor_kind) == ("cloudtrail.amazonaws.com", "service")


def test_principal_key_accepts_iam_role_arn() -> None:
    rules = build_identity_rules()
    assert rules.principal_key("arn:aws:iam::123:role/team/deploy-agent") == (
        "arn:aws:sts::123:assumed-role/deploy-agent"
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda r: r.pop("eventName"), "eventName", id="no eventName"),
        pytest.param(lambda r: r.pop("eventSource"), "eventSource", id="no eventSource"),
        pytest.param(lambda r: r.pop("eventTime"), "eventTime is missing", id="no eventTime"),
        pytest.param(lambda r: r.update(eventTime="yesterday"), "ISO-8601", id="bad eventTime"),
        pytest.param(lambda r: r.pop("userIdentity"), "userIdentity", id="no identity"),
        pytest.param(
            lambda r: r.update(userIdentity={"type": "Unknown"}),
            "userIdentity has no",
            id="empty identity",
        ),
    ],
)
def test_malformed_records_say_what_is_wrong(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    record = make_record()
    mutate(record)
    with pytest.raises(RecordError, match=message):
        NORMALIZER.normalize(record)


INSIGHT = {  # an Insights event as CloudTrail delivers it: a rate summary, no caller
    "eventVersion": "1.08",
    "eventTime": "2026-11-02T09:00:00Z",
    "awsRegion": "us-east-1",
    "eventID": "3a8b5f0e-6c7d-4e2f-9a1b-0c2d3e4f5a6b",
    "eventType": "AwsCloudTrailInsight",
    "recipientAccountId": "123456789012",
    "sharedEventID": "12edc982-3348-4794-83d3-a3db26525049",
    "insightDetails": {
        "state": "Start",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "insightType": "ApiCallRateInsight",
        "insightContext": {"statistics": {"baseline": {"average": 0.05}}},
    },
    "eventCategory": "Insight",
}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(INSIGHT, id="insights event"),
        pytest.param({**INSIGHT, "eventCategory": "insight"}, id="insightDetails alone"),
        pytest.param(
            {k: v for k, v in INSIGHT.items() if k != "insightDetails"}, id="category alone"
        ),
    ],
)
def test_insights_events_are_named_not_called_malformed(record: dict[str, object]) -> None:
    with pytest.raises(RecordError, match="^CloudTrail Insights events are not API calls$"):
        NORMALIZER.normalize(record)


def test_non_object_record() -> None:
    with pytest.raises(RecordError, match="JSON object"):
        NORMALIZER.normalize(["not", "a", "record"])


def test_lowercase_key_variant_and_logstash_timestamp() -> None:
    lower = {
        "eventname": "GetRecords",
        "eventsource": "dynamodb.amazonaws.com",
        "eventtime": "2023-01-10 21:04:02",
        "useridentity": {"arn": "arn:aws:iam::1:user/x"},
        "eventid": "abc",
    }
    event = NORMALIZER.normalize(lower)
    assert (event.action, event.event_id, event.principal) == (
        "GetRecords",
        "abc",
        "arn:aws:iam::1:user/x",
    )
    logstash = make_record()
    logstash["@timestamp"] = logstash.pop("eventTime")
    assert NORMALIZER.normalize(logstash).event_time_ms > 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2023-07-10T11:42:18Z", 1688989338000, id="cloudtrail"),
        pytest.param("2023-07-10T11:42:18.250Z", 1688989338250, id="millis"),
        pytest.param("2023-07-10 11:42:18", 1688989338000, id="athena naive utc"),
        pytest.param(1688989338, 1688989338000, id="epoch seconds"),
        pytest.param(1688989338250, 1688989338250, id="epoch ms"),
    ],
)
def test_parse_event_time(value: object, expected: int) -> None:
    assert parse_event_time(value) == expected


def test_bus_encoding_roundtrip_and_garbage() -> None:
    event = NORMALIZER.normalize(make_record(requestParameters={"bucketName": "b\nx"}))
    assert decode_event(encode_event(event)) == event
    for garbage in (b"", b"not json\n{}", b'[99, "x"]\n{}'):
        with pytest.raises(RecordError):
            decode_event(garbage)


def test_header_and_row_follow_the_dataclass_field_order() -> None:
    """One field order: the bus header, EVENT_COLUMNS and the store row all follow AuditEvent."""
    from dataclasses import astuple, fields
    from datetime import UTC, datetime

    import orjson

    from ingest.events import EVENT_COLUMNS, EVENT_FIELDS
    from ingest.sink.writer import STORED_COLUMNS, event_row

    event = NORMALIZER.normalize(make_record(requestParameters={"bucketName": "b1"}))
    values = astuple(event)
    assert tuple(f.name for f in fields(event)) == EVENT_FIELDS
    header = orjson.loads(encode_event(event).partition(b"\n")[0])
    before_raw = [
        list(v) if isinstance(v, tuple) else v for v in values[: EVENT_FIELDS.index("raw")]
    ]
    assert header == [event.schema_version, *before_raw, event.origin, event.trusted]
    now = datetime(2026, 3, 2, tzinfo=UTC)
    row = event_row(event, now, "b1")
    assert len(row) == len(STORED_COLUMNS) and STORED_COLUMNS[: len(EVENT_COLUMNS)] == EVENT_COLUMNS
    stored = dict(zip(STORED_COLUMNS, row, strict=True))
    assert stored["event_time"] == datetime.fromtimestamp(event.event_time_ms / 1000, tz=UTC)
    assert (stored["raw"], stored["resources"], stored["batch_id"]) == (
        event.raw,
        event.resources,
        "b1",
    )
    with pytest.raises(RecordError, match="header fields"):
        decode_event(orjson.dumps([event.schema_version, *header[1:-1]]) + b"\n{}")


def test_the_origin_travels_the_bus_and_a_version_1_record_decodes_as_trusted() -> None:
    """Provenance survives the bus; what an older Leash wrote (no origin) keeps acting as before."""
    import orjson

    pushed = NORMALIZER.normalize(make_record(), origin=Origin("http:collector", trusted=False))
    decoded = decode_event(encode_event(pushed))
    assert decoded == pushed and (decoded.origin, decoded.trusted) == ("http:collector", False)
    head, _, raw = encode_event(pushed).partition(b"\n")
    version_1 = orjson.dumps([1, *orjson.loads(head)[1:-2]]) + b"\n" + raw
    old = decode_event(version_1)
    assert (old.origin, old.trusted, old.schema_version) == ("", True, 1)
    assert old.event_id == pushed.event_id and old.raw == pushed.raw


def test_decoded_events_share_their_repeating_strings() -> None:
    """The detector keeps principals, actions, sources and networks per principal and in its
    event memo: two events of one principal decode to one string object per repeated value,
    not a copy each (detect's memory at 20,000 principals), and still equal what was sent."""
    first, second = (
        NORMALIZER.normalize(make_record(), origin=Origin("http:collector", trusted=True))
        for _ in range(2)
    )
    a, b = decode_event(encode_event(first)), decode_event(encode_event(second))
    assert (a, b) == (first, second)
    for name in (
        "principal_key",
        "action",
        "source",
        "region",
        "source_ip",
        "user_agent",
        "origin",
    ):
        assert getattr(a, name) is getattr(b, name), name
    assert a.event_id != b.event_id


def test_a_record_dated_past_the_future_skew_is_refused_naming_how_far() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp()
    normalizer = Normalizer(max_future_s=900, clock=lambda: now)
    soon = make_record(at=datetime(2026, 12, 2, 12, 10, tzinfo=UTC))
    assert normalizer.normalize(soon).event_time_ms == int((now + 600) * 1000)
    for at, said in (
        (datetime(2026, 12, 2, 14, 0, tzinfo=UTC), "2.0 h in the future"),
        (datetime(2098, 1, 1, tzinfo=UTC), "days in the future"),
    ):
        with pytest.raises(RecordError, match=said) as caught:
            normalizer.normalize(make_record(at=at))
        assert "LEASH_MAX_FUTURE_SKEW_S=900" in str(caught.value)
    assert Normalizer().normalize(make_record(at=datetime(2098, 1, 1, tzinfo=UTC)))  # check off
    # a trail's own S3 objects carry AWS's time: a slow server clock must not reject them
    ahead = make_record(at=datetime(2026, 12, 2, 14, 0, tzinfo=UTC))
    assert normalizer.normalize(ahead, check_future=False).event_id == ahead["eventID"]
