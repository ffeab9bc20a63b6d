"""Credential access and stolen credentials: recon, secret sweeps, denied bursts, mining."""

from __future__ import annotations

from ..catalog import api
from ..clock import MINUTE
from ..ids import ec2_id
from ..params import arn_of
from ..params_write import run_instances
from ..record import denied
from ..sessions import Session
from .base import Script, busy_time, culprit, gap, name_of, person
from .common import stolen_session, targets

ENUM = (
    "sts:GetCallerIdentity",
    "iam:ListUsers",
    "iam:ListRoles",
    "iam:ListGroups",
    "iam:GetAccountAuthorizationDetails",
    "s3:ListBuckets",
    "iam:ListPolicies",
    "secretsmanager:ListSecrets",
    "ssm:DescribeParameters",
    "lambda:ListFunctions20150331",
    "ec2:DescribeSecurityGroups",
    "rds:DescribeDBInstances",
    "iam:GetAccountSummary",
)


def _enumerate(sc: Script, s: Session, t: int, regions: bool) -> int:
    rng = sc.rng
    for key in rng.sample(ENUM, rng.randint(4, len(ENUM))):
        t += gap(rng, 0.3, 4)
        sc.call(s, t, key)
    if regions:
        sc.call(s, t, "ec2:DescribeRegions", params={"allRegions": True})
        for region in rng.sample(sc.ctx.org.unused_regions(), rng.randint(4, 12)) + list(
            sc.ctx.org.regions
        ):
            t += gap(rng, 0.2, 2)
            sc.call(s, t, "ec2:DescribeInstances", region=region)
    return t


def _secrets(sc: Script, s: Session, t: int) -> int:
    rng = sc.rng
    secrets = [r for r in sc.ctx.org.inv.of("secret") if r.account == s.who.account]
    if rng.random() < 0.35:
        sc.call(
            s,
            t,
            "secretsmanager:BatchGetSecretValue",
            harm=True,
            params={"secretIdList": [arn_of(r) for r in secrets[:20]]},
        )
        return t + 2000
    for r in rng.sample(secrets, min(len(secrets), rng.randint(10, 60))):
        t += gap(rng, 0.1, 1.5)
        sc.call(s, t, "secretsmanager:GetSecretValue", params={"secretId": arn_of(r)}, harm=True)
    return t


def _params(sc: Script, s: Session, t: int) -> int:
    rng = sc.rng
    for env in ("prod", "staging"):
        for app in rng.sample(sc.ctx.org.apps, min(len(sc.ctx.org.apps), rng.randint(2, 6))):
            t += gap(rng, 0.2, 2)
            sc.call(
                s,
                t,
                "ssm:GetParametersByPath",
                harm=True,
                params={"path": f"/{env}/{app}/", "recursive": True, "withDecryption": True},
            )
    names = [r.name for r in sc.ctx.org.inv.of("param") if r.account == s.who.account]
    for i in range(0, min(len(names), 60), 10):
        t += gap(rng, 0.2, 1)
        sc.call(
            s,
            t,
            "ssm:GetParameters",
            harm=True,
            params={"names": names[i : i + 10], "withDecryption": True},
        )
    return t


def _kms(sc: Script, s: Session, t: int) -> int:
    keys = [r for r in sc.ctx.org.inv.of("key") if r.account == s.who.account]
    for _ in range(sc.rng.randint(20, 120)):
        t += gap(sc.rng, 0.05, 0.8)
        k = sc.rng.choice(keys)
        sc.call(
            s,
            t,
            "kms:Decrypt",
            harm=True,
            params={"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": arn_of(k)},
            region=k.region,
        )
    return t


def _password_data(sc: Script, s: Session, t: int) -> int:
    insts = [r for r in sc.ctx.org.inv.of("instance") if r.account == s.who.account]
    for r in sc.rng.sample(insts, min(len(insts), sc.rng.randint(3, 15))):
        t += gap(sc.rng, 0.3, 3)
        sc.call(
            s, t, "ec2:GetPasswordData", params={"instanceId": r.rid}, region=r.region, harm=True
        )
    return t


def stolen_credentials(sc: Script) -> None:
    """A person's key used from a new IP/ASN/country to enumerate and sweep secrets."""
    rng = sc.rng
    p = person(sc.ctx, rng, "dev", "senior-dev", "sre", "admin", "data")
    if rng.random() < 0.25:
        p = culprit(sc.ctx, rng, (2, 0, 1, 1))
    t = busy_time(sc.ctx, rng, 60 * MINUTE)
    s = stolen_session(sc, p, t, hostile_ua=rng.random() < 0.7)
    t = _enumerate(sc, s, t, rng.random() < 0.6)
    loot = rng.sample(("secrets", "params", "kms", "password"), rng.randint(1, 3))
    steps = {"secrets": _secrets, "params": _params, "kms": _kms, "password": _password_data}
    for what in loot:
        t = steps[what](sc, s, t + gap(rng, 5, 120))
    sc.variant = "+".join(loot)
    sc.description = (
        f"credentials of {name_of(p)} used from {s.ip} ({s.ua[:30]}): enumerate, {sc.variant}"
    )


def denied_recon(sc: Script) -> None:
    """A freshly assumed role fires a burst of AccessDenied recon, then loots what it can."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (2, 0, 2, 3))
    while not p.is_role or p.auth == "sso":
        p = culprit(sc.ctx, rng, (2, 0, 2, 3))
    t = busy_time(sc.ctx, rng, 30 * MINUTE)
    s = stolen_session(sc, p, t, hostile_ua=rng.random() < 0.5)
    arn = s.who.ui["arn"]
    probes = (
        *ENUM,
        "ec2:DescribeSnapshots",
        "s3:GetBucketPolicy",
        "kms:ListKeys",
        "organizations:ListAccounts",
    )
    for key in rng.choices(probes, k=rng.randint(15, 60)):
        t += gap(rng, 0.1, 1.5)
        sc.call(s, t, key, error=denied(api(key), arn, ""))
    t = _secrets(sc, s, t + gap(rng, 5, 60)) if rng.random() < 0.6 else _bulk_peek(sc, s, t)
    sc.variant = p.family
    sc.description = f"compromised {name_of(p)}: AccessDenied recon burst then data access"


def _bulk_peek(sc: Script, s: Session, t: int) -> int:
    for r in targets(sc.ctx, s.principal, "bucket")[:3]:
        for _ in range(sc.rng.randint(5, 30)):
            t += gap(sc.rng, 0.1, 1)
            sc.call(
                s,
                t,
                "s3:GetObject",
                params={"bucketName": r.name, "key": f"exports/{t}.csv"},
                harm=True,
            )
    return t


def cryptomining(sc: Script) -> None:
    """Large GPU instances launched in regions the organisation never uses."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (2, 4, 1, 0.5))
    t = busy_time(sc.ctx, rng, 60 * MINUTE)
    s = stolen_session(sc, p, t)
    sc.call(s, t, "ec2:DescribeRegions", params={"allRegions": True})
    regions = rng.sample(sc.ctx.org.unused_regions(), rng.randint(1, 4))
    for region in regions:
        t += gap(rng, 5, 60)
        sc.call(s, t, "ec2:DescribeInstanceTypeOfferings", region=region)
        for _ in range(rng.randint(1, 5)):
            t += gap(rng, 1, 30)
            itype = rng.choice(
                (
                    "p3.16xlarge",
                    "p4d.24xlarge",
                    "g5.12xlarge",
                    "g4dn.12xlarge",
                    "p3.8xlarge",
                    "c5.24xlarge",
                )
            )
            req, resp = run_instances(rng, itype, rng.randint(1, 10), ec2_id(rng, "ami"))
            err = (
                (
                    "Client.VcpuLimitExceeded",
                    "You have requested more vCPU capacity than your current vCPU limit allows",
                )
                if rng.random() < 0.25
                else None
            )
            sc.call(
                s, t, "ec2:RunInstances", params=req, resp=resp, region=region, error=err, harm=True
            )
    sc.variant = ",".join(regions)
    sc.description = f"{name_of(p)} launches GPU instances in unused regions {sc.variant}"
