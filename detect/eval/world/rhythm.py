"""Activity windows per principal: when sessions/runs/jobs happen and how many calls each holds."""

from __future__ import annotations

import math
import random

from .clock import DAY, HOUR, MINUTE, local_midnight, local_weekday
from .org import Org
from .principal import Principal, Rhythm

Window = tuple[int, int, int]


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson sample (Knuth for small means, normal approximation for large)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    weights = [rng.lognormvariate(0, 0.7) for _ in range(parts)]
    norm = sum(weights)
    return [max(1, round(total * w / norm)) for w in weights]


def _office_day(rng: random.Random, r: Rhythm, mid: int, factor: float) -> list[Window]:
    total = poisson(rng, r.per_day * factor * rng.lognormvariate(0, 0.35))
    if total == 0:
        return []
    n = max(1, poisson(rng, r.sessions))
    out = []
    for calls in _split(rng, total, n):
        start = mid + int(rng.uniform(r.start_h, max(r.start_h, r.end_h - 0.5)) * HOUR)
        out.append((start, rng.randint(10, 120) * MINUTE, calls))
    if rng.random() < r.night:
        out.append(
            (
                mid + int(rng.uniform(0.2, 5.0) * HOUR),
                rng.randint(10, 60) * MINUTE,
                rng.randint(20, 200),
            )
        )
    return out


def _runs_day(rng: random.Random, r: Rhythm, mid: int, factor: float, short: bool) -> list[Window]:
    n = poisson(rng, r.sessions * factor)
    if n == 0:
        return []
    total = max(n, poisson(rng, r.per_day * factor))
    out = []
    for calls in _split(rng, total, n):
        start = mid + int(rng.uniform(r.start_h, r.end_h) * HOUR)
        dur = rng.randint(2, 12) if short else rng.randint(2, 45)
        out.append((start, dur * MINUTE, calls))
    return out


def _steady_day(rng: random.Random, r: Rhythm, mid: int, factor: float, _org: Org) -> list[Window]:
    out = []
    for h in range(24):
        busy = 1.0 + 0.8 * math.exp(-(((h - 13.5) / 4.5) ** 2))
        lam = r.per_day / 24 / 1.45 * busy * factor
        n = poisson(rng, lam)
        if n:
            out.append((mid + h * HOUR, HOUR, n))
    return out


def _sched_day(rng: random.Random, r: Rhythm, mid: int, hourly: bool) -> list[Window]:
    hours = [h + r.sched_hours[0] for h in range(24)] if hourly else list(r.sched_hours)
    out = []
    for h in hours:
        n = poisson(rng, r.per_day / len(hours))
        dur = rng.randint(5, 15) if hourly else rng.randint(20, 50)
        if n:
            out.append((mid + int(h * HOUR) + rng.randrange(0, 120_000), dur * MINUTE, n))
    return out


def windows(rng: random.Random, p: Principal, org: Org) -> list[Window]:
    """All activity windows of p over the world's time range."""
    r = p.rhythm
    if r.per_day <= 0:
        return []
    out: list[Window] = []
    mid = local_midnight(org.start_ms, org.tz)
    while mid < org.end_ms:
        weekend = local_weekday(mid + 12 * HOUR, org.tz) >= 5
        factor = r.weekend if weekend else 1.0
        if r.style == "office":
            if not weekend or rng.random() < r.weekend * 3:
                out += _office_day(rng, r, mid, 1.0 if not weekend else 0.4)
        elif r.style in ("runs", "jobs"):
            out += _runs_day(rng, r, mid, factor, r.style == "jobs")
        elif r.style == "steady":
            out += _steady_day(rng, r, mid, 0.6 + 0.4 * factor, org)
        else:
            out += _sched_day(rng, r, mid, r.style == "hourly")
        mid += DAY
    first = org.start_ms + 10_000  # leave room for the session's auth event
    return [w for w in out if first <= w[0] < org.end_ms - w[1]]


def call_times(rng: random.Random, start: int, dur: int, n: int, burst: float) -> list[int]:
    """Sorted call times inside a window, clustered according to burstiness."""
    if burst < 0.3 or n < 4:
        return sorted(start + rng.randrange(0, dur) for _ in range(n))
    centers = [start + rng.randrange(0, dur) for _ in range(max(1, int(n * (1 - burst) / 4) + 1))]
    spread = max(2000.0, dur / (len(centers) * 6))
    end = start + dur
    out = [min(end, int(rng.choice(centers) + rng.expovariate(1.0 / spread))) for _ in range(n)]
    out.sort()
    return out
