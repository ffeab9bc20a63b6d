"""More benign traps: AWS services' scheduled work, shared SSO roles, developers exploring."""

from __future__ import annotations

from ..catalog import api
from ..clock import MINUTE
from ..ids import ec2_id, hexs
from ..params_write import terminate
from ..principal import Principal
from ..record import denied
from ..sessions import open_session
from .base import Script, busy_time, gap, name_of, person, pick


def service_scheduled(sc: Script) -> None:
    """AWS services doing scheduled work: secret deletions, scale-in, expiring recovery points."""
    rng, org = sc.rng, sc.ctx.org
    what = rng.choice(("secrets", "scale_in", "backup_expiry"))
    t = busy_time(sc.ctx, rng, HOUR_ := 60 * MINUTE)
    if what == "secrets":
        svc = pick(sc.ctx, rng, families=("aws-service:secretsmanager",))
        acct = svc.account if svc else org.accounts[0].id
        for _ in range(rng.randint(3, 15)):
            t += gap(rng, 1, 30)
            arn = (
                f"arn:aws:secretsmanager:{org.home}:{acct}:secret:"
                f"staging/{rng.choice(org.apps)}/old-{hexs(rng, 4)}-{hexs(rng, 3)}"
            )
            sc.ctx.em.service_event(
                t,
                acct,
                "secretsmanager.amazonaws.com",
                "secretsmanager:DeleteSecret",
                org.home,
                {},
                extra={"SecretId": arn, "ScheduledDeletion": True},
            )
    else:
        fam = "slr-autoscaling" if what == "scale_in" else "slr-backup"
        p = pick(sc.ctx, rng, families=(fam,))
        if p is None:
            return
        s = open_session(sc.ctx, rng, p, t)
        for _ in range(rng.randint(6, 30)):
            t += gap(rng, 2, 40)
            if what == "scale_in":
                req, resp = terminate([ec2_id(rng, "i")])
                sc.call(s, t, "ec2:TerminateInstances", params=req, resp=resp)
            else:
                sc.call(
                    s,
                    t,
                    "backup:DeleteRecoveryPoint",
                    params={
                        "backupVaultName": "Default",
                        "recoveryPointArn": f"arn:aws:ec2:{org.home}::snapshot/"
                        + ec2_id(rng, "snap"),
                    },
                )
    sc.variant = what
    sc.description = f"AWS service scheduled work: {what}"
    _ = HOUR_


def sso_shared(sc: Script) -> None:
    """Several people using the same SSO permission-set role at once from different places."""
    rng = sc.rng
    people = [p for p in sc.ctx.cast if p.auth == "sso"]
    roles: dict[str, list[Principal]] = {}
    for p in people:
        roles.setdefault(p.name, []).append(p)
    shared = [v for v in roles.values() if len(v) >= 2]
    if not shared:
        return
    group = rng.choice(shared)
    t = busy_time(sc.ctx, rng, 40 * MINUTE)
    for p in group:
        s = sc.session(p, t + gap(rng, 0, 300))
        tt = t
        for _ in range(rng.randint(10, 40)):
            tt += gap(rng, 2, 60)
            sc.call(
                s,
                tt,
                rng.choice(
                    (
                        "ec2:DescribeInstances",
                        "s3:ListBuckets",
                        "cloudformation:DescribeStacks",
                        "logs:FilterLogEvents",
                        "lambda:ListFunctions20150331",
                    )
                ),
            )
    sc.variant = f"{len(group)}-people"
    sc.description = f"{len(group)} people share {group[0].name} concurrently"


def dev_exploring(sc: Script) -> None:
    """A developer exploring unfamiliar services: denied calls and not-found errors."""
    rng = sc.rng
    p = person(sc.ctx, rng, "dev", "viewer", "data")
    t = busy_time(sc.ctx, rng, 45 * MINUTE)
    s = sc.session(p, t)
    arn = s.who.ui.get("arn", p.key)
    probes = (
        "iam:ListUsers",
        "cloudtrail:DescribeTrails",
        "guardduty:ListDetectors",
        "kms:ListKeys",
        "organizations:DescribeOrganization",
        "iam:ListRoles",
        "secretsmanager:ListSecrets",
        "config:DescribeConfigRules",
    )
    for key in rng.sample(probes, rng.randint(3, len(probes))):
        t += gap(rng, 5, 90)
        sc.call(s, t, key, error=denied(api(key), arn, "") if rng.random() < 0.6 else None)
    sc.call(
        s,
        t + gap(rng, 10, 60),
        "cloudtrail:UpdateTrail",
        params={"name": "my-trail", "isMultiRegionTrail": True},
        error=("TrailNotFoundException", f"Unknown trail: my-trail for the user: {p.account}"),
    )
    key = "cloudtrail:GetTrailStatus"
    sc.call(
        s,
        t + gap(rng, 61, 120),
        key,
        params={"name": "my-trail"},
        error=("TrailNotFoundException", "Unknown trail: my-trail"),
    )
    sc.variant = "denied+notfound"
    sc.description = f"{name_of(p)} explores services, hitting AccessDenied and TrailNotFound"
