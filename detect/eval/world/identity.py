"""userIdentity blocks and session opening (AssumeRole, OIDC, SAML, console sign-in)."""

from __future__ import annotations

import random
from typing import Any

from .clock import HOUR, aws_date, iso
from .ids import access_key, hexs, session_token, unique_id, uuid4
from .principal import Principal
from .record import Emitter, Ident

GH_PROVIDER = "token.actions.githubusercontent.com"


def iam_user_ident(p: Principal) -> Ident:
    """Identity of an IAM user calling with its long-lived access key."""
    ui = {
        "type": "IAMUser",
        "principalId": p.pid,
        "arn": p.user_arn,
        "accountId": p.account,
        "accessKeyId": p.akid,
        "userName": p.name,
    }
    return Ident(ui, p.user_arn, p.account)


def console_ident(p: Principal, t: int, akid: str, mfa: bool) -> Ident:
    """Identity of an IAM user's console session."""
    ui = {
        "type": "IAMUser",
        "principalId": p.pid,
        "arn": p.user_arn,
        "accountId": p.account,
        "accessKeyId": akid,
        "userName": p.name,
        "sessionContext": {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(t), "mfaAuthenticated": "true" if mfa else "false"},
        },
    }
    return Ident(ui, p.user_arn, p.account, console=True)


def role_ident(
    p: Principal,
    session: str,
    t: int,
    akid: str,
    *,
    mfa: bool = False,
    via: str | None = None,
    console: bool = False,
) -> Ident:
    """Identity of an assumed-role session of the principal's role."""
    role_id = p.pid
    arn = f"arn:aws:sts::{p.account}:assumed-role/{p.name}/{session}"
    ctx: dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_id,
            "arn": p.role_arn,
            "accountId": p.account,
            "userName": p.name,
        },
        "webIdFederationData": {},
        "attributes": {"creationDate": iso(t), "mfaAuthenticated": "true" if mfa else "false"},
    }
    if p.auth == "oidc":
        ctx["webIdFederationData"] = {
            "federatedProvider": f"arn:aws:iam::{p.account}:oidc-provider/{GH_PROVIDER}",
            "attributes": {},
        }
    if p.auth == "ec2":
        ctx["ec2RoleDelivery"] = "2.0"
    ui: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": arn,
        "accountId": p.account,
        "accessKeyId": akid,
        "sessionContext": ctx,
    }
    if via:
        ui["invokedBy"] = via
    return Ident(ui, arn, p.account, console=console, via=via)


def service_ident(host: str, account: str) -> Ident:
    """Identity of an AWS service principal acting directly."""
    return Ident({"type": "AWSService", "invokedBy": host}, host, account, via=host)


def root_ident(account: str, akid: str) -> Ident:
    """Identity of the account root user."""
    ui = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": akid,
    }
    return Ident(ui, f"arn:aws:iam::{account}:root", account)


def session_name(rng: random.Random, p: Principal, t: int) -> str:
    """Produce a session name according to the principal's naming style."""
    style = p.session
    if style.startswith("stable:"):
        return style[7:]
    table = {
        "email": p.email,
        "agent-run": f"agent-run-{hexs(rng, 12)}",
        "claude": f"claude-{uuid4(rng)}",
        "devin": f"devin-session-{hexs(rng, 8)}",
        "botocore": f"botocore-session-{t // 1000}",
        "github": "GitHubActions",
        "gh-runid": f"github-{rng.randrange(6_000_000_000, 9_999_999_999)}",
        "task": hexs(rng, 32),
        "instance": f"i-0{hexs(rng, 16)}",
        "function": p.name.removesuffix("-role"),
        "slr": p.launcher or "AWSService",
    }
    return table.get(style, f"{style}-{hexs(rng, 8)}")


def _creds(rng: random.Random, t: int, akid: str, hours: int) -> dict[str, str]:
    return {
        "accessKeyId": akid,
        "sessionToken": session_token(rng),
        "expiration": aws_date(t + hours * HOUR),
    }


def assume_event(
    em: Emitter,
    rng: random.Random,
    p: Principal,
    t: int,
    sess: str,
    akid: str,
    caller: Ident,
    ip: str,
    ua: str,
    region: str,
) -> None:
    """Log the AssumeRole call that created a role session."""
    arn = f"arn:aws:sts::{p.account}:assumed-role/{p.name}/{sess}"
    params = {"roleArn": p.role_arn, "roleSessionName": sess, "durationSeconds": 3600}
    resp = {
        "credentials": _creds(rng, t, akid, 1),
        "assumedRoleUser": {"assumedRoleId": f"{p.pid}:{sess}", "arn": arn},
    }
    res = [{"accountId": p.account, "type": "AWS::IAM::Role", "ARN": p.role_arn}]
    em.call(
        t,
        caller,
        "sts:AssumeRole",
        region,
        ip,
        ua,
        params=params,
        resp=resp,
        resources=res,
        recipient=p.account,
        shared=uuid4(rng) if caller.via else None,
    )


def oidc_event(
    em: Emitter,
    rng: random.Random,
    p: Principal,
    t: int,
    sess: str,
    akid: str,
    ip: str,
    ua: str,
    repo: str,
) -> None:
    """Log AssumeRoleWithWebIdentity from a GitHub Actions runner."""
    sub = f"repo:{repo}:ref:refs/heads/main"
    provider = f"arn:aws:iam::{p.account}:oidc-provider/{GH_PROVIDER}"
    who = Ident(
        {
            "type": "WebIdentityUser",
            "principalId": f"{provider}:sts.amazonaws.com:{sub}",
            "userName": sub,
            "identityProvider": provider,
        },
        sub,
        p.account,
    )
    arn = f"arn:aws:sts::{p.account}:assumed-role/{p.name}/{sess}"
    resp = {
        "credentials": _creds(rng, t, akid, 1),
        "subjectFromWebIdentityToken": sub,
        "assumedRoleUser": {"assumedRoleId": f"{p.pid}:{sess}", "arn": arn},
        "provider": provider,
        "audience": "sts.amazonaws.com",
    }
    params = {"roleArn": p.role_arn, "roleSessionName": sess, "durationSeconds": 3600}
    em.call(
        t,
        who,
        "sts:AssumeRoleWithWebIdentity",
        p.regions[0],
        ip,
        ua,
        params=params,
        resp=resp,
        resources=[{"accountId": p.account, "type": "AWS::IAM::Role", "ARN": p.role_arn}],
    )


def new_session_key(rng: random.Random) -> str:
    """A fresh temporary access key id."""
    return access_key(rng, temporary=True)


def ic_user_ident(p: Principal, store: str) -> Ident:
    """Identity Center (SSO portal) identity for a person."""
    uid = f"{p.pid[-8:].lower()}-{p.email.split('@')[0][:6]}"
    ui = {
        "type": "IdentityCenterUser",
        "accountId": p.account,
        "onBehalfOf": {"userId": uid, "identityStoreArn": store},
        "credentialId": unique_id(random.Random(p.email), "")[:17],
    }
    return Ident(ui, p.email, p.account)
