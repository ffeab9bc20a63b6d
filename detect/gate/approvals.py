"""Approvals for require_approval decisions: request, approve/deny (no self-approval), single use.

An approval may need `required` distinct approvers (a policy rule's `approvals: 2`, the
two-person rule): each approve adds one -- never the requesting key, never a key or declared
principal that already approved, never the requesting principal -- and the approval turns
`approved` with the last one; one deny denies it.

Self-approval: the API key that asked (the decide call's key fingerprint) can never decide its
own approval, and an approver who declares `as_principal` equal to the requesting principal (ARN or
stable key) is refused too. An approval covers exactly one (principal key, source, action,
resources) request, expires `ttl_s` after it was asked, and is used up by the first decide that
it turns into `allow`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from detect.gate.policy import REQUEST_COLUMNS, GateRequest
from ingest import schema
from ingest.store import Store

__all__ = ["Approval", "ApprovalBook", "ApprovalError", "SelfApprovalError", "fingerprint"]

COLUMNS = (
    "approval_id",
    "created_at",
    "expires_at",
    *REQUEST_COLUMNS,
    "reason",
    "requested_by",
    "status",
    "decided_by",
    "decided_as",
    "decided_at",
    "note",
    "version",
    "required",
    "approvers",
)
SELECT_COLUMNS = tuple(c for c in COLUMNS if c != "version")
LIVE = ("pending", "approved", "denied")
_RANK = {"pending": 0, "approved": 1, "denied": 1, "used": 2, "expired": 2}  # only moves forward
Fingerprint = tuple[str, str, str, tuple[str, ...]]


class ApprovalError(ValueError):
    """The approval does not exist, is no longer pending, or has expired."""


class SelfApprovalError(PermissionError):
    """The approver is the requester (same API key, or declared as the requesting principal)."""


def fingerprint(req: GateRequest) -> Fingerprint:
    return (req.principal_key, req.source, req.action, tuple(sorted(req.resources)))


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _iso(ms: int) -> str | None:
    return _dt(ms).isoformat(timespec="milliseconds") if ms else None


@dataclass(frozen=True)
class Approval:
    """status: pending -> approved | denied | expired; approved -> used (single use) | expired."""

    id: str
    created_at_ms: int
    expires_at_ms: int
    request: GateRequest
    reason: str
    requested_by: str
    status: str = "pending"
    decided_by: str = ""
    decided_as: str = ""
    decided_at_ms: int = 0
    note: str = ""
    required: int = 1
    approvers: tuple[str, ...] = ()  # "key:<key id>" and "as:<principal key>" of each approver

    @property
    def fingerprint(self) -> Fingerprint:
        return fingerprint(self.request)

    def row(self) -> tuple[object, ...]:
        return (
            self.id,
            _dt(self.created_at_ms),
            _dt(self.expires_at_ms),
            *self.request.row(),
            self.reason,
            self.requested_by,
            self.status,
            self.decided_by,
            self.decided_as,
            _dt(self.decided_at_ms),
            self.note,
            time.time_ns(),
            self.required,
            list(self.approvers),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "created_at": _iso(self.created_at_ms),
            "expires_at": _iso(self.expires_at_ms),
            **self.request.to_json(),
            "reason": self.reason,
            "requested_by": self.requested_by,
            "decided_by": self.decided_by or None,
            "decided_as": self.decided_as or None,
            "decided_at": _iso(self.decided_at_ms),
            "note": self.note,
            "required": self.required,
            "approved_by": [a.removeprefix("key:") for a in self.approvers if a.startswith("key:")],
        }


def _from_row(r: tuple[Any, ...]) -> Approval:
    ms = [int(v.timestamp() * 1000) for v in (r[1], r[2], r[15])]
    text = [str(v) for v in r]
    return Approval(
        id=text[0],
        created_at_ms=ms[0],
        expires_at_ms=ms[1],
        request=GateRequest.from_row(r[3:10]),
        reason=text[10],
        requested_by=text[11],
        status=text[12],
        decided_by=text[13],
        decided_as=text[14],
        decided_at_ms=ms[2],
        note=text[16],
        required=int(r[17]),
        approvers=tuple(str(a) for a in r[18]),
    )


class ApprovalBook:
    """Live approvals in memory (indexed by request fingerprint), every change written through.

    `write` persists one row; the gate passes a batched writer so asking for approval never
    waits on the store. Thread-safe.
    """

    def __init__(
        self,
        store: Store,
        *,
        key_of: Callable[[str], str],
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        write: Callable[[tuple[object, ...]], None] | None = None,
    ) -> None:
        self._store = store
        self._key_of = key_of
        self._ttl_ms = int(ttl_s * 1000)
        self._clock = clock
        self._write = write or (lambda row: store.insert(schema.APPROVALS, [row], COLUMNS))
        self._by_id: dict[str, Approval] = {}
        self._by_print: dict[Fingerprint, str] = {}
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def load(self) -> int:
        """(Re)read live approvals, e.g. ones decided through another process."""
        rows = self._store.query(
            f"SELECT {', '.join(SELECT_COLUMNS)} FROM {schema.APPROVALS} FINAL "
            "WHERE expires_at > fromUnixTimestamp64Milli({now:Int64}, 'UTC')",
            {"now": self.now_ms()},
        )
        with self._lock:
            for approval in map(_from_row, rows):
                known = self._by_id.get(approval.id)
                if known is None or _RANK[approval.status] > _RANK[known.status]:
                    self._put(approval)
        return len(rows)

    def lookup(self, req: GateRequest) -> Approval | None:
        """The live approval for exactly this request, if any (expired ones are dropped)."""
        with self._lock:
            found = self._by_id.get(self._by_print.get(fingerprint(req), ""))
            if found is None or found.status not in LIVE:
                return None
            return found if found.expires_at_ms > self.now_ms() else None

    def request(
        self, req: GateRequest, *, reason: str, requested_by: str, required: int = 1
    ) -> Approval:
        now = self.now_ms()
        approval = Approval(
            f"apr_{uuid.uuid4().hex[:20]}",
            now,
            now + self._ttl_ms,
            req,
            reason,
            requested_by,
            required=max(required, 1),
        )
        with self._lock:
            self._put(approval)
        self._write(approval.row())
        return approval

    def consume(self, approval: Approval) -> Approval:
        used = replace(approval, status="used")
        with self._lock:
            self._put(used)
        self._write(used.row())
        return used

    def decide(
        self,
        approval_id: str,
        *,
        approve: bool,
        key_id: str,
        as_principal: str = "",
        note: str = "",
    ) -> Approval:
        """Approve or deny a pending approval; raises ApprovalError or SelfApprovalError."""
        with self._lock:
            approval = self._by_id.get(approval_id)
            if approval is None:
                raise ApprovalError(f"no live approval {approval_id}")
            if approval.status != "pending" or approval.expires_at_ms <= self.now_ms():
                raise ApprovalError(f"approval {approval_id} is {approval.status}, not pending")
            if key_id == approval.requested_by:
                raise SelfApprovalError("the API key that requested an approval cannot decide it")
            declared = self._key_of(as_principal) if as_principal else ""
            if declared and declared == approval.request.principal_key:
                raise SelfApprovalError("a principal cannot approve its own action")
            marks = (f"key:{key_id}", *((f"as:{declared}",) if declared else ()))
            if approve and set(marks) & set(approval.approvers):
                raise SelfApprovalError(
                    f"approval {approval_id} needs {approval.required} different approvers: "
                    "this key (or principal) has approved it already"
                )
            approvers = (*approval.approvers, *marks) if approve else approval.approvers
            count = sum(a.startswith("key:") for a in approvers)
            status = "approved" if count >= approval.required else "pending"
            status = status if approve else "denied"
            decided = replace(
                approval,
                status=status,
                decided_by=key_id,
                decided_as=as_principal,
                decided_at_ms=self.now_ms(),
                note=note,
                approvers=approvers,
            )
            self._put(decided)
        self._write(decided.row())
        return decided

    def get(self, approval_id: str) -> Approval | None:
        with self._lock:
            found = self._by_id.get(approval_id)
        if found is not None:
            return found
        rows = self._store.query(
            f"SELECT {', '.join(SELECT_COLUMNS)} FROM {schema.APPROVALS} FINAL "
            "WHERE approval_id = {id:String}",
            {"id": approval_id},
        )
        return _from_row(rows[0]) if rows else None

    def list(self, status: str | None = None) -> list[Approval]:
        now = self.now_ms()
        with self._lock:
            items = [
                a if a.expires_at_ms > now or a.status not in LIVE else replace(a, status="expired")
                for a in self._by_id.values()
            ]
        chosen = [a for a in items if status is None or a.status == status]
        return sorted(chosen, key=lambda a: a.created_at_ms, reverse=True)

    def expire(self) -> int:
        """Mark live approvals past their expiry as expired and forget old ones; returns count."""
        now = self.now_ms()
        with self._lock:
            stale = [a for a in self._by_id.values() if a.expires_at_ms <= now]
            for approval in stale:
                if approval.status in LIVE:
                    self._put(replace(approval, status="expired"))
                if approval.expires_at_ms + self._ttl_ms <= now:
                    del self._by_id[approval.id]
        for approval in stale:
            if approval.status in LIVE:
                self._write(replace(approval, status="expired").row())
        return len(stale)

    def _put(self, approval: Approval) -> None:
        # Finished approvals stay in memory until well past expiry, so a refresh that reads an
        # older row from the store can never revive a used one.
        self._by_id[approval.id] = approval
        if approval.status in LIVE:
            self._by_print[approval.fingerprint] = approval.id
        elif self._by_print.get(approval.fingerprint) == approval.id:
            del self._by_print[approval.fingerprint]
