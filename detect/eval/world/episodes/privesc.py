"""Privilege escalation: admin grants, policy versions, trust changes, PassRole, slow creep."""

from __future__ import annotations

from ..catalog import api
from ..clock import HOUR, MINUTE, aws_date
from ..ids import access_key, account_id, ec2_id, hexs, unique_id
from ..params_write import policy_doc, run_instances, trust_doc
from ..principal import Principal
from ..record import denied
from ..sessions import Session
from .base import Script, busy_time, culprit, gap, name_of
from .common import stolen_session, warmup

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _self_grant(sc: Script, s: Session, p: Principal, t: int) -> int:
    if p.auth in ("iam_key", "console"):
        sc.call(
            s, t, "iam:AttachUserPolicy", params={"userName": p.name, "policyArn": ADMIN}, harm=True
        )
    else:
        sc.call(
            s, t, "iam:AttachRolePolicy", params={"roleName": p.name, "policyArn": ADMIN}, harm=True
        )
    return t


def _new_admin(sc: Script, s: Session, p: Principal, t: int) -> int:
    rng = sc.rng
    name = rng.choice(("svc-monitoring", "backup-admin", "support-temp", "ci-bootstrap", "ops2"))
    if rng.random() < 0.5:
        sc.call(
            s,
            t,
            "iam:CreateUser",
            params={"userName": name, "path": "/"},
            harm=True,
            resp={
                "user": {
                    "userName": name,
                    "userId": unique_id(rng, "AIDA"),
                    "arn": f"arn:aws:iam::{p.account}:user/{name}",
                }
            },
        )
        t += gap(rng, 2, 20)
        sc.call(
            s, t, "iam:AttachUserPolicy", params={"userName": name, "policyArn": ADMIN}, harm=True
        )
        return t
    trust = trust_doc({"AWS": f"arn:aws:iam::{p.account}:root"})
    sc.call(
        s,
        t,
        "iam:CreateRole",
        params={"roleName": name, "assumeRolePolicyDocument": trust},
        harm=True,
    )
    t += gap(rng, 2, 20)
    sc.call(s, t, "iam:AttachRolePolicy", params={"roleName": name, "policyArn": ADMIN}, harm=True)
    return t


def _policy_version(sc: Script, s: Session, p: Principal, t: int) -> int:
    arn = f"arn:aws:iam::{p.account}:policy/{name_of(p)}-policy"
    sc.call(s, t, "iam:ListPolicyVersions", params={"policyArn": arn})
    sc.call(
        s,
        t + gap(sc.rng, 2, 20),
        "iam:CreatePolicyVersion",
        harm=True,
        params={"policyArn": arn, "policyDocument": policy_doc("*"), "setAsDefault": True},
        resp={"policyVersion": {"versionId": f"v{sc.rng.randint(2, 5)}", "isDefaultVersion": True}},
    )
    return t + 30_000


def _trust_external(sc: Script, s: Session, p: Principal, t: int) -> int:
    roles = [r for r in sc.ctx.org.inv.of("role") if r.account == p.account]
    role = sc.rng.choice(roles).name if roles else p.name
    ext = account_id(sc.rng)
    sc.call(s, t, "iam:GetRole", params={"roleName": role})
    sc.call(
        s,
        t + gap(sc.rng, 5, 60),
        "iam:UpdateAssumeRolePolicy",
        harm=True,
        params={"roleName": role, "policyDocument": trust_doc({"AWS": f"arn:aws:iam::{ext}:root"})},
    )
    return t + 60_000


def _other_creds(sc: Script, s: Session, p: Principal, t: int) -> int:
    users = [
        r.name for r in sc.ctx.org.inv.of("user") if r.account == p.account and r.name != p.name
    ]
    user = sc.rng.choice(users) if users else "svc-legacy"
    how = sc.rng.choice(("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"))
    resp = (
        {
            "accessKey": {
                "accessKeyId": access_key(sc.rng),
                "status": "Active",
                "userName": user,
                "createDate": aws_date(t),
            }
        }
        if how == "iam:CreateAccessKey"
        else None
    )
    params = {"userName": user}
    if how != "iam:CreateAccessKey":
        params["passwordResetRequired"] = "false"
    sc.call(s, t, "iam:ListUsers")
    sc.call(s, t + gap(sc.rng, 3, 40), how, params=params, resp=resp, harm=True)
    return t + 60_000


def _passrole(sc: Script, s: Session, p: Principal, t: int) -> int:
    rng = sc.rng
    roles = [r for r in sc.ctx.org.inv.of("role") if r.account == p.account]
    role = f"arn:aws:iam::{p.account}:role/{rng.choice(roles).name if roles else 'admin'}"
    sc.call(s, t, "iam:ListRoles")
    t += gap(rng, 10, 120)
    if rng.random() < 0.5:
        fn = f"maint-{hexs(rng, 6)}"
        sc.call(
            s,
            t,
            "lambda:CreateFunction20150331",
            harm=True,
            params={
                "functionName": fn,
                "runtime": "python3.12",
                "role": role,
                "handler": "index.handler",
            },
        )
        sc.call(s, t + gap(rng, 3, 30), "lambda:Invoke", params={"functionName": fn}, harm=True)
        return t + 60_000
    prof = role.rsplit("/", 1)[1]
    req, resp = run_instances(rng, "t3.micro", 1, ec2_id(rng, "ami"), profile=prof)
    sc.call(s, t, "ec2:RunInstances", params=req, resp=resp, harm=True)
    return t


def _creep(sc: Script, s: Session, p: Principal, t: int) -> int:
    rng = sc.rng
    wants = rng.sample(
        (
            "s3:GetObject",
            "secretsmanager:GetSecretValue",
            "iam:ListUsers",
            "ec2:DescribeSnapshots",
            "kms:Decrypt",
            "dynamodb:DescribeTable",
            "rds:DescribeDBSnapshots",
            "ssm:DescribeParameters",
        ),
        rng.randint(3, 7),
    )
    arn = s.who.ui.get("arn", p.key)
    for key in wants:
        sc.call(s, t, key, error=denied(api(key), arn, ""))
        t += gap(rng, 20, 300)
        sc.call(
            s,
            t,
            "iam:PutRolePolicy",
            harm=True,
            params={
                "roleName": p.name,
                "policyName": f"grant-{hexs(rng, 4)}",
                "policyDocument": policy_doc([key]),
            },
        )
        t += gap(rng, 20, 200)
        sc.call(s, t, key)
        t += rng.randint(20, 90) * MINUTE
    return t


_VARIANTS = {
    "attach_admin_self": _self_grant,
    "attach_admin_new": _new_admin,
    "policy_version": _policy_version,
    "trust_external": _trust_external,
    "other_user_creds": _other_creds,
    "passrole": _passrole,
    "creep": _creep,
}


def privilege_escalation(sc: Script) -> None:
    """Sample a privilege-escalation variant and a culprit."""
    rng = sc.rng
    sc.variant = rng.choice(tuple(_VARIANTS))
    if sc.variant == "creep":
        p = culprit(sc.ctx, rng, (1, 0, 0, 0))
        while not p.is_role:
            p = culprit(sc.ctx, rng, (3, 0, 1, 1))
    else:
        p = culprit(sc.ctx, rng, (3, 4, 1, 1))
    span = 8 * HOUR if sc.variant == "creep" else 30 * MINUTE
    t = busy_time(sc.ctx, rng, span)
    stolen = p.kind == "human" and rng.random() < 0.6
    s = stolen_session(sc, p, t, hostile_ua=rng.random() < 0.5) if stolen else sc.session(p, t)
    t = warmup(
        sc,
        s,
        t,
        rng.randint(1, 4),
        (
            "sts:GetCallerIdentity",
            "iam:ListRoles",
            "iam:ListAttachedRolePolicies",
            "iam:GetUser",
            "iam:ListPolicies",
            "iam:ListUsers",
        ),
    )
    t = _VARIANTS[sc.variant](sc, s, p, t + gap(rng, 5, 60))
    warmup(sc, s, t, rng.randint(0, 3))
    sc.description = f"{name_of(p)} ({'stolen credentials' if stolen else p.kind}): {sc.variant}"
