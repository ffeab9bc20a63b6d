"""Response routes: principals, suppressions, false positives, the webhook outbox.

Reads need `read`; every change needs `admin`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from detect.alerts.alert import AlertStore, notify_listeners
from detect.alerts.suppression import record_false_positive
from detect.response.principals import TransitionError
from detect.services import Services
from detect.worker.messages import FalsePositive, Suppress, Unsuppress
from ingest.api import OrjsonResponse
from ingest.auth import Authenticator, Caller
from ingest.runtime import Runtime

__all__ = ["create_router"]

FP_SUPPRESSION_S = 7 * 24 * 3600  # seconds a false-positive suppression lasts by default
MAX_SUPPRESSION_S = 10 * 365 * 86_400  # ten years; for longer, leave the expiry out (never)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class SuppressionBody(BaseModel):
    principal: str = "*"
    action: str = "*"
    resource: str = "*"
    rule: str = "*"
    reason: str = Field(min_length=1, max_length=2000)
    expires_in_s: float | None = Field(default=None, gt=0, le=MAX_SUPPRESSION_S)


class FalsePositiveBody(BaseModel):
    note: str = Field(default="", max_length=2000)
    suppress: bool = False
    suppress_for_s: float | None = Field(default=FP_SUPPRESSION_S, gt=0, le=MAX_SUPPRESSION_S)


def create_router(services: Services, auth: Authenticator) -> APIRouter:
    router = APIRouter()
    runtime = services.runtime
    admin = auth.require("admin")
    _principal_routes(router, services, runtime, auth, admin)
    _suppression_routes(router, services, runtime, auth, admin)
    return router


def _principal_routes(
    router: APIRouter,
    services: Services,
    runtime: Runtime,
    auth: Authenticator,
    admin: Callable[[Request], Caller],
) -> None:
    registry = services.registry

    @router.get("/v1/principals", dependencies=[Depends(auth.require("read"))], tags=["principals"])
    def list_principals() -> OrjsonResponse:
        """Principals that are quarantined or revoked (the gate's revocation list)."""
        return OrjsonResponse(
            {
                "principals": [
                    {
                        "principal": c.principal,
                        "principal_key": c.principal_key,
                        "state": c.to_state,
                        "actor_kind": c.actor_kind,
                        "since": c.to_json()["changed_at"],
                        "reason": c.reason,
                    }
                    for c in registry.non_active()
                ]
            }
        )

    @router.post("/v1/principals/{principal:path}/{verb}", tags=["principals"])
    def change_principal(
        principal: str,
        verb: Literal["revoke", "quarantine", "restore"],
        body: ReasonBody,
        caller: Caller = Depends(admin),
    ) -> OrjsonResponse:
        """Quarantine, revoke or restore (admin); the gate enforces it at once.

        `principal` is the full ARN (URL-encoded) or the stable key. Revoke and restore run the
        configured revokers and report their results.
        """
        key = registry.key_of(principal)
        try:
            change = registry.change(
                principal,
                verb,
                reason=body.reason,
                actor=caller.key_id,
                actor_kind=_actor_kind(runtime, services, principal, key),
            )
        except TransitionError as exc:
            raise HTTPException(409, str(exc)) from None
        results = services.revoker_results(change.change_id) if change else []
        return OrjsonResponse(
            {
                **_principal_json(runtime, services, principal),
                "changed": change is not None,
                "revokers": [{"name": r.revoker, "ok": r.ok, "detail": r.detail} for r in results],
            }
        )

    @router.get(
        "/v1/principals/{principal:path}",
        dependencies=[Depends(auth.require("read"))],
        tags=["principals"],
    )
    def get_principal(principal: str) -> OrjsonResponse:
        """State, actor kind and change history of a principal (full ARN or stable key)."""
        body = _principal_json(runtime, services, principal)
        body["history"] = [c.to_json() for c in registry.history(body["principal_key"])]
        return OrjsonResponse(body)


def _actor_kind(runtime: Runtime, services: Services, principal: str, key: str) -> str:
    seen = services.bypass.actor_kind(key)
    if seen:
        return seen
    rows = runtime.store.query(
        "SELECT actor_kind FROM events WHERE principal_key = {k:String} "
        "ORDER BY event_time DESC LIMIT 1",
        {"k": key},
    )
    if rows:
        return str(rows[0][0])
    status = services.registry.get(key)
    return (
        status.actor_kind if status and status.actor_kind else services.gate.kind_of(principal, key)
    )


def _principal_json(runtime: Runtime, services: Services, principal: str) -> dict[str, Any]:
    key = services.registry.key_of(principal)
    status = services.registry.get(key)
    return {
        "principal": principal,
        "principal_key": key,
        "state": status.to_state if status else "active",
        "actor_kind": _actor_kind(runtime, services, principal, key),
        "since": status.to_json()["changed_at"] if status else None,
        "reason": status.reason if status else "",
        "changed_by": status.actor if status else "",
    }


def _suppression_routes(
    router: APIRouter,
    services: Services,
    runtime: Runtime,
    auth: Authenticator,
    admin: Callable[[Request], Caller],
) -> None:
    book = services.suppressions

    @router.post("/v1/suppressions", status_code=201, tags=["alerts"])
    def add_suppression(body: SuppressionBody, caller: Caller = Depends(admin)) -> OrjsonResponse:
        """Suppress future findings matching principal/action/resource/rule globs (admin)."""
        item = book.add(
            principal=body.principal,
            action=body.action,
            resource=body.resource,
            rule=body.rule,
            reason=body.reason,
            created_by=caller.key_id,
            expires_in_s=body.expires_in_s,
        )
        services.forward(Suppress(item))
        return OrjsonResponse(item.to_json(), status_code=201)

    @router.get("/v1/suppressions", dependencies=[Depends(auth.require("read"))], tags=["alerts"])
    def list_suppressions() -> OrjsonResponse:
        """Live suppressions with how many findings each has swallowed since start."""
        return OrjsonResponse({"suppressions": [s.to_json(h) for s, h in book.entries()]})

    @router.delete(
        "/v1/suppressions/{suppression_id}",
        tags=["alerts"],
        dependencies=[Depends(auth.require("admin"))],
    )
    def delete_suppression(suppression_id: str) -> OrjsonResponse:
        if not book.remove(suppression_id):
            raise HTTPException(404, f"no live suppression {suppression_id}")
        services.forward(Unsuppress(suppression_id))
        return OrjsonResponse({"deleted": suppression_id})

    @router.post("/v1/alerts/{alert_id}/false-positive", tags=["alerts"])
    def false_positive(
        alert_id: str, caller: Caller = Depends(admin), body: FalsePositiveBody | None = None
    ) -> OrjsonResponse:
        """Resolve an alert as a false positive, record it for training, optionally suppress."""
        return OrjsonResponse(
            _mark_false_positive(
                runtime, services, alert_id, body or FalsePositiveBody(), caller.key_id
            )
        )

    @router.get(
        "/v1/webhooks/deliveries", dependencies=[Depends(auth.require("read"))], tags=["alerts"]
    )
    def list_deliveries(
        status: Literal["pending", "delivered", "dead"] | None = None,
    ) -> OrjsonResponse:
        """Webhook deliveries (dead = dead-lettered after the last retry)."""
        return OrjsonResponse(
            {
                "deliveries": [
                    {
                        "id": d.delivery_id,
                        "message_id": d.message_id,
                        "type": d.event_type,
                        "status": d.status,
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                    }
                    for d in services.outbox.list(status=status)
                ]
            }
        )

    @router.post(
        "/v1/webhooks/deliveries/{delivery_id}/retry",
        tags=["alerts"],
        dependencies=[Depends(auth.require("admin"))],
    )
    def retry_delivery(delivery_id: str) -> OrjsonResponse:
        again = services.outbox.retry(delivery_id)
        if again is None:
            raise HTTPException(404, f"no dead delivery {delivery_id}")
        return OrjsonResponse({"id": again.delivery_id, "status": again.status})


def _mark_false_positive(
    runtime: Runtime,
    services: Services,
    alert_id: str,
    body: FalsePositiveBody,
    key_id: str,
) -> dict[str, Any]:
    alerts = AlertStore(runtime.store)
    alert = alerts.get(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    suppression_id = ""
    if body.suppress:
        item = services.suppressions.add(
            principal=alert.principal,
            rule=alert.rule,
            reason=f"false positive: {body.note}",
            created_by=key_id,
            expires_in_s=body.suppress_for_s,
            alert_id=alert.id,
        )
        services.forward(Suppress(item))
        suppression_id = item.id
    services.false_positives.add(alert.principal, alert.rules)  # detection learns it now
    services.forward(FalsePositive(alert.principal, tuple(alert.rules)))
    feedback_id = record_false_positive(
        runtime.store,
        alert,
        event_ids=alert.event_ids,
        actor=key_id,
        note=body.note,
        suppression_id=suppression_id,
    )
    resolved = (
        alerts.set_status(alert_id, "resolved", actor=key_id, note=f"false positive: {body.note}")
        or alert
    )
    detection = services.detection
    if detection is not None and hasattr(detection, "apply_status"):
        detection.apply_status(alert_id, "resolved")  # the running engine stops growing it
    notify_listeners(services.listeners, "alert.resolved", resolved)
    return {
        "alert": resolved.to_json(),
        "feedback_id": feedback_id,
        "suppression_id": suppression_id or None,
    }
