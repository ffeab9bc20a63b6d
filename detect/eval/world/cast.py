"""Assembling the cast with per-seed proportions and scaling every rhythm to the volume target."""

from __future__ import annotations

import dataclasses
import random

from .cast_machines import agent, ci_roles, workloads
from .cast_people import humans
from .cast_services import platform, root_principal
from .inventory import Res
from .org import Org
from .principal import Principal

_NO_BACKGROUND = frozenset({"slr-cfn", "root"})
_FAMILY_WEIGHT = {
    "retention-agent": 0.08,
    "key-rotation": 0.01,
    "aws-service:secretsmanager": 0.01,
    "aws-service:cloudtrail": 0.03,
    "slr-backup": 0.08,
    "slr-autoscaling": 0.15,
    "slr-elb": 0.2,
    "slr-config": 0.8,
    "dashboard": 2.0,
    "etl": 1.5,
    "vendor": 0.3,
    "finops-agent": 0.5,
    "ec2-profile": 1.5,
    "lambda": 1.2,
}


def _agents(rng: random.Random, org: Org, n: int, launchers: list[str]) -> list[Principal]:
    fams = ["retention-agent", rng.choice(("coding-agent", "ops-agent"))]
    extra = ("coding-agent", "ops-agent", "data-agent", "finops-agent", "coding-agent")
    fams += [rng.choice(extra) for _ in range(max(0, n - 2))]
    out: list[Principal] = []
    used: set[str] = set()
    for fam in fams:
        p = agent(rng, org, fam, launchers)
        while p.name in used:
            p = agent(rng, org, fam, launchers)
        used.add(p.name)
        out.append(p)
    return out


def _scale(rng: random.Random, group: list[Principal], total: float) -> list[Principal]:
    live = [p for p in group if p.family not in _NO_BACKGROUND]
    weights = {
        p.key: rng.lognormvariate(0.0, 0.9) * _FAMILY_WEIGHT.get(p.family, 1.0) for p in live
    }
    norm = sum(weights.values()) or 1.0
    out = []
    for p in group:
        per_day = total * weights[p.key] / norm if p.key in weights else 0.0
        out.append(dataclasses.replace(p, rhythm=dataclasses.replace(p.rhythm, per_day=per_day)))
    return out


def _register(org: Org, cast: list[Principal]) -> None:
    for p in cast:
        if p.auth in ("iam_key", "console"):
            org.inv.add(Res("user", p.name, p.pid, p.envs[0], "", "us-east-1", p.account))
        elif p.is_role and p.auth != "sso":
            org.inv.add(
                Res(
                    "role",
                    p.name,
                    p.pid,
                    p.envs[0],
                    p.apps[0] if p.apps else "",
                    "us-east-1",
                    p.account,
                )
            )


def sample_cast(rng: random.Random, org: Org) -> tuple[list[Principal], float]:
    """Return (cast, target daily volume)."""
    n_total = rng.choice((rng.randint(25, 34), rng.randint(30, 48), rng.randint(44, 60)))
    plat = platform(rng, org)
    rest = max(12, n_total - len(plat) - 1)  # minus the root user
    n_h = max(5, round(rest * rng.uniform(0.45, 0.65)))
    n_a = max(2, round(rest * rng.uniform(0.1, 0.22)))
    n_c = max(2, round(rest * rng.uniform(0.08, 0.16)))
    n_w = max(3, rest - n_h - n_a - n_c)
    people = humans(rng, org, n_h)
    keyed = [p.key for p in people if p.auth == "iam_key"]
    bots = _agents(rng, org, n_a, keyed)
    ci = ci_roles(rng, org, n_c)
    work = workloads(rng, org, n_w)
    work = list({w.key: w for w in work}.values())
    volume = min(80_000.0, max(20_000.0, (18_000 + 1000 * n_total) * rng.uniform(0.8, 1.4)))
    s_serv, s_agent, s_ci = rng.uniform(0.4, 0.6), rng.uniform(0.1, 0.25), rng.uniform(0.03, 0.08)
    cast = (
        _scale(rng, people, volume * (1 - s_serv - s_agent - s_ci))
        + _scale(rng, bots, volume * s_agent)
        + _scale(rng, ci, volume * s_ci)
        + _scale(rng, work + plat, volume * s_serv)
        + [root_principal(rng, org)]
    )
    _register(org, cast)
    return cast, volume
