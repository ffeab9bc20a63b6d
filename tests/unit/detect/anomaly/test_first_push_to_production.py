"""Code pushed by hand into production for the first time pages, for people too.

Fresh seeds 1046, 1205, 1226, 1241: a developer's credentials (an SSO session, an IAM user)
listed functions and pushed code to a production function after days of pushes to staging
ones; each was missed as "a promotion". A pipeline's first push to production still is one:
it deploys wherever it is pointed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from detect.engine import DetectionEngine
from detect.rules.catalogue import load_rules
from ingest.events import AuditEvent
from tests.factories import BASE_TIME, make_event

PERSON = {
    "role": "AWSReservedSSO_DeveloperAccess_395e474b",
    "session": "eli.tanaka@example.com",
    "userAgent": "aws-cli/2.22.1 md/awscrt#0.20.1 ua/2.0 os/linux#6.5",
}
IAM_PIPELINE = {
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/release-deployer",
        "accountId": "123456789012",
        "userName": "release-deployer",
        "principalId": "AIDAEXAMPLE",
    },
    "userAgent": "Boto3/1.34.10 Python/3.12",
}
PIPELINE = {
    "role": "portal-deploy-pipeline",
    "session": "deploy-9f1c",
    "userAgent": "Boto3/1.34.10 Python/3.12",
}


def _push(function: str, at: timedelta, who: dict[str, Any], **kw: Any) -> AuditEvent:
    return make_event(
        eventName="UpdateFunctionCode20150331v2",
        eventSource="lambda.amazonaws.com",
        readOnly=False,
        requestParameters={"functionName": function, "publish": True},
        resources=[
            {"ARN": f"arn:aws:lambda:us-east-2:123456789012:function:{function}"},
        ],
        at=BASE_TIME + at,
        **who,
        **kw,
    )


def _days(who: dict[str, Any]) -> list[AuditEvent]:
    """Four working days of reading functions and pushing code to staging ones."""
    events = []
    for day in range(4):
        for minute in range(0, 60, 3):
            at = BASE_TIME + timedelta(days=day, hours=9, minutes=minute)
            events.append(
                make_event(
                    eventName="GetFunction20150331v2",
                    eventSource="lambda.amazonaws.com",
                    requestParameters={"functionName": "staging-geo-cron"},
                    at=at,
                    **who,
                )
            )
        events.append(_push("staging-geo-cron", timedelta(days=day, hours=9, minutes=61), who))
    return events


def _opened(engine: DetectionEngine, events: list[AuditEvent]) -> list[tuple[str, list[str]]]:
    changes = engine.process(sorted(events, key=lambda e: e.event_time_ms)).changes
    return [(a.id, list(a.rules)) for kind, a in changes if kind == "alert.opened"]


def test_a_persons_first_push_to_a_production_function_pages_once() -> None:
    engine = DetectionEngine(rules=load_rules())
    assert _opened(engine, _days(PERSON)) == []
    [(alert, rules)] = _opened(engine, [_push("prod-scheduler-sync", timedelta(days=5), PERSON)])
    assert "baseline:first_access_grant" in rules
    # more staging pushes that day are their work, not a second incident
    assert _opened(engine, [_push("staging-geo-cron", timedelta(days=5, hours=1), PERSON)]) == []
    # resolved, the call is theirs: the next push to production is their work too
    engine.set_status(alert, "resolved")
    assert _opened(engine, [_push("prod-scheduler-sync", timedelta(days=6), PERSON)]) == []


def test_a_pipelines_first_push_to_production_is_a_promotion() -> None:
    engine = DetectionEngine(rules=load_rules())
    assert _opened(engine, _days(PIPELINE)) == []
    assert _opened(engine, [_push("prod-scheduler-sync", timedelta(days=5), PIPELINE)]) == []


def test_a_pipeline_on_an_iam_users_keys_is_no_person_pushing() -> None:
    """Review: an IAM user is a person to Leash unless its name says agent, and a Jenkins or
    Bitbucket pipeline deploys with one's keys through an SDK. Only a person's own client (the
    CLI, the console) makes the first push to production a person's."""
    engine = DetectionEngine(rules=load_rules())
    days = _days(IAM_PIPELINE)
    assert days[0].actor_kind == "human"
    assert _opened(engine, days) == []
    assert _opened(engine, [_push("prod-scheduler-sync", timedelta(days=5), IAM_PIPELINE)]) == []


def test_a_refused_push_to_production_does_not_make_the_next_one_known() -> None:
    """Review: a stolen session refused on one production function, then allowed on another
    five minutes later -- a refused call changed nothing, so the allowed one is still the
    first."""
    engine = DetectionEngine(rules=load_rules())
    assert _opened(engine, _days(PERSON)) == []
    refused = _push(
        "prod-payments-api", timedelta(days=5), PERSON, errorCode="AccessDeniedException"
    )
    assert _opened(engine, [refused]) == []
    [(_, rules)] = _opened(
        engine, [_push("prod-scheduler-sync", timedelta(days=5, minutes=5), PERSON)]
    )
    assert "baseline:first_access_grant" in rules
