"""Actor kinds and principal keys of real-shaped CloudTrail identities (the cases that fed
auto-quarantine wrongly: console users as services, host agents as AI agents)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.events import Normalizer
from ingest.identity import build_identity_rules
from ingest.settings import IdentitySettings
from tests.factories import make_record

NORMALIZER = Normalizer()
ACCOUNT = "123456789012"


def iam_user(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSER",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "userName": name,
        **extra,
    }


def assumed(role: str, session: str, *, mfa: bool = False) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "userName": role,
            },
            "attributes": {"mfaAuthenticated": "true" if mfa else "false"},
        },
    }


@pytest.mark.parametrize(
    ("identity", "user_agent", "kind"),
    [
        pytest.param(
            iam_user("alice", invokedBy="signin.amazonaws.com"),
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)",
            "human",
            id="console sign-in of an IAM user",
        ),
        pytest.param(iam_user("alice"), "AWS Internal", "human", id="console call of an IAM user"),
        pytest.param(
            iam_user("alice", invokedBy="secretsmanager.amazonaws.com"),
            "secretsmanager.amazonaws.com",
            "human",
            id="a service acting for an IAM user keeps the person",
        ),
        pytest.param(
            assumed("ec2-ssm-role", "i-0a1b2c3d4e5f67890"),
            "aws-sdk-go/1.44.0 (go1.20; linux; amd64) amazon-ssm-agent/3.2.1630.0",
            "service",
            id="the SSM agent on an instance is not an AI agent",
        ),
        pytest.param(
            assumed("ecsInstanceRole", "i-0a1b2c3d4e5f67890"),
            "aws-sdk-go/1.44 (go1.20; linux; amd64) ecs-agent/1.75.0",
            "service",
            id="the ECS agent",
        ),
        pytest.param(
            assumed("prod-orders-handler-role", "prod-orders-handler"),
            "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux exec-env/AWS_Lambda_python3.11",
            "service",
            id="a Lambda function's role",
        ),
        pytest.param(
            assumed("gha-billing-deploy", "GitHubActions"),
            "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0",
            "service",
            id="a CI role",
        ),
        pytest.param(
            assumed("gha-ingest-deploy", "GitHubActions"),
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
            "service",
            id="a CI role's session used from a browser (its keys, not a person's session)",
        ),
        pytest.param(
            assumed("Admin", "alice"),
            "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            "human",
            id="a person's role switch from the CLI",
        ),
        pytest.param(
            assumed("ReadOnly", "dashboard-poller", mfa=True),
            "Boto3/1.34",
            "human",
            id="an MFA-authenticated session",
        ),
        pytest.param(
            assumed("billing-coding-agent", "claude-0159cbd0-e766-4b64-8f55-c63c510c8a73"),
            "Boto3/1.34 langchain/0.2",
            "agent",
            id="an AI agent",
        ),
    ],
)
def test_actor_kind(identity: dict[str, Any], user_agent: str, kind: str) -> None:
    event = NORMALIZER.normalize(make_record(userIdentity=identity, userAgent=user_agent))
    assert event.actor_kind == kind


@pytest.mark.parametrize(
    ("session", "per_run"),
    [
        pytest.param("claude-0159cbd0-e766-4b64-8f55-c63c510c8a73", True, id="uuid inside"),
        pytest.param("github-9888820442", True, id="ci run number"),
        pytest.param("devin-session-7f3a9c21be", True, id="hex run id"),
        pytest.param("botocore-session-1712345678", True, id="timestamp"),
        pytest.param("fd5617c3aa16d1f3922961947db096c0", True, id="ecs task id"),
        pytest.param("alice@example.com", False, id="e-mail"),
        pytest.param("breakglass-drill-1104", False, id="short number"),
        pytest.param("GitHubActions", False, id="one fixed name per role"),
        pytest.param("prod-orders-handler", False, id="function name"),
    ],
)
def test_per_run_sessions_collapse_to_the_role(session: str, per_run: bool) -> None:
    event = NORMALIZER.normalize(make_record(userIdentity=assumed("some-role", session)))
    role_key = f"arn:aws:sts::{ACCOUNT}:assumed-role/some-role"
    assert event.principal_key == (role_key if per_run else f"{role_key}/{session}")
    assert event.principal.endswith(session)  # the full ARN is kept on the event


def test_identity_center_user_record_is_accepted() -> None:
    """An IAM Identity Center user acting in the portal: no arn, the user in onBehalfOf."""
    record = make_record(
        eventSource="sso.amazonaws.com",
        eventName="ListAccounts",
        userIdentity={
            "type": "IdentityCenterUser",
            "accountId": ACCOUNT,
            "onBehalfOf": {
                "userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
                "identityStoreArn": f"arn:aws:identitystore::{ACCOUNT}:identitystore/d-9067642ac7",
            },
            "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR",
        },
        additionalEventData={"UserName": "alice"},
    )
    event = NORMALIZER.normalize(record)
    assert event.principal == (
        f"arn:aws:identitystore::{ACCOUNT}:identitystore/d-9067642ac7"
        "/user/544894e8-80c1-707f-60e3-3ba6510dfac1"
    )
    assert (event.principal_key, event.actor_kind) == (event.principal, "human")


def test_rule_sets_with_other_patterns_keep_their_own_answers() -> None:
    """The principal-key and actor-kind caches are shared by every rule set and key on it (its
    hash is taken once): a second set with other per-run patterns must not get the first's
    cached answers, and an equal set built again must share them."""
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/nightly-42"
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci"
    default = build_identity_rules()
    per_run = build_identity_rules(IdentitySettings(per_run_session_patterns=[r"^nightly-\d+$"]))
    assert default.principal_key(arn) == arn
    assert per_run.principal_key(arn) == role
    assert default.principal_key(arn) == arn  # the other set's answer was not reused
    again = build_identity_rules()
    assert (again == default, hash(again) == hash(default)) == (True, True)
    assert hash(per_run) != hash(default)
