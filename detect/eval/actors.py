"""The generated account's cast and their normal days (agents, humans, CI, backup, ETL, AWS)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from detect.eval.scenario import (
    APPS,
    DAY_MS,
    GET_OBJECT,
    HOUR_MS,
    MINUTE_MS,
    PAIRS,
    READS,
    REGIONS,
    TERMINATE,
    WRITES,
    Actor,
    Emitter,
    Label,
    Op,
)

__all__ = ["Cast", "cast", "run_background", "session_events"]

AGENT_UA = "Boto3/1.34.0 Python/3.11 langchain/0.2.1"
MIX_AGENT = {"read": 0.72, "write": 0.2, "create": 0.04, "delete": 0.035, "privilege": 0.005}
MIX_HUMAN = {"read": 0.86, "write": 0.1, "create": 0.02, "delete": 0.015, "privilege": 0.005}
PRIVILEGE_OPS = (Op("iam", "AttachRolePolicy", "roleName"), Op("iam", "PutRolePolicy", "roleName"))


@dataclass(frozen=True)
class Cast:
    agents: tuple[Actor, ...]
    humans: tuple[Actor, ...]
    ci: Actor
    backup: Actor
    etl: Actor
    aws: Actor


def cast(rnd: random.Random, *, scale: float = 1.0) -> Cast:
    """The principals of one seeded account; `scale` shrinks or grows the agent/human counts."""
    roles = [
        "coding-agent",
        "deploy-agent",
        "ops-agent",
        "data-agent",
        "support-agent",
        "infra-agent",
    ]
    n_agents = max(2, round(rnd.randint(4, 6) * scale))
    agents = tuple(
        Actor(
            role,
            "agent",
            role,
            rate_per_min=rnd.uniform(1.5, 6.0),
            user_agent=AGENT_UA,
            ips=(f"10.20.{i}.{rnd.randint(2, 250)}", f"10.20.{i}.{rnd.randint(2, 250)}"),
            region=rnd.choice(REGIONS[:3]),
        )
        for i, role in enumerate(roles[:n_agents])
    )
    names = ["alice", "bob", "chen", "dara", "eve", "farid", "gita", "hugo", "ines"]
    n_humans = max(2, round(rnd.randint(5, 8) * scale))
    humans = tuple(
        Actor(
            name,
            "human",
            f"AWSReservedSSO_{'Admin' if i == 0 else 'Developer'}_4f2a9c1e",
            session=f"{name}@example.com",
            rate_per_min=rnd.uniform(0.5, 3.0),
            ips=(f"198.51.100.{10 + i}", f"203.0.113.{40 + i}"),
            user_agent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5",
            region="us-east-1",
        )
        for i, name in enumerate(names[:n_humans])
    )
    service_ips = ("10.30.0.5", "10.30.0.6")
    return Cast(
        agents=agents,
        humans=humans,
        ci=Actor(
            "ci-deployer",
            "service",
            "ci-deployer",
            rate_per_min=10.0,
            ips=service_ips,
            user_agent="aws-cli/2.15.0 md/command#deploy GitHub-Actions",
        ),
        backup=Actor("backup-service", "service", "backup-service", ips=service_ips),
        etl=Actor(
            "etl-pipeline",
            "service",
            "etl-pipeline",
            ips=service_ips,
            user_agent="Boto3/1.34.0 Python/3.11 airflow/2.9",
        ),
        aws=Actor("config", "service", "", service="config.amazonaws.com"),
    )


def pick(rnd: random.Random, actor: Actor, mix: dict[str, float]) -> tuple[Op, str]:
    """One normal call of the actor: an op and the resource it touches."""
    kind = rnd.choices(list(mix), weights=list(mix.values()))[0]
    app = APPS[(zlib.crc32(actor.name.encode()) + rnd.randint(0, 2)) % len(APPS)]
    env = rnd.choice(("dev", "staging", "prod"))
    if kind == "read":
        return rnd.choice(READS), f"{app}-{env}"
    if kind == "write":
        op = rnd.choice(WRITES)
        return op, f"{app}-{env}-artifacts/build-{rnd.randint(1, 999)}" if op.param == "key" else (
            f"{app}-{env}"
        )
    if kind == "privilege":
        return rnd.choice(PRIVILEGE_OPS), f"{app}-{env}-role"
    create, delete = rnd.choice(PAIRS)
    scratch = f"tmp-{actor.name}-{rnd.randint(1, 40)}"
    return (create if kind == "create" else delete), scratch


def session_events(
    em: Emitter,
    actor: Actor,
    *,
    start_ms: int,
    duration_ms: int,
    mix: dict[str, float],
    session: str = "",
) -> list[str]:
    """A working session: calls at exponential gaps with the actor's rate, a few errors."""
    rnd = em.rnd
    ids = []
    t = start_ms
    second = rnd.choice(REGIONS[:4])
    while t < start_ms + duration_ms:
        op, resource = pick(rnd, actor, mix)
        region = second if rnd.random() < 0.08 else actor.region
        error = "AccessDenied" if rnd.random() < 0.02 else ""
        ids.append(em.emit(actor, t, op, resource, session=session, region=region, error=error))
        t += int(rnd.expovariate(actor.rate_per_min) * MINUTE_MS) + 1000
    return ids


def _agent_day(em: Emitter, agent: Actor, day: int, weekday: int) -> None:
    rnd = em.rnd
    runs = rnd.randint(6, 14) if weekday < 5 else rnd.randint(2, 5)
    for _ in range(runs):
        hour = rnd.uniform(7, 19) if rnd.random() < 0.7 else rnd.uniform(0, 24)
        session = f"agent-run-{rnd.randrange(10**9, 10**10)}"
        session_events(
            em,
            agent,
            start_ms=day + int(hour * HOUR_MS),
            duration_ms=rnd.randint(5, 40) * MINUTE_MS,
            mix=MIX_AGENT,
            session=session,
        )


def _human_day(em: Emitter, human: Actor, day: int) -> None:
    rnd = em.rnd
    mix = dict(MIX_HUMAN, privilege=0.03) if "Admin" in human.role else MIX_HUMAN
    begin = rnd.uniform(7, 10)
    for _ in range(rnd.randint(3, 7)):
        hour = rnd.uniform(begin, 18)
        session_events(
            em,
            human,
            start_ms=day + int(hour * HOUR_MS),
            duration_ms=rnd.randint(10, 60) * MINUTE_MS,
            mix=mix,
        )


def _paced(
    em: Emitter,
    actor: Actor,
    start_ms: int,
    calls: Sequence[tuple[Op, str]],
    *,
    gap_s: tuple[float, float],
    session: str,
) -> list[str]:
    t = start_ms
    ids = []
    for op, resource in calls:
        ids.append(em.emit(actor, t, op, resource, session=session))
        t += int(em.rnd.uniform(*gap_s) * 1000)
    return ids


def _ci_teardown(em: Emitter, ci: Actor, day: int, base: int) -> list[str]:
    """Nightly teardown of the preview environments (a hard negative for mass-delete detection)."""
    rnd = em.rnd
    count = max(10, round(base * rnd.uniform(0.7, 1.3)))
    calls: list[tuple[Op, str]] = []
    for i in range(count):
        if rnd.random() < 0.2:
            calls.append((rnd.choice(READS[:3]), ""))
        if rnd.random() < 0.15:
            calls.append((TERMINATE, f"i-{rnd.getrandbits(56):014x}"))
        else:
            calls.append((rnd.choice(PAIRS)[1], f"preview-pr-{i}-{rnd.choice(APPS)}"))
    start = day + 2 * HOUR_MS + rnd.randint(0, 10) * MINUTE_MS
    return _paced(em, ci, start, calls, gap_s=(2, 8), session=f"gha-{rnd.randrange(10**9, 10**10)}")


def _ci_workday(em: Emitter, ci: Actor, day: int, base: int) -> None:
    rnd = em.rnd
    recreate = [
        (rnd.choice(PAIRS)[0], f"preview-pr-{i}-{rnd.choice(APPS)}") for i in range(base // 2)
    ]
    _paced(
        em,
        ci,
        day + 8 * HOUR_MS,
        recreate,
        gap_s=(3, 10),
        session=f"gha-{rnd.randrange(10**9, 10**10)}",
    )
    for _ in range(rnd.randint(4, 8)):
        deploy_calls(em, ci, day + int(rnd.uniform(9, 18) * HOUR_MS), rnd.randint(20, 60))


def deploy_calls(em: Emitter, ci: Actor, start_ms: int, writes: int) -> list[str]:
    rnd = em.rnd
    calls = [(rnd.choice(WRITES), f"{rnd.choice(APPS)}-prod") for _ in range(writes)]
    calls += [(rnd.choice(READS[:9]), f"{rnd.choice(APPS)}-prod") for _ in range(writes // 4)]
    rnd.shuffle(calls)
    return _paced(
        em, ci, start_ms, calls, gap_s=(2, 8), session=f"gha-{rnd.randrange(10**9, 10**10)}"
    )


def _backup_night(em: Emitter, backup: Actor, day: int) -> None:
    rnd = em.rnd
    calls: list[tuple[Op, str]] = []
    for i in range(rnd.randint(10, 25)):
        calls.append((Op("rds", "CreateDBSnapshot", "dBSnapshotIdentifier"), f"snap-{day}-{i}"))
        calls.append((Op("rds", "DeleteDBSnapshot", "dBSnapshotIdentifier"), f"snap-old-{i}"))
    _paced(
        em,
        backup,
        day + 3 * HOUR_MS + rnd.randint(0, 20) * MINUTE_MS,
        calls,
        gap_s=(5, 15),
        session=f"job-backup-{rnd.randrange(10**9, 10**10)}",
    )


def _etl_day(em: Emitter, etl: Actor, day: int, scale: float) -> None:
    rnd = em.rnd
    for hour in range(24):
        calls = [
            (GET_OBJECT, f"datalake-raw/part-{rnd.randint(1, 9999)}")
            for _ in range(round(rnd.randint(60, 200) * scale))
        ]
        calls += [
            (Op("s3", "PutObject", "key"), f"datalake-curated/out-{rnd.randint(1, 999)}")
            for _ in range(round(rnd.randint(10, 40) * scale))
        ]
        _paced(
            em,
            etl,
            day + hour * HOUR_MS + 5 * MINUTE_MS,
            calls,
            gap_s=(0.5, 3),
            session=f"job-{rnd.randrange(10**9, 10**10)}",
        )


def _aws_day(em: Emitter, aws: Actor, day: int) -> None:
    for slot in range(0, DAY_MS, 15 * MINUTE_MS):
        calls = [(em.rnd.choice(READS[:3]), "") for _ in range(em.rnd.randint(3, 6))]
        _paced(em, aws, day + slot, calls, gap_s=(1, 4), session="")


def run_background(
    em: Emitter,
    crew: Cast,
    *,
    start_ms: int,
    end_ms: int,
    test_from_ms: int,
    scale: float = 1.0,
) -> list[Label]:
    """Every actor's normal days; returns the test days' CI teardowns as hard-negative labels."""
    labels = []
    base = em.rnd.randint(40, 90)  # preview environments torn down per night
    for day in range(start_ms, end_ms, DAY_MS):
        weekday = (day // DAY_MS + 3) % 7
        for agent in crew.agents:
            _agent_day(em, agent, day, weekday)
        if weekday < 5:
            for human in crew.humans:
                _human_day(em, human, day)
            _ci_workday(em, crew.ci, day, base)
        ids = _ci_teardown(em, crew.ci, day, base)
        if day >= test_from_ms:
            labels.append(label_of(em, "ci_teardown", "hard_negative", crew.ci, ids))
        _backup_night(em, crew.backup, day)
        _etl_day(em, crew.etl, day, scale)
        _aws_day(em, crew.aws, day)
    return labels


def label_of(em: Emitter, kind: str, category: str, actor: Actor, ids: Sequence[str]) -> Label:
    """A label over the given (just emitted) event ids."""
    wanted = set(ids)
    records = [r for r in em.records[-len(ids) * 3 - 10 :] if r["eventID"] in wanted]
    if len(records) != len(wanted):
        records = [r for r in em.records if r["eventID"] in wanted]
    times = sorted(_ms(r["eventTime"]) for r in records)
    destructive = tuple(
        r["eventID"] for r in records if r["eventName"].startswith(("Delete", "Terminate"))
    )
    return Label(kind, category, actor.name, tuple(ids), destructive, times[0], times[-1])


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)
