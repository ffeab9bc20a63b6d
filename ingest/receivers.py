"""Receivers for AWS delivery paths: POST /v1/ingest/eventbridge (an EventBridge API
destination) and POST /v1/ingest/firehose (a Firehose HTTP endpoint); and for agents' own
actions: POST /v1/otlp/v1/traces (OTLP/HTTP tool-call spans, ingest.otlp) and POST
/v1/ingest/k8s-audit (the Kubernetes API server's audit webhook, ingest.k8s). Thin routes over
IngestService, included by ingest.api.create_app.

Both answer success only once every accepted event is durable on the bus, and answer 503 with
Retry-After when the bus cannot take them, so AWS retries. Retries store nothing twice: events
are deduplicated by eventID (a content hash where a record has none).

Per-record policy for Firehose: a record that can never be stored (bad base64 or JSON, not
CloudTrail, an Insights event) does not fail its batch -- Firehose retries a failed batch whole,
so one such record would replay the batch until Firehose gives up. The batch is acknowledged;
each rejected record is logged with its Firehose record index and reason, and counted in
`leash_receiver_records_total{outcome="rejected"}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials

from ingest.auth import BEARER, Authenticator, Caller, binding_check
from ingest.bus import BusUnavailable
from ingest.delivery import (
    FirehoseBatch,
    MalformedBody,
    NotCloudTrail,
    decode_firehose,
    unwrap_eventbridge,
)
from ingest.k8s import audit_records, cluster_name
from ingest.metrics import IngestMetrics
from ingest.otlp import JSON, PROTOBUF, MalformedOtlp, decode_spans, encode_response, tool_record
from ingest.parse import BodyTooLarge, ParsedBody, decompress, gzipped
from ingest.runtime import Runtime
from ingest.service import IngestResult
from ingest.web import (
    ERROR_CONTENT,
    INGEST_KEY_ERRORS,
    RETRY_AFTER_S,
    OrjsonResponse,
    read_body,
)

__all__ = ["EVENTBRIDGE_DEADLINE_S", "create_receiver_router"]

logger = logging.getLogger(__name__)

EVENTBRIDGE_DEADLINE_S = 4.0  # seconds; EventBridge abandons a call at 5 s: answer 503 first
FIREHOSE_ACCESS_KEY = "x-amz-firehose-access-key"
FIREHOSE_REQUEST_ID = "x-amz-firehose-request-id"
FIREHOSE_ERROR_CHARS = 8192  # characters of errorMessage Firehose keeps
LOGGED_REJECTIONS = 20  # rejected records logged one by one per request; the rest are counted
_FIREHOSE_HOW = "set the Firehose HTTP endpoint's access key to a Leash key with the ingest scope"
_NARROW_RULE = (
    "Leash stores CloudTrail API calls, console sign-ins and service events: narrow the rule's "
    "event pattern"
)


def create_receiver_router(runtime: Runtime, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["receivers"])
    eventbridge = EventBridgeReceiver(runtime, auth)
    firehose = FirehoseReceiver(runtime, auth)

    # the keys are checked by the receivers; these parameters declare them in /openapi.json
    firehose_key = APIKeyHeader(
        name="X-Amz-Firehose-Access-Key",
        scheme_name="FirehoseAccessKey",
        description="A Leash key with the ingest scope, as the Firehose access key",
        auto_error=False,
    )

    @router.post(
        "/v1/ingest/eventbridge",
        status_code=202,
        responses={
            400: {"description": "Not an EventBridge event", "content": ERROR_CONTENT},
            **INGEST_KEY_ERRORS,
            413: {"description": "Body over LEASH_MAX_BODY_BYTES", "content": ERROR_CONTENT},
            422: {"description": "Not a CloudTrail record", "content": ERROR_CONTENT},
            503: {"description": "The bus cannot take it now (Retry-After)"},
        },
    )
    async def post_eventbridge(
        request: Request,
        _: HTTPAuthorizationCredentials | None = Security(BEARER),  # noqa: B008 - FastAPI
    ) -> Response:
        """One EventBridge event whose `detail` is a CloudTrail record (an API destination).

        Key: `Authorization: Bearer <key>` or the LEASH_EVENTBRIDGE_KEY_HEADER header. 202 with
        counts once durable; 400/422 name a permanent problem (EventBridge does not retry
        those); 503 + Retry-After when the bus cannot take it (EventBridge retries).
        """
        return await eventbridge.receive(request)

    @router.post("/v1/ingest/firehose")
    async def post_firehose(
        request: Request,
        _: str | None = Security(firehose_key),  # noqa: B008 - FastAPI
    ) -> Response:
        """A Firehose HTTP endpoint delivery (protocol 1.0), key in X-Amz-Firehose-Access-Key.

        200 `{"requestId", "timestamp"}` once every event is durable; otherwise the status and
        `{"requestId", "timestamp", "errorMessage"}` (Firehose retries all but 413).
        """
        return await firehose.receive(request)

    otlp = OtlpReceiver(runtime, auth)
    k8s = K8sAuditReceiver(runtime, auth)

    @router.post(
        "/v1/ingest/k8s-audit",
        responses={
            400: {"description": "Not an audit EventList (not retried)", "content": ERROR_CONTENT},
            **INGEST_KEY_ERRORS,
            413: {"description": "Body over LEASH_MAX_BODY_BYTES", "content": ERROR_CONTENT},
            503: {"description": "The bus cannot take them now (Retry-After; retried)"},
        },
    )
    async def post_k8s_audit(
        request: Request,
        cluster: str = "k8s",
        _: HTTPAuthorizationCredentials | None = Security(BEARER),  # noqa: B008 - FastAPI
    ) -> Response:
        """The Kubernetes API server's audit webhook: an `audit.k8s.io/v1` EventList.

        Events at stage ResponseComplete become events (source `k8s:<cluster>`, action
        `<verb>:<resource>[/<subresource>]`); other stages and non-object requests are skipped.
        200 `{"accepted", "duplicates", "rejected", "skipped"}` once durable: a rejected event
        is named by index and does not fail its batch (the API server would resend it whole).
        """
        return await k8s.receive(request, cluster)

    @router.post(
        "/v1/otlp/v1/traces",
        responses={
            200: {"description": "ExportTraceServiceResponse (partial_success when rejected)"},
            400: {"description": "Not an export request (not retried)", "content": ERROR_CONTENT},
            **INGEST_KEY_ERRORS,
            413: {"description": "Body over LEASH_MAX_BODY_BYTES", "content": ERROR_CONTENT},
            415: {"description": "Neither application/x-protobuf nor application/json"},
            503: {"description": "The bus cannot take them now (Retry-After; retried)"},
        },
    )
    async def post_otlp_traces(
        request: Request,
        _: HTTPAuthorizationCredentials | None = Security(BEARER),  # noqa: B008 - FastAPI
    ) -> Response:
        """OTLP/HTTP traces (protobuf or JSON, gzip or not): agents' tool-call spans become
        events (source `tool:<service.name>`, action the tool's name); other spans are skipped.

        Point an exporter at it: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=<leash>/v1/otlp/v1/traces,
        OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<ingest key>. 200 once every stored
        span is durable; tool spans that cannot be events are counted in partial_success.
        """
        return await otlp.receive(request)

    return router


class _RecordsReceiver:
    """What the OTLP and Kubernetes receivers share: the key check, the (gzip) body, and an
    ingest that answers 503 + Retry-After when the bus cannot take the records."""

    name = ""

    def __init__(self, runtime: Runtime, auth: Authenticator) -> None:
        self._service = runtime.service
        self._metrics = runtime.metrics
        self._identity = runtime.normalizer.identity
        self._max_body = runtime.settings.max_body_bytes
        self._max_decompressed = runtime.settings.max_decompressed_bytes
        self._check = auth.require("ingest")

    async def _body(self, request: Request) -> bytes:
        body = await read_body(request, self._max_body)
        if request.headers.get("content-encoding", "").strip().lower() == "gzip":
            body = decompress(body, limit=self._max_decompressed)  # BodyTooLarge past the limit
        return body

    async def _ingest(self, parsed: ParsedBody, labels: list[str], caller: Caller) -> IngestResult:
        try:
            result = await self._service.ingest_parsed(
                parsed, labels, binding_check(caller), origin=caller.origin(self.name)
            )
        except BusUnavailable as exc:
            raise HTTPException(
                503,
                f"event bus unavailable, nothing was stored: {exc}",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        _count(self._metrics, self.name, result)
        return result


class OtlpReceiver(_RecordsReceiver):
    """POST /v1/otlp/v1/traces: tool spans -> records -> the same ingest as CloudTrail."""

    name = "otlp"

    async def receive(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await self._handle(request)
        except HTTPException as exc:  # OTLP's error body: a Status-like {code, message}
            response = JSONResponse(
                {"code": exc.status_code, "message": str(exc.detail)},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        _observe(self._metrics, self.name, response.status_code, started)
        return response

    async def _handle(self, request: Request) -> Response:
        caller = self._check(request)
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";")[0].strip().lower()
        if kind not in (PROTOBUF, JSON):
            raise HTTPException(
                415, f"content type {content_type!r}: send {PROTOBUF} or {JSON} (OTLP/HTTP)"
            )
        try:
            decoded = decode_spans(await self._body(request), kind)
        except (MalformedOtlp, BodyTooLarge, ValueError, RecursionError) as exc:
            raise HTTPException(400, f"not an OTLP trace export: {exc}") from None
        records: list[dict[str, Any] | None] = []
        errors: dict[int, str] = {}
        for index, span in enumerate(decoded.spans):
            try:
                records.append(tool_record(span))
            except Exception as exc:  # noqa: BLE001 - one odd span must not fail its batch
                errors[index] = f"{exc} ({span.name[:60]!r}): check the exporter's span"
                records.append(None)
        labels = [f"span {s.span_id or '?'}" for s in decoded.spans]
        result = await self._ingest(ParsedBody(records, errors), labels, caller)
        message = "; ".join(str(r["error"]) for r in result.rejected[:5])
        answer = encode_response(kind, len(result.rejected), message)
        return Response(answer, status_code=200, media_type=kind)


class K8sAuditReceiver(_RecordsReceiver):
    """POST /v1/ingest/k8s-audit: audit events -> records -> the same ingest as CloudTrail."""

    name = "k8s-audit"

    async def receive(self, request: Request, cluster: str) -> Response:
        started = time.perf_counter()
        try:
            response = await self._handle(request, cluster_name(cluster))
        except HTTPException as exc:
            response = JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        _observe(self._metrics, self.name, response.status_code, started)
        return response

    async def _handle(self, request: Request, cluster: str) -> Response:
        caller = self._check(request)
        try:
            batch = audit_records(orjson.loads(await self._body(request)), cluster, self._identity)
        except (orjson.JSONDecodeError, BodyTooLarge, ValueError) as exc:
            raise HTTPException(400, f"not a Kubernetes audit EventList: {exc}") from None
        parsed = ParsedBody(batch.records, batch.errors)
        result = await self._ingest(parsed, batch.labels, caller)
        for item in result.rejected[:LOGGED_REJECTIONS]:
            logger.warning("k8s audit (%s): rejected %s", cluster, item["error"])
        return OrjsonResponse({**result.body(), "skipped": batch.skipped})


class EventBridgeReceiver:
    """POST /v1/ingest/eventbridge: unwrap, validate, publish within EventBridge's timeout."""

    def __init__(self, runtime: Runtime, auth: Authenticator) -> None:
        self._service = runtime.service
        self._metrics = runtime.metrics
        self._max_body = runtime.settings.max_body_bytes
        self._check = auth.require("ingest", key_header=runtime.settings.eventbridge_key_header)

    async def receive(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await self._handle(request)
        except HTTPException as exc:
            if exc.status_code not in (401, 403):  # EventBridge drops the event: say why here
                logger.warning("eventbridge event refused, %d: %s", exc.status_code, exc.detail)
            response = JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        _observe(self._metrics, "eventbridge", response.status_code, started)
        return response

    async def _handle(self, request: Request) -> Response:
        caller = self._check(request)
        body = await read_body(request, self._max_body)
        try:
            record = unwrap_eventbridge(body)
        except MalformedBody as exc:
            raise HTTPException(400, str(exc)) from None
        except NotCloudTrail as exc:
            raise HTTPException(422, str(exc)) from None
        ingest = self._service.ingest_parsed(
            ParsedBody([record], {}),
            ["detail"],
            binding_check(caller),
            origin=caller.origin("eventbridge"),
        )
        try:
            result = await _within(ingest, EVENTBRIDGE_DEADLINE_S)
        except BusUnavailable as exc:
            return _busy(f"event bus unavailable, nothing was stored: {exc}")
        except TimeoutError:
            return _busy(f"the bus did not confirm the event within {EVENTBRIDGE_DEADLINE_S} s")
        _count(self._metrics, "eventbridge", result)
        if result.unbound:
            raise HTTPException(403, result.rejected[0]["error"])
        if result.rejected:
            raise HTTPException(422, f"{result.rejected[0]['error']}; {_NARROW_RULE}")
        return OrjsonResponse(result.body(), status_code=202)


class FirehoseReceiver:
    """POST /v1/ingest/firehose: the Firehose HTTP endpoint delivery protocol, version 1.0."""

    def __init__(self, runtime: Runtime, auth: Authenticator) -> None:
        self._service = runtime.service
        self._metrics = runtime.metrics
        self._auth = auth
        self._max_body = runtime.settings.max_body_bytes
        self._max_decompressed = runtime.settings.max_decompressed_bytes

    async def receive(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get(FIREHOSE_REQUEST_ID, "")
        status, error, headers = 200, "", {}
        try:
            key = request.headers.get(FIREHOSE_ACCESS_KEY)
            caller = self._auth.authorize(
                self._auth.identify_token(key), "ingest", how=_FIREHOSE_HOW
            )
            batch = await self._decode(request)
            request_id = request_id or batch.request_id
            result = await self._service.ingest_parsed(
                batch.parsed, batch.labels, binding_check(caller), origin=caller.origin("firehose")
            )
            self._report(request_id, batch, result)
        except HTTPException as exc:  # 401/403 from the key check, 413 from the body read
            status, error = exc.status_code, str(exc.detail)
        except BodyTooLarge as exc:
            status, error = 413, str(exc)
        except BusUnavailable as exc:
            status, error = 503, f"event bus unavailable, nothing was stored: {exc}"
            headers = {"Retry-After": str(RETRY_AFTER_S)}
        except ValueError as exc:  # not gzip, not JSON, not a Firehose request
            status, error = 400, str(exc)
        if status != 200:
            logger.warning("firehose request %s: %d %s", request_id, status, error)
        _observe(self._metrics, "firehose", status, started)
        body: dict[str, Any] = {"requestId": request_id, "timestamp": int(time.time() * 1000)}
        if status != 200:
            body["errorMessage"] = error[:FIREHOSE_ERROR_CHARS]
        return OrjsonResponse(body, status_code=status, headers=headers)

    async def _decode(self, request: Request) -> FirehoseBatch:
        body = await read_body(request, self._max_body)
        encoding = request.headers.get("content-encoding", "")
        return await asyncio.to_thread(self._unwrap, body, encoding)

    def _unwrap(self, body: bytes, content_encoding: str) -> FirehoseBatch:
        if content_encoding.strip().lower() in ("gzip", "x-gzip") or gzipped(body):
            body = decompress(body, limit=self._max_decompressed)
        return decode_firehose(body, decompressed_budget=self._max_decompressed)

    def _report(self, request_id: str, batch: FirehoseBatch, result: IngestResult) -> None:
        _count(self._metrics, "firehose", result)
        self._metrics.receiver_control_messages.inc(batch.control_messages)
        for item in result.rejected[:LOGGED_REJECTIONS]:
            logger.warning("firehose request %s: rejected %s", request_id, item["error"])
        if len(result.rejected) > LOGGED_REJECTIONS:
            logger.warning(
                "firehose request %s: %d more record(s) rejected",
                request_id,
                len(result.rejected) - LOGGED_REJECTIONS,
            )
        logger.info(
            "firehose request %s: %d record(s): %d accepted, %d duplicate, %d rejected, "
            "%d control message(s) skipped",
            request_id,
            batch.firehose_records,
            result.accepted,
            result.duplicates,
            len(result.rejected),
            batch.control_messages,
        )


async def _within(ingest: Coroutine[Any, Any, IngestResult], timeout_s: float) -> IngestResult:
    """The ingest's result, or TimeoutError after `timeout_s` while it goes on in the background.

    The publish is never cancelled half way: if it lands later, the sender's retry is counted
    as a duplicate; if it fails, the retry publishes again.
    """
    task = asyncio.ensure_future(ingest)
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout_s)
    except TimeoutError:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # mark it retrieved
        raise


def _busy(detail: str) -> Response:
    logger.warning("eventbridge event not taken, 503: %s", detail)
    return JSONResponse(
        {"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def _count(metrics: IngestMetrics, receiver: str, result: IngestResult) -> None:
    metrics.accepted.inc(result.accepted)
    metrics.duplicates.inc(result.duplicates)
    metrics.rejected.inc(len(result.rejected))
    records = metrics.receiver_records
    records.labels(receiver, "accepted").inc(result.accepted)
    records.labels(receiver, "duplicate").inc(result.duplicates)
    records.labels(receiver, "rejected").inc(len(result.rejected))


def _observe(metrics: IngestMetrics, receiver: str, status: int, started: float) -> None:
    metrics.receiver_requests.labels(receiver, str(status)).inc()
    metrics.receiver_seconds.labels(receiver).observe(time.perf_counter() - started)
