"""Which stack operation a call CloudFormation made under its role belongs to, when operations
overlap: an agent deleting one stack while a pipeline deploys another (fresh seed 1541: the
deletions made after the deploy's change set began were the deploy role's, and the agent's
DeleteStack of production became two alerts, one of them the pipeline's)."""

from __future__ import annotations

from datetime import timedelta

from detect.context.org import OrgMemory, StackOp
from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

AGENT = {"role": "ops-agent", "session": "ops-agent", "sourceIPAddress": "54.133.102.171"}
DEPLOYER = {"role": "gha-portal-deploy", "session": "github-8038407812"}
CFN = {
    "role": "cfn-exec-role",
    "session": "AWSCloudFormation",
    "sourceIPAddress": "cloudformation.amazonaws.com",
    "userAgent": "cloudformation.amazonaws.com",
}
START = BASE_TIME + timedelta(days=8, hours=11)


def stack_call(action: str, stack: str, seconds: int, who: dict[str, str]) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="cloudformation.amazonaws.com",
        readOnly=False,
        requestParameters={"stackName": stack},
        at=START + timedelta(seconds=seconds),
        **who,
    )


def cfn_delete(action: str, source: str, params: dict[str, object], seconds: int) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource=f"{source}.amazonaws.com",
        readOnly=False,
        requestParameters=params,
        at=START + timedelta(seconds=seconds),
        **CFN,
    )


def overlapping() -> list[AuditEvent]:
    """The agent deletes prod-ledger; 16 s later the pipeline's change set for prod-portal
    begins; CloudFormation keeps deleting prod-ledger's resources, named and not."""
    return [
        stack_call("DeleteStack", "prod-ledger", 0, AGENT),
        cfn_delete("DeleteFunction20150331", "lambda", {"functionName": "prod-ledger-notify"}, 6),
        stack_call("ExecuteChangeSet", "prod-portal", 16, DEPLOYER),
        cfn_delete("DeleteBucket", "s3", {"bucketName": "acme-prod-ledger-uploads"}, 19),
        *(
            cfn_delete("TerminateInstances", "ec2", {"instanceId": f"i-0{n:016x}"}, 40 + 3 * n)
            for n in range(6)
        ),
        cfn_delete("DeleteDBInstance", "rds", {"dBInstanceIdentifier": "prod-ledger-db"}, 60),
    ]


def owner(org: OrgMemory, event: AuditEvent) -> str:
    op = org.initiator(event)
    assert isinstance(op, StackOp)
    return op.stack


def test_a_call_is_the_operation_its_resource_is_named_after_or_the_run_it_continues() -> None:
    org = OrgMemory()
    owners = []
    for event in overlapping():
        org.observe(event)
        if event.source_ip == "cloudformation.amazonaws.com":
            owners.append(owner(org, event))
    assert owners == ["prod-ledger"] * 9  # the instances too: the run of the stack before them


def test_a_call_naming_no_stack_after_a_pause_is_the_latest_operations() -> None:
    org = OrgMemory()
    for event in overlapping():
        org.observe(event)
        if event.source_ip == "cloudformation.amazonaws.com":
            org.initiator(event)
    later = cfn_delete("TerminateInstances", "ec2", {"instanceId": "i-0feedfacecafe0001"}, 200)
    org.observe(later)
    assert owner(org, later) == "prod-portal"


def test_the_longest_stack_name_a_resource_carries_wins() -> None:
    org = OrgMemory()
    for event in (
        stack_call("DeleteStack", "prod-ledger", 0, AGENT),
        stack_call("DeleteStack", "prod", 5, DEPLOYER),
    ):
        org.observe(event)
    table = cfn_delete("DeleteTable", "dynamodb", {"tableName": "prod-ledger-orders"}, 10)
    assert owner(org, table) == "prod-ledger"  # though "prod" is a word of it too, and later


def test_a_stack_name_is_matched_as_a_whole_word() -> None:
    org = OrgMemory()
    for event in (
        stack_call("DeleteStack", "prod-ledger", 0, AGENT),
        stack_call("ExecuteChangeSet", "prod-portal", 5, DEPLOYER),
    ):
        org.observe(event)
    other = cfn_delete("DeleteTable", "dynamodb", {"tableName": "prod-ledgers-archive"}, 10)
    assert owner(org, other) == "prod-portal"  # "prod-ledgers" is not prod-ledger: the latest


def test_an_agents_stack_deletion_beside_a_deploy_is_one_alert_of_the_agents() -> None:
    engine = DetectionEngine(rules=load_rules())
    history = [
        make_event(eventName="DescribeStacks", at=BASE_TIME + timedelta(days=d, hours=h), **who)
        for d in range(8)
        for h in (9, 13)
        for who in (AGENT, DEPLOYER)
    ]
    engine.process(history)
    changes = engine.process(overlapping()).changes
    opened = [alert.principal for kind, alert in changes if kind == "alert.opened"]
    assert opened and all("ops-agent" in principal for principal in opened), opened


def test_an_id_or_an_arns_service_names_no_stack() -> None:
    """Review: a stack called `vpc` took the agent's `DeleteVpc vpc-0abc...` and the instance
    after it; an ARN's `rds` or `lambda` would have done the same."""
    org = OrgMemory()
    for event in (
        stack_call("UpdateStack", "vpc", 0, DEPLOYER),
        stack_call("UpdateStack", "lambda", 5, DEPLOYER),
        stack_call("DeleteStack", "staging", 20, AGENT),
    ):
        org.observe(event)
    calls = [
        cfn_delete("DeleteVpc", "ec2", {"vpcId": "vpc-0abc12345678"}, 30),
        cfn_delete("TerminateInstances", "ec2", {"instanceId": "i-0feedfacecafe0001"}, 40),
        cfn_delete(
            "DeleteFunction20150331",
            "lambda",
            {"functionName": "arn:aws:lambda:us-east-1:123456789012:function:staging-notify"},
            45,
        ),
    ]
    owners = []
    for call in calls:
        org.observe(call)
        owners.append(owner(org, call))
    assert owners == ["staging"] * 3


def test_a_change_set_or_a_stack_arn_names_its_stack() -> None:
    org = OrgMemory()
    arn = "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-ledger/5b0e7a40-0000-11ef"
    deleting = make_event(
        eventName="DeleteStack",
        eventSource="cloudformation.amazonaws.com",
        readOnly=False,
        requestParameters={"stackName": arn},
        at=START,
        **AGENT,
    )
    deploying = make_event(
        eventName="ExecuteChangeSet",
        eventSource="cloudformation.amazonaws.com",
        readOnly=False,
        requestParameters={"changeSetName": "deploy-65791054", "stackName": "prod-portal"},
        at=START + timedelta(seconds=10),
        **DEPLOYER,
    )
    for event in (deleting, deploying):
        org.observe(event)
    table = cfn_delete("DeleteTable", "dynamodb", {"tableName": "prod-ledger-orders"}, 20)
    function = cfn_delete(
        "UpdateFunctionCode20150331v2", "lambda", {"functionName": "prod-portal-notify"}, 25
    )
    assert owner(org, table) == "prod-ledger"
    assert owner(org, function) == "prod-portal"
