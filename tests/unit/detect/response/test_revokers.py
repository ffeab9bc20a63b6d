"""Revokers: AWS IAM 'revoke older sessions' against moto, the signed webhook revoker, the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws

from detect.response.outbox import Outbox
from detect.response.principals import PrincipalChange
from detect.response.revokers import (
    REVOKE_POLICY_NAME,
    AwsIamRevoker,
    WebhookRevoker,
    build_revokers,
    iam_target,
)
from ingest.settings import Settings
from ingest.store.chdb import ChdbStore
from tests.conftest import ADMIN_KEY, auth
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    AGENT_KEY,
    ResponseEnv,
    StaticDetection,
    open_response_env,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def change(principal: str = AGENT_ARN, to_state: str = "revoked") -> PrincipalChange:
    return PrincipalChange(
        "chg_1",
        int(NOW * 1000),
        AGENT_KEY,
        principal,
        "agent",
        "active",
        to_state,
        "mass delete",
        "key_admin",
    )


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("iam", region_name="us-east-1")
        client.create_role(RoleName="deploy-agent", AssumeRolePolicyDocument=TRUST)
        client.create_user(UserName="ci-bot")
        yield client


@pytest.mark.parametrize(
    ("principal", "target"),
    [
        pytest.param(AGENT_ARN, ("role", "deploy-agent"), id="assumed-role session"),
        pytest.param(AGENT_KEY, ("role", "deploy-agent"), id="stable key"),
        pytest.param(
            "arn:aws:iam::1:role/team/deploy-agent", ("role", "deploy-agent"), id="role with path"
        ),
        pytest.param("arn:aws:iam::1:user/ci-bot", ("user", "ci-bot"), id="IAM user"),
        pytest.param("my-agent", None, id="not an ARN"),
    ],
)
def test_iam_target(principal: str, target: tuple[str, str] | None) -> None:
    assert iam_target(principal) == target


def test_aws_iam_revoke_attaches_the_documented_policy_and_restore_removes_it(iam: Any) -> None:
    revoker = AwsIamRevoker(client_factory=lambda: iam, clock=lambda: NOW)
    result = revoker.revoke(change())
    assert result.ok, result.detail
    policy = iam.get_role_policy(RoleName="deploy-agent", PolicyName=REVOKE_POLICY_NAME)
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    issued_before = {"DateLessThan": {"aws:TokenIssueTime": "2027-01-15T08:00:00Z"}}
    assert statement["Condition"] == issued_before
    assert datetime.fromtimestamp(NOW, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ") in json.dumps(policy)
    assert revoker.revoke(change()).ok  # idempotent
    assert revoker.restore(change(to_state="active")).ok
    assert iam.list_role_policies(RoleName="deploy-agent")["PolicyNames"] == []


def test_aws_iam_revokes_users_and_reports_what_it_cannot(iam: Any) -> None:
    revoker = AwsIamRevoker(client_factory=lambda: iam, clock=lambda: NOW)
    assert revoker.revoke(change("arn:aws:iam::123456789012:user/ci-bot")).ok
    assert iam.list_user_policies(UserName="ci-bot")["PolicyNames"] == ["LeashRevoked"]
    missing = revoker.revoke(change("arn:aws:iam::123456789012:role/no-such-role"))
    assert not missing.ok and "NoSuchEntity" in missing.detail
    sso = revoker.revoke(
        change("arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_1a2b/alice@example.com")
    )
    assert not sso.ok and "Identity Center" in sso.detail
    assert not revoker.restore(change("arn:aws:iam::1:role/no-such-role")).ok


def test_webhook_revoker_queues_a_signed_request_for_its_url(store: ChdbStore) -> None:
    outbox = Outbox(store, endpoints=["http://127.0.0.1:1/alerts"])
    revoker = WebhookRevoker(url="http://127.0.0.1:1/revoke", outbox=outbox)
    assert revoker.revoke(change()).ok
    [delivery] = outbox.due()
    assert (delivery.endpoint, delivery.event_type) == (
        "http://127.0.0.1:1/revoke",
        "principal.revoked",
    )
    assert json.loads(delivery.body)["data"]["requested_action"] == "revoke"


def test_build_revokers_validates_names(store: ChdbStore) -> None:
    outbox = Outbox(store, endpoints=[])
    built = build_revokers(["webhook", "aws-iam"], webhook_url="http://x", outbox=outbox)
    assert [r.name for r in built] == ["webhook", "aws-iam"]
    with pytest.raises(ValueError, match="unknown revoker"):
        build_revokers(["okta"], webhook_url="", outbox=outbox)
    with pytest.raises(ValueError, match="REVOKER_WEBHOOK_URL"):
        build_revokers(["webhook"], webhook_url="", outbox=outbox)


@pytest.fixture
def aws_env(settings: Settings, iam: Any) -> Iterator[ResponseEnv]:
    yield from open_response_env(
        settings, detection=StaticDetection(), revokers=("aws-iam",), aws_region="us-east-1"
    )


def test_revoke_over_http_runs_the_aws_revoker(aws_env: ResponseEnv, iam: Any) -> None:
    url = f"/v1/principals/{quote(AGENT_ARN, safe='')}"
    body = aws_env.client.post(
        f"{url}/revoke", json={"reason": "burst"}, headers=auth(ADMIN_KEY)
    ).json()
    assert body["state"] == "revoked"
    assert body["revokers"] == [
        {"name": "aws-iam", "ok": True, "detail": "inline deny policy on role deploy-agent"}
    ]
    assert iam.list_role_policies(RoleName="deploy-agent")["PolicyNames"] == [REVOKE_POLICY_NAME]
    restored = aws_env.client.post(
        f"{url}/restore", json={"reason": "ok"}, headers=auth(ADMIN_KEY)
    ).json()
    assert restored["revokers"][0]["ok"]
    assert iam.list_role_policies(RoleName="deploy-agent")["PolicyNames"] == []
