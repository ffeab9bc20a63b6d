"""Benign-but-unusual IAM episodes: vendor trust, drills, key rotation, onboarding, tests."""

from __future__ import annotations

import dataclasses
import hashlib

from ..clock import HOUR, MINUTE, aws_date
from ..identity import iam_user_ident
from ..ids import access_key, ec2_id, hexs, unique_id
from ..params_write import bucket_policy, trust_doc
from ..principal import Rhythm
from ..record import Ident
from ..sessions import Session
from .base import Script, baseline_time, busy_time, gap, name_of, person, pick
from .cast_helpers import admin_session, first_day

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def vendor_trust(sc: Script) -> None:
    """Trust policy of the vendor role updated to include the org's known partner account."""
    rng, org = sc.rng, sc.ctx.org
    vendor = pick(sc.ctx, rng, families=("vendor",))
    role = vendor.name if vendor else "vendor-integration"
    partners = list(org.partners)
    # vendors hand out an external id for their integration role (no draw from rng: the
    # world's other choices stay as they were)
    external_id = hashlib.sha256(role.encode()).hexdigest()[:20]
    doc = trust_doc({"AWS": [f"arn:aws:iam::{a}:root" for a in partners]}, external_id)
    t0 = baseline_time(sc.ctx, rng, rng.uniform(1, 5))
    s0 = admin_session(sc, t0, vendor.account if vendor else "")
    sc.call(
        s0,
        t0 + 5000,
        "iam:UpdateAssumeRolePolicy",
        params={"roleName": role, "policyDocument": doc},
    )
    sc.rebase()
    t = busy_time(sc.ctx, rng, 20 * MINUTE)
    s = admin_session(sc, t, vendor.account if vendor else "")
    sc.call(s, t, "iam:GetRole", params={"roleName": role})
    extra = org.partners[-1]
    doc2 = trust_doc(
        {
            "AWS": [f"arn:aws:iam::{extra}:root", f"arn:aws:iam::{partners[0]}:root"],
        },
        external_id,
    )
    sc.call(
        s,
        t + gap(rng, 20, 200),
        "iam:UpdateAssumeRolePolicy",
        params={"roleName": role, "policyDocument": doc2},
    )
    sc.variant = "known-partner"
    sc.description = f"admin updates {role} trust to the org's known partner account {extra}"


def breakglass_drill(sc: Script) -> None:
    """Security team's announced break-glass drill: admin attached then detached within minutes."""
    rng = sc.rng
    p = person(sc.ctx, rng, "security", "admin")
    t = busy_time(sc.ctx, rng, 40 * MINUTE)
    role = dataclasses.replace(
        p,
        auth="role",
        name="breakglass-admin",
        pid=unique_id(rng, "AROA"),
        session="stable:breakglass-drill-" + hexs(rng, 4),
        ips=p.ips,
        uas=p.uas,
        launcher=p.key,
        rhythm=Rhythm("office", 0.0),
    )
    s = sc.session(role, t, mfa=True)
    sc.call(s, t, "sts:GetCallerIdentity")
    sc.call(
        s,
        t + gap(rng, 10, 60),
        "iam:AttachRolePolicy",
        params={"roleName": "breakglass-admin", "policyArn": ADMIN},
    )
    t += rng.randint(3, 15) * MINUTE
    for key in ("iam:ListRoles", "cloudtrail:LookupEvents", "ec2:DescribeInstances"):
        t += gap(rng, 5, 60)
        sc.call(s, t, key)
    sc.call(
        s,
        t + gap(rng, 20, 120),
        "iam:DetachRolePolicy",
        params={"roleName": "breakglass-admin", "policyArn": ADMIN},
    )
    sc.variant = "attach-detach"
    sc.description = f"{name_of(p)} runs the announced break-glass drill (attach/detach admin)"


def own_key_rotation(sc: Script) -> None:
    """A person rotates their own access key."""
    rng = sc.rng
    p = pick(sc.ctx, rng, kinds=("human",), auths=("iam_key",)) or person(sc.ctx, rng)
    t = busy_time(sc.ctx, rng, 20 * MINUTE)
    s = sc.session(p, t)
    new = access_key(rng)
    sc.call(s, t, "iam:ListAccessKeys", params={"userName": p.name})
    sc.call(
        s,
        t + gap(rng, 5, 30),
        "iam:CreateAccessKey",
        params={"userName": p.name},
        resp={
            "accessKey": {
                "accessKeyId": new,
                "status": "Active",
                "userName": p.name,
                "createDate": aws_date(t),
            }
        },
    )
    s2 = Session(
        Ident(dict(iam_user_ident(p).ui, accessKeyId=new), p.key, p.account),
        s.ip,
        s.ua,
        s.region,
        p,
    )
    t += gap(rng, 60, 600)
    sc.call(s2, t, "sts:GetCallerIdentity")
    sc.call(
        s2,
        t + gap(rng, 5, 60),
        "iam:UpdateAccessKey",
        params={"userName": p.name, "accessKeyId": p.akid, "status": "Inactive"},
    )
    sc.call(
        s2,
        t + gap(rng, 60, 120),
        "iam:DeleteAccessKey",
        params={"userName": p.name, "accessKeyId": p.akid},
    )
    sc.variant = "self"
    sc.description = f"{name_of(p)} rotates their own access key"


def onboarding(sc: Script) -> None:
    """Admin creates a new hire; the new hire's first day is mostly reads and errors."""
    rng, org = sc.rng, sc.ctx.org
    t = busy_time(sc.ctx, rng, 5 * HOUR)
    s = admin_session(sc, t)
    name = f"{rng.choice(('nadia', 'tom', 'yara', 'ravi', 'lucia'))}.{rng.choice(('berg', 'ito'))}"
    steps = [
        ("iam:CreateUser", {"userName": name, "tags": [{"key": "team", "value": "eng"}]}),
        (
            "iam:AddUserToGroup",
            {"groupName": rng.choice(("developers", "eng-readonly")), "userName": name},
        ),
        ("iam:CreateLoginProfile", {"userName": name, "passwordResetRequired": True}),
    ]
    if rng.random() < 0.6:
        steps.append(("iam:CreateAccessKey", {"userName": name}))
    for key, params in steps:
        t += gap(rng, 5, 60)
        sc.call(s, t, key, params=params)
    hire = dataclasses.replace(
        person(sc.ctx, rng),
        key=f"arn:aws:iam::{s.who.account}:user/{name}",
        name=name,
        auth="console",
        pid=unique_id(rng, "AIDA"),
        account=s.who.account,
        akid=access_key(rng),
        mfa=False,
        error_rate=0.25,
        email=f"{name}@{org.domain}",
    )
    first_day(sc, hire, t + rng.randint(20, 120) * MINUTE)
    sc.variant = "with-access-key" if len(steps) == 4 else "console-only"
    sc.description = f"onboarding of new hire {name} and their first day"


def test_pipeline_iam(sc: Script) -> None:
    """An integration-test pipeline creates and deletes a user and a role within a minute."""
    rng = sc.rng
    p = pick(sc.ctx, rng, kinds=("ci",)) or person(sc.ctx, rng)
    t = busy_time(sc.ctx, rng, 10 * MINUTE)
    s = sc.session(p, t)
    tag = f"it-{hexs(rng, 6)}"
    trust = trust_doc({"Service": "lambda.amazonaws.com"})
    for key, params in (
        ("iam:CreateUser", {"userName": f"{tag}-user"}),
        ("iam:CreateRole", {"roleName": f"{tag}-role", "assumeRolePolicyDocument": trust}),
        (
            "iam:AttachRolePolicy",
            {"roleName": f"{tag}-role", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        ),
        (
            "iam:DetachRolePolicy",
            {"roleName": f"{tag}-role", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        ),
        ("iam:DeleteRole", {"roleName": f"{tag}-role"}),
        ("iam:DeleteUser", {"userName": f"{tag}-user"}),
    ):
        t += gap(rng, 1, 9)
        sc.call(s, t, key, params=params)
    sc.variant = "user+role"
    sc.description = f"{name_of(p)} test pipeline creates and deletes IAM fixtures {tag}"


def snapshot_unshare(sc: Script) -> None:
    """ModifySnapshotAttribute that removes public/external access."""
    rng = sc.rng
    p = person(sc.ctx, rng, "security", "admin", "sre")
    t = busy_time(sc.ctx, rng, 15 * MINUTE)
    s = sc.session(p, t)
    snap = ec2_id(rng, "snap")
    sc.call(
        s,
        t,
        "ec2:DescribeSnapshotAttribute",
        params={"snapshotId": snap, "attributeType": "CREATE_VOLUME_PERMISSION"},
    )
    who = {"group": "all"} if rng.random() < 0.5 else {"userId": sc.ctx.org.partners[0]}
    sc.call(
        s,
        t + gap(rng, 10, 90),
        "ec2:ModifySnapshotAttribute",
        params={
            "snapshotId": snap,
            "createVolumePermission": {"remove": {"items": [who]}},
            "attributeType": "CREATE_VOLUME_PERMISSION",
        },
        resp={"_return": True},
    )
    sc.variant = "remove-" + next(iter(who))
    sc.description = f"{name_of(p)} removes sharing from snapshot {snap}"


def public_website(sc: Script) -> None:
    """Public-read bucket policy on the org's website bucket (www-/static-/assets-)."""
    rng = sc.rng
    site = sc.ctx.org.inv.of("website")[0].name
    p = pick(sc.ctx, rng, families=("gha-deploy",)) or person(sc.ctx, rng, "senior-dev", "admin")
    t = busy_time(sc.ctx, rng, 15 * MINUTE)
    s = sc.session(p, t)
    host = f"{site}.s3.amazonaws.com"
    sc.call(s, t, "s3:PutBucketWebsite", params={"bucketName": site, "Host": host, "website": ""})
    sc.call(
        s,
        t + gap(rng, 2, 20),
        "s3:PutBucketPolicy",
        params={
            "bucketName": site,
            "Host": host,
            "policy": "",
            "bucketPolicy": bucket_policy(site, "*", ["s3:GetObject"]),
        },
    )
    sc.variant = site.split("-")[0]
    sc.description = f"{name_of(p)} publishes website bucket {site} with a public-read policy"
