"""Episode scaffolding: the Script recorder, placement in busy hours and principal picking."""

from __future__ import annotations

import random
from typing import Any

from ..clock import DAY, HOUR, MINUTE, SECOND, local_midnight, local_weekday
from ..context import Ctx
from ..model import Label
from ..principal import Principal
from ..record import Rec
from ..sessions import Session, open_session

_AUTH = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "GetRoleCredentials", "Federate"})


def name_of(p: Principal) -> str:
    """A readable name for descriptions (e-mail for SSO people)."""
    return p.email if p.auth == "sso" else p.name


def _who(ui: dict[str, Any]) -> list[str]:
    typ = ui.get("type")
    if typ == "AssumedRole":  # CloudTrail leaves sessionContext out of some records
        issuer = ui.get("sessionContext", {}).get("sessionIssuer", {}).get("arn")
        return [issuer, ui["arn"]] if issuer else [ui["arn"]]
    if typ in ("IAMUser", "Root"):
        return [ui["arn"]]
    if typ == "AWSService" or ("invokedBy" in ui and "type" not in ui):
        return [ui["invokedBy"]]
    if typ == "WebIdentityUser":
        return [ui["userName"]]
    return []


class Script:
    """Records everything an episode emits; remembers which events do the damage."""

    def __init__(self, ctx: Ctx, rng: random.Random, kind: str, category: str) -> None:
        self.ctx, self.rng, self.kind, self.category = ctx, rng, kind, category
        self.first = len(ctx.em.rows)
        self.damaging: list[str] = []
        self.variant = ""
        self.description = ""

    def call(
        self,
        s: Session,
        t: int,
        key: str,
        *,
        harm: bool = False,
        region: str | None = None,
        ip: str | None = None,
        ua: str | None = None,
        **kw: Any,
    ) -> Rec:
        """Emit one call in session s; harm=True marks it as damaging."""
        rec = self.ctx.em.call(t, s.who, key, region or s.region, ip or s.ip, ua or s.ua, **kw)
        if harm and "errorCode" not in rec:
            self.damaging.append(rec["eventID"])
        return rec

    def rollback(self) -> None:
        """Remove everything this script emitted (used when an episode cannot be placed)."""
        del self.ctx.em.rows[self.first :]
        self.damaging.clear()

    def rebase(self) -> None:
        """Forget everything emitted so far (used after planting baseline precedents)."""
        self.first = len(self.ctx.em.rows)

    def harm_ids(self, ids: list[str]) -> None:
        """Mark already-emitted events as damaging."""
        self.damaging.extend(ids)

    def session(self, p: Principal, t: int, **kw: Any) -> Session:
        """Open a session for p (its auth event becomes part of the episode)."""
        return open_session(self.ctx, self.rng, p, t, **kw)

    def label(self, idx: int) -> Label | None:
        """Build the Label from everything emitted since the script started."""
        rows = self.ctx.em.rows[self.first :]
        if not rows:
            return None
        principals: list[str] = []
        acting = [rec for _, _, rec in rows if rec["eventName"] not in _AUTH] or [
            rec for _, _, rec in rows
        ]
        for rec in acting:
            for who in _who(rec["userIdentity"]):
                if who not in principals:
                    principals.append(who)
        times = [row[0] for row in rows]
        tag = "inc" if self.category == "incident" else "ben"
        return Label(
            id=f"{tag}-{idx:02d}-{self.kind}",
            kind=self.kind,
            category=self.category,
            principals=tuple(principals),
            event_ids=tuple(rec["eventID"] for _, _, rec in rows),
            damaging_ids=tuple(self.damaging) if self.category == "incident" else (),
            start_ms=min(times),
            end_ms=max(times),
            description=self.description,
            variant=self.variant,
        )


def gap(rng: random.Random, lo_s: float, hi_s: float) -> int:
    """A random pause in milliseconds."""
    return int(rng.uniform(lo_s, hi_s) * SECOND)


def busy_time(ctx: Ctx, rng: random.Random, span_ms: int, *, night: bool = False) -> int:
    """A start time inside the test window's working hours (or at night) that leaves span_ms."""
    org = ctx.org
    lo, hi = org.baseline_until_ms + 10 * MINUTE, org.end_ms - span_ms - 5 * MINUTE
    if hi <= lo:
        return lo
    days = []
    mid = local_midnight(lo, org.tz)
    while mid < hi:
        days.append(mid)
        mid += DAY
    weekdays = [d for d in days if local_weekday(d + 12 * HOUR, org.tz) < 5] or days
    for _ in range(40):
        d = rng.choice(weekdays)
        hour = rng.uniform(0.5, 4.5) if night else rng.uniform(9.3, 16.8)
        t = d + int(hour * HOUR)
        if lo <= t <= hi:
            return t
    return rng.randint(lo, hi)


def pick(
    ctx: Ctx,
    rng: random.Random,
    *,
    kinds: tuple[str, ...] = (),
    families: tuple[str, ...] = (),
    auths: tuple[str, ...] = (),
) -> Principal | None:
    """A random principal matching all given filters (None if nobody does)."""
    pool = [
        p
        for p in ctx.cast
        if p.rhythm.per_day > 0
        and p.family != "root"
        and (not kinds or p.kind in kinds)
        and (not families or p.family.startswith(families))
        and (not auths or p.auth in auths)
    ]
    if not pool:
        return None
    weights = [1.0 / (1 + 3 * ctx.uses.get(p.key, 0)) for p in pool]
    chosen = rng.choices(pool, weights=weights)[0]
    ctx.uses[chosen.key] = ctx.uses.get(chosen.key, 0) + 1
    return chosen


def person(ctx: Ctx, rng: random.Random, *families: str) -> Principal:
    """A human (preferring the given families)."""
    return (
        pick(ctx, rng, kinds=("human",), families=families)
        or pick(ctx, rng, kinds=("human",))
        or ctx.cast[0]
    )


def baseline_time(ctx: Ctx, rng: random.Random, days_before: float) -> int:
    """A working-hours time roughly days_before the test window starts."""
    org = ctx.org
    mid = local_midnight(max(org.start_ms, org.baseline_until_ms - int(days_before * DAY)), org.tz)
    return max(org.start_ms + HOUR, mid + int(rng.uniform(10, 16) * HOUR))


def culprit(ctx: Ctx, rng: random.Random, weights: tuple[float, float, float, float]) -> Principal:
    """Pick an agent, human, CI role or workload role according to weights."""
    order = ("agent", "human", "ci", "service")
    while True:
        kind = rng.choices(order, weights=weights)[0]
        auths = ("lambda", "ecs", "ec2", "role") if kind == "service" else ()
        p = pick(ctx, rng, kinds=(kind,), auths=auths)
        if p is not None and p.family not in ("retention-agent",):
            return p
