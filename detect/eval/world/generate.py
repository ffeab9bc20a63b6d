"""Top-level orchestration: sample org and cast, emit background, routines and episodes."""

from __future__ import annotations

import gc
import random

from .background import background
from .cast import sample_cast
from .context import Ctx
from .episodes.plan import run_episodes
from .model import Label, PrincipalInfo, World
from .org import sample_org
from .record import Emitter
from .routines import ci_and_retention
from .routines_svc import service_routines


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"world:{seed}:{name}")


def generate_world(seed: int, *, baseline_days: int | None = None, test_days: int = 2) -> World:
    """Generate a complete synthetic organisation world for a seed."""
    enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of acyclic dicts: the cyclic GC only costs time here
    try:
        return _generate(seed, baseline_days, test_days)
    finally:
        if enabled:
            gc.enable()


def _generate(seed: int, baseline_days: int | None, test_days: int) -> World:
    org = sample_org(_rng(seed, "org"), baseline_days, test_days)
    cast, volume = sample_cast(_rng(seed, "cast"), org)
    ctx = Ctx(org, Emitter(_rng(seed, "emit")), cast)
    background(ctx, _rng(seed, "background"))
    ci_and_retention(ctx, _rng(seed, "ci"))
    service_routines(ctx, _rng(seed, "services"))
    labels: list[Label] = run_episodes(ctx, _rng(seed, "episodes"))
    records = ctx.em.finish()
    infos = [PrincipalInfo(p.key, p.kind, p.family, p.description, p.account) for p in cast]
    meta = {
        "org": org.name,
        "tz_hours": org.tz,
        "regions": list(org.regions),
        "accounts": [a.id for a in org.accounts],
        "target_daily_volume": round(volume),
    }
    return World(
        seed, org.start_ms, org.baseline_until_ms, org.end_ms, records, labels, infos, meta
    )
