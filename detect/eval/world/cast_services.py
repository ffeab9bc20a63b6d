"""Platform principals: ETL, key rotation, backup, Config, Auto Scaling, dashboards, vendors."""

from __future__ import annotations

import random

from .cast_machines import _role
from .ids import unique_id
from .net import aws_ip, ip_in
from .org import Org
from .principal import Principal, Rhythm
from .useragents import boto3, go_sdk, lambda_ua

_SLR = {
    "config": ("AWSServiceRoleForConfig", "config.amazonaws.com", "AWSConfig-Describe"),
    "autoscaling": ("AWSServiceRoleForAutoScaling", "autoscaling.amazonaws.com", "AutoScaling"),
    "backup": (
        "AWSBackupDefaultServiceRole",
        "backup.amazonaws.com",
        "AWSBackup-AWSBackupDefaultServiceRole",
    ),
    "elb": (
        "AWSServiceRoleForElasticLoadBalancing",
        "elasticloadbalancing.amazonaws.com",
        "ElasticLoadBalancing",
    ),
    "cfn": ("cfn-exec-role", "cloudformation.amazonaws.com", "AWSCloudFormation"),
}


def slr(rng: random.Random, org: Org, which: str, env: str, per_day: float) -> Principal:
    """A service(-linked) role that an AWS service assumes and uses on the org's behalf."""
    name, host, sess = _SLR[which]
    path = "" if which in ("backup", "cfn") else f"aws-service-role/{host}/"
    if which == "backup":
        path = "service-role/"
    rhythm = Rhythm("steady", per_day, weekend=1.0, burst=0.3)
    return _role(
        org,
        rng,
        key_env=env,
        name=name,
        kind="service",
        family=f"slr-{which}",
        auth="slr",
        session=f"stable:{sess}",
        mix=f"slr-{which}",
        rhythm=rhythm,
        uas=(host,),
        envs=(env,),
        apps=org.apps,
        desc=f"{host} acting via {name}",
        ip_mode="service",
        launcher=host,
        path=path,
    )


def aws_service(org: Org, host: str, mix: str, env: str) -> Principal:
    """An AWS service principal acting directly (userIdentity type AWSService)."""
    acct = org.account_of(env)
    return Principal(
        key=host if env == "prod" else f"{host}@{acct}",
        kind="service",
        family=f"aws-service:{host.split('.')[0]}",
        description=f"AWS service {host}",
        account=acct,
        auth="service",
        name=host,
        pid="",
        session="",
        rhythm=Rhythm("steady", 1.0, weekend=1.0, burst=0.1),
        mix=mix,
        uas=(host,),
        regions=org.regions,
        envs=(env,),
        apps=org.apps,
        ip_mode="service",
        launcher=host,
        mfa=False,
        error_rate=0.0,
    )


def _etl(rng: random.Random, org: Org) -> Principal:
    rhythm = Rhythm("hourly", 1.0, weekend=1.0, burst=0.9, sched_hours=(rng.uniform(0, 0.8),))
    return _role(org, rng, key_env="prod", name="etl-glue-role", kind="service", family="etl",
                 auth="role", session="stable:GlueJobRunnerSession", mix="etl", rhythm=rhythm,
                 uas=(boto3(rng, "AWS_Glue"),), envs=("prod",), apps=("datalake",),
                 desc="hourly ETL job bulk-reading the data lake", ips=(aws_ip(rng),),
                 launcher="glue.amazonaws.com", path="service-role/")  # fmt: skip


def _rotator(rng: random.Random, org: Org) -> Principal:
    rhythm = Rhythm("scheduled", 1.0, weekend=1.0, sched_hours=(rng.uniform(1, 5),))
    return _role(org, rng, key_env="prod", name="iam-key-rotator-role", kind="service",
                 family="key-rotation", auth="lambda", session="stable:iam-key-rotator",
                 mix="key-rotator", rhythm=rhythm, uas=(lambda_ua(rng, "python3.12"),),
                 envs=("prod",), apps=org.apps, ip_mode="aws",
                 desc="Lambda that rotates service-user access keys")  # fmt: skip


def _dashboard(rng: random.Random, org: Org) -> Principal:
    name = rng.choice(("grafana-cloudwatch", "dashboards-ro"))
    rhythm = Rhythm("steady", 1.0, weekend=0.9, burst=0.2)
    return _role(org, rng, key_env="prod", name=name, kind="service", family="dashboard",
                 auth="role", session="stable:grafana", mix="dashboard", rhythm=rhythm,
                 uas=(go_sdk(rng, "grafana/10.4.2"),), envs=("prod", "staging"), apps=org.apps,
                 desc="dashboard polling CloudWatch and EC2",
                 ips=(ip_in(rng, (34, 35)),))  # fmt: skip


def _vendor(rng: random.Random, org: Org) -> Principal:
    vendor = rng.choice(("datadog", "wiz", "snyk", "lacework", "orca"))
    rhythm = Rhythm("steady", 1.0, weekend=1.0, burst=0.7)
    return _role(org, rng, key_env="prod", name=f"{vendor}-integration", kind="service",
                 family="vendor", auth="role", session=f"stable:{vendor}-scan", mix="vendor",
                 rhythm=rhythm, uas=(boto3(rng),), envs=("prod", "staging", "dev"),
                 apps=org.apps, desc=f"{vendor} cross-account read-only integration",
                 ips=(ip_in(rng, (3, 52, 54)),), launcher=f"acct:{org.partners[0]}")  # fmt: skip


def platform(rng: random.Random, org: Org) -> list[Principal]:
    """ETL, key rotation, dashboards, vendor integration and AWS service principals."""
    out = [_etl(rng, org), _rotator(rng, org), _dashboard(rng, org), _vendor(rng, org)]
    for which in ("config", "autoscaling", "backup", "elb", "cfn"):
        out.append(slr(rng, org, which, "prod", 1.0))
    out.append(aws_service(org, "cloudtrail.amazonaws.com", "svc-cloudtrail", "prod"))
    out.append(aws_service(org, "secretsmanager.amazonaws.com", "svc-secrets", "prod"))
    if len(org.accounts) > 1:
        out.append(slr(rng, org, "cfn", "dev", 1.0))
    return out


def root_principal(rng: random.Random, org: Org) -> Principal:
    """The account root user (used rarely, mostly never)."""
    acct = org.accounts[0].id
    return Principal(
        key=f"arn:aws:iam::{acct}:root",
        kind="human",
        family="root",
        description="account root user (break-glass only)",
        account=acct,
        auth="root",
        name="root",
        pid=unique_id(rng, "AIDA"),
        session="",
        rhythm=Rhythm("office", 0.0),
        mix="console",
        uas=(),
        regions=org.regions,
        envs=("prod",),
        apps=(),
        mfa=True,
    )
