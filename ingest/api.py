"""Ingest HTTP API: POST/GET /v1/events, /healthz, /metrics; thin routes over Runtime services."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from swagger_ui_bundle import swagger_ui_path

from ingest import schema
from ingest.auth import Authenticator, Caller, binding_check
from ingest.bus import BusUnavailable
from ingest.catalogue.tools import is_tool_source
from ingest.causal import cause_of, caused_by
from ingest.cursor import FilterValue, SortKey, encode_cursor
from ingest.events import EVENT_COLUMNS, event_time_iso
from ingest.parse import BodyTooLarge
from ingest.receivers import create_receiver_router
from ingest.runtime import Runtime
from ingest.service import TooManyRecords, UnsupportedEncoding
from ingest.signing import ChainSigner
from ingest.sink.worker import SinkWorker
from ingest.stats import MAX_BUCKETS, event_stats
from ingest.web import (
    CURSOR_HELP,
    ERROR_CONTENT,
    INGEST_KEY_ERRORS,
    RETRY_AFTER_S,
    OrjsonResponse,
    page_after,
    read_body,
)

__all__ = [
    "EVENT_FIELDS",
    "OrjsonResponse",
    "RouterFactory",
    "create_app",
    "create_ingest_router",
    "event_filters",
    "read_body",
]

EVENT_FIELDS = EVENT_COLUMNS[: EVENT_COLUMNS.index("trusted") + 1]  # what GET /v1/events returns


def _event_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """One stored row (EVENT_FIELDS, then event_time in epoch ms) as the API serves it."""
    item = dict(zip(EVENT_FIELDS, row[:-1], strict=True))
    item["event_time"] = event_time_iso(int(row[-1]))
    item["raw"] = orjson.Fragment(item["raw"])
    return item


def _event_page(
    runtime: Runtime,
    where: str,
    params: dict[str, Any],
    *,
    after: SortKey | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Any, ...]], SortKey | None]:
    """One page of matching events in the list order (event_time DESC, event_id), the rows
    after `after`; with the sort key of its last row when another page follows, else None."""
    if after is not None:
        where += (
            " AND (event_time < fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
            " OR (event_time = fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
            " AND event_id > {after_id:String}))"
        )
        params = {**params, "after_ms": after[0], "after_id": after[1]}
    rows = runtime.store.query(  # one row beyond the page says whether another follows
        f"SELECT {', '.join(EVENT_FIELDS)}, toUnixTimestamp64Milli(event_time) "
        f"FROM {schema.EVENTS} FINAL WHERE {where} "
        "ORDER BY event_time DESC, event_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
        {**params, "limit": limit + 1, "offset": offset},
    )
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (int(last[-1]), str(last[EVENT_FIELDS.index("event_id")]))


_RECORD = {
    "type": "object",
    "description": "A CloudTrail record as AWS writes it (eventTime, eventSource, eventName, "
    "userIdentity required; other fields kept as they are)",
    "required": ["eventTime", "eventSource", "eventName", "userIdentity"],
    "additionalProperties": True,
}
EVENTS_BODY: dict[str, Any] = {
    "required": True,
    "description": "Optionally gzip'd (Content-Encoding: gzip)",
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "title": "CloudTrail log file",
                        "properties": {"Records": {"type": "array", "items": _RECORD}},
                        "required": ["Records"],
                    },
                    {"type": "array", "title": "records", "items": _RECORD},
                    {**_RECORD, "title": "one record"},
                ]
            }
        },
        "application/x-ndjson": {"schema": {"type": "string", "description": "a record per line"}},
    },
}
EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Every accepted event is durable; rejected records are named by index",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer"},
                        "duplicates": {"type": "integer"},
                        "rejected": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "index": {"type": "integer"},
                                    "error": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            }
        },
    },
    400: {
        "description": "Nothing in the body parses, or a truncated gzip",
        "content": ERROR_CONTENT,
    },
    **INGEST_KEY_ERRORS,
    413: {"description": "Body, decompressed body or record count over its limit"},
    415: {"description": "A Content-Encoding other than gzip", "content": ERROR_CONTENT},
    503: {"description": "The bus cannot take events now; nothing was stored (Retry-After)"},
}


DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package's files instead of a CDN."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Leash API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="data:,",
        )


def create_ingest_router(runtime: Runtime, auth: Authenticator) -> APIRouter:
    router = APIRouter()
    metrics = runtime.metrics
    settings = runtime.settings

    @router.post(
        "/v1/events",
        status_code=202,
        dependencies=[Depends(auth.require_inline("ingest"))],
        tags=["events"],
        openapi_extra={"requestBody": EVENTS_BODY},
        responses=EVENTS_RESPONSES,
    )
    async def post_events(request: Request) -> Response:
        """Ingest CloudTrail records: `{"Records": [...]}`, a JSON array, one record or NDJSON.

        Answers 202 once every accepted event is durable, with per-record errors for the rest.
        """
        started = time.perf_counter()
        body = await read_body(request, settings.max_body_bytes)
        caller = request.state.caller
        try:
            result = await runtime.service.ingest(
                body,
                request.headers.get("content-encoding", ""),
                binding_check(caller),
                origin=caller.origin("http"),
            )
        except (BodyTooLarge, TooManyRecords) as exc:
            raise HTTPException(413, str(exc)) from None
        except UnsupportedEncoding as exc:
            raise HTTPException(415, str(exc)) from None
        except BusUnavailable as exc:
            return JSONResponse(
                {"detail": f"event bus unavailable, nothing was stored: {exc}"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        metrics.accepted.inc(result.accepted)
        metrics.duplicates.inc(result.duplicates)
        metrics.rejected.inc(len(result.rejected))
        metrics.ingest_seconds.observe(time.perf_counter() - started)
        if result.unbound and result.unbound == len(result.rejected) and not result.accepted:
            # every record was another principal's: the key was used for what it may not do
            raise HTTPException(403, result.rejected[0]["error"])
        return OrjsonResponse(result.body(), status_code=202)

    @router.get("/v1/events", dependencies=[Depends(auth.require("read"))], tags=["events"])
    def get_events(
        principal: str | None = None,
        action: str | None = None,
        action_class: str | None = None,
        actor_kind: str | None = None,
        q: Annotated[str | None, Query(description="free text searched in the raw record")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
        cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
        offset: Annotated[int, Query(ge=0, description="legacy paging; not with cursor")] = 0,
    ) -> Response:
        """Stored events, newest first (event_time, then event_id), with the total that match.

        Page with `next_cursor`: pass it as `cursor` with the same filters for the next page
        (null on the last one). Events stored after the first page never shift later pages.
        """
        filters: dict[str, FilterValue] = {
            "principal": principal,
            "action": action,
            "action_class": action_class,
            "actor_kind": actor_kind,
            "q": q,
            "since": since,
            "until": until,
        }
        after = page_after(cursor, offset, listing="events", filters=filters)
        where, params = event_filters(
            runtime,
            principal=principal,
            action=action,
            action_class=action_class,
            actor_kind=actor_kind,
            q=q,
            since=since,
            until=until,
        )
        total = runtime.store.query(
            f"SELECT count() FROM {schema.EVENTS} FINAL WHERE {where}", params
        )[0][0]
        rows, last = _event_page(runtime, where, params, after=after, limit=limit, offset=offset)
        next_cursor = encode_cursor(last, listing="events", filters=filters) if last else None
        events = [_event_json(r) for r in rows]
        return OrjsonResponse({"total": int(total), "events": events, "next_cursor": next_cursor})

    @router.get(
        "/v1/events/{event_id}/related",
        dependencies=[Depends(auth.require("read"))],
        tags=["events"],
        responses={404: {"description": "No stored event has this id", "content": ERROR_CONTENT}},
    )
    def get_related(event_id: str) -> Response:
        """The causal join: for an agent's tool call, the cloud events it caused (`caused`);
        for any other event, the tool call behind it (`cause`, null when none is known). Joined
        by the call id the agent propagated (session name or `leash-call/<id>` in the user
        agent), else by the same principal within the call's time."""
        rows = runtime.store.query(
            "SELECT event_id, principal, principal_key, source, user_agent, raw, "
            f"toUnixTimestamp64Milli(event_time) FROM {schema.EVENTS} FINAL "
            "WHERE event_id = {id:String} LIMIT 1",
            {"id": event_id},
        )
        if not rows:
            raise HTTPException(404, f"no stored event {event_id!r} (GET /v1/events lists them)")
        names = ("event_id", "principal", "principal_key", "source", "user_agent", "raw")
        event = {**dict(zip(names, rows[0][:6], strict=True)), "event_time_ms": int(rows[0][6])}
        if is_tool_source(event["source"]):
            return OrjsonResponse(
                {"event_id": event_id, "tool_call": True, "caused": caused_by(runtime.store, event)}
            )
        cause = cause_of(runtime.store, event)
        return OrjsonResponse({"event_id": event_id, "tool_call": False, "cause": cause})

    @router.get("/v1/stats", dependencies=[Depends(auth.require("read"))], tags=["events"])
    def get_stats(
        until: Annotated[
            datetime | None,
            Query(description="end of the window (default: just after the newest event)"),
        ] = None,
        window_s: Annotated[int, Query(ge=60, le=90 * 86_400)] = 3600,
        bucket_s: Annotated[int, Query(ge=1, le=86_400)] = 60,
        top: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> Response:
        """Counts computed in the store for a window of event time: events per bucket and
        action class, the principals with the most destructive calls, alerts (by their first
        event) per severity, and the number of events stored."""
        if until is not None and not 1971 <= until.year <= 2099:
            raise HTTPException(400, "until must fall between 1971 and 2099 (event time, UTC)")
        if window_s // bucket_s > MAX_BUCKETS:
            raise HTTPException(
                400,
                f"window_s / bucket_s is {window_s // bucket_s} buckets; at most {MAX_BUCKETS}: "
                "widen bucket_s or narrow window_s",
            )
        stats = event_stats(
            runtime.store, until=until, window_s=window_s, bucket_s=bucket_s, top=top
        )
        return OrjsonResponse(stats)

    @router.get(
        "/v1/integrity/key",
        dependencies=[Depends(auth.require("read"))],
        tags=["ops"],
        responses={404: {"description": "This process signs nothing", "content": ERROR_CONTENT}},
    )
    def integrity_key() -> dict[str, Any]:
        """The public key this process signs its ingest and ledger batch hashes with (keep a
        copy elsewhere and check with `leash verify --public-key`), and the keys that signed
        stored batches of either chain."""
        path = settings.signing_key_path
        if not path.exists():
            raise HTTPException(
                404,
                f"no signing key at {path}: it is made when Leash starts; ask the host that "
                "runs Leash (leash verify --print-public-key there)",
            )
        signer = ChainSigner.load_or_create(path)
        seen = runtime.store.query(
            f"SELECT DISTINCT signer FROM (SELECT signer FROM {schema.BATCHES} UNION ALL "
            f"SELECT signer FROM {schema.LEDGER_BATCHES}) WHERE signer != '' ORDER BY signer"
        )
        return {
            "algorithm": "Ed25519",
            "key_id": signer.key_id,
            "public_key": signer.public_pem(),
            "signers_in_store": [str(r[0]) for r in seen],
        }

    @router.get("/v1/whoami", tags=["ops"])
    def whoami(request: Request, _: Caller = Depends(auth.require("read"))) -> dict[str, Any]:
        """The calling key's fingerprint and scopes (the dashboard hides what a key cannot do)."""
        caller: Caller = request.state.caller
        return {"key_id": caller.key_id, "scopes": sorted(caller.scopes)}

    @router.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        """Reachability of bus and store and liveness of this process's workers (no auth)."""
        checks = {"bus": runtime.bus.ping(), "store": runtime.store.ping()}
        checks["workers"] = all(w.alive() for w in runtime.workers)
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
        )

    @router.get("/metrics", dependencies=[Depends(auth.require("read"))], tags=["ops"])
    def prometheus_metrics() -> Response:
        """Prometheus exposition: ingest counters, sink batches, insert latency, consumer lag."""
        sinks = [w for w in runtime.workers if isinstance(w, SinkWorker)]
        if sinks:
            metrics.consumer_lag.set(sum(w.backlog() for w in sinks))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def event_filters(
    runtime: Runtime,
    *,
    principal: str | None,
    action: str | None,
    action_class: str | None,
    actor_kind: str | None,
    q: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, dict[str, Any]]:
    """SQL WHERE clause and bound parameters for an event search (principal in either form)."""
    clauses = ["1"]
    params: dict[str, Any] = {}
    if principal:
        clauses.append("(principal = {p:String} OR principal_key = {pk:String})")
        params["p"] = principal
        params["pk"] = runtime.normalizer.identity.principal_key(principal)
    for name, value in (
        ("action", action),
        ("action_class", action_class),
        ("actor_kind", actor_kind),
    ):
        if value:
            clauses.append(f"{name} = {{{name}:String}}")
            params[name] = value
    if q:
        clauses.append("positionCaseInsensitive(raw, {q:String}) > 0")
        params["q"] = q
    if since:
        clauses.append("event_time >= {since:DateTime64(3, 'UTC')}")
        params["since"] = since
    if until:
        clauses.append("event_time < {until:DateTime64(3, 'UTC')}")
        params["until"] = until
    return " AND ".join(clauses), params


RouterFactory = Callable[[Authenticator], APIRouter]  # a later layer's routes, given the auth


def create_app(runtime: Runtime, *, routers: Sequence[RouterFactory] = ()) -> FastAPI:
    """The HTTP app over an opened runtime; `routers` adds later layers' routes (detect, response).

    The caller owns the runtime (opens and closes it), so one process can share it between the
    API and its workers.
    """
    app = FastAPI(
        title="Leash",
        version="0.1.0",
        description="Audit-log ingestion, anomaly detection and a pre-action gate for AI agents.",
        docs_url=None,  # served below from local files: /docs works without internet access
        redoc_url=None,
    )
    _offline_docs(app)
    settings = runtime.settings
    auth = Authenticator(settings.key_entries(), rate_per_s=settings.rate_limit_per_s)
    app.state.runtime = runtime
    app.state.auth = auth
    # routers are matched in order, and each included router costs a scan of its routes: the
    # later layers come first because they hold the latency-critical path (POST /v1/decide)
    for factory in routers:
        app.include_router(factory(auth))
    app.include_router(create_ingest_router(runtime, auth))
    app.include_router(create_receiver_router(runtime, auth))
    return app
