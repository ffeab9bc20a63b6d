"""Pluggable revokers run when a principal is revoked or restored: `webhook` and `aws-iam`.

The gate enforces a revocation at once from memory; revokers carry it to the systems that
issued the credentials. `aws-iam` attaches AWS's documented "revoke older sessions" inline policy
(AWSRevokeOlderSessions: deny everything to tokens issued before now) to the role behind an
assumed-role principal, or a deny-all inline policy to an IAM user. boto3 is imported lazily
(optional dependency: `pip install leash[aws]`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from detect.response.principals import PrincipalChange
from detect.response.webhooks import WebhookEvent, new_event

__all__ = [
    "AwsIamRevoker",
    "REVOKE_POLICY_NAME",
    "RevokeResult",
    "Revoker",
    "WebhookRevoker",
    "build_revokers",
    "iam_target",
    "revocation_listener",
    "revoke_older_sessions_policy",
]

logger = logging.getLogger(__name__)

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"  # the name the IAM console uses for the same action
USER_POLICY_NAME = "LeashRevoked"
_ASSUMED = re.compile(r"^arn:aws[\w-]*:sts::\d*:assumed-role/([^/]+)(?:/.*)?$")
_ROLE = re.compile(r"^arn:aws[\w-]*:iam::\d*:role/(?:.*/)?([^/]+)$")
_USER = re.compile(r"^arn:aws[\w-]*:iam::\d*:user/(?:.*/)?([^/]+)$")


@dataclass(frozen=True)
class RevokeResult:
    revoker: str
    ok: bool
    detail: str


class Revoker(Protocol):
    """Carries a revocation (or its undoing) to an external system.

    Both methods run off the request thread, must not raise (failures are results) and must be
    idempotent: a revoke may be repeated after a restart.
    """

    @property
    def name(self) -> str: ...

    def revoke(self, change: PrincipalChange) -> RevokeResult: ...

    def restore(self, change: PrincipalChange) -> RevokeResult: ...


class _Queue(Protocol):
    def enqueue(self, event: WebhookEvent, endpoints: Sequence[str] | None = None) -> int: ...


class WebhookRevoker:
    """Asks the user's own system to revoke: a signed POST through the outbox (retried, durable)."""

    name = "webhook"

    def __init__(self, *, url: str, outbox: _Queue) -> None:
        self._url = url
        self._outbox = outbox

    def _send(self, change: PrincipalChange, event_type: str, verb: str) -> RevokeResult:
        event = new_event(event_type, {**change.to_json(), "requested_action": verb})
        self._outbox.enqueue(event, [self._url])
        return RevokeResult(self.name, True, f"queued {event.id}")

    def revoke(self, change: PrincipalChange) -> RevokeResult:
        return self._send(change, "principal.revoked", "revoke")

    def restore(self, change: PrincipalChange) -> RevokeResult:
        return self._send(change, "principal.restored", "restore")


def iam_target(principal: str) -> tuple[str, str] | None:
    """("role", name) or ("user", name) behind an ARN or stable key; None if neither."""
    for kind, pattern in (("role", _ASSUMED), ("role", _ROLE), ("user", _USER)):
        match = pattern.match(principal)
        if match:
            return kind, match.group(1)
    return None


def revoke_older_sessions_policy(now: datetime) -> dict[str, Any]:
    """AWS's documented policy: deny every action to sessions issued before `now`."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }


def _deny_all() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"]}],
    }


def _default_iam_client(endpoint_url: str | None, region: str | None) -> Callable[[], Any]:
    def factory() -> Any:
        import boto3

        return boto3.client("iam", endpoint_url=endpoint_url or None, region_name=region or None)

    return factory


class AwsIamRevoker:
    """Revokes through IAM inline policies; restore deletes them again.

    A role keeps working for sessions issued after the revocation (AWS semantics); the gate's
    revocation list keeps denying the principal until it is restored. SSO-managed roles
    (AWSReservedSSO_*) cannot take inline policies and are reported as not revoked.
    """

    name = "aws-iam"

    def __init__(
        self,
        *,
        client_factory: Callable[[], Any] | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client_factory = client_factory or _default_iam_client(endpoint_url, region)
        self._clock = clock

    def revoke(self, change: PrincipalChange) -> RevokeResult:
        target = iam_target(change.principal) or iam_target(change.principal_key)
        if target is None:
            return RevokeResult(self.name, False, "not an IAM role or user ARN")
        kind, name = target
        if name.startswith("AWSReservedSSO_"):
            return RevokeResult(self.name, False, "SSO-managed role: revoke in IAM Identity Center")
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        try:
            iam = self._client_factory()
            if kind == "role":
                iam.put_role_policy(
                    RoleName=name,
                    PolicyName=REVOKE_POLICY_NAME,
                    PolicyDocument=json.dumps(revoke_older_sessions_policy(now)),
                )
            else:
                iam.put_user_policy(
                    UserName=name,
                    PolicyName=USER_POLICY_NAME,
                    PolicyDocument=json.dumps(_deny_all()),
                )
        except Exception as exc:  # noqa: BLE001 - report, never raise (botocore error types)
            return RevokeResult(self.name, False, f"{type(exc).__name__}: {exc}"[:300])
        return RevokeResult(self.name, True, f"inline deny policy on {kind} {name}")

    def restore(self, change: PrincipalChange) -> RevokeResult:
        target = iam_target(change.principal) or iam_target(change.principal_key)
        if target is None:
            return RevokeResult(self.name, False, "not an IAM role or user ARN")
        kind, name = target
        try:
            iam = self._client_factory()
            if kind == "role":
                iam.delete_role_policy(RoleName=name, PolicyName=REVOKE_POLICY_NAME)
            else:
                iam.delete_user_policy(UserName=name, PolicyName=USER_POLICY_NAME)
        except Exception as exc:  # noqa: BLE001 - NoSuchEntity included: report it
            return RevokeResult(self.name, False, f"{type(exc).__name__}: {exc}"[:300])
        return RevokeResult(self.name, True, f"removed the deny policy from {kind} {name}")


def build_revokers(
    names: Sequence[str],
    *,
    webhook_url: str,
    outbox: _Queue,
    aws_endpoint_url: str = "",
    aws_region: str = "",
) -> list[Revoker]:
    """Revokers named in LEASH_REVOKERS (comma list of `webhook`, `aws-iam`)."""
    revokers: list[Revoker] = []
    for name in names:
        match name.strip():
            case "webhook":
                if not webhook_url:
                    raise ValueError("the webhook revoker needs LEASH_REVOKER_WEBHOOK_URL")
                revokers.append(WebhookRevoker(url=webhook_url, outbox=outbox))
            case "aws-iam":
                revokers.append(
                    AwsIamRevoker(endpoint_url=aws_endpoint_url or None, region=aws_region or None)
                )
            case "":
                continue
            case other:
                raise ValueError(f"unknown revoker {other!r}: use webhook or aws-iam")
    return revokers


def revocation_listener(
    *,
    revokers: Sequence[Revoker],
    background: Executor,
    pending: dict[str, list[Future[RevokeResult]]],
) -> Callable[[PrincipalChange], None]:
    """Principal-change listener: run every revoker on a revoke (restore on a restore from
    revoked) in `background`, keeping the futures in `pending` by change id for the API."""

    def on_change(change: PrincipalChange) -> None:
        if change.to_state == "revoked":
            call: Callable[[Revoker], RevokeResult] = lambda r: r.revoke(change)  # noqa: E731
        elif change.from_state == "revoked":
            call = lambda r: r.restore(change)  # noqa: E731
        else:
            return
        pending[change.change_id] = [
            background.submit(_run_revoker, call, revoker) for revoker in revokers
        ]

    return on_change


def _run_revoker(call: Callable[[Revoker], RevokeResult], revoker: Revoker) -> RevokeResult:
    result = call(revoker)
    log = logger.info if result.ok else logger.error
    log("revoker %s: %s", result.revoker, result.detail)
    return result
