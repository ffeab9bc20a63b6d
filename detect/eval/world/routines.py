"""Structured baseline routines: CI deploys, preview environments and the retention agent."""

from __future__ import annotations

import random
from typing import Any

from .cfn import cfn_session, create_stack, delete_stack
from .clock import DAY, HOUR, MINUTE, SECOND, local_midnight, local_weekday
from .context import Ctx
from .ids import ec2_id, hexs
from .params import arn_of
from .principal import Principal
from .sessions import Session, open_session


def _days(ctx: Ctx) -> list[tuple[int, bool]]:
    org, out = ctx.org, []
    mid = local_midnight(org.start_ms, org.tz)
    while mid < org.end_ms:
        out.append((mid, local_weekday(mid + 12 * HOUR, org.tz) >= 5))
        mid += DAY
    return out


def env_of(ctx: Ctx, p: Principal) -> str:
    """The least critical environment hosted in p's account."""
    for acct in ctx.org.accounts:
        if acct.id == p.account:
            return "dev" if "dev" in acct.envs else acct.envs[0]
    return "dev"


def _in_window(ctx: Ctx, t: int, span: int = HOUR) -> bool:
    return ctx.org.start_ms + 10_000 <= t < ctx.org.end_ms - span


def deploy(ctx: Ctx, rng: random.Random, s: Session, t: int, env: str, app: str) -> list[str]:
    """A change-set deploy of '<env>-<app>' and CloudFormation's update calls."""
    stack, reg, ids = f"{env}-{app}", ctx.org.home, []
    cs = f"deploy-{hexs(rng, 8)}"
    steps = [
        ("sts:GetCallerIdentity", None),
        ("cloudformation:DescribeStacks", {"stackName": stack}),
        (
            "cloudformation:CreateChangeSet",
            {
                "stackName": stack,
                "changeSetName": cs,
                "changeSetType": "UPDATE",
                "capabilities": ["CAPABILITY_IAM"],
            },
        ),
    ]
    steps += [
        ("cloudformation:DescribeChangeSet", {"stackName": stack, "changeSetName": cs})
    ] * rng.randint(1, 4)
    steps.append(("cloudformation:ExecuteChangeSet", {"stackName": stack, "changeSetName": cs}))
    steps += [("cloudformation:DescribeStacks", {"stackName": stack})] * rng.randint(3, 12)
    for key, params in steps:
        t += rng.randrange(1, 12) * SECOND
        ids.append(ctx.em.call(t, s.who, key, reg, s.ip, s.ua, params=params)["eventID"])
    acct = ctx.org.account_of(env)
    fns = [r for r in ctx.org.inv.of("function", env, app) if r.account == acct]
    if fns:
        cfs = cfn_session(ctx, rng, acct, t)
        for fn in fns:
            t += rng.randrange(1, 6) * SECOND
            ids.append(
                ctx.em.call(
                    t,
                    cfs.who,
                    "lambda:UpdateFunctionCode20150331v2",
                    fn.region,
                    cfs.ip,
                    cfs.ua,
                    params={"functionName": arn_of(fn), "publish": True},
                    recipient=acct,
                )["eventID"]
            )
    return ids


def ci_day(ctx: Ctx, rng: random.Random, p: Principal, mid: int, weekend: bool) -> None:
    """One day of deploys for a deploy role."""
    n = 0 if weekend and rng.random() < 0.8 else rng.randint(0, 5)
    for _ in range(n):
        t = mid + int(rng.uniform(p.rhythm.start_h, p.rhythm.end_h) * HOUR)
        if not _in_window(ctx, t):
            continue
        s = open_session(ctx, rng, p, t)
        for env in ("staging", "prod") if rng.random() < 0.7 else ("dev",):
            deploy(ctx, rng, s, t, env, p.apps[0])
            t += rng.randrange(3, 15) * MINUTE


def preview_day(
    ctx: Ctx, rng: random.Random, p: Principal, mid: int, weekend: bool, pr_next: list[int]
) -> None:
    """Create preview stacks during the day and tear them all down at night."""
    created = []
    for _ in range(0 if weekend else rng.randint(1, 7)):
        t = mid + int(rng.uniform(9, 18) * HOUR)
        if not _in_window(ctx, t):
            continue
        pr_next[0] += rng.randint(1, 4)
        stack = f"pr-{pr_next[0]}-{p.apps[0]}"
        create_stack(
            ctx,
            rng,
            open_session(ctx, rng, p, t),
            t,
            stack,
            env_of(ctx, p),
            p.apps[0],
            via_changeset=rng.random() < 0.5,
        )
        created.append(stack)
    t = mid + DAY + int(p.rhythm.sched_hours[0] * HOUR)
    if created and _in_window(ctx, t):
        teardown(ctx, rng, p, t, created)


def teardown(
    ctx: Ctx, rng: random.Random, p: Principal, t: int, stacks: list[str]
) -> tuple[list[str], list[str]]:
    """Nightly preview teardown: DeleteStack per stack plus CloudFormation's deletions."""
    s = open_session(ctx, rng, p, t)
    calls, cfn = [], []
    for stack in stacks:
        t += rng.randrange(2, 40) * SECOND
        call, ids, _ = delete_stack(ctx, rng, s, t, stack, env_of(ctx, p), p.apps[0])
        calls.append(call)
        cfn += ids
    return calls, cfn


def _emit(ctx: Ctx, s: Session, t: int, key: str, params: Any, resp: Any = None) -> str:
    rec = ctx.em.call(t, s.who, key, s.region, s.ip, s.ua, params=params, resp=resp)
    return str(rec["eventID"])


def retention_run(
    ctx: Ctx,
    rng: random.Random,
    p: Principal,
    t: int,
    scale: float = 1.0,
    session: Session | None = None,
) -> list[str]:
    """The retention agent's scheduled clean-up: expired snapshots, old log groups, stale stacks."""
    s = session or open_session(ctx, rng, p, t, region=ctx.org.home)
    expired = {"name": "tag:retention", "valueSet": {"items": [{"value": "expired"}]}}
    ids = [
        _emit(
            ctx,
            s,
            t,
            "ec2:DescribeSnapshots",
            {"ownersSet": {"items": [{"owner": "self"}]}, "filterSet": {"items": [expired]}},
        )
    ]
    for _ in range(max(1, int(rng.randint(4, 30) * scale))):
        t += rng.randrange(2, 20) * SECOND
        ids.append(
            _emit(
                ctx,
                s,
                t,
                "ec2:DeleteSnapshot",
                {"snapshotId": ec2_id(rng, "snap")},
                {"requestId": "", "_return": True},
            )
        )
    ids.append(
        _emit(ctx, s, t, "logs:DescribeLogGroups", {"logGroupNamePrefix": "/aws/lambda/pr-"})
    )
    for _ in range(max(0, int(rng.randint(0, 12) * scale))):
        t += rng.randrange(1, 10) * SECOND
        lg = f"/aws/lambda/pr-{rng.randrange(100, 4000)}-{rng.choice(ctx.org.apps)}-api"
        ids.append(_emit(ctx, s, t, "logs:DeleteLogGroup", {"logGroupName": lg}))
    if rng.random() < 0.3 * scale:
        ids.append(
            _emit(
                ctx,
                s,
                t,
                "cloudformation:ListStacks",
                {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
            )
        )
        for _ in range(rng.randint(1, 3)):
            t += rng.randrange(5, 60) * SECOND
            stack = f"test-{rng.choice(ctx.org.apps)}-{hexs(rng, 6)}"
            call, cfn_ids, t = delete_stack(ctx, rng, s, t, stack, env_of(ctx, p), p.apps[0])
            ids += [call, *cfn_ids]
    return ids


def ci_and_retention(ctx: Ctx, rng: random.Random) -> None:
    """Run CI deploys, preview environments and retention runs over the whole window."""
    deployers = ctx.of_family("gha-deploy")
    previewers = ctx.of_family("gha-ci-agent") or deployers[: max(1, len(deployers) // 2)]
    pr_next = [rng.randrange(200, 3000)]
    for mid, weekend in _days(ctx):
        for p in deployers:
            ci_day(ctx, rng, p, mid, weekend)
        for p in previewers:
            preview_day(ctx, rng, p, mid, weekend, pr_next)
        for p in ctx.of_family("retention-agent"):
            for h in p.rhythm.sched_hours:
                t = mid + int(h * HOUR) + rng.randrange(0, 300_000)
                if _in_window(ctx, t):
                    retention_run(ctx, rng, p, t)
