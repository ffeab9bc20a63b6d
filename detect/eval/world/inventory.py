"""Resource inventory of the organisation: buckets, instances, tables, functions, secrets..."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .ids import ec2_id, hexs, lower_token, uuid4

PURPOSES = ("data", "assets", "uploads", "exports", "artifacts", "backups", "reports", "media")
SECRET_NAMES = ("db-credentials", "api-key", "stripe-key", "oauth-client", "jwt-signing", "smtp")
PARAM_NAMES = (
    "db_host",
    "db_name",
    "feature_flags",
    "api_url",
    "log_level",
    "queue_url",
    "redis_endpoint",
    "sentry_dsn",
    "api_token",
    "db_password",
    "signing_key",
)
FN_VERBS = (
    "handler",
    "worker",
    "resize",
    "notify",
    "sync",
    "ingest",
    "webhook",
    "cron",
    "authorizer",
)
TABLE_NOUNS = ("sessions", "orders", "events", "users", "jobs", "locks", "cache", "ledger")


@dataclass(frozen=True)
class Res:
    """One AWS resource: kind, name, id, environment, owning app, region and account."""

    kind: str
    name: str
    rid: str
    env: str
    app: str
    region: str
    account: str


@dataclass
class Inventory:
    """All resources, indexed by kind; also indexed by (kind, env) for fast lookup."""

    by_kind: dict[str, list[Res]] = field(default_factory=dict)

    def add(self, res: Res) -> None:
        """Register a resource."""
        self.by_kind.setdefault(res.kind, []).append(res)

    def of(self, kind: str, env: str | None = None, app: str | None = None) -> list[Res]:
        """Return resources of a kind, optionally filtered by env and app."""
        items = self.by_kind.get(kind, [])
        if env is not None:
            items = [r for r in items if r.env == env]
        if app is not None:
            items = [r for r in items if r.app == app]
        return items


def _n(rng: random.Random, env: str, lo: int, hi: int) -> int:
    scale = {"prod": 1.0, "staging": 0.6, "dev": 0.5}.get(env, 0.5)
    return max(lo, round(rng.randint(lo, hi) * scale))


def _compute(inv: Inventory, rng: random.Random, ctx: tuple[str, str, str, str]) -> None:
    env, app, region, acct = ctx
    for _ in range(_n(rng, env, 1, 6)):
        inv.add(
            Res(
                "instance",
                f"{env}-{app}-{rng.choice(('web', 'api', 'worker', 'batch'))}",
                ec2_id(rng, "i"),
                env,
                app,
                region,
                acct,
            )
        )
    for noun in rng.sample(TABLE_NOUNS, _n(rng, env, 0, 3)):
        name = f"{env}-{app}-{noun}"
        inv.add(Res("table", name, name, env, app, region, acct))
    if rng.random() < (0.8 if env == "prod" else 0.4):
        db = f"{env}-{app}-db"
        inv.add(Res("db", db, db, env, app, region, acct))
        inv.add(Res("loggroup", f"/aws/rds/instance/{db}/postgresql", "", env, app, region, acct))
        for i in range(rng.randint(1, 3)):
            snap = f"{db}-snap-{i}{lower_token(rng, 4)}"
            inv.add(Res("dbsnap", snap, snap, env, app, region, acct))
    for verb in rng.sample(FN_VERBS, _n(rng, env, 1, 5)):
        fn = f"{env}-{app}-{verb}"
        inv.add(Res("function", fn, fn, env, app, region, acct))
        inv.add(Res("loggroup", f"/aws/lambda/{fn}", "", env, app, region, acct))


def _data(inv: Inventory, rng: random.Random, ctx: tuple[str, str, str, str], org: str) -> None:
    env, app, region, acct = ctx
    for purpose in rng.sample(PURPOSES, rng.randint(1, 3)):
        name = f"{org}-{env}-{app}-{purpose}"
        inv.add(Res("bucket", name, name, env, app, region, acct))
    for sname in rng.sample(SECRET_NAMES, rng.randint(1, 4)):
        name = f"{env}/{app}/{sname}"
        inv.add(Res("secret", name, f"{name}-{lower_token(rng, 6)}", env, app, region, acct))
    for pname in rng.sample(PARAM_NAMES, rng.randint(3, 8)):
        inv.add(Res("param", f"/{env}/{app}/{pname}", "", env, app, region, acct))
    for _ in range(rng.randint(1, 2)):
        inv.add(Res("sg", f"{env}-{app}-sg", ec2_id(rng, "sg"), env, app, region, acct))
    for i in range(_n(rng, env, 2, 5)):
        inv.add(
            Res(
                "alarm",
                f"{env}-{app}-{('5xx', 'latency', 'cpu', 'errors', 'dlq')[i]}-alarm",
                "",
                env,
                app,
                region,
                acct,
            )
        )
    inv.add(Res("stack", f"{env}-{app}", f"{uuid4(rng)}", env, app, region, acct))
    inv.add(Res("service", f"{env}-{app}", f"{env}-cluster", env, app, region, acct))
    inv.add(Res("loggroup", f"/ecs/{env}-{app}", "", env, app, region, acct))
    inv.add(Res("asg", f"{env}-{app}-asg", "", env, app, region, acct))
    inv.add(Res("lb", f"{env}-{app}-alb", hexs(rng, 16), env, app, region, acct))
    inv.add(Res("queue", f"{env}-{app}-jobs", "", env, app, region, acct))


def _env_wide(inv: Inventory, rng: random.Random, env: str, region: str, acct: str) -> None:
    vpc = ec2_id(rng, "vpc")
    inv.add(Res("vpc", f"{env}-vpc", vpc, env, "", region, acct))
    inv.add(Res("flowlog", f"{env}-vpc-flowlogs", ec2_id(rng, "fl"), env, vpc, region, acct))
    for i in range(rng.randint(1, 3)):
        inv.add(
            Res(
                "key",
                f"alias/{env}-{('data', 'secrets', 'ebs')[i]}",
                uuid4(rng),
                env,
                "",
                region,
                acct,
            )
        )
    for i in range(rng.randint(3, 10)):
        inv.add(Res("snapshot", f"{env}-ebs-{i}", ec2_id(rng, "snap"), env, "", region, acct))
    for i in range(rng.randint(1, 3)):
        inv.add(Res("ami", f"{env}-base-{i}", ec2_id(rng, "ami"), env, "", region, acct))


def build_inventory(
    rng: random.Random,
    org: str,
    apps: tuple[str, ...],
    envs: dict[str, str],
    regions: tuple[str, ...],
) -> Inventory:
    """Create resources for every (env, app); envs maps env name to account id."""
    inv = Inventory()
    for env, acct in envs.items():
        _env_wide(inv, rng, env, regions[0], acct)
        for app in apps:
            region = regions[0] if rng.random() < 0.8 or len(regions) == 1 else regions[1]
            ctx = (env, app, region, acct)
            _compute(inv, rng, ctx)
            _data(inv, rng, ctx, org)
    for app in apps:
        acct = envs.get("prod", next(iter(envs.values())))
        inv.add(Res("repo", app, "", "prod", app, regions[0], acct))
    return inv
