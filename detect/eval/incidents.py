"""Labelled incidents and hard negatives injected into the generated test days."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from detect.eval.actors import Cast, deploy_calls, label_of, session_events
from detect.eval.scenario import (
    APPS,
    DAY_MS,
    DELETE_OBJECT,
    GET_OBJECT,
    HOUR_MS,
    MINUTE_MS,
    PAIRS,
    REGIONS,
    TERMINATE,
    Actor,
    Emitter,
    Label,
    Op,
)

__all__ = ["HARD_NEGATIVES", "INCIDENTS", "inject"]

INCIDENTS = {  # kind -> how many per scenario
    "mass_delete": 2,
    "delete_recreate_env": 2,
    "privilege_escalation": 2,
    "logging_disabled": 2,
    "recon_burst": 2,
    "low_and_slow_delete": 1,
    "compromised_human_night": 1,
    "exfiltration": 1,
}
HARD_NEGATIVES = {"big_deploy": 1, "new_employee_first_day": 1}  # plus nightly ci_teardown
RESERVE_MS = 3 * HOUR_MS  # quiet time kept around each injected case of the same actor
RECON_OPS = (
    Op("iam", "ListUsers"),
    Op("iam", "ListRoles"),
    Op("iam", "ListPolicies"),
    Op("iam", "GetAccountAuthorizationDetails"),
    Op("s3", "ListBuckets"),
    Op("ec2", "DescribeInstances"),
    Op("ec2", "DescribeSnapshots"),
    Op("ec2", "DescribeRegions"),
    Op("rds", "DescribeDBInstances"),
    Op("lambda", "ListFunctions20150331"),
    Op("secretsmanager", "ListSecrets"),
    Op("kms", "ListKeys"),
    Op("dynamodb", "ListTables"),
    Op("sns", "ListTopics"),
    Op("ecr", "DescribeRepositories"),
    Op("eks", "ListClusters"),
)
Call = tuple[Op, str, dict[str, Any]]


def _run(
    em: Emitter,
    actor: Actor,
    start_ms: int,
    calls: list[Call],
    gap_s: tuple[float, float],
    *,
    session: str = "",
) -> list[str]:
    t, ids = start_ms, []
    session = session or actor.session or f"agent-run-{em.rnd.randrange(10**9, 10**10)}"
    for op, resource, extra in calls:
        ids.append(em.emit(actor, t, op, resource, session=session, **extra))
        t += int(em.rnd.uniform(*gap_s) * 1000)
    return ids


def _reads(rnd: random.Random, n: int, app: str) -> list[Call]:
    ops = (
        Op("cloudformation", "DescribeStacks", "stackName"),
        Op("ec2", "DescribeInstances"),
        Op("s3", "ListBuckets"),
    )
    return [(rnd.choice(ops), f"prod-{app}", {}) for _ in range(n)]


def mass_delete(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd, app = em.rnd, em.rnd.choice(APPS)
    calls: list[Call] = []
    for i in range(rnd.randint(30, 300)):
        roll = rnd.random()
        if roll < 0.15:
            calls.append((TERMINATE, f"i-{rnd.getrandbits(56):014x}", {}))
        elif roll < 0.35:
            calls.append((DELETE_OBJECT, f"{app}-prod-data/obj-{i}", {}))
        else:
            calls.append((rnd.choice(PAIRS)[1], f"prod-{app}-{i}", {}))
        if rnd.random() < 0.25:
            calls += _reads(rnd, 1, app)
    per_min = rnd.uniform(6, 30)
    return _run(em, actor, start_ms, calls, (30 / per_min, 90 / per_min))


def delete_recreate_env(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd, app = em.rnd, em.rnd.choice(APPS)
    env = [(rnd.choice(PAIRS), f"prod-{app}-{svc}") for svc in range(rnd.randint(8, 20))]
    calls = _reads(rnd, rnd.randint(2, 6), app)
    calls += [(pair[1], name, {}) for pair, name in env]
    calls += [(pair[0], name, {}) for pair, name in env]
    return _run(em, actor, start_ms, calls, (3, 10))


def privilege_escalation(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd = em.rnd
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    grants: list[Call] = [
        (
            Op("iam", "AttachUserPolicy"),
            "",
            {"params": {"userName": "svc-backdoor", "policyArn": admin}},
        ),
        (
            Op("iam", "CreatePolicyVersion"),
            "",
            {
                "params": {
                    "policyArn": "arn:aws:iam::111122223333:policy/app-policy",
                    "setAsDefault": True,
                }
            },
        ),
        (Op("iam", "CreateAccessKey"), "", {"params": {"userName": "ops-admin"}}),
        (
            Op("iam", "PutRolePolicy"),
            "",
            {"params": {"roleName": "app-role", "policyName": "allow-all"}},
        ),
        (Op("iam", "UpdateAssumeRolePolicy"), "", {"params": {"roleName": "admin-role"}}),
        (
            Op("iam", "AttachRolePolicy"),
            "",
            {"params": {"roleName": "app-role", "policyArn": admin}},
        ),
        (Op("iam", "CreateUser"), "", {"params": {"userName": "svc-backdoor"}}),
    ]
    calls: list[Call] = [(Op("iam", "GetUser"), "", {}) for _ in range(rnd.randint(2, 5))]
    calls += rnd.sample(grants, rnd.randint(3, 6))
    calls += [(Op("iam", "ListAttachedRolePolicies", "roleName"), "app-role", {})]
    return _run(em, actor, start_ms, calls, (10, 60))


def logging_disabled(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd = em.rnd
    evasions: list[Call] = [
        (Op("cloudtrail", "StopLogging", "name"), "org-trail", {}),
        (Op("cloudtrail", "DeleteTrail", "name"), "org-trail", {}),
        (Op("cloudtrail", "PutEventSelectors", "trailName"), "org-trail", {}),
        (Op("ec2", "DeleteFlowLogs", "flowLogId"), f"fl-{rnd.getrandbits(40):010x}", {}),
        (Op("guardduty", "DeleteDetector", "detectorId"), f"{rnd.getrandbits(64):016x}", {}),
    ]
    calls: list[Call] = [
        (Op("cloudtrail", "DescribeTrails"), "", {}) for _ in range(rnd.randint(2, 5))
    ]
    calls += rnd.sample(evasions, rnd.randint(1, 3))
    return _run(em, actor, start_ms, calls, (5, 40))


def recon_burst(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd = em.rnd
    regions = rnd.sample(REGIONS, rnd.randint(6, 15))
    calls: list[Call] = [
        (
            rnd.choice(RECON_OPS),
            "",
            {"region": rnd.choice(regions), "error": "AccessDenied" if rnd.random() < 0.25 else ""},
        )
        for _ in range(rnd.randint(100, 400))
    ]
    return _run(em, actor, start_ms, calls, (0.5, 3))


def low_and_slow_delete(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd, ids, t = em.rnd, [], start_ms
    session = f"agent-run-{rnd.randrange(10**9, 10**10)}"
    for i in range(rnd.randint(15, 40)):
        op = (
            DELETE_OBJECT
            if rnd.random() < 0.6
            else Op("rds", "DeleteDBSnapshot", "dBSnapshotIdentifier")
        )
        name = f"customer-records-prod/batch-{i}" if op is DELETE_OBJECT else f"prod-db-snap-{i}"
        ids.append(em.emit(actor, t, op, name, session=session))
        t += rnd.randint(4, 12) * MINUTE_MS + rnd.randint(0, 59_000)
    return ids


def compromised_human_night(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd = em.rnd
    extra = {
        "ip": f"185.220.101.{rnd.randint(2, 250)}",
        "user_agent": "python-requests/2.31.0",
        "region": rnd.choice(REGIONS[6:]),
    }
    calls: list[Call] = [
        (Op("sts", "GetCallerIdentity"), "", extra),
        (Op("s3", "ListBuckets"), "", extra),
    ]
    calls += [(Op("iam", "ListUsers"), "", extra) for _ in range(rnd.randint(1, 4))]
    calls += [
        (GET_OBJECT, f"customer-data-prod/export-{i}", extra) for i in range(rnd.randint(20, 80))
    ]
    calls.append((Op("iam", "CreateAccessKey"), "", {**extra, "params": {"userName": actor.name}}))
    return _run(em, actor, start_ms, calls, (5, 25))


def exfiltration(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    rnd = em.rnd
    calls: list[Call] = [
        (GET_OBJECT, f"customer-data-prod/records-{i}", {}) for i in range(rnd.randint(500, 3000))
    ]
    if rnd.random() < 0.5:
        calls.append((Op("s3", "PutBucketPolicy", "bucketName"), "customer-data-prod", {}))
    else:
        calls.append(
            (
                Op("ec2", "ModifySnapshotAttribute", "snapshotId"),
                f"snap-{rnd.getrandbits(56):014x}",
                {},
            )
        )
    return _run(em, actor, start_ms, calls, (0.2, 0.8))


def big_deploy(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    return deploy_calls(em, actor, start_ms, em.rnd.randint(150, 300))


def new_employee_first_day(em: Emitter, actor: Actor, start_ms: int) -> list[str]:
    mix = {"read": 0.88, "write": 0.08, "create": 0.04}
    ids: list[str] = []
    for session in range(em.rnd.randint(3, 5)):
        ids += session_events(
            em,
            actor,
            start_ms=start_ms + session * 90 * MINUTE_MS,
            duration_ms=em.rnd.randint(30, 80) * MINUTE_MS,
            mix=mix,
        )
    return ids


Injector = Callable[[Emitter, Actor, int], list[str]]
_PLAN: dict[str, tuple[Injector, str, str]] = {  # kind -> (injector, actor pool, time of day)
    "mass_delete": (mass_delete, "agent", "any"),
    "delete_recreate_env": (delete_recreate_env, "agent", "any"),
    "privilege_escalation": (privilege_escalation, "agent|human", "work"),
    "logging_disabled": (logging_disabled, "agent|human", "any"),
    "recon_burst": (recon_burst, "agent", "any"),
    "low_and_slow_delete": (low_and_slow_delete, "agent", "any"),
    "compromised_human_night": (compromised_human_night, "human", "night"),
    "exfiltration": (exfiltration, "agent|etl", "any"),
    "big_deploy": (big_deploy, "ci", "work"),
    "new_employee_first_day": (new_employee_first_day, "new", "morning"),
}


def _pool(crew: Cast, name: str) -> list[Actor]:
    pools = {
        "agent": list(crew.agents),
        "human": list(crew.humans),
        "etl": [crew.etl],
        "ci": [crew.ci],
    }
    return [a for part in name.split("|") for a in pools.get(part, [])]


def _start(rnd: random.Random, days: list[int], when: str) -> int:
    day = rnd.choice(days)
    hour = {
        "any": rnd.uniform(0, 22),
        "work": rnd.uniform(9, 16),
        "night": rnd.uniform(1, 4),
        "morning": 9.5,
    }[when]
    return day + int(hour * HOUR_MS)


def inject(em: Emitter, crew: Cast, *, test_from_ms: int, end_ms: int) -> list[Label]:
    """Place every planned case on a free actor and time in the test days; returns their labels."""
    rnd = em.rnd
    days = list(range(test_from_ms, end_ms, DAY_MS))
    weekdays = [d for d in days if (d // DAY_MS + 3) % 7 < 5] or days
    busy: dict[str, list[tuple[int, int]]] = {}
    labels = []
    plan = [(k, "incident") for k, n in INCIDENTS.items() for _ in range(n)]
    plan += [(k, "hard_negative") for k, n in HARD_NEGATIVES.items() for _ in range(n)]
    for kind, category in plan:
        injector, pool_name, when = _PLAN[kind]
        for _ in range(50):
            actor = (
                Actor(
                    "jules",
                    "human",
                    "AWSReservedSSO_Developer_4f2a9c1e",
                    session="jules@example.com",
                    rate_per_min=2.0,
                    ips=("198.51.100.77",),
                    user_agent="aws-cli/2.15.30 Python/3.11.8",
                )
                if pool_name == "new"
                else rnd.choice(_pool(crew, pool_name))
            )
            start = _start(rnd, weekdays if when in ("work", "morning") else days, when)
            spans = busy.setdefault(actor.name, [])
            if all(start + 7 * HOUR_MS < a or start - RESERVE_MS > b for a, b in spans):
                break
        ids = injector(em, actor, start)
        label = label_of(em, kind, category, actor, ids)
        spans.append((label.start_ms - RESERVE_MS, label.end_ms + RESERVE_MS))
        labels.append(label)
    return labels
