"""Exfiltration: bulk object reads, snapshots/AMIs shared out, public or foreign bucket access."""

from __future__ import annotations

import random
from typing import Any

from ..clock import MINUTE
from ..ids import account_id, hexs
from ..inventory import Res
from ..params import object_key
from ..params_write import bucket_policy
from ..principal import Principal
from ..sessions import Session
from .base import Script, busy_time, culprit, gap, name_of, person
from .common import stolen_session, targets


def _bulk_get(sc: Script, s: Session, p: Principal, t: int) -> int:
    rng = sc.rng
    pool = targets(sc.ctx, p, "bucket")
    sensitive = [
        b
        for b in pool
        if any(w in b.name for w in ("finance", "exports", "backups", "data", "reports"))
    ] or pool
    bucket = rng.choice(sensitive)
    sc.call(
        s, t, "s3:ListObjectsV2", params={"bucketName": bucket.name, "list-type": "2", "prefix": ""}
    )
    n = rng.choice((rng.randint(150, 600), rng.randint(600, 3000)))
    fast = rng.random() < 0.6
    for _ in range(n):
        t += gap(rng, 0.02, 0.4) if fast else gap(rng, 0.5, 6)
        key = object_key(rng, bucket)
        sc.call(
            s,
            t,
            "s3:GetObject",
            harm=True,
            params={
                "bucketName": bucket.name,
                "Host": f"{bucket.name}.s3.{bucket.region}.amazonaws.com",
                "key": key,
            },
            region=bucket.region,
            resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket.name}/{key}"}],
        )
    sc.variant = f"bulk_get:{n}"
    return t


def _share_call(rng: random.Random, how: str, r: Res, ext: str) -> tuple[str, Any, Any]:
    if how == "snapshot":
        perm = {"add": {"items": [{"userId": ext}]}}
        params = {
            "snapshotId": r.rid,
            "createVolumePermission": perm,
            "attributeType": "CREATE_VOLUME_PERMISSION",
        }
        return "ec2:ModifySnapshotAttribute", params, {"_return": True}
    if how == "ami":
        params = {
            "imageId": r.rid,
            "launchPermission": {"add": {"items": [{"userId": ext}]}},
            "attributeType": "launchPermission",
        }
        return "ec2:ModifyImageAttribute", params, {"_return": True}
    value = "all" if rng.random() < 0.5 else ext
    params = {"dBSnapshotIdentifier": r.name, "attributeName": "restore", "valuesToAdd": [value]}
    resp = {
        "dBSnapshotIdentifier": r.name,
        "dBSnapshotAttributes": [{"attributeName": "restore", "attributeValues": [value]}],
    }
    return "rds:ModifyDBSnapshotAttribute", params, resp


def _share(sc: Script, s: Session, p: Principal, t: int) -> int:
    rng = sc.rng
    ext = account_id(rng)
    how = rng.choice(("snapshot", "ami", "dbsnap"))
    pool = targets(sc.ctx, p, how)
    if not pool:
        return _bucket_grant(sc, s, p, t)
    for r in rng.sample(pool, min(len(pool), rng.randint(1, 3) if how == "snapshot" else 1)):
        t += gap(rng, 2, 40)
        key, params, resp = _share_call(rng, how, r, ext)
        sc.call(s, t, key, harm=True, region=r.region, params=params, resp=resp)
    sc.variant = f"share_{how}"
    return t


def _bucket_grant(sc: Script, s: Session, p: Principal, t: int) -> int:
    rng = sc.rng
    b = rng.choice(targets(sc.ctx, p, "bucket"))
    host = f"{b.name}.s3.{b.region}.amazonaws.com"
    how = rng.choice(("policy_public", "policy_external", "acl_public"))
    sc.call(s, t, "s3:GetBucketPolicy", params={"bucketName": b.name, "Host": host, "policy": ""})
    t += gap(rng, 5, 60)
    if how == "acl_public":
        sc.call(
            s,
            t,
            "s3:PutBucketAcl",
            harm=True,
            params={"bucketName": b.name, "Host": host, "acl": "", "x-amz-acl": ["public-read"]},
        )
    else:
        who = "*" if how == "policy_public" else {"AWS": f"arn:aws:iam::{account_id(rng)}:root"}
        if how == "policy_public":
            sc.call(
                s,
                t - 2000,
                "s3:PutBucketPublicAccessBlock",
                harm=True,
                params={
                    "bucketName": b.name,
                    "Host": host,
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": False,
                        "IgnorePublicAcls": False,
                        "BlockPublicPolicy": False,
                        "RestrictPublicBuckets": False,
                    },
                },
            )
        sc.call(
            s,
            t,
            "s3:PutBucketPolicy",
            harm=True,
            params={
                "bucketName": b.name,
                "Host": host,
                "policy": "",
                "bucketPolicy": bucket_policy(b.name, who, ["s3:GetObject", "s3:ListBucket"]),
            },
        )
    sc.variant = how
    return t


def exfiltration(sc: Script) -> None:
    """Sample an exfiltration route and a culprit."""
    rng = sc.rng
    route = rng.choice(("bulk", "bulk", "share", "bucket"))
    if route == "bulk" and rng.random() < 0.5:
        p = person(sc.ctx, rng, "dev", "viewer", "data", "senior-dev")
    else:
        p = culprit(sc.ctx, rng, (3, 4, 1, 1))
    t = busy_time(sc.ctx, rng, 100 * MINUTE)
    stolen = p.kind == "human" and rng.random() < 0.5
    s = stolen_session(sc, p, t, hostile_ua=rng.random() < 0.5) if stolen else sc.session(p, t)
    sc.call(s, t, "s3:ListBuckets", params={"Host": "s3.amazonaws.com"})
    fn = {"bulk": _bulk_get, "share": _share, "bucket": _bucket_grant}[route]
    fn(sc, s, p, t + gap(rng, 5, 90))
    sc.description = f"{name_of(p)} ({'stolen' if stolen else p.kind}) exfiltrates via {sc.variant}"
    _ = hexs
