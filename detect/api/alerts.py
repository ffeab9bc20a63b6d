"""Alert and detector routes: GET/POST /v1/alerts…, GET /v1/detector, POST /v1/detector/train."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from detect.alerts.alert import MAX_LIST_LIMIT, AlertStatus, AlertStore, notify_listeners
from detect.anomaly.forest import NotEnoughHistory
from detect.anomaly.model_file import latest_model
from detect.anomaly.training import FitCancelled, model_dir, train_and_save
from detect.services import Services
from detect.settings import DetectSettings
from ingest.auth import Authenticator
from ingest.causal import alert_story
from ingest.cursor import FilterValue, encode_cursor
from ingest.events import event_time_iso
from ingest.web import CURSOR_HELP, page_after

__all__ = ["create_router"]


class StatusChange(BaseModel):
    """Optional body of ack/resolve."""

    note: str = ""


def create_router(services: Services, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["alerts"])
    runtime = services.runtime
    alerts = AlertStore(runtime.store)
    identity = runtime.normalizer.identity

    @router.get("/v1/alerts", dependencies=[Depends(auth.require("read"))])
    def list_alerts(
        status: Annotated[
            AlertStatus | None, Query(description="open | acknowledged | resolved")
        ] = None,
        principal: Annotated[str | None, Query(description="full ARN or principal key")] = None,
        since: Annotated[datetime | None, Query(description="last event at or after")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
        cursor: Annotated[str | None, Query(description=CURSOR_HELP)] = None,
    ) -> dict[str, Any]:
        """Alerts, newest first (created_at, then id); one per principal and incident.

        Page with `next_cursor`: pass it as `cursor` with the same filters for the next page
        (null on the last one). Alerts opened after the first page never shift later pages.
        """
        key = identity.principal_key(principal) if principal else None
        filters: dict[str, FilterValue] = {"status": status, "principal": key, "since": since}
        after = page_after(cursor, 0, listing="alerts", filters=filters)
        # one alert beyond the page says whether another page follows
        found = alerts.list(status=status, principal=key, since=since, limit=limit + 1, after=after)
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = encode_cursor(
                (last.created_at_ms, last.id), listing="alerts", filters=filters
            )
        return {
            "alerts": [a.to_json() for a in page],
            "count": len(page),
            "next_cursor": next_cursor,
        }

    @router.get("/v1/alerts/{alert_id}", dependencies=[Depends(auth.require("read"))])
    def get_alert(alert_id: str) -> dict[str, Any]:
        """One alert; for an agent that reports its tool calls, also `tool_calls`: each tool
        call behind the alert's events with the events it caused, and the events no reported
        call covers (`without_tool_call`)."""
        alert = alerts.get(alert_id)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        story = alert_story(
            runtime.store,
            alert.principal,
            alert.event_ids,
            alert.first_event_ms,
            alert.last_event_ms,
        )
        return alert.to_json() if story is None else {**alert.to_json(), "tool_calls": story}

    def change(request: Request, alert_id: str, status: str, note: str) -> dict[str, Any]:
        actor = getattr(request.state, "caller", None)
        alert = alerts.set_status(alert_id, status, actor=getattr(actor, "key_id", ""), note=note)
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        worker = services.detection
        if worker is not None:
            worker.apply_status(alert_id, status)
        event = "alert.acknowledged" if status == "acknowledged" else "alert.resolved"
        notify_listeners(services.listeners, event, alert)
        return alert.to_json()

    @router.post("/v1/alerts/{alert_id}/ack", dependencies=[Depends(auth.require("admin"))])
    def ack_alert(
        request: Request, alert_id: str, body: StatusChange | None = None
    ) -> dict[str, Any]:
        """Acknowledge: someone is on it. The alert keeps growing while the incident lasts."""
        return change(request, alert_id, "acknowledged", body.note if body else "")

    @router.post("/v1/alerts/{alert_id}/resolve", dependencies=[Depends(auth.require("admin"))])
    def resolve_alert(
        request: Request, alert_id: str, body: StatusChange | None = None
    ) -> dict[str, Any]:
        """Resolve: the incident is over; later findings open a new alert."""
        return change(request, alert_id, "resolved", body.note if body else "")

    @router.get("/v1/detector", dependencies=[Depends(auth.require("read"))], tags=["detector"])
    def detector_status() -> dict[str, Any]:
        """Model version and training metadata, event-time progress, lag and staleness."""
        worker = services.detection
        if worker is not None:
            return dict(worker.status())
        model = latest_model(model_dir(runtime.settings))
        return {
            "model_version": model.version if model else None,
            "model_trained_at": event_time_iso(model.trained_at_ms) if model else None,
            "last_event_time": None,
            "lag": 0,
            "stale": True,
            "alive": False,
            "model": dict(model.metadata) if model else None,
        }

    @router.post(
        "/v1/detector/train", dependencies=[Depends(auth.require("admin"))], tags=["detector"]
    )
    def train() -> dict[str, Any]:
        """Train on stored history now; the running detector switches to the new model."""
        worker = services.detection
        try:
            if worker is not None:
                model = worker.train_now()
            else:
                model = train_and_save(runtime.store, runtime.settings, DetectSettings())
        except NotEnoughHistory as exc:
            raise HTTPException(409, str(exc)) from None
        except FitCancelled as exc:
            raise HTTPException(
                503, f"{exc}; train again once Leash is running", headers={"Retry-After": "30"}
            ) from None
        return {
            "model_version": model.version,
            "model_trained_at": event_time_iso(model.trained_at_ms),
            "model": dict(model.metadata),
        }

    return router
