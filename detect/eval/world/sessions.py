"""Opening a working session for a principal, logging the authentication event it implies."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .context import Ctx
from .identity import (
    assume_event,
    console_ident,
    iam_user_ident,
    ic_user_ident,
    new_session_key,
    oidc_event,
    role_ident,
    service_ident,
    session_name,
)
from .net import aws_ip, runner_ip
from .principal import Principal
from .record import Ident
from .useragents import BROWSERS

_SERVICE_OF = {
    "lambda": "lambda.amazonaws.com",
    "ecs": "ecs-tasks.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
}


@dataclass(frozen=True)
class Session:
    """A principal's credentials plus where and how it calls from."""

    who: Ident
    ip: str
    ua: str
    region: str
    principal: Principal


def pick_ip(rng: random.Random, p: Principal) -> str:
    """Choose a source IP for a new session of p."""
    if p.ip_mode == "runner":
        return runner_ip(rng)
    if p.ip_mode == "aws":
        return aws_ip(rng)
    if p.ip_mode == "service" or not p.ips:
        return p.launcher or "AWS Internal"
    if len(p.ips) == 1 or rng.random() < 0.7:
        return p.ips[0]
    return rng.choice(p.ips[1:])


def pick_ua(rng: random.Random, p: Principal) -> str:
    """Choose a user agent (mostly the principal's primary one)."""
    if len(p.uas) == 1 or rng.random() < 0.75:
        return p.uas[0]
    return rng.choice(p.uas)


def _console_login(
    ctx: Ctx, _rng: random.Random, p: Principal, t: int, ip: str, ua: str, mfa: bool, who: Ident
) -> None:
    extra = {
        "LoginTo": f"https://console.aws.amazon.com/console/home?region={p.regions[0]}"
        "&state=hashArgs%23&isauthcode=true",
        "MobileVersion": "No",
        "MFAUsed": "Yes" if mfa else "No",
    }
    if mfa and p.auth == "console":
        extra["MFAIdentifier"] = f"arn:aws:iam::{p.account}:mfa/{p.name}"
    ui = {k: v for k, v in who.ui.items() if k not in ("accessKeyId", "sessionContext")}
    ctx.em.call(
        t,
        Ident(ui, who.key, who.account),
        "signin:ConsoleLogin",
        "us-east-1",
        ip,
        ua,
        resp={"ConsoleLogin": "Success"},
        extra=extra,
        event_type="AwsConsoleSignIn",
    )


def _sso(
    ctx: Ctx, rng: random.Random, p: Principal, t: int, ip: str, ua: str, console: bool
) -> Ident:
    who = role_ident(p, p.email, t, new_session_key(rng), console=console)
    portal = ic_user_ident(p, ctx.store_arn)
    name = "sso:Federate" if console else "sso:GetRoleCredentials"
    perm = p.name.split("_")[1] if "_" in p.name else p.name
    ctx.em.call(
        t - 2000,
        portal,
        name,
        p.regions[0],
        ip,
        ua,
        params={"accountId": p.account, "roleName": perm},
    )
    if console:
        _console_login(ctx, rng, p, t, ip, ua, True, who)
    return who


def _launcher(ctx: Ctx, rng: random.Random, p: Principal, t: int) -> tuple[Ident, str, str]:
    host = _SERVICE_OF.get(p.auth)
    if host is None and p.launcher in ctx.by_key:
        lp = ctx.by_key[p.launcher]
        who = (
            iam_user_ident(lp)
            if lp.auth in ("iam_key", "console")
            else role_ident(lp, lp.email or lp.name, t - 600_000, new_session_key(rng))
        )
        return who, pick_ip(rng, lp), pick_ua(rng, lp)
    if p.launcher.startswith("acct:"):
        acct = p.launcher[5:]
        ui = {"type": "AWSAccount", "principalId": f"AIDA{acct[:8]}VENDOR", "accountId": acct}
        return Ident(ui, f"arn:aws:iam::{acct}:root", acct), pick_ip(rng, p), pick_ua(rng, p)
    host = host or p.launcher or "ecs-tasks.amazonaws.com"
    return service_ident(host, p.account), host, host


def open_session(
    ctx: Ctx,
    rng: random.Random,
    p: Principal,
    t: int,
    *,
    ip: str | None = None,
    ua: str | None = None,
    region: str | None = None,
    name: str | None = None,
    mfa: bool | None = None,
    console: bool | None = None,
) -> Session:
    """Start a session for p at time t, logging its authentication event if any."""
    ip = ip or pick_ip(rng, p)
    region = region or (p.regions[0] if rng.random() < 0.85 else rng.choice(p.regions))
    use_console = console if console is not None else p.auth == "console"
    ua = ua or (rng.choice(BROWSERS[:3]) if use_console and p.kind == "human" else pick_ua(rng, p))
    who = _identity(ctx, rng, p, t, ip, ua, name, p.mfa if mfa is None else mfa, use_console)
    return Session(who, ip, ua, region, p)


def _identity(
    ctx: Ctx,
    rng: random.Random,
    p: Principal,
    t: int,
    ip: str,
    ua: str,
    name: str | None,
    mfa: bool,
    use_console: bool,
) -> Ident:
    auth = p.auth
    if auth == "service":
        return service_ident(p.name, p.account)
    if auth in ("iam_key", "console") and not use_console:
        return iam_user_ident(p)
    if auth in ("iam_key", "console"):
        who = console_ident(p, t, new_session_key(rng), mfa)
        _console_login(ctx, rng, p, t, ip, ua, mfa, who)
        return who
    if auth == "sso":
        return _sso(ctx, rng, p, t, ip, ua, use_console)
    sess = name or session_name(rng, p, t)
    akid = new_session_key(rng)
    via = p.launcher if auth == "slr" else None
    who = role_ident(p, sess, t, akid, via=via)
    if auth == "oidc":
        oidc_event(
            ctx.em, rng, p, t - 1500, sess, akid, ip, ua, f"{ctx.org.github_org}/{p.apps[0]}"
        )
    elif auth != "slr" or rng.random() < 0.1:
        caller, cip, cua = _launcher(ctx, rng, p, t)
        assume_event(
            ctx.em, rng, p, t - rng.randrange(200, 3000), sess, akid, caller, cip, cua, p.regions[0]
        )
    return who
