"""Execution, access grants and persistence; console compromise."""

from __future__ import annotations

import random
from typing import Any

from ..clock import MINUTE, aws_date
from ..ids import access_key, account_id, hexs, unique_id
from ..net import hostile_ip
from ..params import arn_of
from ..params_write import sg_ingress, trust_doc
from ..sessions import Session
from ..useragents import BROWSERS
from .base import Script, busy_time, culprit, gap, name_of, person, pick
from .common import crit_env, stolen_session, targets, warmup

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
Call = tuple[str, Any, Any]


def _on_instance(rng: random.Random, how: str, iid: str, who: str) -> Call:
    if how == "ssm_session":
        resp = {"sessionId": f"{who}-{hexs(rng, 17)}", "tokenValue": "Value hidden"}
        return "ssm:StartSession", {"target": iid}, resp
    if how == "send_command":
        params = {
            "instanceIds": [iid],
            "documentName": "AWS-RunShellScript",
            "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "interactive": False,
        }
        return "ssm:SendCommand", params, None
    key = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{hexs(rng, 40)}"
    params = {"instanceId": iid, "instanceOSUser": "ec2-user", "sSHPublicKey": key}
    return "eic:SendSSHPublicKey", params, {"success": True}


def _exec(sc: Script, s: Session, t: int, how: str) -> int:
    rng, p = sc.rng, s.principal
    if how == "update_code":
        r = rng.choice(targets(sc.ctx, p, "function"))
        sc.call(s, t, "lambda:GetFunction20150331v2", params={"functionName": r.name})
        params = {"functionName": arn_of(r), "publish": True, "zipFile": "HIDDEN"}
        sc.call(
            s, t + gap(rng, 10, 90), "lambda:UpdateFunctionCode20150331v2", harm=True, params=params
        )
        return t
    if how == "sg_open_world":
        sg = rng.choice(targets(sc.ctx, p, "sg"))
        req, resp = sg_ingress(sg.rid, rng.choice((22, 3389, 5432, 22)), "0.0.0.0/0")
        sc.call(
            s,
            t,
            "ec2:AuthorizeSecurityGroupIngress",
            params=req,
            resp=resp,
            harm=True,
            region=sg.region,
        )
        return t
    insts = targets(sc.ctx, p, "instance")
    for r in rng.sample(insts, min(len(insts), rng.randint(1, 5))):
        t += gap(rng, 5, 120)
        key, params, resp = _on_instance(rng, how, r.rid, p.name)
        sc.call(s, t, key, params=params, resp=resp, harm=True, region=r.region)
    return t


def execution(sc: Script) -> None:
    """Code or shell execution on production by a principal that never does it."""
    rng = sc.rng
    sc.variant = rng.choice(
        ("update_code", "ssm_session", "send_command", "instance_connect", "sg_open_world")
    )
    p = culprit(sc.ctx, rng, (3, 4, 1, 1))
    for _ in range(20):  # production is the point: a staging function's new code is a deploy
        if crit_env(sc.ctx, p) == "prod":
            break
        p = culprit(sc.ctx, rng, (3, 4, 1, 1))
    t = busy_time(sc.ctx, rng, 45 * MINUTE)
    stolen = p.kind == "human" and rng.random() < 0.4
    s = stolen_session(sc, p, t, hostile_ua=False) if stolen else sc.session(p, t)
    t = warmup(
        sc,
        s,
        t,
        rng.randint(1, 4),
        (
            "ec2:DescribeInstances",
            "ssm:DescribeInstanceInformation",
            "lambda:ListFunctions20150331",
            "ec2:DescribeSecurityGroups",
            "sts:GetCallerIdentity",
        ),
    )
    _exec(sc, s, t + gap(rng, 5, 60), sc.variant)
    who = "stolen" if stolen else p.kind
    sc.description = f"{name_of(p)} ({who}): {sc.variant} on {crit_env(sc.ctx, p)}"


def _backdoor_user(sc: Script, s: Session, t: int) -> None:
    rng, acct = sc.rng, s.who.account
    name = rng.choice(("aws-support-sync", "deploy-bot2", "svc-metrics", "admin-backup"))
    user = {
        "userName": name,
        "userId": unique_id(rng, "AIDA"),
        "arn": f"arn:aws:iam::{acct}:user/{name}",
    }
    sc.call(s, t, "iam:CreateUser", params={"userName": name}, harm=True, resp={"user": user})
    key = {
        "accessKeyId": access_key(rng),
        "status": "Active",
        "userName": name,
        "createDate": aws_date(t),
    }
    sc.call(
        s,
        t + gap(rng, 2, 20),
        "iam:CreateAccessKey",
        params={"userName": name},
        harm=True,
        resp={"accessKey": key},
    )
    if rng.random() < 0.6:
        sc.call(
            s,
            t + gap(rng, 20, 40),
            "iam:AttachUserPolicy",
            harm=True,
            params={"userName": name, "policyArn": ADMIN},
        )


def _external_role(sc: Script, s: Session, t: int) -> None:
    rng = sc.rng
    name = f"{rng.choice(('OrganizationAudit', 'SupportAccess', 'xacct-read'))}-{hexs(rng, 4)}"
    trust = trust_doc({"AWS": f"arn:aws:iam::{account_id(rng)}:root"})
    sc.call(
        s,
        t,
        "iam:CreateRole",
        harm=True,
        params={"roleName": name, "assumeRolePolicyDocument": trust},
    )
    sc.call(
        s,
        t + gap(rng, 3, 30),
        "iam:AttachRolePolicy",
        harm=True,
        params={"roleName": name, "policyArn": ADMIN},
    )


def _lambda_public(sc: Script, s: Session, t: int) -> None:
    rng = sc.rng
    r = rng.choice(targets(sc.ctx, s.principal, "function"))
    params = {
        "functionName": r.name,
        "statementId": f"allow-{hexs(rng, 4)}",
        "action": "lambda:InvokeFunction",
        "principal": "*",
    }
    sc.call(s, t, "lambda:AddPermission20150331v2", harm=True, params=params)
    if rng.random() < 0.5:
        sc.call(
            s,
            t + gap(rng, 5, 60),
            "lambda:CreateFunctionUrlConfig20211031",
            harm=True,
            params={"functionName": r.name, "authType": "NONE"},
        )


_PERSIST = {
    "backdoor_user": _backdoor_user,
    "external_role": _external_role,
    "lambda_public": _lambda_public,
}


def _persist(sc: Script, s: Session, t: int, how: str) -> int:
    _PERSIST[how](sc, s, t)
    return t


def persistence(sc: Script) -> None:
    """A compromised principal leaves a way back in."""
    rng = sc.rng
    sc.variant = rng.choice(("backdoor_user", "external_role", "lambda_public"))
    p = culprit(sc.ctx, rng, (2, 5, 1, 1))
    t = busy_time(sc.ctx, rng, 30 * MINUTE)
    stolen = p.kind == "human" and rng.random() < 0.7
    s = stolen_session(sc, p, t) if stolen else sc.session(p, t)
    t = warmup(
        sc,
        s,
        t,
        rng.randint(1, 4),
        ("sts:GetCallerIdentity", "iam:ListUsers", "iam:ListRoles", "lambda:ListFunctions20150331"),
    )
    _persist(sc, s, t + gap(rng, 5, 60), sc.variant)
    sc.description = f"{name_of(p)} ({'stolen' if stolen else p.kind}) plants {sc.variant}"


def console_compromise(sc: Script) -> None:
    """ConsoleLogin without MFA from a new country (often at night), then harmful actions."""
    rng = sc.rng
    p = pick(sc.ctx, rng, kinds=("human",), auths=("console", "iam_key")) or person(
        sc.ctx, rng, "admin", "senior-dev", "sre", "dev", "viewer"
    )
    night = rng.random() < 0.6
    t = busy_time(sc.ctx, rng, 60 * MINUTE, night=night)
    _, ip = hostile_ip(rng)
    s = sc.session(p, t, ip=ip, ua=rng.choice(BROWSERS), mfa=False, console=True)
    t = warmup(
        sc,
        s,
        t,
        rng.randint(3, 7),
        (
            "s3:ListBuckets",
            "ec2:DescribeInstances",
            "iam:ListUsers",
            "cloudtrail:DescribeTrails",
            "secretsmanager:ListSecrets",
            "iam:GetAccountSummary",
            "ce:GetCostAndUsage",
            "ec2:DescribeRegions",
        ),
    )
    follow = rng.choice(("persist", "secrets", "destroy"))
    if follow == "persist":
        _persist(sc, s, t + gap(rng, 20, 200), rng.choice(("backdoor_user", "external_role")))
    elif follow == "secrets":
        for r in targets(sc.ctx, p, "secret")[: rng.randint(3, 12)]:
            t += gap(rng, 2, 20)
            sc.call(s, t, "secretsmanager:GetSecretValue", params={"secretId": r.name}, harm=True)
    else:
        for r in targets(sc.ctx, p, "instance")[: rng.randint(2, 12)]:
            t += gap(rng, 3, 30)
            sc.call(
                s,
                t,
                "ec2:TerminateInstances",
                harm=True,
                params={"instancesSet": {"items": [{"instanceId": r.rid}]}},
            )
    sc.variant = f"{'night' if night else 'day'}+{follow}"
    sc.description = f"console sign-in as {name_of(p)} without MFA from {ip}, then {follow}"
    _ = MINUTE
