"""Background traffic: every principal's routine calls over the whole window."""

from __future__ import annotations

import itertools
import random

from .catalog import api
from .context import Ctx
from .inventory import Res
from .mixes import MIXES
from .params_misc import request
from .principal import Principal
from .record import denied, throttled
from .rhythm import call_times, windows
from .sessions import Session, open_session
from .useragents import S3_CONSOLE

_NOT_FOUND = {
    "s3:GetBucketPolicy": (0.3, "NoSuchBucketPolicy", "The bucket policy does not exist"),
    "s3:GetBucketTagging": (0.4, "NoSuchTagSet", "The TagSet does not exist"),
    "s3:GetBucketEncryption": (
        0.05,
        "ServerSideEncryptionConfigurationNotFoundError",
        "The server side encryption configuration was not found",
    ),
    "ssm:GetParameter": (0.01, "ParameterNotFound", "Parameter not found."),
    "s3:GetObject": (0.003, "NoSuchKey", "The specified key does not exist."),
    "secretsmanager:GetSecretValue": (
        0.004,
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    ),
}
_GENERIC = frozenset({"", "datalake", "web"})


class Pools:
    """Per-principal resource pools keyed by (kind, scope)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.cache: dict[tuple[str, str, str], list[Res]] = {}

    def get(self, p: Principal, kind: str, scope: str) -> list[Res]:
        """Resources of kind p may touch under scope (falls back to wider scopes)."""
        key = (p.key, kind, scope)
        hit = self.cache.get(key)
        if hit is None:
            hit = self._build(p, kind, scope)
            self.cache[key] = hit
        return hit

    def _build(self, p: Principal, kind: str, scope: str) -> list[Res]:
        items = [r for r in self.ctx.org.inv.of(kind) if r.account == p.account]
        if scope == "o":
            own = [r for r in items if r.env in p.envs and (r.app in p.apps or r.app in _GENERIC)]
            items = own or [r for r in items if r.env in p.envs] or items
        elif scope == "d":
            items = [r for r in items if r.env in ("dev", "staging")]
        elif scope == "p":
            items = [r for r in items if r.env == "prod"]
        return items


def _error(
    rng: random.Random, p: Principal, key: str, who_arn: str, res: Res | None
) -> tuple[str, str] | None:
    roll = rng.random()
    if roll < p.error_rate:
        return denied(api(key), who_arn, res.name if res else "")
    if roll < p.error_rate + 0.0015:
        return throttled(api(key))
    nf = _NOT_FOUND.get(key)
    if nf is not None and rng.random() < nf[0]:
        return nf[1], nf[2]
    return None


_KINDS: dict[str, str | None] = {}


def _resource_kind(key: str) -> str | None:
    if key not in _KINDS:
        _KINDS[key] = api(key).resource
    return _KINDS[key]


def emit_calls(
    ctx: Ctx,
    rng: random.Random,
    pools: Pools,
    s: Session,
    times: list[int],
    keys: list[str],
    scopes: list[str],
) -> list[str]:
    """Emit routine calls for a session; returns the eventIDs."""
    p, out = s.principal, []
    arn = s.who.ui.get("arn", p.key)
    for t, key, scope in zip(times, keys, scopes, strict=True):
        kind = _resource_kind(key)
        res: Res | None = None
        if kind is not None:
            pool = pools.get(p, kind, scope)
            if not pool:
                continue
            res = pool[int(rng.random() * len(pool))]
        params, resp, resources = request(rng, key, res, s.region)
        ua = (
            S3_CONSOLE.format(v=rng.randrange(400, 700))
            if (s.who.console and key.startswith("s3:"))
            else s.ua
        )
        rec = ctx.em.call(
            t,
            s.who,
            key,
            res.region if res else s.region,
            s.ip,
            ua,
            params=params,
            resp=resp,
            resources=resources,
            error=_error(rng, p, key, arn, res),
            recipient=res.account if res else None,
        )
        out.append(rec["eventID"])
    return out


def principal_traffic(ctx: Ctx, rng: random.Random, pools: Pools, p: Principal) -> None:
    """Generate all routine calls for one principal."""
    mix = MIXES.get(p.mix)
    if not mix:
        return
    keys = [m[0] for m in mix]
    cum = list(itertools.accumulate(m[1] for m in mix))
    scopes = {m[0]: m[2] for m in mix}
    for start, dur, n in windows(rng, p, ctx.org):
        sess = open_session(ctx, rng, p, start)
        times = call_times(rng, start, dur, n, p.rhythm.burst)
        picked = rng.choices(keys, cum_weights=cum, k=n)
        emit_calls(ctx, rng, pools, sess, times, picked, [scopes[k] for k in picked])


def background(ctx: Ctx, rng: random.Random) -> Pools:
    """Generate routine traffic for the whole cast."""
    pools = Pools(ctx)
    for p in ctx.cast:
        principal_traffic(ctx, random.Random(f"{rng.random()}:{p.key}"), pools, p)
    return pools
