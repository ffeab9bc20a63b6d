"""OTLP/HTTP traces in: an agent's tool-call spans become audit events.

Agent frameworks emit OpenTelemetry spans for tool calls (the GenAI semantic conventions:
`execute_tool` spans with `gen_ai.tool.name`, `gen_ai.tool.call.id`, `gen_ai.tool.call.arguments`,
`gen_ai.agent.id` / `gen_ai.agent.name`, `gen_ai.conversation.id`; MCP `tools/call` spans carry
`gen_ai.tool.name` too). `POST /v1/otlp/v1/traces` takes an ExportTraceServiceRequest as
protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`), gzip or not. Each tool span
becomes one CloudTrail-shaped record that goes through the same normaliser, bus, store and
detectors as a cloud call:

- `eventSource` `tool:<service.name>` (e.g. tool:claude-code), `eventName` the tool's name, so
  `GET /v1/events?action=<tool>` finds it; the class comes from the tool catalogue
  (ingest.catalogue.tools) over the arguments;
- the principal: the span's or its resource's `leash.principal` (the role ARN the agent runs as:
  its tool calls and its cloud events then share one principal), else the agent's id or name,
  else `service.name`; the actor is an agent;
- `requestParameters.arguments`: the arguments with every secret redacted and file bodies only
  measured -- never the raw arguments;
- `eventID` `otlp-<trace id>-<span id>`: an exporter's retry stores nothing twice.

Spans that are not tool calls (model calls, the agent's own steps) are skipped, not rejected;
a tool span that cannot be stored (no start time, no tool name) is rejected and counted in the
response's `partial_success`, as OTLP expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ingest.catalogue.tools import redact, redact_arguments, tool_catalogue
from ingest.identity import arn_account

__all__ = ["OtlpSpans", "Span", "decode_spans", "encode_response", "tool_record"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
STATUS_ERROR = 2  # Status.STATUS_CODE_ERROR
MAX_TIME_NS = 4_102_444_800 * 10**9  # 2100-01-01: a later start is not a time
_RUNTIME = re.compile(r"[^A-Za-z0-9._/-]+")
ARGUMENT_KEYS = ("gen_ai.tool.call.arguments", "input.value")  # (OpenInference's, as a fallback)


class MalformedOtlp(ValueError):
    """The body is not an ExportTraceServiceRequest in the declared encoding."""


@dataclass(frozen=True)
class Span:
    trace_id: str  # hex
    span_id: str  # hex
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]


@dataclass
class OtlpSpans:
    spans: list[Span] = field(default_factory=list)
    total: int = 0  # every span in the request, tool call or not


def decode_spans(body: bytes, content_type: str) -> OtlpSpans:
    """The spans of an export request (protobuf or OTLP/JSON); MalformedOtlp if it is none."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == PROTOBUF:
        try:
            request = ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            raise MalformedOtlp(f"not an ExportTraceServiceRequest in protobuf: {exc}") from None
        return _from_proto(request)
    if kind == JSON:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedOtlp(f"not JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise MalformedOtlp("an OTLP/JSON export is an object with resourceSpans")
        return _from_json(data)
    raise ValueError(f"content type {content_type!r}")


def encode_response(content_type: str, rejected: int, message: str) -> bytes:
    """ExportTraceServiceResponse in the request's encoding (partial_success when rejected)."""
    if content_type.split(";")[0].strip().lower() == PROTOBUF:
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return bytes(response.SerializeToString())
    body: dict[str, Any] = {}
    if rejected:
        body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
    return orjson.dumps(body)


def is_tool_span(span: Span) -> bool:
    attributes = span.attributes
    return (
        attributes.get("gen_ai.operation.name") == "execute_tool"
        or "gen_ai.tool.name" in attributes
        or span.name.startswith("execute_tool ")
    )


def tool_record(span: Span) -> dict[str, Any]:
    """The CloudTrail-shaped record of one tool span (ValueError when it cannot be one)."""
    attrs, resource = span.attributes, span.resource
    tool = str(attrs.get("gen_ai.tool.name") or span.name.removeprefix("execute_tool ")).strip()
    if not tool or tool == "execute_tool":
        raise ValueError("a tool span without gen_ai.tool.name")
    if not 0 < span.start_ns < MAX_TIME_NS:
        raise ValueError(f"startTimeUnixNano {span.start_ns} is not a time")
    if not span.trace_id or not span.span_id:
        raise ValueError("a span without traceId or spanId")
    runtime = _RUNTIME.sub("-", str(resource.get("service.name") or "otlp"))[:64] or "otlp"
    agent_id = str(attrs.get("gen_ai.agent.id") or resource.get("gen_ai.agent.id") or "")
    agent_name = str(attrs.get("gen_ai.agent.name") or resource.get("gen_ai.agent.name") or "")
    principal = str(
        attrs.get("leash.principal")
        or resource.get("leash.principal")
        or (f"{runtime}/{agent_id or agent_name}" if agent_id or agent_name else runtime)
    )[:2048]
    identity: dict[str, Any] = (
        {"type": "AssumedRole", "arn": principal}
        if principal.startswith("arn:")
        else {"type": "AIAgent", "principalId": principal}
    )
    account = arn_account(principal)
    arguments = _arguments(attrs)
    call = tool_catalogue().classify(tool, arguments)
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventID": f"otlp-{span.trace_id}-{span.span_id}",
        "eventTime": _iso(span.start_ns),
        "eventSource": f"tool:{runtime}",
        "eventName": tool[:256],
        "eventType": "AgentToolCall",
        "userIdentity": identity,
        "agent": {
            k: v
            for k, v in (
                ("id", agent_id),
                ("name", agent_name),
                ("conversationId", str(attrs.get("gen_ai.conversation.id") or "")),
                ("runtime", runtime),
            )
            if v
        },
        "requestParameters": {
            "arguments": redact_arguments(arguments),
            "toolCallId": str(attrs.get("gen_ai.tool.call.id") or ""),
            "toolType": str(attrs.get("gen_ai.tool.type") or ""),
        },
        "resources": [{"ARN": r, "type": "Agent::ToolTarget"} for r in call.resources],
        "userAgent": " ".join(
            str(v) for v in (resource.get("service.name"), resource.get("service.version")) if v
        ),
        "sourceIPAddress": str(attrs.get("client.address") or ""),
        "additionalEventData": {
            "traceId": span.trace_id,
            "spanId": span.span_id,
            "parentSpanId": span.parent_span_id,
            "durationMs": max(span.end_ns - span.start_ns, 0) // 1_000_000,
            "via": "otlp",
        },
    }
    if account:
        record["recipientAccountId"] = account
    if span.status_code == STATUS_ERROR:
        record["errorCode"] = str(attrs.get("error.type") or "ToolError")[:128]
        record["errorMessage"] = redact(span.status_message)[:300]
    return record


def _arguments(attrs: Mapping[str, Any]) -> Any:
    for key in ARGUMENT_KEYS:
        value = attrs.get(key)
        if isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
        if value is not None:
            return value
    return None


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")


# -- protobuf -------------------------------------------------------------------------------------
def _from_proto(request: ExportTraceServiceRequest) -> OtlpSpans:
    out = OtlpSpans()
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.total += 1
                parsed = Span(
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    span.parent_span_id.hex(),
                    span.name,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    span.status.code,
                    span.status.message,
                    {kv.key: _any(kv.value) for kv in span.attributes},
                    resource,
                )
                if is_tool_span(parsed):
                    out.spans.append(parsed)
    return out


def _any(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_any(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which) if which else None


# -- OTLP/JSON ------------------------------------------------------------------------------------
def _from_json(data: Mapping[str, Any]) -> OtlpSpans:
    out = OtlpSpans()
    for resource_spans in _list(data, "resourceSpans", "resource_spans"):
        resource = _attributes(_get(resource_spans, "resource") or {})
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                out.total += 1
                status = _get(span, "status") or {}
                parsed = Span(
                    str(_get(span, "traceId", "trace_id") or ""),
                    str(_get(span, "spanId", "span_id") or ""),
                    str(_get(span, "parentSpanId", "parent_span_id") or ""),
                    str(_get(span, "name") or ""),
                    _int(_get(span, "startTimeUnixNano", "start_time_unix_nano")),
                    _int(_get(span, "endTimeUnixNano", "end_time_unix_nano")),
                    _int(_get(status, "code")),
                    str(_get(status, "message") or ""),
                    _attributes(span),
                    resource,
                )
                if is_tool_span(parsed):
                    out.spans.append(parsed)
    return out


def _get(node: Any, *keys: str) -> Any:
    if not isinstance(node, Mapping):
        raise MalformedOtlp(f"expected an object at {keys[0]}")
    for key in keys:
        if key in node:
            return node[key]
    return None


def _list(node: Any, *keys: str) -> Iterator[Any]:
    value = _get(node, *keys)
    if value is None:
        return iter(())
    if not isinstance(value, list):
        raise MalformedOtlp(f"{keys[0]} must be a list")
    return iter(value)


def _attributes(node: Any) -> dict[str, Any]:
    return {
        str(_get(kv, "key")): _json_any(_get(kv, "value") or {}) for kv in _list(node, "attributes")
    }


def _json_any(value: Any, depth: int = 0) -> Any:
    """An OTLP/JSON AnyValue; MalformedOtlp for one that is not."""
    if not isinstance(value, Mapping) or depth > 16:
        raise MalformedOtlp(f"an attribute value is not an AnyValue: {str(value)[:60]!r}")
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return _int(value["intValue"])
    if "doubleValue" in value:
        number = value["doubleValue"]
        if not isinstance(number, int | float | str):
            raise MalformedOtlp(f"doubleValue {str(number)[:40]!r}")
        try:
            return float(number)
        except ValueError:
            raise MalformedOtlp(f"doubleValue {str(number)[:40]!r}") from None
    if "bytesValue" in value:
        return str(value["bytesValue"])
    for key in ("arrayValue", "kvlistValue"):
        if key in value:
            inner = value[key]
            if not isinstance(inner, Mapping):
                raise MalformedOtlp(f"{key} must be an object with values")
            items = inner.get("values") or []
            if not isinstance(items, list):
                raise MalformedOtlp(f"{key}.values must be a list")
            if key == "arrayValue":
                return [_json_any(v, depth + 1) for v in items]
            return {
                str(_get(kv, "key")): _json_any(_get(kv, "value") or {}, depth + 1) for kv in items
            }
    return None


def _int(value: Any) -> int:
    if isinstance(value, str) and len(value) > 40:
        raise MalformedOtlp(f"expected an integer, got {value[:40]!r}")
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        raise MalformedOtlp(f"expected an integer, got {str(value)[:40]!r}") from None
