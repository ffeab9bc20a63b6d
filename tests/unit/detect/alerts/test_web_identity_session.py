"""A web identity's sign-in and the role session it opens are one actor: a GitHub Actions token
used from elsewhere is one alert, not the OIDC subject's and the role's (fresh seeds 1484, 1510,
1533: CloudTrail logs AssumeRoleWithWebIdentity under the repository's OIDC subject and
everything the session does under the role)."""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
SUBJECT = "repo:acme/ingest:ref:refs/heads/main"
RUNNER = {"sourceIPAddress": "13.215.180.61", "userAgent": "aws-sdk-nodejs/2.1563.0"}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/118.0.0.0"
ELSEWHERE = {"sourceIPAddress": "37.90.171.22", "userAgent": BROWSER}
ROLE_KEY = f"arn:aws:sts::{ACCOUNT}:assumed-role/gha-ingest-deploy"


def job(day: int, hour: int, run: int, where: dict[str, str]) -> list[AuditEvent]:
    """One job: the token exchanged for a session, then the session's calls."""
    at = BASE_TIME + timedelta(days=day, hours=hour)
    session = f"github-{run:010d}"
    sign_in = make_event(
        eventName="AssumeRoleWithWebIdentity",
        eventSource="sts.amazonaws.com",
        userIdentity={
            "type": "WebIdentityUser",
            "principalId": f"{GITHUB}:sts.amazonaws.com:{SUBJECT}",
            "userName": SUBJECT,
            "identityProvider": GITHUB,
        },
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/gha-ingest-deploy",
            "roleSessionName": session,
        },
        responseElements={
            "assumedRoleUser": {
                "assumedRoleId": f"AROAEXAMPLE:{session}",
                "arn": f"{ROLE_KEY}/{session}",
            },
            "subjectFromWebIdentityToken": SUBJECT,
        },
        at=at,
        **where,
    )
    calls = [
        make_event(
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            role="gha-ingest-deploy",
            session=session,
            at=at + timedelta(seconds=5 + 7 * n),
            **where,
        )
        for n, (action, source) in enumerate(
            [("GetCallerIdentity", "sts"), ("DescribeStacks", "cloudformation")] * 3
        )
    ]
    return [sign_in, *calls]


def test_a_token_used_from_elsewhere_is_one_alert_of_the_roles() -> None:
    history = [
        e
        for day in range(8)
        for n, hour in enumerate((9, 14))
        for e in job(day, hour, 2 * day + n, RUNNER)
    ]
    engine = DetectionEngine(rules=load_rules())
    engine.process(history)
    stolen = job(8, 10, 99, ELSEWHERE)
    sign_in_findings = engine.process(stolen[:1]).changes
    changes = sign_in_findings + engine.process(stolen[1:]).changes
    opened = [alert.principal for kind, alert in changes if kind == "alert.opened"]
    assert opened == [ROLE_KEY]
    assert stolen[0].principal_key != ROLE_KEY  # (the sign-in is logged under the subject)
