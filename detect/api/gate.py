"""Gate routes: POST /v1/decide, GET /v1/decisions, approvals (list, get, approve, deny), and
POST /v1/gate/replay (a candidate policy over the recent traffic).

`POST /v1/decide` needs `ingest` -- the key an agent or its tool gateway already holds to emit
events; it reads no one else's data. Reads need `read`; approving or denying needs `admin`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from detect.api.decide import DecideBody, binding_refusal
from detect.gate.approvals import ApprovalError, SelfApprovalError
from detect.gate.policy import Policy
from detect.gate.replay import replay
from detect.response.webhooks import new_event
from detect.services import Services
from ingest.api import OrjsonResponse
from ingest.auth import Authenticator, Caller

__all__ = ["create_router"]


class ReplayBody(BaseModel):
    policy: Policy = Field(description="a policy document, as in LEASH_POLICY_FILE")
    since_s: float = Field(default=7 * 86400, gt=0, le=90 * 86400, description="how far back")


class ApprovalBody(BaseModel):
    note: str = Field(default="", max_length=2000)
    as_principal: str = Field(
        default="",
        max_length=2048,
        description="who approves (ARN or name); refused if it is the requesting principal",
    )


def create_router(services: Services, auth: Authenticator) -> APIRouter:
    router = APIRouter()
    _decide_routes(router, services, auth)
    _approval_routes(router, services, auth, auth.require("admin"))
    _replay_route(router, services, auth)
    return router


def _replay_route(router: APIRouter, services: Services, auth: Authenticator) -> None:
    @router.post("/v1/gate/replay", dependencies=[Depends(auth.require("admin"))], tags=["gate"])
    def replay_policy(body: ReplayBody) -> OrjsonResponse:
        """What a candidate policy would have answered to the last `since_s` seconds of decide
        requests and of agents' unasked write and dangerous calls: totals, the answers that
        change, and per principal and deciding rule. Nothing is changed or stored."""
        policy = body.policy  # (an invalid one is the route's 422, naming the field)
        services.decision_log.flush()
        now_ms = int(time.time() * 1000)
        report = replay(
            services.runtime.store,
            policy,
            since_ms=now_ms - int(body.since_s * 1000),
            until_ms=now_ms + 1,
        )
        return OrjsonResponse(report.to_json())


def _decide_routes(router: APIRouter, services: Services, auth: Authenticator) -> None:
    @router.post("/v1/decide", tags=["gate"])
    async def decide(
        body: DecideBody, caller: Caller = Depends(auth.require_inline("ingest"))
    ) -> OrjsonResponse:
        """Ask before acting: `allow`, `require_approval` (with `approval_id`) or `deny`.

        The action class comes from the server's catalogue. Calling again with the same request
        while an approval is pending returns the same approval id; once approved, the next call
        answers `allow` exactly once.
        """
        refusal = binding_refusal(caller, body.principal)
        if refusal:
            raise HTTPException(403, refusal)
        decision = services.gate.decide(
            principal=body.principal,
            action=body.action,
            source=body.source,
            resources=body.resources,
            arguments=body.arguments,
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
        store, key_of = services.runtime.store, services.registry.key_of
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
    services: Services,
    auth: Authenticator,
    admin: Callable[[Request], Caller],
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
        caller: Caller = Depends(admin),
        body: ApprovalBody | None = None,
    ) -> OrjsonResponse:
        """Approve or deny (admin). The key that asked, or the requesting principal, is refused;
        an approval that needs several approvers stays pending until enough different keys
        approved it (`required`, `approved_by`)."""
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
        if approval.status != "pending":  # (still pending: more approvers are needed)
            services.background.submit(_notify_decided, services, approval.to_json())
        return OrjsonResponse(approval.to_json())


def _notify_decided(services: Services, approval: dict[str, Any]) -> None:
    services.notifier.send(new_event("approval.decided", {"approval": approval}))
