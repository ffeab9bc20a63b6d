"""Which episodes a world gets: sampling kinds per seed and running them in order."""

from __future__ import annotations

import random
from collections.abc import Callable

from ..context import Ctx
from ..model import Label
from . import (
    access,
    benign_iam,
    benign_more,
    benign_ops,
    credential,
    destructive,
    evasion,
    exfil,
    privesc,
)
from .base import Script

Kind = Callable[[Script], None]

INCIDENTS: dict[str, tuple[str, Kind]] = {
    "mass_delete": ("destruction", destructive.mass_delete),
    "env_recreate": ("destruction", destructive.env_recreate),
    "cfn_recreate": ("destruction", destructive.cfn_recreate),
    "two_session_spree": ("destruction", destructive.two_session_spree),
    "slow_delete": ("slow_destruction", destructive.slow_delete),
    "defense_evasion": ("defense_evasion", evasion.defense_evasion),
    "privilege_escalation": ("privilege_escalation", privesc.privilege_escalation),
    "stolen_credentials": ("credential_access", credential.stolen_credentials),
    "denied_recon": ("credential_access", credential.denied_recon),
    "cryptomining": ("credential_access", credential.cryptomining),
    "exfiltration": ("exfiltration", exfil.exfiltration),
    "execution": ("execution", access.execution),
    "persistence": ("persistence", access.persistence),
    "console_compromise": ("console_compromise", access.console_compromise),
}
BENIGN: dict[str, Kind] = {
    "vendor_trust_update": benign_iam.vendor_trust,
    "breakglass_drill": benign_iam.breakglass_drill,
    "own_key_rotation": benign_iam.own_key_rotation,
    "onboarding": benign_iam.onboarding,
    "test_pipeline_iam": benign_iam.test_pipeline_iam,
    "snapshot_unshare": benign_iam.snapshot_unshare,
    "public_website": benign_iam.public_website,
    "temp_trail_cleanup": benign_ops.temp_trail_cleanup,
    "guardduty_unused_region": benign_ops.guardduty_unused_region,
    "flowlog_cleanup": benign_ops.flowlog_cleanup,
    "scratch_bucket": benign_ops.scratch_bucket,
    "ci_teardown": benign_ops.ci_teardown,
    "big_deploy": benign_ops.big_deploy,
    "retention_large": benign_ops.retention_large,
    "oncall_night": benign_ops.oncall_night,
    "quarter_end_batch": benign_ops.quarter_end,
    "region_rollout": benign_ops.region_rollout,
    "service_scheduled": benign_more.service_scheduled,
    "sso_shared": benign_more.sso_shared,
    "dev_exploring": benign_more.dev_exploring,
}


def sample_kinds(rng: random.Random) -> tuple[list[str], list[str]]:
    """Incident and benign kinds for one world (every incident class at least once).

    Returned lists are longer than needed; run_episodes stops at the sampled targets.
    """
    by_class: dict[str, list[str]] = {}
    for kind, (cls, _) in INCIDENTS.items():
        by_class.setdefault(cls, []).append(kind)
    incidents = [rng.choice(kinds) for kinds in by_class.values()]
    weights = {k: rng.uniform(0.3, 2.0) for k in INCIDENTS}
    while len(incidents) < rng.randint(16, 26):
        incidents.append(rng.choices(list(weights), weights=list(weights.values()))[0])
    benign = rng.sample(list(BENIGN), len(BENIGN))
    rng.shuffle(incidents)
    return incidents, benign


def _attempt(
    ctx: Ctx, rng: random.Random, kind: str, category: str, fn: Kind, idx: int
) -> Label | None:
    for attempt in range(3):
        sc = Script(ctx, random.Random(f"{rng.random()}:{kind}:{idx}:{attempt}"), kind, category)
        try:
            fn(sc)
        except (IndexError, ValueError):
            sc.rollback()
            continue
        label = sc.label(idx)
        inside = label is not None and (
            ctx.org.baseline_until_ms <= label.start_ms and label.end_ms < ctx.org.end_ms
        )
        if label is not None and inside and (category == "benign" or label.damaging_ids):
            return label
        sc.rollback()
    return None


def run_episodes(ctx: Ctx, rng: random.Random) -> list[Label]:
    """Run the sampled incidents, then benign episodes until 10-16 of them succeeded."""
    incidents, benign = sample_kinds(rng)
    want_benign = rng.randint(10, 16)
    labels: list[Label] = []
    for kind in incidents:
        label = _attempt(ctx, rng, kind, "incident", INCIDENTS[kind][1], len(labels))
        if label is not None:
            labels.append(label)
    n_inc = len(labels)
    queue = benign + rng.sample(benign, len(benign))
    for kind in queue:
        if len(labels) - n_inc >= want_benign:
            break
        label = _attempt(ctx, rng, kind, "benign", BENIGN[kind], len(labels))
        if label is not None:
            labels.append(label)
    return labels
