"""Response routes: decide, approvals, principals, suppressions, false positives, webhook outbox.

Scopes: `POST /v1/decide` needs `ingest` -- the key an agent or its tool gateway already holds
to emit events; it reads no one else's data. Reads need `read`; every change needs `admin`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from detect.alerts.suppression import record_false_positive
from detect.gate.approvals import ApprovalError, SelfApprovalError
from detect.response.principals import TransitionError
from detect.services import ResponseServices, response_services
from ingest.api import OrjsonResponse
from ingest.auth import Authenticator, Principal
from ingest.runtime import Runtime

__all__ = ["create_router"]

FP_SUPPRESSION_S = 7 * 24 * 3600  # seconds a false-positive suppression lasts by default


class DecideBody(BaseModel):
    principal: str = Field(min_length=1, max_length=2048)
    action: str = Field(min_length=1, max_length=256)
    source: str = Field(default="", max_length=256)
    resources: list[str] = Field(default_factory=list, max_length=256)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ApprovalBody(BaseModel):
    note: str = Field(default="", max_length=2000)
    as_principal: str = Field(
        default="",
        max_length=2048,
        description="who approves (ARN or name); refused if it is the requesting principal",
    )


class SuppressionBody(BaseModel):
    principal: str = "*"
    action: str = "*"
    resource: str = "*"
    rule: str = "*"
    reason: str = Field(min_length=1, max_length=2000)
    expires_in_s: float | None = Field(default=None, gt=0)


class FalsePositiveBody(BaseModel):
    note: str = Field(default="", max_length=2000)
    suppress: bool = False
    suppress_for_s: float | None = Field(default=FP_SUPPRESSION_S, gt=0)


def _fast(auth: Authenticator, scope: str) -> Callable[[Request], Any]:
    check = auth.require(scope)

    async def dependency(request: Request) -> Principal:  # no thread-pool hop on the hot path
        return check(request)

    return dependency


def create_router(runtime: Runtime, auth: Authenticator) -> APIRouter:
    router = APIRouter()
    services = response_services(runtime)
    admin = auth.require("admin")
    _decide_routes(router, services, runtime, auth)
    _approval_routes(router, services, auth, admin)
    _principal_routes(router, services, runtime, auth, admin)
    _suppression_routes(router, services, runtime, auth, admin)
    return router


def _decide_routes(
    router: APIRouter, services: ResponseServices, runtime: Runtime, auth: Authenticator
) -> None:
    @router.post("/v1/decide", tags=["gate"])
    async def decide(
        body: DecideBody, caller: Principal = Depends(_fast(auth, "ingest"))
    ) -> OrjsonResponse:
        """Ask before acting: `allow`, `require_approval` (with `approval_id`) or `deny`.

        The action class comes from the server's catalogue. Calling again with the same request
        while an approval is pending returns the same approval id; once approved, the next call
        answers `allow` exactly once.
        """
        decision = services.gate.decide(
            principal=body.principal,
            action=body.action,
            source=body.source,
            resources=body.resources,
            key_id=caller.key_id,
        )
        return OrjsonResponse(decision.to_json())

    @router.get("/v1/decisions", dependencies=[Depends(auth.require("read"))], tags=["gate"])
    def list_decisions(
        principal: str | None = None,
        decision: str | None = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    ) -> OrjsonResponse:
        """Recent decide answers, newest first (the audit trail of the gate)."""
        store, key_of = runtime.store, services.registry.key_of
        services.decision_log.flush()  # decisions are inserted every few seconds: read them all
        rows = store.query(
            "SELECT decision_id, decided_at, principal, principal_key, actor_kind, "
            "source, action, action_class, resources, decision, reason, rule, approval_id, key_id "
            "FROM decisions WHERE ({k:String} = '' OR principal_key = {k:String}) "
            "AND ({d:String} = '' OR decision = {d:String}) "
            "ORDER BY decided_at DESC LIMIT {n:UInt32}",
            {"k": key_of(principal) if principal else "", "d": decision or "", "n": limit},
        )
        names = (
            "id",
            "decided_at",
            "principal",
            "principal_key",
            "actor_kind",
            "source",
            "action",
            "action_class",
            "resources",
            "decision",
            "reason",
            "rule",
            "approval_id",
            "key_id",
        )
        items = [dict(zip(names, r, strict=True)) for r in rows]
        for item in items:
            item["decided_at"] = item["decided_at"].isoformat(timespec="milliseconds")
        return OrjsonResponse({"decisions": items})


def _approval_routes(
    router: APIRouter,
    services: ResponseServices,
    auth: Authenticator,
    admin: Callable[[Request], Principal],
) -> None:
    @router.get("/v1/approvals", dependencies=[Depends(auth.require("read"))], tags=["gate"])
    def list_approvals(
        status: Literal["pending", "approved", "denied", "used", "expired"] | None = None,
    ) -> OrjsonResponse:
        """Approvals known to the gate (live ones and those finished recently)."""
        return OrjsonResponse({"approvals": [a.to_json() for a in services.approvals.list(status)]})

    @router.get(
        "/v1/approvals/{approval_id}", dependencies=[Depends(auth.require("read"))], tags=["gate"]
    )
    def get_approval(approval_id: str) -> OrjsonResponse:
        found = services.approvals.get(approval_id)
        if found is None:
            raise HTTPException(404, f"no approval {approval_id}")
        return OrjsonResponse(found.to_json())

    @router.post("/v1/approvals/{approval_id}/{verb}", tags=["gate"])
    def decide_approval(
        approval_id: str,
        verb: Literal["approve", "deny"],
        caller: Principal = Depends(admin),
        body: ApprovalBody | None = None,
    ) -> OrjsonResponse:
        """Approve or deny (admin). The key that asked, or the requesting principal, is refused."""
        body = body or ApprovalBody()
        try:
            approval = services.approvals.decide(
                approval_id,
                approve=verb == "approve",
                key_id=caller.key_id,
                as_principal=body.as_principal,
                note=body.note,
            )
        except SelfApprovalError as exc:
            raise HTTPException(403, str(exc)) from None
        except ApprovalError as exc:
            known = services.approvals.get(approval_id) is not None
            raise HTTPException(409 if known else 404, str(exc)) from None
        services.notifier.submit(_notify_decided, services, approval.to_json())
        return OrjsonResponse(approval.to_json())


def _notify_decided(services: ResponseServices, approval: dict[str, Any]) -> None:
    from detect.response.webhooks import new_event

    services.sink.send(new_event("approval.decided", {"approval": approval}))


def _principal_routes(
    router: APIRouter,
    services: ResponseServices,
    runtime: Runtime,
    auth: Authenticator,
    admin: Callable[[Request], Principal],
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
        caller: Principal = Depends(admin),
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


def _actor_kind(runtime: Runtime, services: ResponseServices, principal: str, key: str) -> str:
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


def _principal_json(runtime: Runtime, services: ResponseServices, principal: str) -> dict[str, Any]:
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
    services: ResponseServices,
    runtime: Runtime,
    auth: Authenticator,
    admin: Callable[[Request], Principal],
) -> None:
    book = services.suppressions

    @router.post("/v1/suppressions", status_code=201, tags=["alerts"])
    def add_suppression(
        body: SuppressionBody, caller: Principal = Depends(admin)
    ) -> OrjsonResponse:
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
        return OrjsonResponse({"deleted": suppression_id})

    @router.post("/v1/alerts/{alert_id}/false-positive", tags=["alerts"])
    def false_positive(
        alert_id: str, caller: Principal = Depends(admin), body: FalsePositiveBody | None = None
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
    services: ResponseServices,
    alert_id: str,
    body: FalsePositiveBody,
    key_id: str,
) -> dict[str, Any]:
    try:
        from detect.alerts.alert import AlertStore, notify_listeners
    except ImportError:
        raise HTTPException(503, "alerting is not installed in this process") from None
    alerts = AlertStore(runtime.store)
    alert = alerts.get(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    suppression_id = ""
    if body.suppress:
        suppression_id = services.suppressions.add(
            principal=alert.principal,
            rule=alert.rule,
            reason=f"false positive: {body.note}",
            created_by=key_id,
            expires_in_s=body.suppress_for_s,
            alert_id=alert.id,
        ).id
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
    detection = runtime.extensions.get("detection")
    if detection is not None and hasattr(detection, "apply_status"):
        detection.apply_status(alert_id, "resolved")  # the running engine stops growing it
    notify_listeners(
        runtime.extensions.setdefault("alert_listeners", []), "alert.resolved", resolved
    )
    return {
        "alert": resolved.to_json(),
        "feedback_id": feedback_id,
        "suppression_id": suppression_id or None,
    }
