"""CloudFormation: change-set deploys, stack creation and stack deletion with the
resource operations CloudFormation logs under its execution role (invokedBy cloudformation)."""

from __future__ import annotations

import random
from typing import Any

from .clock import SECOND
from .context import Ctx
from .ids import hexs, uuid4
from .inventory import Res
from .params_write import db_delete, terminate
from .principal import Principal
from .sessions import Session, open_session

CFN_HOST = "cloudformation.amazonaws.com"


def stack_resources(ctx: Ctx, rng: random.Random, stack: str, env: str, app: str) -> list[Res]:
    """Resources a stack owns: inventory ones for real environments, synthetic for previews."""
    inv = ctx.org.inv
    acct = ctx.org.account_of(env)
    if not stack.startswith(("pr-", "tmp-", "test-")):
        kinds = ("function", "table", "bucket", "queue", "loggroup", "instance", "db", "alarm")
        own = [r for k in kinds for r in inv.of(k, env, app) if r.account == acct]
        if own:
            return own
    region = ctx.org.home
    out = [
        Res("function", f"{stack}-{v}", f"{stack}-{v}", env, app, region, acct)
        for v in rng.sample(("api", "worker", "web"), rng.randint(1, 3))
    ]
    out.append(Res("table", f"{stack}-state", f"{stack}-state", env, app, region, acct))
    out.append(Res("bucket", f"{stack}-assets-{hexs(rng, 6)}", "", env, app, region, acct))
    out.append(Res("loggroup", f"/aws/lambda/{stack}-api", "", env, app, region, acct))
    out.append(Res("queue", f"{stack}-jobs", "", env, app, region, acct))
    return out


def cfn_principal(ctx: Ctx, account: str) -> Principal:
    """The CloudFormation execution role principal of an account."""
    roles = [p for p in ctx.cast if p.family == "slr-cfn" and p.account == account]
    return roles[0] if roles else next(p for p in ctx.cast if p.family == "slr-cfn")


def _delete_call(r: Res, rng: random.Random) -> tuple[str, Any, Any]:
    if r.kind == "function":
        return "lambda:DeleteFunction20150331", {"functionName": r.name}, None
    if r.kind == "table":
        return (
            "dynamodb:DeleteTable",
            {"tableName": r.name},
            {"tableDescription": {"tableName": r.name, "tableStatus": "DELETING"}},
        )
    if r.kind == "bucket":
        return "s3:DeleteBucket", {"bucketName": r.name, "Host": f"{r.name}.s3.amazonaws.com"}, None
    if r.kind == "loggroup":
        return "logs:DeleteLogGroup", {"logGroupName": r.name}, None
    if r.kind == "instance":
        req, resp = terminate([r.rid])
        return "ec2:TerminateInstances", req, resp
    if r.kind == "db":
        req, resp = db_delete(rng, r, skip_final=False)
        return "rds:DeleteDBInstance", req, resp
    if r.kind == "alarm":
        return "cloudwatch:DeleteAlarms", {"alarmNames": [r.name]}, None
    url = f"https://sqs.{r.region}.amazonaws.com/{r.account}/{r.name}"
    return "sqs:DeleteQueue", {"queueUrl": url}, None


def _create_call(r: Res) -> tuple[str, Any]:
    table = {
        "function": (
            "lambda:CreateFunction20150331",
            {"functionName": r.name, "runtime": "python3.12"},
        ),
        "table": ("dynamodb:CreateTable", {"tableName": r.name, "billingMode": "PAY_PER_REQUEST"}),
        "bucket": ("s3:CreateBucket", {"bucketName": r.name, "Host": f"{r.name}.s3.amazonaws.com"}),
        "loggroup": ("logs:CreateLogGroup", {"logGroupName": r.name}),
        "alarm": ("cloudwatch:PutMetricAlarm", {"alarmName": r.name}),
        "db": ("rds:CreateDBInstance", {"dBInstanceIdentifier": r.name, "engine": "postgres"}),
        "instance": (
            "ec2:RunInstances",
            {
                "instancesSet": {
                    "items": [{"imageId": "ami-0c02fb55956c7d316", "minCount": 1, "maxCount": 1}]
                }
            },
        ),
    }
    return table.get(r.kind, ("sqs:CreateQueue", {"queueName": r.name}))


def cfn_session(ctx: Ctx, rng: random.Random, account: str, t: int) -> Session:
    """A CloudFormation-execution-role session (caller and IP are cloudformation itself)."""
    return open_session(ctx, rng, cfn_principal(ctx, account), t, ip=CFN_HOST, ua=CFN_HOST)


def stack_ops(
    ctx: Ctx, rng: random.Random, t: int, resources: list[Res], *, delete: bool, pace_s: float = 2.5
) -> tuple[list[str], int]:
    """CloudFormation's own per-resource calls; returns (eventIDs, end time)."""
    if not resources:
        return [], t
    cs = cfn_session(ctx, rng, resources[0].account, t)
    ids = []
    for r in resources:
        t += int(rng.expovariate(1.0 / pace_s) * SECOND) + 300
        if delete:
            key, params, resp = _delete_call(r, rng)
        else:
            key, params = _create_call(r)
            resp = None
        rec = ctx.em.call(
            t,
            cs.who,
            key,
            r.region,
            CFN_HOST,
            CFN_HOST,
            params=params,
            resp=resp,
            recipient=r.account,
        )
        ids.append(rec["eventID"])
    return ids, t


def delete_stack(
    ctx: Ctx, rng: random.Random, s: Session, t: int, stack: str, env: str, app: str
) -> tuple[str, list[str], int]:
    """Caller's DeleteStack plus CloudFormation's deletions: (delete id, cfn ids, end)."""
    rec = ctx.em.call(
        t,
        s.who,
        "cloudformation:DeleteStack",
        ctx.org.home,
        s.ip,
        s.ua,
        params={"stackName": stack},
    )
    res = stack_resources(ctx, rng, stack, env, app)
    ids, end = stack_ops(ctx, rng, t + rng.randrange(2, 9) * SECOND, res, delete=True)
    return rec["eventID"], ids, end


def _changeset(
    ctx: Ctx, rng: random.Random, s: Session, t: int, params: dict[str, Any], sid: str
) -> tuple[list[str], int]:
    params = {**params, "changeSetName": f"deploy-{hexs(rng, 8)}", "changeSetType": "CREATE"}
    home = ctx.org.home
    first = ctx.em.call(
        t,
        s.who,
        "cloudformation:CreateChangeSet",
        home,
        s.ip,
        s.ua,
        params=params,
        resp={"id": uuid4(rng), "stackId": sid},
    )
    t += rng.randrange(5, 30) * SECOND
    execute = {"changeSetName": params["changeSetName"], "stackName": params["stackName"]}
    second = ctx.em.call(
        t, s.who, "cloudformation:ExecuteChangeSet", home, s.ip, s.ua, params=execute
    )
    return [first["eventID"], second["eventID"]], t


def create_stack(
    ctx: Ctx,
    rng: random.Random,
    s: Session,
    t: int,
    stack: str,
    env: str,
    app: str,
    *,
    via_changeset: bool = False,
) -> tuple[list[str], list[str], int]:
    """CreateStack (or change set) by the caller plus CloudFormation's creations."""
    acct = ctx.org.account_of(env)
    sid = f"arn:aws:cloudformation:{ctx.org.home}:{acct}:stack/{stack}/{uuid4(rng)}"
    url = f"https://s3.amazonaws.com/{ctx.org.name}-cfn/{app}/{hexs(rng, 8)}.yaml"
    params: dict[str, Any] = {
        "stackName": stack,
        "templateURL": url,
        "capabilities": ["CAPABILITY_NAMED_IAM"],
        "roleARN": cfn_principal(ctx, acct).role_arn,
    }
    if via_changeset:
        ids, t = _changeset(ctx, rng, s, t, params, sid)
    else:
        rec = ctx.em.call(
            t,
            s.who,
            "cloudformation:CreateStack",
            ctx.org.home,
            s.ip,
            s.ua,
            params=params,
            resp={"stackId": sid},
        )
        ids = [rec["eventID"]]
    res = stack_resources(ctx, rng, stack, env, app)
    cfn_ids, end = stack_ops(ctx, rng, t + 3 * SECOND, res, delete=False)
    return ids, cfn_ids, end
