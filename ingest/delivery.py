"""AWS delivery formats unwrapped into CloudTrail records: an EventBridge event, a Firehose HTTP
endpoint request and the CloudWatch Logs subscription payloads inside it (for ingest.receivers).

Pure functions over bytes: no HTTP, no bus. A problem with the whole body raises; a problem with
one Firehose record becomes that record's entry in `ParsedBody.errors`, so its neighbours go on.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.parse import (
    BodyTooLarge,
    ParsedBody,
    decompress,
    gzipped,
    json_type,
    parse_records,
    records_of,
)

__all__ = [
    "CLOUDTRAIL_DETAIL_TYPE_SUFFIX",
    "FIREHOSE_MAX_RECORDS",
    "FirehoseBatch",
    "MalformedBody",
    "NotCloudTrail",
    "decode_firehose",
    "unwrap_eventbridge",
]

CLOUDTRAIL_DETAIL_TYPE_SUFFIX = " via CloudTrail"  # "AWS API Call via CloudTrail", sign-ins, ...
FIREHOSE_MAX_RECORDS = 10_000  # records; the most one Firehose HTTP endpoint request carries
_UNCHANGED = "send the event unchanged (no input transformer on the API destination target)"


class MalformedBody(ValueError):
    """The body is not what the sender's protocol defines (not JSON, not an event): a 400."""


class NotCloudTrail(ValueError):
    """A well-formed delivery that holds no acceptable CloudTrail record: a 422."""


def unwrap_eventbridge(body: bytes) -> Any:
    """The CloudTrail record (`detail`) of one EventBridge event; raises naming what is wrong."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON ({exc}): {_UNCHANGED}") from None
    if not isinstance(event, dict):
        raise MalformedBody(
            f"body must be one EventBridge event (a JSON object), got {json_type(event)}: "
            f"{_UNCHANGED}"
        )
    detail_type = event.get("detail-type")
    if not isinstance(detail_type, str) or "detail" not in event:
        raise MalformedBody(
            "body is not an EventBridge event ('detail-type' or 'detail' is missing): "
            f"{_UNCHANGED}, or POST bare CloudTrail records to /v1/events"
        )
    if not detail_type.endswith(CLOUDTRAIL_DETAIL_TYPE_SUFFIX):
        raise NotCloudTrail(
            f"detail-type {detail_type[:100]!r} (source {str(event.get('source'))[:60]!r}) is "
            'not a CloudTrail event: match the rule on "detail-type": '
            '["AWS API Call via CloudTrail"] (or another "... via CloudTrail" type)'
        )
    detail = event["detail"]
    if not isinstance(detail, dict):
        raise NotCloudTrail(
            f"detail must be one CloudTrail record (a JSON object), got {json_type(detail)}: "
            f"{_UNCHANGED}"
        )
    return detail


@dataclass(frozen=True)
class FirehoseBatch:
    """The CloudTrail records of one Firehose request, in delivery order.

    `labels[i]` says where flat record `i` came from ("record 3, log event 7": the Firehose
    record index, then the position inside it), for rejection messages and logs.
    """

    request_id: str
    parsed: ParsedBody
    labels: list[str]
    firehose_records: int
    control_messages: int


def decode_firehose(body: bytes, *, decompressed_budget: int) -> FirehoseBatch:
    """Unwrap `{"requestId", "timestamp", "records": [{"data": <base64>}]}` (already gunzipped).

    Each record's data is CloudTrail (a record, `{"Records": [...]}`, an array or NDJSON) or a
    gzipped CloudWatch Logs subscription payload; CONTROL_MESSAGEs are counted and skipped.
    `decompressed_budget` bounds the bytes all gzipped records may inflate to together.
    """
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None
    items = request.get("records") if isinstance(request, dict) else None
    if not isinstance(items, list):
        raise MalformedBody(
            'body must be a Firehose request {"requestId", "timestamp", "records": [...]}, '
            f"got {json_type(request)} without a records array"
        )
    if len(items) > FIREHOSE_MAX_RECORDS:
        raise BodyTooLarge(
            f"{len(items)} records in one request; Firehose sends at most {FIREHOSE_MAX_RECORDS}"
        )
    out = _Collector(decompressed_budget)
    for index, item in enumerate(items):
        out.add_firehose_record(index, item)
    return FirehoseBatch(
        request_id=str(request.get("requestId") or ""),
        parsed=ParsedBody(out.records, out.errors),
        labels=out.labels,
        firehose_records=len(items),
        control_messages=out.control_messages,
    )


@dataclass
class _Collector:
    """Flattens Firehose records into CloudTrail records, keeping errors and labels aligned."""

    budget: int  # bytes the remaining gzipped records may inflate to
    records: list[Any] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    control_messages: int = 0

    def add(self, record: Any, label: str) -> None:
        self.records.append(record)
        self.labels.append(label)

    def fail(self, label: str, error: str) -> None:
        self.errors[len(self.records)] = error
        self.add(None, label)

    def add_firehose_record(self, index: int, item: Any) -> None:
        label = f"record {index}"
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, str):
            self.fail(label, "has no base64 'data' string")
            return
        if not data:
            return  # Firehose permits empty records; there is nothing to store
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail(label, "data is not valid base64")
            return
        if gzipped(raw):
            try:
                raw = decompress(raw, limit=self.budget)
            except BodyTooLarge:
                raise BodyTooLarge(
                    f"{label}: the request's records inflate beyond the budget "
                    "(LEASH_MAX_DECOMPRESSED_BYTES): lower the Firehose buffer size"
                ) from None
            except ValueError:
                self.fail(label, "data starts like gzip but is not valid gzip")
                return
            self.budget -= len(raw)
        self.add_payload(raw, label)

    def add_payload(self, raw: bytes, label: str) -> None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.add_ndjson(raw, label)
            return
        if isinstance(doc, dict) and "messageType" in doc:
            self.add_log_events(doc, label)
            return
        try:
            records = records_of(doc)
        except ValueError as exc:
            self.fail(label, str(exc))
            return
        self.add_all(records, label)

    def add_ndjson(self, raw: bytes, label: str) -> None:
        try:
            parsed: ParsedBody | None = parse_records(raw)
        except ValueError:
            parsed = None
        if parsed is None or len(parsed.errors) == len(parsed.records):  # not one line is JSON
            self.fail(label, "data is not JSON, NDJSON or a CloudWatch Logs payload")
            return
        for k, record in enumerate(parsed.records):
            where = label if len(parsed.records) == 1 else f"{label}, line {k}"
            if k in parsed.errors:
                self.fail(where, parsed.errors[k])
            else:
                self.add(record, where)

    def add_all(self, records: list[Any], label: str) -> None:
        if len(records) == 1:
            self.add(records[0], label)
            return
        for k, record in enumerate(records):
            self.add(record, f"{label}, item {k}")

    def add_log_events(self, payload: dict[str, Any], label: str) -> None:
        kind = payload["messageType"]
        if kind == "CONTROL_MESSAGE":  # CloudWatch Logs checking the destination is reachable
            self.control_messages += 1
            return
        events = payload.get("logEvents")
        if kind != "DATA_MESSAGE" or not isinstance(events, list):
            self.fail(
                label, f"CloudWatch Logs payload {kind!r} is not a DATA_MESSAGE with logEvents"
            )
            return
        group = str(payload.get("logGroup"))[:200]
        for k, event in enumerate(events):
            where = f"{label}, log event {k}"
            message = event.get("message") if isinstance(event, dict) else None
            if not isinstance(message, str):
                self.fail(where, "has no message string")
                continue
            try:
                self.add(orjson.loads(message), where)
            except orjson.JSONDecodeError:
                self.fail(
                    where,
                    f"message is not JSON: is log group {group!r} the one CloudTrail writes to?",
                )
