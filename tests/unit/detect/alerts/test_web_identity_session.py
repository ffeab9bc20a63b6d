"""A web identity's sign-in and the role session it opens are one actor: a GitHub Actions token
used from elsewhere is one alert, not the OIDC subject's and the role's (fresh seeds 1484, 1510,
1533: CloudTrail logs AssumeRoleWithWebIdentity under the repository's OIDC subject and
everything the session does under the role)."""

from __future__ import annotations

from datetime import timedelta

from detect.engine import DetectionEngine
from detect.findings import Finding
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent, Normalizer
from ingest.identity import IdentityRules, build_identity_rules
from ingest.settings import IdentitySettings
from tests.factories import BASE_TIME, make_event

ACCOUNT = "123456789012"
GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
SUBJECT = "repo:acme/ingest:ref:refs/heads/main"
RUNNER = {"sourceIPAddress": "13.215.180.61", "userAgent": "aws-sdk-nodejs/2.1563.0"}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/118.0.0.0"
ELSEWHERE = {"sourceIPAddress": "37.90.171.22", "userAgent": BROWSER}
ROLE_KEY = f"arn:aws:sts::{ACCOUNT}:assumed-role/gha-ingest-deploy"


def job(
    day: int,
    hour: int,
    run: int,
    where: dict[str, str],
    *,
    repo: str = "ingest",
    session: str = "",
    normalizer: Normalizer | None = None,
) -> list[AuditEvent]:
    """One job: the token exchanged for a session, then the session's calls."""
    at = BASE_TIME + timedelta(days=day, hours=hour)
    session = session or f"github-{run:010d}"
    role, subject = f"gha-{repo}-deploy", SUBJECT.replace("ingest", repo)
    role_key = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}"
    sign_in = make_event(
        normalizer,
        eventName="AssumeRoleWithWebIdentity",
        eventSource="sts.amazonaws.com",
        userIdentity={
            "type": "WebIdentityUser",
            "principalId": f"{GITHUB}:sts.amazonaws.com:{subject}",
            "userName": subject,
            "identityProvider": GITHUB,
        },
        requestParameters={
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "roleSessionName": session,
        },
        responseElements={
            "assumedRoleUser": {
                "assumedRoleId": f"AROAEXAMPLE:{session}",
                "arn": f"{role_key}/{session}",
            },
            "subjectFromWebIdentityToken": subject,
        },
        at=at,
        **where,
    )
    calls = [
        make_event(
            normalizer,
            eventName=action,
            eventSource=f"{source}.amazonaws.com",
            role=role,
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


def test_a_suppression_of_one_session_is_not_anothers() -> None:
    """Review: re-keyed findings were made as they merged, after the suppression verdict was
    cached by the object's id -- a suppressed one freed, the next one (another repository's
    stolen token in the same batch) took its id and its verdict, unasked."""
    history = sorted(
        (
            e
            for day in range(8)
            for n, hour in enumerate((9, 14))
            for i, repo in enumerate(("ingest", "billing"))
            for e in job(day, hour, 1000 * i + 2 * day + n, RUNNER, repo=repo)
        ),
        key=lambda e: e.event_time_ms,
    )
    asked: list[str] = []

    def suppress_ingest(finding: Finding) -> bool:
        asked.append(finding.principal)
        return finding.principal.endswith("gha-ingest-deploy")

    engine = DetectionEngine(rules=load_rules(), suppressors=[suppress_ingest])
    engine.process(history)
    asked.clear()
    batch = [job(8, 10, 99, ELSEWHERE)[0], job(8, 10, 1099, ELSEWHERE, repo="billing")[0]]
    changes = engine.process(batch).changes
    opened = [alert.principal for kind, alert in changes if kind == "alert.opened"]
    assert opened == [f"arn:aws:sts::{ACCOUNT}:assumed-role/gha-billing-deploy"]
    assert any(p.endswith("gha-billing-deploy") for p in asked)


def test_the_session_is_keyed_as_the_installs_identity_settings_key_it() -> None:
    """Review: with the default rules, an install whose per-run patterns name its sessions
    (`ingest-main-<word>`) got the alert on a third key, the session's own events' being the
    role's."""
    settings = IdentitySettings(
        per_run_session_patterns=[
            *IdentitySettings().per_run_session_patterns,
            r"^ingest-main-[a-z]+$",
        ]
    )
    rules: IdentityRules = build_identity_rules(settings)
    normalizer = Normalizer(rules)
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")
    history = [
        e
        for day in range(8)
        for n, hour in enumerate((9, 14))
        for e in job(day, hour, 0, RUNNER, session=f"ingest-main-{words[n]}", normalizer=normalizer)
    ]
    engine = DetectionEngine(rules=load_rules(), identity=rules)
    engine.process(history)
    stolen = job(8, 10, 0, ELSEWHERE, session="ingest-main-romeo", normalizer=normalizer)
    assert stolen[1].principal_key == ROLE_KEY  # the session's own calls, as the install keys them
    changes = engine.process(stolen[:1]).changes + engine.process(stolen[1:]).changes
    assert [alert.principal for kind, alert in changes if kind == "alert.opened"] == [ROLE_KEY]
