"""Defense evasion: CloudTrail, flow logs, GuardDuty, Config and alarms switched off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import MINUTE
from ..params import arn_of
from ..sessions import Session
from .base import Script, busy_time, culprit, gap, name_of
from .common import stolen_session, targets, warmup

Step = tuple[str, Any, Any, str | None]


def _trail(sc: Script) -> tuple[str, str, str]:
    trail = sc.ctx.org.inv.of("trail")[0]
    return trail.name, arn_of(trail), trail.region


def _cloudtrail(sc: Script, how: str) -> list[Step]:
    name, arn, region = _trail(sc)
    if how == "stop":
        return [("cloudtrail:StopLogging", {"name": arn}, None, region)]
    if how == "delete":
        return [
            ("cloudtrail:StopLogging", {"name": name}, None, region),
            ("cloudtrail:DeleteTrail", {"name": name}, None, region),
        ]
    if how == "update":
        return [
            (
                "cloudtrail:UpdateTrail",
                {"name": name, "isMultiRegionTrail": False, "includeGlobalServiceEvents": False},
                None,
                region,
            )
        ]
    sel = [
        {
            "readWriteType": "ReadOnly",
            "includeManagementEvents": True,
            "dataResources": [],
            "excludeManagementEventSources": ["kms.amazonaws.com", "rdsdata.amazonaws.com"],
        }
    ]
    if sc.rng.random() < 0.5:
        sel = [{"readWriteType": "All", "includeManagementEvents": False, "dataResources": []}]
    return [
        (
            "cloudtrail:PutEventSelectors",
            {"trailName": name, "eventSelectors": sel},
            {"trailARN": arn, "eventSelectors": sel},
            region,
        )
    ]


def _guardduty(sc: Script) -> list[Step]:
    _acct, region, det = sc.rng.choice(list(sc.ctx.org.detectors))
    if sc.rng.random() < 0.5:
        return [
            ("guardduty:ListDetectors", None, None, region),
            ("guardduty:DeleteDetector", {"detectorId": det}, None, region),
        ]
    return [
        ("guardduty:ListDetectors", None, None, region),
        ("guardduty:UpdateDetector", {"detectorId": det, "enable": False}, None, region),
    ]


def _others(sc: Script, p: Any, how: str) -> list[Step]:
    rng = sc.rng
    if how == "flowlogs":
        fls = targets(sc.ctx, p, "flowlog")
        return [("ec2:DescribeFlowLogs", {"filterSet": {}}, None, None)] + [
            (
                "ec2:DeleteFlowLogs",
                {"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": f.rid}}},
                None,
                f.region,
            )
            for f in fls
        ]
    if how == "config":
        rules = [r.name for r in sc.ctx.org.inv.of("configrule")]
        steps: list[Step] = [
            (
                "config:StopConfigurationRecorder",
                {"configurationRecorderName": "default"},
                None,
                None,
            )
        ]
        return steps + [
            ("config:DeleteConfigRule", {"configRuleName": r}, None, None)
            for r in rng.sample(rules, rng.randint(0, 3))
        ]
    alarms = [a.name for a in targets(sc.ctx, p, "alarm")]
    chosen = rng.sample(alarms, min(len(alarms), rng.randint(2, 10)))
    return [
        ("cloudwatch:DescribeAlarms", {"maxRecords": 100}, None, None),
        ("cloudwatch:DeleteAlarms", {"alarmNames": chosen}, None, None),
    ]


_VARIANTS: dict[str, Callable[[Script, Any], list[Step]]] = {
    "stop_logging": lambda sc, _p: _cloudtrail(sc, "stop"),
    "delete_trail": lambda sc, _p: _cloudtrail(sc, "delete"),
    "update_trail": lambda sc, _p: _cloudtrail(sc, "update"),
    "event_selectors": lambda sc, _p: _cloudtrail(sc, "selectors"),
    "guardduty": lambda sc, _p: _guardduty(sc),
    "flowlogs": lambda sc, p: _others(sc, p, "flowlogs"),
    "config": lambda sc, p: _others(sc, p, "config"),
    "alarms": lambda sc, p: _others(sc, p, "alarms"),
}


def run_steps(sc: Script, s: Session, t: int, steps: list[Step]) -> int:
    """Emit evasion steps; the non-read ones are damaging."""
    for key, params, resp, region in steps:
        t += gap(sc.rng, 2, 40)
        harm = not key.split(":")[1].startswith(("Describe", "List"))
        sc.call(s, t, key, params=params, resp=resp, region=region, harm=harm)
    return t


def _follow_up(sc: Script, s: Session, p: Any, t: int) -> int:
    rng = sc.rng
    secrets = targets(sc.ctx, p, "secret")
    for r in rng.sample(secrets, min(len(secrets), rng.randint(2, 8))):
        t += gap(rng, 1, 10)
        sc.call(s, t, "secretsmanager:GetSecretValue", params={"secretId": r.name}, harm=True)
    for r in targets(sc.ctx, p, "bucket")[: rng.randint(1, 3)]:
        t += gap(rng, 5, 30)
        sc.call(s, t, "s3:DeleteBucket", params={"bucketName": r.name}, harm=True)
    return t


def defense_evasion(sc: Script) -> None:
    """Logging/monitoring disabled, alone or with further malicious activity."""
    rng = sc.rng
    p = culprit(sc.ctx, rng, (3, 5, 1, 0.5))
    t = busy_time(sc.ctx, rng, 90 * MINUTE)
    s = (
        stolen_session(sc, p, t, hostile_ua=rng.random() < 0.6)
        if (p.kind == "human" and rng.random() < 0.7)
        else sc.session(p, t)
    )
    t = warmup(
        sc,
        s,
        t,
        rng.randint(1, 4),
        (
            "sts:GetCallerIdentity",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
            "iam:ListRoles",
            "guardduty:ListDetectors",
            "s3:ListBuckets",
        ),
    )
    picks = rng.sample(tuple(_VARIANTS), rng.choice((1, 1, 2, 3)))
    for v in picks:
        t = run_steps(sc, s, t, _VARIANTS[v](sc, p))
    mixed = rng.random() < 0.5
    if mixed:
        t = _follow_up(sc, s, p, t + gap(rng, 30, 600))
    sc.variant = "+".join(picks) + ("+follow-up" if mixed else "")
    sc.description = f"{name_of(p)} disables {', '.join(picks)}{' then acts' if mixed else ''}"
