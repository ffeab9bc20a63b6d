"""New compute handed another identity's role pages (iam:PassRole escalation).

Rhino Security's PassRole methods: a principal that may create functions, instances or tasks
creates one with a more powerful role and runs it, borrowing that role's permissions. The
role tells: an AI agent's role, a person's, one that changes permissions, or CloudFormation's
deployment role handed to a new Lambda function is borrowed. A function's own execution role
(AWS assumed it for Lambda before), a role the deploy created minutes earlier (Terraform) and
the caller's own role are how deploys look.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
CI = {"role": "gha-catalog-deploy", "session": "GitHubActions", "userAgent": "Boto3/1.34.0"}
AGENT = {"role": "ops-agent", "session": "agent-run-5e1c", "userAgent": "Boto3/1.34.0"}
DAY = timedelta(days=1)


def _lambda_runs(role: str, session: str, at: datetime) -> AuditEvent:
    """Lambda assuming `role` with `session` as its name (a function's, or a poller's)."""
    return make_event(
        eventName="AssumeRole",
        eventSource="sts.amazonaws.com",
        sourceIPAddress="lambda.amazonaws.com",
        userAgent="lambda.amazonaws.com",
        userIdentity={"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "roleSessionName": session,
        },
        at=at,
    )


def _lambda_assumes(role: str, at: datetime) -> AuditEvent:
    """AWS assuming `role` to run the Lambda function it is named for (`x-exec`: `x`)."""
    return _lambda_runs(role, role.removesuffix("-exec"), at)


def _history() -> list[AuditEvent]:
    """Four days: the CI role deploys, the agent works, AWS runs an existing function whose
    role changes permissions (an IAM provisioner)."""
    events = []
    for day in range(4):
        at = BASE_TIME + day * DAY
        for minute in range(0, 40, 4):
            when = at + timedelta(minutes=minute)
            events.append(make_event(eventName="DescribeStacks", at=when, **CI))
            events.append(
                make_event(eventName="DescribeInstances", at=when + timedelta(hours=2), **AGENT)
            )
        events.append(_lambda_assumes("provisioner-exec", at + timedelta(hours=3)))
        events.append(
            make_event(
                eventName="AttachRolePolicy",
                eventSource="iam.amazonaws.com",
                readOnly=False,
                requestParameters={
                    "roleName": f"team-{day}-reader",
                    "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
                },
                role="provisioner-exec",
                session="provisioner",
                userAgent="AWS_Lambda_python3.12",
                at=at + timedelta(hours=3, seconds=5),
            )
        )
    return events


def _create_function(passed: str, at_hours: float = 0.0, **who: Any) -> AuditEvent:
    return make_event(
        eventName="CreateFunction20150331",
        eventSource="lambda.amazonaws.com",
        readOnly=False,
        requestParameters={
            "functionName": "maint-3eadfc",
            "runtime": "python3.12",
            "role": f"arn:aws:iam::{ACCOUNT}:role/{passed}",
            "handler": "index.handler",
        },
        at=BASE_TIME + 4 * DAY + timedelta(hours=at_hours),
        **(who or CI),
    )


def _run_instance(profile: str, at_hours: float = 0.0, **who: Any) -> AuditEvent:
    """The CI role (or `who`) launching an instance with the instance profile `profile`."""
    return make_event(
        eventName="RunInstances",
        readOnly=False,
        requestParameters={"instanceType": "t3.micro", "iamInstanceProfile": {"name": profile}},
        at=BASE_TIME + 4 * DAY + timedelta(hours=at_hours),
        **(who or CI),
    )


def opened(events: list[AuditEvent]) -> list[str]:
    engine = DetectionEngine(rules=load_rules())
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [alert.rule for change, alert in changes if change == "alert.opened"]


def _vendor_signs_in(at: datetime) -> AuditEvent:
    """A vendor's account assuming its cross-account integration role (logged in ours)."""
    return make_event(
        eventName="AssumeRole",
        eventSource="sts.amazonaws.com",
        sourceIPAddress="3.8.229.134",
        userAgent="aws-sdk-go-v2/1.30.3",
        userIdentity={
            "type": "AWSAccount",
            "principalId": "AROAVENDOR:scan",
            "accountId": "867089763127",
        },
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/wiz-integration",
            "roleSessionName": "wiz-scan",
        },
        at=at,
    )


def test_a_function_handed_a_role_another_account_signs_in_to_pages() -> None:
    """An AI agent creating a function with a vendor's integration role (seed 796): the new
    code runs with what the organisation granted another account."""
    vendor = [_vendor_signs_in(BASE_TIME + day * DAY) for day in range(4)]
    passed = _create_function("wiz-integration", **AGENT)
    assert opened([*_history(), *vendor, passed]) == ["baseline:borrowed_role"]
    assert opened([*_history(), passed]) == []  # a role Leash never saw act: nothing to say


def test_a_function_created_with_an_agents_role_pages() -> None:
    assert opened([*_history(), _create_function("ops-agent")]) == ["baseline:borrowed_role"]


def test_a_function_created_with_a_lambda_execution_role_does_not() -> None:
    # the provisioner's role changes permissions, and AWS assumes it for Lambda: a redeploy
    assert opened([*_history(), _create_function("provisioner-exec")]) == []


def test_an_instance_launched_with_a_permission_changers_role_pages() -> None:
    run = _run_instance("provisioner-exec")
    assert opened([*_history(), run]) == ["baseline:borrowed_role"]


def test_a_role_the_deploy_created_within_the_day_does_not() -> None:
    create_role = make_event(
        eventName="CreateRole",
        eventSource="iam.amazonaws.com",
        readOnly=False,
        requestParameters={"roleName": "catalog-sync-exec"},
        at=BASE_TIME + 4 * DAY - timedelta(minutes=5),
        **CI,
    )
    # the new role's first session is the role of an agent that has not run yet: nothing known
    assert opened([*_history(), create_role, _create_function("catalog-sync-exec")]) == []


def test_the_callers_own_role_and_a_role_it_handed_over_before_do_not() -> None:
    own = _create_function("ops-agent", **AGENT)
    assert opened([*_history(), own]) == []
    before = _create_function("ops-agent", at_hours=-30)
    again = _create_function("ops-agent")
    # the first hand-over pages, its repeat a day later does not
    assert opened([*_history(), before, again]) == ["baseline:borrowed_role"]


def test_an_agent_creating_and_running_a_function_with_its_own_role_pages() -> None:
    """Seed 998: a coding agent created a function with its own role and invoked it twenty
    seconds later -- code that keeps the agent's permissions after its session, beyond the
    gate. The create alone waits (above); run at once, it pages. A person's call is not this
    (their own role is one no function can be given), nor is a later run."""
    own = _create_function("ops-agent", **AGENT)
    run = _invoke("maint-3eadfc", 0.4, **AGENT)
    assert opened([*_history(), own, run]) == ["baseline:borrowed_role_run"]
    assert opened([*_history(), own, _invoke("maint-3eadfc", 20, **AGENT)]) == []
    switch = make_event(
        eventName="UpdateFunctionConfiguration20150331v2",
        eventSource="lambda.amazonaws.com",
        readOnly=False,
        requestParameters={"functionName": "maint-3eadfc", "role": role_arn("ops-agent")},
        at=BASE_TIME + 4 * DAY,
        **AGENT,
    )
    switch_run = _invoke("maint-3eadfc", 0.4, **AGENT)
    assert opened([*_history(), switch, switch_run]) == ["baseline:borrowed_role_run"]


def test_a_workload_creating_and_running_a_function_with_its_own_role_pages() -> None:
    """Fresh seed 1111: an instance role listed roles, created a function with its own role
    and invoked it 26 s later -- code that outlives the host whose credentials made it. As for
    an agent, the create waits and the run at once pages; its instance launches with its own
    profile (a build controller starting runners) are how it works."""
    own = _create_function("gha-catalog-deploy", **CI)
    assert own.actor_kind == "service"
    assert opened([*_history(), own]) == []
    run = _invoke("maint-3eadfc", 0.4, **CI)
    assert opened([*_history(), own, run]) == ["baseline:borrowed_role_run"]
    assert opened([*_history(), own, _invoke("maint-3eadfc", 20, **CI)]) == []


def test_a_pipeline_that_creates_functions_is_judged_by_the_roles_it_hands_them() -> None:
    """Review: a deploy job creating its migrator under its own role and running it paged once
    per restart of Leash (the hand-overs it remembers live in memory). A workload whose days
    hold CreateFunction calls (its functions' own roles) makes functions for a living."""
    deploys = [_lambda_assumes("catalog-exec", BASE_TIME)]
    deploys += [_create_function("catalog-exec", at_hours=-24 * day - 20, **CI) for day in (1, 2)]
    own = _create_function("gha-catalog-deploy", **CI)
    run = _invoke("maint-3eadfc", 0.4, **CI)
    assert opened([*_history(), *deploys, own, run]) == []


def test_an_agent_that_tests_functions_under_its_own_role_every_day_does_it_by_habit() -> None:
    """The first create-and-run pages; the same loop the days after is how this agent works."""
    events = list(_history())
    for day in range(3):
        create = _create_function("ops-agent", at_hours=24 * day, **AGENT)
        events += [create, _invoke("maint-3eadfc", 24 * 60 * day + 0.5, **AGENT)]
    assert opened(events) == ["baseline:borrowed_role_run"]


def test_an_agent_launching_an_instance_with_its_own_role_pages_the_first_time() -> None:
    """Fresh seed 1057: a coding agent listed roles and launched an instance with its own
    instance profile. The instance runs its user data as it boots, with the agent's
    permissions and beyond the gate: the launch is the run, and pages. The next day's launch
    is the agent's way of working; a pipeline's own role on its instances is how deploys look."""

    def launch(at_hours: float, profile: str = "ops-agent", **who: Any) -> AuditEvent:
        return make_event(
            eventName="RunInstances",
            readOnly=False,
            requestParameters={"instanceType": "t3.micro", "iamInstanceProfile": {"name": profile}},
            at=BASE_TIME + 4 * DAY + timedelta(hours=at_hours),
            **(who or AGENT),
        )

    assert opened([*_history(), launch(0)]) == ["baseline:borrowed_role"]
    assert opened([*_history(), launch(-30), launch(0)]) == ["baseline:borrowed_role"]
    assert opened([*_history(), launch(0, "gha-catalog-deploy", **CI)]) == []


def test_a_role_leash_never_saw_act_does_not() -> None:
    assert opened([*_history(), _create_function("legacy-batch-role")]) == []


def _cfn_role_history() -> list[AuditEvent]:
    """CloudFormation creating a stack's bucket under its deployment role, days before."""
    return [
        make_event(
            eventName="CreateBucket",
            eventSource="s3.amazonaws.com",
            readOnly=False,
            requestParameters={"bucketName": f"app-assets-{day}"},
            sourceIPAddress="cloudformation.amazonaws.com",
            userAgent="cloudformation.amazonaws.com",
            role="cfn-exec-role",
            session="AWSCloudFormation",
            at=BASE_TIME + day * DAY + timedelta(hours=5),
        )
        for day in range(4)
    ]


def _create_stack() -> AuditEvent:
    return make_event(
        eventName="CreateStack",
        eventSource="cloudformation.amazonaws.com",
        readOnly=False,
        requestParameters={
            "stackName": "reports",
            "roleARN": f"arn:aws:iam::{ACCOUNT}:role/cfn-exec-role",
        },
        at=BASE_TIME + 4 * DAY,
        **CI,
    )


def test_cloudformations_role_handed_to_cloudformation_does_not_page() -> None:
    assert opened([*_history(), *_cfn_role_history(), _create_stack()]) == []


def test_cloudformations_role_handed_to_a_new_function_pages() -> None:
    events = [*_history(), *_cfn_role_history(), _create_function("cfn-exec-role")]
    assert opened(events) == ["baseline:borrowed_role"]


def test_a_role_handed_to_cloudformation_on_every_release_handed_to_a_function_pages() -> None:
    """Fresh seed 1139: a CI role that hands CloudFormation its deployment role with every
    change set created its first function with that role and invoked it 30 s later. Handing
    the role over is its habit for CloudFormation, not for Lambda: the function pages. The
    next change set is its habit still."""
    releases = [
        make_event(
            eventName=action,
            eventSource="cloudformation.amazonaws.com",
            readOnly=False,
            requestParameters={
                "stackName": "reports",
                "changeSetName": f"deploy-{day}",
                "roleARN": f"arn:aws:iam::{ACCOUNT}:role/cfn-exec-role",
            },
            at=BASE_TIME + day * DAY + timedelta(hours=6),
            **CI,
        )
        for day in range(4)
        for action in ("CreateChangeSet", "CreateStack")
    ]
    history = [*_history(), *_cfn_role_history(), *releases]
    assert opened([*history, _create_function("cfn-exec-role", at_hours=6)]) == [
        "baseline:borrowed_role"
    ]
    assert opened([*history, _create_stack()]) == []


def test_an_instance_launched_with_a_lambda_functions_role_pages() -> None:
    """AWS ran only Lambda code with the role: on an instance it is another workload's
    permissions on a host the caller controls. The same role for a new function is a deploy."""
    lambda_role = _lambda_assumes("orders-ingest-exec", BASE_TIME + DAY)
    run = _run_instance("orders-ingest-exec")
    assert opened([*_history(), lambda_role, run]) == ["baseline:borrowed_role"]
    assert opened([*_history(), lambda_role, _create_function("orders-ingest-exec")]) == []


PERSON = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/tariq",
        "accountId": ACCOUNT,
        "userName": "tariq",
        "principalId": "AIDAEXAMPLE",
    },
    "userAgent": "aws-cli/2.15.30 Python/3.11.8 Darwin/23.5",
    "sourceIPAddress": "177.55.90.165",
}


def _person_history() -> list[AuditEvent]:
    """Four days of a person's reads from one network and CLI."""
    return [
        make_event(
            eventName="DescribeDBInstances",
            eventSource="rds.amazonaws.com",
            at=BASE_TIME + day * DAY + timedelta(hours=1, minutes=minute),
            **PERSON,
        )
        for day in range(4)
        for minute in range(0, 60, 5)
    ]


def _invoke(function: str, at_minutes: float, **who: Any) -> AuditEvent:
    return make_event(
        eventName="Invoke",
        eventSource="lambda.amazonaws.com",
        readOnly=False,
        requestParameters={
            "functionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}",
        },
        at=BASE_TIME + 4 * DAY + timedelta(minutes=at_minutes),
        **(who or PERSON),
    )


def role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role}"


def _lambda_call(action: str, function: str, role: str, **who: Any) -> AuditEvent:
    return make_event(
        eventName=action,
        eventSource="lambda.amazonaws.com",
        readOnly=False,
        requestParameters={
            "functionName": function,
            "role": role_arn(role),
        },
        at=BASE_TIME + 4 * DAY,
        **(who or PERSON),
    )


def test_a_person_creating_and_running_a_function_with_another_functions_role_pages() -> None:
    """Seed 934: a person created a function with the IAM key rotator's role (Lambda ran it
    only for the rotator) and invoked it seconds later. The create alone waits (people reuse a
    function's role); running it at once is the escalation, for an AI agent too."""
    create = _create_function("provisioner-exec", **PERSON)
    events = [*_history(), *_person_history(), create]
    assert opened(events) == []
    assert opened([*events, _invoke("maint-3eadfc", 0.5)]) == ["baseline:borrowed_role_run"]
    late = _invoke("maint-3eadfc", 20)  # run later than RUN_BORROWED_MS: a developer's test
    assert opened([*events, late]) == []
    agent = [
        *_history(),
        _create_function("provisioner-exec", **AGENT),
        _invoke("maint-3eadfc", 1, **AGENT),
    ]
    assert opened(agent) == ["baseline:borrowed_role_run"]


def test_switching_a_function_to_another_functions_role_and_running_it_pages() -> None:
    switch = _lambda_call(
        "UpdateFunctionConfiguration20150331v2", "maint-3eadfc", "provisioner-exec"
    )
    events = [*_history(), *_person_history(), switch, _invoke("maint-3eadfc", 0.5)]
    assert opened(events) == ["baseline:borrowed_role_run"]


def test_a_shared_role_a_redeploy_or_a_variant_of_the_function_does_not() -> None:
    """A role Lambda runs three functions with is meant to be reused; the function the role
    belongs to, recreated under its own name, is a redeploy; `provisioner-v2` is the next
    version of `provisioner`."""
    shared = [
        _lambda_runs("lambda-basic-execution", name, BASE_TIME + DAY + timedelta(minutes=i))
        for i, name in enumerate(("orders", "billing", "reports"))
    ]
    base = [*_history(), *_person_history(), *shared]
    create = _create_function("lambda-basic-execution", **PERSON)
    assert opened([*base, create, _invoke("maint-3eadfc", 0.5)]) == []
    for name in ("provisioner", "provisioner-v2"):
        again = _lambda_call("CreateFunction20150331", name, "provisioner-exec")
        assert opened([*base, again, _invoke(name, 0.5)]) == [], name


def test_two_functions_own_role_still_counts_and_pollers_are_no_functions() -> None:
    """Lambda's event-source pollers assume a role as awslambda_<n>_<time>, a new name each
    time: they do not make the rotator's role look shared."""
    two = _lambda_runs("provisioner-exec", "provisioner-eu", BASE_TIME + DAY)
    pollers = [
        _lambda_runs("provisioner-exec", f"awslambda_292_2025111015072{i}", BASE_TIME + DAY)
        for i in range(3)
    ]
    create = _create_function("provisioner-exec", **PERSON)
    for extra in ([two], pollers):
        events = [*_history(), *_person_history(), *extra, create, _invoke("maint-3eadfc", 1)]
        assert opened(events) == ["baseline:borrowed_role_run"]


GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


def _pipeline_signs_in(role: str, at: datetime) -> AuditEvent:
    """GitHub Actions exchanging its OIDC token for `role`'s session."""
    return make_event(
        eventName="AssumeRoleWithWebIdentity",
        eventSource="sts.amazonaws.com",
        sourceIPAddress="13.215.180.61",
        userAgent="aws-sdk-nodejs/2.1563.0",
        userIdentity={
            "type": "WebIdentityUser",
            "principalId": f"{GITHUB}:sts.amazonaws.com:repo:acme/ingest:ref:refs/heads/main",
            "userName": "repo:acme/ingest:ref:refs/heads/main",
            "identityProvider": GITHUB,
        },
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "roleSessionName": "GitHubActions",
        },
        at=at,
    )


def test_a_function_handed_another_pipelines_web_identity_role_pages() -> None:
    """Seeds 923, 930: a deploy role and an AI agent each created a function with another
    repository's GitHub Actions role. Its trust names GitHub's token issuer, not Lambda: no
    deploy hands it to a function."""
    signs_in = [_pipeline_signs_in("gha-ingest-deploy", BASE_TIME + day * DAY) for day in range(4)]
    for who in (CI, AGENT):
        passed = _create_function("gha-ingest-deploy", **who)
        assert opened([*_history(), *signs_in, passed]) == ["baseline:borrowed_role"]
    assert opened([*_history(), _create_function("gha-ingest-deploy")]) == []  # never seen act


def _service_assumes(role: str, service: str, at: datetime) -> AuditEvent:
    """AWS assuming `role` for `service` (ecs-tasks, ec2) to run its code."""
    return make_event(
        eventName="AssumeRole",
        eventSource="sts.amazonaws.com",
        sourceIPAddress=f"{service}.amazonaws.com",
        userAgent=f"{service}.amazonaws.com",
        userIdentity={"type": "AWSService", "invokedBy": f"{service}.amazonaws.com"},
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "roleSessionName": "7f3a9c2e4b5d4e6f",
        },
        at=at,
    )


def _web_identity(role: str, at: datetime) -> AuditEvent:
    """A GitHub Actions job signing in to `role` with its OIDC token."""
    return make_event(
        eventName="AssumeRoleWithWebIdentity",
        eventSource="sts.amazonaws.com",
        userIdentity={
            "type": "WebIdentityUser",
            "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:repo:o/r",
        },
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "roleSessionName": "GitHubActions",
        },
        at=at,
    )


TASK = {"role": "orders-task", "session": "7f3a9c2e4b5d4e6f", "userAgent": "Boto3/1.34.0"}
CONTROLLER = {"role": "build-controller", "session": "i-0abc1234", "userAgent": "Boto3/1.34.0"}


def test_a_workload_launching_an_instance_with_its_own_role_of_another_service_pages() -> None:
    """Fresh seeds 1284, 1289: an ECS task's role and a GitHub Actions deploy role listed roles
    and policies, then launched an instance with their own role -- credentials that AWS hands
    to a task, or a job signs in to for minutes, kept on a host the caller controls. A build
    controller on EC2 starting runners with its own profile (AWS runs EC2 with that role) is
    how it works; the second launch of the same is the workload's way."""
    events = list(_history())
    for day in range(4):
        at = BASE_TIME + day * DAY + timedelta(hours=5)
        events.append(_service_assumes("orders-task", "ecs-tasks", at))
        events.append(_service_assumes("build-controller", "ec2", at))
        events.append(_web_identity("gha-catalog-deploy", at - timedelta(hours=4)))
        for minute in range(0, 40, 4):
            when = at + timedelta(minutes=minute, seconds=1)
            events.append(make_event(eventName="GetObject", at=when, **TASK))
            events.append(make_event(eventName="DescribeInstances", at=when, **CONTROLLER))

    def launch(who: dict[str, str], hours: float = 0.0) -> AuditEvent:
        return make_event(
            eventName="RunInstances",
            readOnly=False,
            requestParameters={
                "instanceType": "t3.micro",
                "iamInstanceProfile": {"name": who["role"]},
            },
            at=BASE_TIME + 4 * DAY + timedelta(hours=hours),
            **who,
        )

    assert launch(TASK).actor_kind == "service"
    assert opened([*events, launch(TASK)]) == ["baseline:borrowed_role"]
    assert opened([*events, launch(CI)]) == ["baseline:borrowed_role"]
    assert opened([*events, launch(CONTROLLER)]) == []
    assert opened([*events, launch(TASK, -30), launch(TASK)]) == ["baseline:borrowed_role"]
    # the association calls as CloudTrail logs them, and the role's name in another case
    # (IAM role names ignore case: review)
    for action in ("AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"):
        associate = make_event(
            eventName=action,
            readOnly=False,
            requestParameters={
                f"{action}Request": {
                    "InstanceId": "i-0f1e2d3c4b5a69788",
                    "IamInstanceProfile": {"Name": "Orders-Task"},
                }
            },
            at=BASE_TIME + 4 * DAY,
            **TASK,
        )
        assert opened([*events, associate]) == ["baseline:borrowed_role"], action
    # a caller on EC2 itself (its session named for the instance): a controller's runner,
    # even when Leash restarted and has not yet seen EC2 take its role
    on_ec2 = {**TASK, "session": "i-0f1e2d3c4b5a69788"}
    assert opened([*events, launch(on_ec2)]) == []


def test_a_vendors_role_creating_and_running_a_function_with_a_workloads_role_pages() -> None:
    """Fresh seed 1303: a scanner vendor's integration role created a function with the IAM
    provisioner's role and invoked it seconds later -- another account running code with one
    of our workloads' permissions. A vendor's role is no deploy pipeline of ours; as for a
    person, the create waits and the run at once pages."""
    days = [BASE_TIME + day * DAY for day in range(4)]
    vendor = [_vendor_signs_in(at) for at in days]
    scanner = {"role": "wiz-integration", "session": "wiz-scan", "userAgent": "Boto3/1.34.0"}
    scans = [
        make_event(eventName="GetBucketPolicy", at=at + timedelta(minutes=1), **scanner)
        for at in days
    ]
    create = _create_function("provisioner-exec", **scanner)
    assert create.actor_kind == "service"
    run = _invoke("maint-3eadfc", 0.2, **scanner)
    assert opened([*_history(), *vendor, *scans, create, run]) == ["baseline:borrowed_role_run"]
    assert opened([*_history(), *vendor, *scans, create]) == []
    # the same from a workload of ours nobody signs in to from outside: a deploy
    assert opened([*_history(), *scans, create, run]) == []
    # ... or from one the organisation's own tooling account signs in to (Terraform from the
    # CI account running its migrator: review) -- an account whose own events Leash reads
    tooling = [
        make_event(
            eventName="DescribeStacks",
            recipientAccountId="867089763127",
            userIdentity={
                "type": "AssumedRole",
                "arn": "arn:aws:sts::867089763127:assumed-role/ci-runner/build",
                "accountId": "867089763127",
            },
            at=at,
        )
        for at in days
    ]
    assert opened([*_history(), *tooling, *vendor, *scans, create, run]) == []


def test_an_instance_profile_named_unlike_its_role_spot_requests_and_templates_are_judged() -> None:
    """The role behind an instance profile Leash saw made (AddRoleToInstanceProfile) is the
    role handed over, whatever the profile is called (Terraform's `provisioner-exec-profile`);
    a spot request and a launch template (what fleets and Auto Scaling groups launch from)
    hand the role over as a launch does. A profile whose role was taken out names it no
    longer."""
    ours = {**CI, "userAgent": "Terraform/1.7.5"}

    def profile_call(action: str, hours: float) -> AuditEvent:
        return make_event(
            eventName=action,
            eventSource="iam.amazonaws.com",
            readOnly=False,
            requestParameters={
                "instanceProfileName": "provisioner-exec-profile",
                "roleName": "provisioner-exec",
            },
            at=BASE_TIME + timedelta(hours=hours),
            **ours,
        )

    made = profile_call("AddRoleToInstanceProfile", 1)
    profile = "provisioner-exec-profile"
    arn = f"arn:aws:iam::{ACCOUNT}:instance-profile/{profile}"

    def launch(action: str, params: dict[str, Any]) -> AuditEvent:
        at = BASE_TIME + 4 * DAY
        return make_event(eventName=action, readOnly=False, requestParameters=params, at=at, **CI)

    launches = [
        _run_instance(profile),
        launch("RunInstances", {"iamInstanceProfile": {"arn": arn}}),
        launch(
            "RequestSpotInstances",
            {"instanceCount": 1, "launchSpecification": {"iamInstanceProfile": {"arn": arn}}},
        ),
        launch(
            "CreateLaunchTemplate",
            {
                "CreateLaunchTemplateRequest": {
                    "LaunchTemplateName": "workers",
                    "LaunchTemplateData": {"IamInstanceProfile": {"Name": profile}},
                }
            },
        ),
    ]
    for run in launches:
        assert opened([*_history(), made, run]) == ["baseline:borrowed_role"], run.action
        assert opened([*_history(), run]) == [], run.action  # a profile Leash knows nothing of
    taken_out = profile_call("RemoveRoleFromInstanceProfile", 2)
    assert opened([*_history(), made, taken_out, launches[0]]) == []
    # Auto Scaling's launch configuration names the profile as a string
    configuration = make_event(
        eventName="CreateLaunchConfiguration",
        eventSource="autoscaling.amazonaws.com",
        readOnly=False,
        requestParameters={"launchConfigurationName": "workers", "iamInstanceProfile": arn},
        at=BASE_TIME + 4 * DAY,
        **CI,
    )
    assert opened([*_history(), made, configuration]) == ["baseline:borrowed_role"]
    # another role put in a profile launched with the day before is a new hand-over (review)
    plain = make_event(
        eventName="AddRoleToInstanceProfile",
        eventSource="iam.amazonaws.com",
        readOnly=False,
        requestParameters={"instanceProfileName": profile, "roleName": "web-host"},
        at=BASE_TIME + timedelta(hours=1),
        **ours,
    )
    yesterday = launch("RunInstances", {"iamInstanceProfile": {"name": profile}})
    yesterday = replace(yesterday, event_time_ms=yesterday.event_time_ms - 86_400_000)
    swapped = [*_history(), plain, yesterday, taken_out, made, launches[0]]
    swapped[-3:-1] = [
        replace(e, event_time_ms=launches[0].event_time_ms - 3_600_000 + i)
        for i, e in enumerate(swapped[-3:-1])
    ]
    assert opened(swapped) == ["baseline:borrowed_role"]


def test_an_agents_first_launch_with_a_workloads_instance_role_pages() -> None:
    """Fresh seed 1365: an Athena data agent listed roles, then launched a t3.micro with a
    production instance's profile -- a role EC2 runs already, so no identity's, and nothing
    paged. An AI agent's first launch handing over a role not its own pages; a pipeline handing
    its fleet's role over, and an agent that launched before (its way of working), do not."""
    fleet = [
        _service_assumes("prod-atlas-instance", "ec2", BASE_TIME + day * DAY) for day in range(4)
    ]
    history = [*_history(), *fleet]
    agents = _run_instance("prod-atlas-instance", **AGENT)
    assert opened([*history, agents]) == ["baseline:borrowed_role"]
    assert opened([*history, _run_instance("prod-atlas-instance")]) == []  # (the CI role)
    # (a role Leash never saw act: no finding of its own)
    before = _run_instance("build-runner", at_hours=-30, **AGENT)
    assert opened([*history, before, agents]) == []


def test_a_persons_first_launch_with_a_workloads_role_pages_from_a_network_new_to_them() -> None:
    """Fresh seed 1602: a person's stolen password, from a network she never used, listed
    roles and launched a t3.micro with a staging instance's profile; a note of the new network
    was all that was said. A person's first launch handing over a workload's role waits --
    from her own network it is a developer's first test instance -- and the new network is its
    second sign. A person who launched before does it by habit."""
    fleet = [
        _service_assumes("staging-catalog-instance", "ec2", BASE_TIME + day * DAY)
        for day in range(4)
    ]
    days = [*_history(), *fleet, *_person_history()]
    home = _run_instance("staging-catalog-instance", **PERSON)
    assert opened([*days, home]) == []
    # ... even after the lookups a launch wizard makes, never made before (held first-seen
    # listings): from her own network the launch is not judged at all (review)
    wizard = [
        make_event(
            eventName=action,
            eventSource="ec2.amazonaws.com",
            at=BASE_TIME + 4 * DAY - timedelta(minutes=4) + timedelta(seconds=10 * i),
            **PERSON,
        )
        for i, action in enumerate(
            ("DescribeImages", "DescribeSubnets", "DescribeSecurityGroups", "DescribeKeyPairs")
            + ("DescribeVpcs", "DescribeInstanceTypes")
        )
    ]
    assert opened([*days, *wizard, home]) == []
    away = {**PERSON, "sourceIPAddress": "46.166.88.146"}
    hello = make_event(
        eventName="GetCallerIdentity",
        eventSource="sts.amazonaws.com",
        at=BASE_TIME + 4 * DAY - timedelta(minutes=3),
        **away,
    )
    stolen = _run_instance("staging-catalog-instance", **away)
    assert opened([*days, hello, stolen]) == ["baseline:borrowed_role"]
    before = _run_instance("build-runner", at_hours=-30, **PERSON)
    assert opened([*days, before, hello, stolen]) == []
