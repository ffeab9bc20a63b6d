"""Service routines: Auto Scaling, AWS Backup, Secrets Manager, key rotation, role switching."""

from __future__ import annotations

import random

from .clock import HOUR, MINUTE, SECOND, aws_date
from .context import Ctx
from .identity import iam_user_ident, role_ident
from .ids import access_key, ec2_id, hexs, unique_id
from .params_write import run_instances, terminate
from .principal import Principal
from .record import Ident
from .routines import _days, _in_window
from .sessions import open_session, pick_ip, pick_ua


def autoscaling_day(ctx: Ctx, rng: random.Random, p: Principal, mid: int) -> None:
    """Scale-out in the morning, scale-in at night, with real launch/terminate calls."""
    for hour, out in ((rng.uniform(7, 10), True), (rng.uniform(19, 23), False)):
        t = mid + int(hour * HOUR)
        if not _in_window(ctx, t):
            continue
        s = open_session(ctx, rng, p, t)
        for _ in range(rng.randint(1, 4)):
            t += rng.randrange(5, 90) * SECOND
            if out:
                req, resp = run_instances(
                    rng, rng.choice(("m6i.large", "c6i.xlarge")), 1, ec2_id(rng, "ami")
                )
                key = "ec2:RunInstances"
            else:
                req, resp = terminate([ec2_id(rng, "i")])
                key = "ec2:TerminateInstances"
            ctx.em.call(t, s.who, key, s.region, s.ip, s.ua, params=req, resp=resp)


def backup_day(ctx: Ctx, rng: random.Random, p: Principal, mid: int) -> None:
    """Nightly backup: new snapshots, expired recovery points deleted."""
    t = mid + int(rng.uniform(1, 4) * HOUR)
    if not _in_window(ctx, t):
        return
    s = open_session(ctx, rng, p, t)
    vols = rng.randint(2, 10)
    for _ in range(vols):
        t += rng.randrange(2, 30) * SECOND
        ctx.em.call(
            t,
            s.who,
            "ec2:CreateSnapshot",
            s.region,
            s.ip,
            s.ua,
            params={"volumeId": ec2_id(rng, "vol"), "description": "AWS Backup job"},
            resp={"snapshotId": ec2_id(rng, "snap"), "status": "pending"},
        )
    for _ in range(rng.randint(0, vols)):
        t += rng.randrange(2, 30) * SECOND
        ctx.em.call(
            t,
            s.who,
            "ec2:DeleteSnapshot",
            s.region,
            s.ip,
            s.ua,
            params={"snapshotId": ec2_id(rng, "snap")},
            resp={"_return": True},
        )


def secrets_service_day(ctx: Ctx, rng: random.Random, p: Principal, mid: int) -> None:
    """Secrets Manager's own events: rotations and scheduled deletions that come due."""
    for _ in range(rng.randint(0, 3)):
        t = mid + rng.randrange(0, 24 * HOUR)
        if not _in_window(ctx, t):
            continue
        secret = (
            f"arn:aws:secretsmanager:{ctx.org.home}:{p.account}:secret:"
            f"{rng.choice(('staging', 'dev'))}/{rng.choice(ctx.org.apps)}/old-{hexs(rng, 4)}"
        )
        name = (
            "secretsmanager:RotationSucceeded"
            if rng.random() < 0.6
            else "secretsmanager:StartSecretVersionDelete"
        )
        ctx.em.service_event(
            t, p.account, p.name, name, ctx.org.home, {}, extra={"SecretId": secret}
        )


def rotate_keys(ctx: Ctx, rng: random.Random, p: Principal, t: int) -> None:
    """The key-rotation Lambda rotating one service user's access key."""
    s = open_session(ctx, rng, p, t)
    user = f"svc-{rng.choice(ctx.org.apps)}-{rng.choice(('legacy', 'sftp', 'partner', 'smtp'))}"
    old, new = access_key(rng), access_key(rng)
    steps = [
        ("iam:ListAccessKeys", {"userName": user}, None),
        (
            "iam:CreateAccessKey",
            {"userName": user},
            {
                "accessKey": {
                    "accessKeyId": new,
                    "status": "Active",
                    "userName": user,
                    "createDate": aws_date(t),
                }
            },
        ),
        ("iam:UpdateAccessKey", {"userName": user, "accessKeyId": old, "status": "Inactive"}, None),
        ("iam:DeleteAccessKey", {"userName": user, "accessKeyId": old}, None),
    ]
    for key, params, resp in steps:
        t += rng.randrange(1, 5) * SECOND
        ctx.em.call(t, s.who, key, "us-east-1", s.ip, s.ua, params=params, resp=resp)


def role_switch(ctx: Ctx, rng: random.Random, p: Principal, t: int) -> None:
    """An IAM user switching into an elevated role and doing a few reads as it."""
    target = next((a.id for a in ctx.org.accounts if a.id != p.account), p.account)
    role = "OrganizationAccountAccessRole" if target != p.account else "ops-elevated"
    ip, ua = pick_ip(rng, p), pick_ua(rng, p)
    sess = p.name
    akid = access_key(rng, temporary=True)
    elevated = Principal(
        key="",
        kind="human",
        family="",
        description="",
        account=target,
        auth="role",
        name=role,
        pid=unique_id(random.Random(role + target), "AROA"),
        session="",
        rhythm=p.rhythm,
        mix="",
        uas=(),
        regions=p.regions,
        envs=p.envs,
        apps=p.apps,
    )
    arn = f"arn:aws:iam::{target}:role/{role}"
    ctx.em.call(
        t,
        iam_user_ident(p),
        "sts:AssumeRole",
        p.regions[0],
        ip,
        ua,
        params={"roleArn": arn, "roleSessionName": sess, "durationSeconds": 3600},
        resp={"assumedRoleUser": {"arn": f"arn:aws:sts::{target}:assumed-role/{role}/{sess}"}},
        resources=[{"accountId": target, "type": "AWS::IAM::Role", "ARN": arn}],
        recipient=target,
    )
    who = role_ident(elevated, sess, t, akid, mfa=True)
    for key in rng.sample(
        (
            "ec2:DescribeInstances",
            "iam:ListRoles",
            "s3:ListBuckets",
            "cloudformation:DescribeStacks",
            "sts:GetCallerIdentity",
        ),
        3,
    ):
        t += rng.randrange(2, 60) * SECOND
        ctx.em.call(t, who, key, p.regions[0], ip, ua)


def console_failure(ctx: Ctx, rng: random.Random, p: Principal, t: int) -> None:
    """A mistyped console password."""
    ui = {
        "type": "IAMUser",
        "principalId": p.pid,
        "accountId": p.account,
        "accessKeyId": "",
        "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
    }
    ctx.em.call(
        t,
        Ident(ui, p.key, p.account),
        "signin:ConsoleLogin",
        "us-east-1",
        pick_ip(rng, p),
        p.uas[0],
        resp={"ConsoleLogin": "Failure"},
        error=("", "Failed authentication"),
        event_type="AwsConsoleSignIn",
        extra={
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "No",
        },
    )


def service_routines(ctx: Ctx, rng: random.Random) -> None:
    """Run all service routines day by day."""
    fam = {p.family: p for p in ctx.cast}
    people = [p for p in ctx.cast if p.auth in ("iam_key", "console")]
    admins = [p for p in people if p.family.startswith(("admin", "senior-dev", "sre"))]
    for mid, weekend in _days(ctx):
        if "slr-autoscaling" in fam:
            autoscaling_day(ctx, rng, fam["slr-autoscaling"], mid)
        if "slr-backup" in fam:
            backup_day(ctx, rng, fam["slr-backup"], mid)
        if "aws-service:secretsmanager" in fam:
            secrets_service_day(ctx, rng, fam["aws-service:secretsmanager"], mid)
        rot = fam.get("key-rotation")
        t = mid + int(rng.uniform(1, 5) * HOUR)
        if rot is not None and rng.random() < 0.3 and _in_window(ctx, t):
            rotate_keys(ctx, rng, rot, t)
        for p in admins:
            t = mid + int(rng.uniform(p.rhythm.start_h, p.rhythm.end_h) * HOUR)
            if not weekend and rng.random() < 0.25 and _in_window(ctx, t):
                role_switch(ctx, rng, p, t)
        for p in people:
            t = mid + int(rng.uniform(8, 18) * HOUR) + rng.randrange(0, MINUTE)
            if p.auth == "console" and rng.random() < 0.06 and _in_window(ctx, t):
                console_failure(ctx, rng, p, t)
