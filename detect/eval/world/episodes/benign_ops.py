"""Benign-but-unusual operational episodes: clean-ups, deploys, batch peaks, on-call, rollouts."""

from __future__ import annotations

from ..clock import HOUR, MINUTE
from ..ids import ec2_id, hexs
from ..inventory import Res
from ..params_write import delete_objects, run_instances
from ..routines import deploy, retention_run, teardown
from .base import Script, baseline_time, busy_time, gap, name_of, person, pick
from .common import warmup


def temp_trail_cleanup(sc: Script) -> None:
    """Stop and delete a temporary trail created days earlier for a test."""
    rng, org = sc.rng, sc.ctx.org
    p = person(sc.ctx, rng, "security", "admin")
    name = f"tmp-{rng.choice(('test', 'debug', 'dataevents'))}-trail-{hexs(rng, 4)}"
    t0 = baseline_time(sc.ctx, rng, rng.uniform(1.5, 6))
    s0 = sc.session(p, t0)
    sc.call(
        s0,
        t0 + 3000,
        "cloudtrail:CreateTrail",
        params={
            "name": name,
            "s3BucketName": f"{org.name}-cloudtrail-{org.trail_account}",
            "isMultiRegionTrail": False,
        },
    )
    sc.call(s0, t0 + 9000, "cloudtrail:StartLogging", params={"name": name})
    sc.rebase()
    t = busy_time(sc.ctx, rng, 20 * MINUTE)
    s = sc.session(p, t)
    sc.call(s, t, "cloudtrail:DescribeTrails", params={"trailNameList": [name]})
    sc.call(s, t + gap(rng, 10, 60), "cloudtrail:StopLogging", params={"name": name})
    sc.call(s, t + gap(rng, 70, 300), "cloudtrail:DeleteTrail", params={"name": name})
    sc.variant = "created-in-baseline"
    sc.description = f"{name_of(p)} removes temporary trail {name} created days earlier"


def guardduty_unused_region(sc: Script) -> None:
    """GuardDuty detector deleted in a region the organisation never uses."""
    rng = sc.rng
    p = person(sc.ctx, rng, "security", "admin")
    t = busy_time(sc.ctx, rng, 20 * MINUTE)
    s = sc.session(p, t)
    regions = rng.sample(sc.ctx.org.unused_regions(), rng.randint(1, 3))
    for region in regions:
        t += gap(rng, 10, 90)
        det = hexs(rng, 32)
        sc.call(s, t, "guardduty:ListDetectors", region=region)
        sc.call(
            s,
            t + gap(rng, 3, 20),
            "guardduty:DeleteDetector",
            params={"detectorId": det},
            region=region,
        )
    sc.variant = ",".join(regions)
    sc.description = f"{name_of(p)} deletes GuardDuty detectors in unused regions {sc.variant}"


def flowlog_cleanup(sc: Script) -> None:
    """Flow logs of deleted dev VPCs cleaned up."""
    rng = sc.rng
    p = person(sc.ctx, rng, "admin", "sre", "senior-dev")
    t = busy_time(sc.ctx, rng, 20 * MINUTE)
    s = sc.session(p, t)
    sc.call(
        s,
        t,
        "ec2:DescribeFlowLogs",
        params={
            "filterSet": {"items": [{"name": "tag:env", "valueSet": {"items": [{"value": "dev"}]}}]}
        },
    )
    for _ in range(rng.randint(1, 4)):
        vpc = ec2_id(rng, "vpc")
        t += gap(rng, 10, 120)
        sc.call(s, t, "ec2:DeleteVpc", params={"vpcId": vpc})
        sc.call(
            s,
            t + gap(rng, 5, 30),
            "ec2:DeleteFlowLogs",
            params={
                "DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": ec2_id(rng, "fl")}}
            },
        )
    sc.variant = "dev-vpcs"
    sc.description = f"{name_of(p)} removes flow logs of deleted dev VPCs"


def scratch_bucket(sc: Script) -> None:
    """A person creates a scratch bucket, uses it and deletes it within minutes."""
    rng, org = sc.rng, sc.ctx.org
    p = person(sc.ctx, rng, "dev", "data", "senior-dev")
    t = busy_time(sc.ctx, rng, 30 * MINUTE)
    s = sc.session(p, t)
    name = f"scratch-{p.name.split('.')[0][:10]}-{hexs(rng, 6)}"
    b = Res("bucket", name, name, "dev", "", org.home, p.account)
    host = f"{name}.s3.{org.home}.amazonaws.com"
    sc.call(s, t, "s3:CreateBucket", params={"bucketName": name, "Host": host})
    for _ in range(rng.randint(2, 20)):
        t += gap(rng, 2, 40)
        sc.call(
            s,
            t,
            "s3:PutObject",
            params={"bucketName": name, "Host": host, "key": f"tmp/{hexs(rng, 8)}.csv"},
        )
    params, _ = delete_objects(rng, b, rng.randint(2, 20))
    sc.call(s, t + gap(rng, 60, 600), "s3:DeleteObjects", params=params)
    sc.call(s, t + gap(rng, 610, 700), "s3:DeleteBucket", params={"bucketName": name, "Host": host})
    sc.variant = "minutes"
    sc.description = f"{name_of(p)} creates and deletes scratch bucket {name}"


def ci_teardown(sc: Script) -> None:
    """A big nightly preview teardown: many DeleteStack calls plus CloudFormation's deletions."""
    rng = sc.rng
    p = pick(sc.ctx, rng, families=("gha-ci-agent",)) or pick(sc.ctx, rng, families=("gha-",))
    if p is None:
        return
    t = busy_time(sc.ctx, rng, 2 * HOUR, night=rng.random() < 0.6)
    base = rng.randrange(3000, 9000)
    stacks = [f"pr-{base + i * rng.randint(1, 3)}-{p.apps[0]}" for i in range(rng.randint(8, 25))]
    teardown(sc.ctx, rng, p, t, stacks)
    sc.variant = f"{len(stacks)}-stacks"
    sc.description = f"{name_of(p)} tears down {len(stacks)} preview stacks"


def big_deploy(sc: Script) -> None:
    """A large release: many stacks deployed one after another."""
    rng = sc.rng
    p = pick(sc.ctx, rng, families=("gha-deploy",))
    if p is None:
        return
    t = busy_time(sc.ctx, rng, 2 * HOUR)
    s = sc.session(p, t)
    for app in rng.sample(sc.ctx.org.apps, min(len(sc.ctx.org.apps), rng.randint(3, 8))):
        deploy(sc.ctx, rng, s, t, "prod", app)
        t += rng.randint(3, 12) * MINUTE
    sc.variant = "multi-stack"
    sc.description = f"{name_of(p)} runs a large multi-stack production release"


def retention_large(sc: Script) -> None:
    """The retention agent's normal schedule, but with a much larger backlog."""
    rng = sc.rng
    p = pick(sc.ctx, rng, families=("retention-agent",))
    if p is None:
        return
    t = busy_time(sc.ctx, rng, HOUR)
    retention_run(sc.ctx, rng, p, t, scale=rng.uniform(3, 6))
    sc.variant = "backlog"
    sc.description = f"{name_of(p)} clears a large retention backlog"


def oncall_night(sc: Script) -> None:
    """An on-call engineer at 3am: many reads and one service restart."""
    rng = sc.rng
    p = person(sc.ctx, rng, "sre", "senior-dev", "admin")
    t = busy_time(sc.ctx, rng, HOUR, night=True)
    s = sc.session(p, t)
    t = warmup(
        sc,
        s,
        t,
        6,
        (
            "cloudwatch:DescribeAlarms",
            "cloudwatch:GetMetricData",
            "logs:FilterLogEvents",
            "ecs:DescribeServices",
            "ec2:DescribeInstances",
            "rds:DescribeDBInstances",
            "elb:DescribeTargetHealth",
            "logs:StartQuery",
            "ecs:ListTasks",
        ),
    )
    for _ in range(rng.randint(20, 80)):
        t += gap(rng, 3, 40)
        sc.call(
            s,
            t,
            rng.choice(
                (
                    "cloudwatch:GetMetricData",
                    "logs:FilterLogEvents",
                    "logs:GetLogEvents",
                    "ecs:DescribeServices",
                )
            ),
        )
    svc = rng.choice(sc.ctx.org.apps)
    sc.call(
        s,
        t + gap(rng, 10, 60),
        "ecs:UpdateService",
        params={"cluster": "prod-cluster", "service": f"prod-{svc}", "forceNewDeployment": True},
    )
    sc.variant = "restart"
    sc.description = f"{name_of(p)} on call at night restarts prod-{svc}"


def quarter_end(sc: Script) -> None:
    """The ETL job reads ~10x its usual number of objects at quarter end."""
    rng, org = sc.rng, sc.ctx.org
    p = pick(sc.ctx, rng, families=("etl",))
    if p is None:
        return
    t = busy_time(sc.ctx, rng, HOUR)
    s = sc.session(p, t)
    buckets = [b for b in org.inv.of("bucket") if "datalake" in b.name]
    n = int(p.rhythm.per_day / 24 * rng.uniform(8, 12))
    for _ in range(max(200, min(n, 5000))):
        b = rng.choice(buckets)
        t += gap(rng, 0.05, 0.6)
        sc.call(
            s,
            t,
            "s3:GetObject",
            region=b.region,
            params={
                "bucketName": b.name,
                "key": f"finance/q{rng.randint(1, 4)}/{hexs(rng, 10)}.parquet",
            },
        )
    sc.variant = "10x"
    sc.description = f"{name_of(p)} quarter-end batch reading ~10x its usual objects"


def region_rollout(sc: Script) -> None:
    """The infra team's first use of a new region, with many creates."""
    rng = sc.rng
    p = pick(sc.ctx, rng, families=("gha-deploy",)) or person(sc.ctx, rng, "admin", "sre")
    region = rng.choice(sc.ctx.org.unused_regions())
    t = busy_time(sc.ctx, rng, 2 * HOUR)
    s = sc.session(p, t, region=region)
    steps = [
        "ec2:DescribeAvailabilityZones",
        "ec2:CreateVpc",
        "ec2:CreateSubnet",
        "ec2:CreateSubnet",
        "ec2:CreateInternetGateway",
        "ec2:CreateRouteTable",
        "ec2:CreateSecurityGroup",
        "kms:CreateKey",
        "logs:CreateLogGroup",
        "cloudformation:CreateStack",
        "ecs:CreateCluster",
        "s3:CreateBucket",
    ]
    for key in steps + ["cloudformation:DescribeStacks"] * rng.randint(5, 20):
        t += gap(rng, 3, 60)
        sc.call(s, t, key, region=region)
    req, resp = run_instances(rng, "m6i.large", rng.randint(2, 6), ec2_id(rng, "ami"))
    sc.call(s, t + gap(rng, 30, 300), "ec2:RunInstances", params=req, resp=resp, region=region)
    sc.variant = region
    sc.description = f"{name_of(p)} rolls out infrastructure to new region {region}"
