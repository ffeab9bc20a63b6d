"""Destructive bursts: mass deletes, delete-and-recreate (direct or via CloudFormation), sprees."""

from __future__ import annotations

from typing import Any

from ..cfn import create_stack, delete_stack
from ..clock import MINUTE, SECOND
from ..ids import hexs
from ..inventory import Res
from ..params_write import db_delete, delete_objects, terminate
from ..sessions import Session
from .base import Script, busy_time, culprit, gap, name_of
from .common import agent_run, crit_env, pace, stolen_session, targets, warmup

Call = tuple[str, Any, Any]


def _delete(sc: Script, r: Res) -> list[Call]:
    rng = sc.rng
    if r.kind == "bucket":
        calls: list[Call] = []
        for _ in range(rng.randint(1, 6)):
            params, _ = delete_objects(rng, r, rng.randint(50, 1000))
            calls.append(("s3:DeleteObjects", params, None))
        host = f"{r.name}.s3.amazonaws.com"
        return [*calls, ("s3:DeleteBucket", {"bucketName": r.name, "Host": host}, None)]
    if r.kind == "instance":
        req, resp = terminate([r.rid])
        return [("ec2:TerminateInstances", req, resp)]
    if r.kind == "db":
        req, resp = db_delete(rng, r, skip_final=rng.random() < 0.7)
        return [("rds:DeleteDBInstance", req, resp)]
    if r.kind == "table":
        return [("dynamodb:DeleteTable", {"tableName": r.name}, None)]
    if r.kind == "function":
        return [("lambda:DeleteFunction20150331", {"functionName": r.name}, None)]
    if r.kind == "secret":
        return [
            (
                "secretsmanager:DeleteSecret",
                {"secretId": r.name, "forceDeleteWithoutRecovery": True},
                None,
            )
        ]
    return [("logs:DeleteLogGroup", {"logGroupName": r.name}, None)]


_MIXES = {
    "s3_purge": ("bucket",),
    "db_tables": ("table", "db"),
    "ec2_terminate": ("instance",),
    "lambda_purge": ("function", "loggroup"),
    "mixed": ("bucket", "instance", "table", "function", "db", "secret"),
}


def _victims(sc: Script, env_of: Any, variant: str, cap: int) -> list[Res]:
    out: list[Res] = []
    for kind in _MIXES[variant]:
        out += targets(sc.ctx, env_of, kind)
    sc.rng.shuffle(out)
    return out[:cap]


def _burst(sc: Script, s: Session, t: int, calls: list[Call], fast: bool, span: int) -> int:
    offs = pace(sc.rng, fast, span, len(calls))
    for off, (key, params, resp) in zip(offs, calls, strict=True):
        sc.call(s, t + off, key, params=params, resp=resp, harm=True)
    return t + (offs[-1] if offs else 0)


def mass_delete(sc: Script) -> None:
    """An agent (or other principal) deleting many production resources."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (7, 1.5, 1.5, 0.5))
    sc.variant = rng.choice(tuple(_MIXES))
    fast = rng.random() < 0.5
    span = rng.randint(30, 90) * MINUTE
    t = busy_time(sc.ctx, rng, span + 20 * MINUTE)
    s = agent_run(sc, p, t)
    t = warmup(sc, s, t, rng.randint(2, 6))
    calls = [c for r in _victims(sc, p, sc.variant, rng.randint(8, 60)) for c in _delete(sc, r)]
    calls = calls[: rng.randint(15, 500)]
    end = _burst(sc, s, t + gap(rng, 5, 60), calls, fast, span)
    warmup(sc, s, end, rng.randint(0, 3))
    sc.description = (
        f"{p.family} {name_of(p)} deletes {len(calls)} {crit_env(sc.ctx, p)} resources "
        f"({sc.variant}, {'seconds apart' if fast else f'over {span // MINUTE} min'})"
    )


def env_recreate(sc: Script) -> None:
    """Delete a production environment's resources, then recreate the same names minutes later."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (8, 1, 1, 0))
    t = busy_time(sc.ctx, rng, 3 * 60 * MINUTE)
    s = agent_run(sc, p, t)
    t = warmup(sc, s, t, 3)
    app = rng.choice(sc.ctx.org.apps)
    env = crit_env(sc.ctx, p)
    victims = [
        r
        for k in ("function", "table", "bucket", "queue", "loggroup")
        for r in sc.ctx.org.inv.of(k, env, app)
        if r.account == p.account
    ]
    victims = victims or targets(sc.ctx, p, "function")
    calls = [c for r in victims for c in _delete(sc, r)]
    t = _burst(sc, s, t, calls, rng.random() < 0.6, 20 * MINUTE) + rng.randint(3, 25) * MINUTE
    create = {
        "lambda:DeleteFunction20150331": "lambda:CreateFunction20150331",
        "dynamodb:DeleteTable": "dynamodb:CreateTable",
        "s3:DeleteBucket": "s3:CreateBucket",
        "logs:DeleteLogGroup": "logs:CreateLogGroup",
    }
    for key, params, _ in calls:
        if key in create:
            t += gap(rng, 1, 15)
            sc.call(s, t, create[key], params=params)
    sc.variant = "direct"
    sc.description = (
        f"{name_of(p)} deletes {len(calls)} resources of {env}-{app} and recreates them"
    )


def cfn_recreate(sc: Script) -> None:
    """DeleteStack on prod-<app>: CloudFormation deletes everything; CreateStack minutes later."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (6, 1, 3, 0))
    t = busy_time(sc.ctx, rng, 2 * 60 * MINUTE)
    s = agent_run(sc, p, t)
    t = warmup(
        sc,
        s,
        t,
        2,
        (
            "cloudformation:DescribeStacks",
            "cloudformation:ListStacks",
            "sts:GetCallerIdentity",
            "cloudformation:DescribeStackEvents",
        ),
    )
    env = crit_env(sc.ctx, p)
    app = rng.choice(sc.ctx.org.apps)
    stack = f"{env}-{app}"
    call, cfn_ids, end = delete_stack(sc.ctx, rng, s, t + gap(rng, 2, 20), stack, env, app)
    sc.harm_ids([call, *cfn_ids])
    t = end + rng.randint(2, 20) * MINUTE
    for _ in range(rng.randint(1, 4)):
        t += gap(rng, 5, 30)
        sc.call(s, t, "cloudformation:DescribeStacks", params={"stackName": stack})
    create_stack(sc.ctx, rng, s, t + 5 * SECOND, stack, env, app, via_changeset=rng.random() < 0.3)
    sc.variant = "cloudformation"
    sc.description = (
        f"{name_of(p)} calls DeleteStack on {stack} (CloudFormation deletes "
        f"{len(cfn_ids)} resources) and recreates the stack"
    )


def two_session_spree(sc: Script) -> None:
    """An agent's deletion spree that continues in a second session with a new name."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (1, 0, 0, 0))
    t = busy_time(sc.ctx, rng, 2 * 60 * MINUTE)
    kinds = rng.choice((("instance",), ("bucket",), ("function", "table"), ("secret", "table")))
    victims = [r for k in kinds for r in targets(sc.ctx, p, k)]
    rng.shuffle(victims)
    calls = [c for r in victims for c in _delete(sc, r)][: rng.randint(16, 120)]
    half = len(calls) // 2
    s1 = agent_run(sc, p, t)
    t = _burst(sc, s1, warmup(sc, s1, t, 2), calls[:half], True, 0)
    t += rng.randint(1, 10) * MINUTE
    renamed = f"{p.session[7:]}-{hexs(rng, 4)}" if p.session.startswith("stable:") else None
    s2 = sc.session(p, t, name=renamed)
    _burst(sc, s2, warmup(sc, s2, t, 1), calls[half:], rng.random() < 0.7, 30 * MINUTE)
    sc.variant = "+".join(kinds)
    sc.description = f"{name_of(p)} deletes {len(calls)} resources across two sessions"


def slow_delete(sc: Script) -> None:
    """Low-and-slow: a few deletes per hour over many hours, between normal reads."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (5, 4, 0.5, 0.5))
    hours = rng.randint(4, 16)
    t = busy_time(sc.ctx, rng, (hours + 1) * 60 * MINUTE)
    kinds = ("bucket", "secret", "table", "function", "loggroup", "instance", "db")
    victims = [r for k in kinds for r in targets(sc.ctx, p, k)]
    rng.shuffle(victims)
    n = 0
    stolen = stolen_session(sc, p, t) if p.kind == "human" else None
    for h in range(hours):
        s = stolen or agent_run(sc, p, t + h * 60 * MINUTE)
        tt = warmup(sc, s, t + h * 60 * MINUTE, rng.randint(1, 4))
        for _ in range(rng.randint(1, 4)):
            if not victims:
                break
            key, params, resp = _delete(sc, victims.pop())[-1]
            tt += gap(sc.rng, 60, 900)
            sc.call(s, tt, key, params=params, resp=resp, harm=True)
            n += 1
    sc.variant = "compromised-human" if stolen else p.kind
    sc.description = f"{name_of(p)} deletes {n} resources slowly over {hours} hours"
