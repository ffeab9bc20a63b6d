"""Episode helpers that involve specific cast members (admins, new hires)."""

from __future__ import annotations

import dataclasses
import hashlib

from ..catalog import api
from ..clock import MINUTE
from ..principal import Principal
from ..record import denied
from ..sessions import Session
from .base import Script, gap, person, pick


def admin_session(sc: Script, t: int, account: str = "") -> Session:
    """A session of an administrator in the given account: one who works there, else an
    Identity Center administrator signing in to it (its permission set is assigned in every
    account; an IAM user's session never acts in another account -- before, the edit of a
    role in an account nobody administers was logged in the admin's own account, where no
    such role exists: fresh seed 1576)."""
    admins = [
        p
        for p in sc.ctx.cast
        if p.kind == "human"
        and p.family.startswith("admin")
        and p.rhythm.per_day > 0
        and (not account or p.account == account)
    ]
    sso = [p for p in sc.ctx.cast if p.kind == "human" and p.family.startswith("admin")]
    sso = [p for p in sso if p.auth == "sso"] if account else []
    p = (
        sc.rng.choice(admins or sso)
        if admins or sso
        else (pick(sc.ctx, sc.rng, kinds=("human",), families=("admin",)) or person(sc.ctx, sc.rng))
    )
    if account and p.account != account and p.auth == "sso":
        # the permission set's role in that account: its own name suffix and id (SsoRoles
        # makes one per permission set and account; derived here without the world's rng)
        perm = p.name.split("_")[1] if p.name.count("_") >= 2 else p.name
        digest = hashlib.sha256(f"{perm}:{account}".encode()).hexdigest()
        name = f"AWSReservedSSO_{perm}_{digest[:16]}"
        p = dataclasses.replace(
            p,
            account=account,
            name=name,
            pid="AROA" + digest[16:32].upper(),
            key=f"arn:aws:sts::{account}:assumed-role/{name}/{p.email}",
        )
    return sc.session(p, t)


FIRST_DAY = (
    "sts:GetCallerIdentity",
    "s3:ListBuckets",
    "ec2:DescribeInstances",
    "lambda:ListFunctions20150331",
    "logs:DescribeLogGroups",
    "iam:GetUser",
    "cloudformation:DescribeStacks",
    "rds:DescribeDBInstances",
    "dynamodb:ListTables",
    "iam:ListRoles",
    "secretsmanager:ListSecrets",
    "ssm:DescribeParameters",
)


def first_day(sc: Script, hire: Principal, t: int) -> None:
    """A brand-new principal's first hours: sign-in, mostly reads and AccessDenied errors."""
    rng = sc.rng
    s = sc.session(hire, t, console=True, mfa=False)
    arn = hire.key
    for _ in range(rng.randint(30, 120)):
        t += gap(rng, 3, 90) if rng.random() < 0.8 else rng.randint(5, 30) * MINUTE
        key = rng.choice(FIRST_DAY)
        err = denied(api(key), arn, "") if rng.random() < 0.25 else None
        sc.call(s, t, key, error=err)
