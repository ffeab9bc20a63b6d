"""Helpers shared by episode kinds: target resources, attacker sessions, reconnaissance."""

from __future__ import annotations

import random

from ..clock import SECOND
from ..context import Ctx
from ..ids import hexs
from ..inventory import Res
from ..net import hostile_ip
from ..principal import Principal
from ..sessions import Session, open_session
from ..useragents import HOSTILE
from .base import Script, gap


def crit_env(ctx: Ctx, p: Principal) -> str:
    """The most critical environment in p's account."""
    for acct in ctx.org.accounts:
        if acct.id == p.account:
            for env in ("prod", "staging", "dev"):
                if env in acct.envs:
                    return env
    return "prod"


def targets(ctx: Ctx, p: Principal, kind: str, env: str | None = None) -> list[Res]:
    """Resources of kind in p's account (in its most critical environment by default)."""
    env = env or crit_env(ctx, p)
    items = [r for r in ctx.org.inv.of(kind, env) if r.account == p.account]
    return items or [r for r in ctx.org.inv.of(kind) if r.account == p.account]


def stolen_session(sc: Script, p: Principal, t: int, *, hostile_ua: bool = True) -> Session:
    """A session using p's credentials from an attacker address (and usually an odd UA)."""
    _, ip = hostile_ip(sc.rng)
    ua = sc.rng.choice(HOSTILE) if hostile_ua else None
    if p.auth in ("iam_key", "console"):
        return open_session(sc.ctx, sc.rng, p, t, ip=ip, ua=ua, console=False)
    return open_session(sc.ctx, sc.rng, p, t, ip=ip, ua=ua)


def agent_run(sc: Script, p: Principal, t: int) -> Session:
    """A fresh run/session of an agent (or any role) from its usual place."""
    return open_session(sc.ctx, sc.rng, p, t)


RECON = (
    "sts:GetCallerIdentity",
    "s3:ListBuckets",
    "ec2:DescribeInstances",
    "iam:ListRoles",
    "lambda:ListFunctions20150331",
    "rds:DescribeDBInstances",
    "dynamodb:ListTables",
    "cloudformation:DescribeStacks",
    "logs:DescribeLogGroups",
)


def warmup(sc: Script, s: Session, t: int, n: int, pool: tuple[str, ...] = RECON) -> int:
    """A few normal-looking reads at the start of a run; returns the time after them."""
    for key in sc.rng.sample(pool, min(n, len(pool))):
        t += gap(sc.rng, 1, 20)
        sc.call(s, t, key)
    return t


def pace(rng: random.Random, fast: bool, total_ms: int, n: int) -> list[int]:
    """Offsets for n damaging calls: seconds apart (fast) or spread over total_ms."""
    if fast:
        out, t = [], 0
        for _ in range(n):
            t += int(rng.expovariate(1 / 1.5) * SECOND) + 200
            out.append(t)
        return out
    return sorted(rng.randrange(0, max(1, total_ms)) for _ in range(n))


def new_name(rng: random.Random, base: str) -> str:
    """A derived throwaway name."""
    return f"{base}-{hexs(rng, 5)}"
