"""Sigma loader and matcher: conditions, value modifiers, packaged rules, unsupported constructs."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from detect.rules.catalogue import default_sigma_dir, load_rules
from detect.rules.record import outcome, record_of
from detect.rules.sigma.rule import (
    SigmaError,
    SigmaRule,
    compile_condition,
    load_sigma_rules,
    parse_sigma_rule,
)
from ingest.events import AuditEvent, Normalizer
from tests.factories import DATASETS, make_event

HEADER = "title: Test rule\nid: 0000-test\nauthor: Tester\nlevel: {level}\n"
HEADER += "logsource:\n  product: aws\n  service: cloudtrail\n"
STRATUS = DATASETS / "stratus-red-team_detonation-logs" / "detonation-logs"


def rule(detection: str, *, level: str = "high", source: str = "t.yml") -> SigmaRule:
    return parse_sigma_rule(HEADER.format(level=level) + "detection:\n" + detection, source=source)


def fires(sigma: SigmaRule, **overrides: Any) -> bool:
    return sigma.evaluate(make_event(**overrides)) is not None


def flag(name: str) -> Any:
    return lambda record: bool(record[name])


SELECTIONS = {n: flag(n) for n in ("a", "b", "c", "sel_x", "sel_y", "filter_1")}


@pytest.mark.parametrize(
    ("condition", "true_names", "expected"),
    [
        pytest.param("a", "a", True, id="single selection"),
        pytest.param("not a", "a", False, id="not"),
        pytest.param("a and b", "a", False, id="and needs both"),
        pytest.param("a or b", "b", True, id="or needs one"),
        pytest.param("a or b and c", "a", True, id="and binds tighter than or"),
        pytest.param("(a or b) and c", "a", False, id="parentheses group"),
        pytest.param("not (a or b)", "", True, id="not of a group"),
        pytest.param("a and not b", "a b", False, id="and not"),
        pytest.param("1 of sel_*", "sel_y", True, id="1 of pattern"),
        pytest.param("all of sel_*", "sel_x", False, id="all of pattern needs every match"),
        pytest.param("all of sel_*", "sel_x sel_y", True, id="all of pattern"),
        pytest.param("1 of them", "filter_1", True, id="1 of them"),
        pytest.param("all of them", "a b c sel_x sel_y", False, id="all of them needs every one"),
        pytest.param("a and not 1 of filter*", "a filter_1", False, id="selection and not filter"),
        pytest.param("a AND NOT b", "a", True, id="keywords are case-insensitive"),
    ],
)
def test_condition_table(condition: str, true_names: str, expected: bool) -> None:
    record = {n: n in true_names.split() for n in SELECTIONS}
    assert compile_condition(condition, SELECTIONS)(record) is expected


def test_condition_list_means_or() -> None:
    assert compile_condition(["a", "b"], SELECTIONS)({"a": False, "b": True}) is True


@pytest.mark.parametrize(
    ("detection", "construct"),
    [
        pytest.param(
            "  sel: {eventName: X}\n  condition: sel | count() > 5\n",
            "aggregation",
            id="aggregation",
        ),
        pytest.param("  sel_a: {eventName: X}\n  condition: 2 of sel_*\n", "'2 of'", id="2 of"),
        pytest.param(
            "  sel: {eventName: X}\n  condition: sel and other\n",
            "unknown selection",
            id="unknown selection",
        ),
        pytest.param("  sel: {eventName: X}\n  condition: (sel\n", "')'", id="unbalanced"),
        pytest.param("  sel: {eventName: X}\n  condition: sel near other\n", "'near'", id="near"),
        pytest.param("  sel:\n    - evil\n  condition: sel\n", "keyword", id="keyword search"),
        pytest.param(
            "  sel: {userAgent|base64offset|contains: x}\n  condition: sel\n",
            "base64offset",
            id="unsupported modifier",
        ),
        pytest.param(
            "  sel: {eventName: X}\n  timeframe: 5m\n  condition: sel\n",
            "timeframe",
            id="timeframe",
        ),
    ],
)
def test_unsupported_constructs_name_the_file_and_construct(detection: str, construct: str) -> None:
    with pytest.raises(SigmaError) as err:
        rule(detection, source="bad_rule.yml")
    assert "bad_rule.yml" in str(err.value) and construct in str(err.value)


def test_non_cloudtrail_logsource_is_refused() -> None:
    text = HEADER.format(level="low").replace("cloudtrail", "guardduty")
    with pytest.raises(SigmaError, match="other.yml: logsource aws/guardduty"):
        parse_sigma_rule(text + "detection:\n  s: {a: b}\n  condition: s\n", source="other.yml")


@pytest.mark.parametrize(
    ("detection", "overrides", "expected"),
    [
        pytest.param(
            "eventName: stoplogging",
            {"eventName": "StopLogging"},
            True,
            id="equality is case-insensitive",
        ),
        pytest.param("eventName|contains: LOGG", {"eventName": "StopLogging"}, True, id="contains"),
        pytest.param(
            "eventName|startswith: Stop", {"eventName": "StartLogging"}, False, id="startswith"
        ),
        pytest.param(
            "eventName|endswith: logging", {"eventName": "StartLogging"}, True, id="endswith"
        ),
        pytest.param("eventName: 'St?p*'", {"eventName": "StopLogging"}, True, id="wildcards"),
        pytest.param(
            "eventName: 'a\\*b'", {"eventName": "axxb"}, False, id="escaped star is literal"
        ),
        pytest.param(
            "eventName: 'a\\*b'", {"eventName": "a*b"}, True, id="escaped star matches star"
        ),
        pytest.param("errorCode: null", {}, True, id="null matches an absent field"),
        pytest.param("errorCode: null", {"errorCode": ""}, True, id="null matches an empty string"),
        pytest.param("errorCode: null", {"errorCode": "AccessDenied"}, False, id="null vs a value"),
        pytest.param(
            "eventName: [A, B, StopLogging]",
            {"eventName": "StopLogging"},
            True,
            id="a value list is OR",
        ),
        pytest.param(
            "userAgent|contains|all: [aws-cli, python]",
            {"userAgent": "aws-cli Python"},
            True,
            id="all needs every value",
        ),
        pytest.param(
            "userAgent|contains|all: [aws-cli, boto]",
            {"userAgent": "aws-cli Python"},
            False,
            id="all fails on one missing value",
        ),
        pytest.param(
            "userIdentity.arn|re: '.+:assumed-role/aws:.+'",
            {"arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"},
            True,
            id="re",
        ),
        pytest.param(
            "userIdentity.sessionContext.sessionIssuer.type: role", {}, True, id="dotted path"
        ),
        pytest.param(
            "requestParameters.enable: 'false'",
            {"requestParameters": {"enable": False}},
            True,
            id="string 'false' matches a JSON false",
        ),
        pytest.param(
            "requestParameters.items.port: 22",
            {"requestParameters": {"items": [{"port": 80}, {"port": 22}]}},
            True,
            id="lists fan out",
        ),
        pytest.param(
            "requestParameters|contains: Suspended",
            {"requestParameters": {"VersioningConfiguration": {"Status": "Suspended"}}},
            True,
            id="contains on an object searches inside it",
        ),
        pytest.param(
            "requestParameters.userName|fieldref: userIdentity.sessionContext."
            "sessionIssuer.userName",
            {"requestParameters": {"userName": "deploy-agent"}},
            True,
            id="fieldref equal",
        ),
        pytest.param("requestParameters.userName|exists: true", {}, False, id="exists"),
    ],
)
def test_value_matching(detection: str, overrides: dict[str, Any], expected: bool) -> None:
    sigma = rule(f"  sel:\n    {detection}\n  condition: sel\n")
    assert fires(sigma, **overrides) is expected


def test_lowercase_key_variant_matches() -> None:
    sigma = rule(
        "  sel:\n    eventSource: cloudtrail.amazonaws.com\n"
        "    requestParameters.name: org-trail\n  condition: sel\n"
    )
    record = {
        "eventversion": "1.08",
        "eventtime": "2026-01-01T00:00:00Z",
        "eventsource": "cloudtrail.amazonaws.com",
        "eventname": "StopLogging",
        "useridentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"},
        "requestparameters": {"name": "org-trail"},
    }
    assert sigma.evaluate(Normalizer().normalize(record)) is not None


def test_finding_keeps_attribution_and_maps_level() -> None:
    sigma = rule("  sel: {eventName: StopLogging}\n  condition: sel\n", level="informational")
    finding = sigma.evaluate(make_event(eventName="StopLogging"))
    assert finding is not None and finding.severity == "low" and finding.rule == "sigma:t"
    assert finding.explanation["author"] == "Tester" and finding.explanation["id"] == "0000-test"
    assert finding.explanation["license"] == "DRL 1.1"
    assert finding.explanation["matched_selections"] == ["sel"]
    assert "Tester" in finding.summary and "Test rule" in finding.summary


def test_every_packaged_rule_loads() -> None:
    loaded = load_sigma_rules(default_sigma_dir())
    assert loaded.skipped == ()
    assert len(loaded.rules) == 57
    assert all(r.meta["author"] for r in loaded.rules)


def test_packaged_disable_logging_rule_fires_medium() -> None:
    by_name = {r.name: r for r in load_rules()}
    sigma = by_name["sigma:aws_cloudtrail_disable_logging"]
    finding = sigma.evaluate(
        make_event(eventSource="cloudtrail.amazonaws.com", eventName="StopLogging")
    )
    assert finding is not None and finding.severity == "medium"
    assert finding.explanation["author"] == "vitaliy0x1"


def test_broken_files_are_skipped_with_their_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = HEADER.format(level="high") + "detection:\n  s: {eventName: X}\n  condition: s\n"
    (tmp_path / "good.yml").write_text(good)
    (tmp_path / "bad.yml").write_text(good.replace("condition: s", "condition: s | count() > 1"))
    (tmp_path / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING, logger="detect.rules.base"):
        rules = load_rules(sigma_dir=tmp_path)
    assert "sigma:good" in {r.name for r in rules} and "sigma:bad" not in {r.name for r in rules}
    assert any("bad.yml" in m and "aggregation" in m for m in caplog.messages)


def _stratus_events() -> list[AuditEvent]:
    if not STRATUS.is_dir():
        pytest.skip(f"shared datasets not found at {STRATUS}")
    normalizer = Normalizer()
    return [
        normalizer.normalize(r)
        for p in sorted(STRATUS.glob("*.json"))
        for r in json.loads(p.read_text())
    ]


def test_event_name_prefilter_never_changes_a_verdict() -> None:
    events = _stratus_events()
    events += [
        make_event(eventSource=f"{s}.amazonaws.com", eventName=n)
        for s, n in (("cloudtrail", "UpdateTrail"), ("s3", "DeleteBucket"), ("iam", "CreateUser"))
    ]
    loaded = load_sigma_rules(default_sigma_dir()).rules
    assert sum(r.actions is not None for r in loaded) >= 50  # the prefilter covers most rules
    for event in events:
        record: Mapping[str, Any] = record_of(event)
        for sigma in loaded:
            fires = sigma.match(record) and (sigma.reads_outcome or outcome(record) == "ok")
            assert (sigma.evaluate(event) is not None) is fires, sigma.name


def _gate_of(detection: str) -> tuple[str, Any] | None:
    return rule("  " + detection).gate


def test_a_rule_without_an_event_name_is_gated_on_the_event_field_it_needs() -> None:
    ua = _gate_of("s: {userAgent|contains: TruffleHog}\n  condition: s\n")
    assert ua is not None and ua[0] == "user_agent"
    assert ua[1]("TruffleHog v3.63") and ua[1]("trufflehog") and not ua[1]("aws-cli/2.15")
    arn = _gate_of("s: {userIdentity.arn|re: '.+:assumed-role/aws:.+'}\n  condition: s\n")
    assert arn is not None and arn[0] == "principal"
    assert arn[1]("arn:aws:sts::1:assumed-role/aws:ec2-instance/i-0") and not arn[1]("alice")
    # of two fields the eventName is the gate; the condition's filters ask nothing
    both = _gate_of(
        "s: {eventSource: lambda.amazonaws.com, eventName|startswith: UpdateFunctionConfiguration}"
        "\n  f: {userAgent: x}\n  condition: s and not f\n"
    )
    assert both is not None and both[0] == "action"
    assert both[1]("UpdateFunctionConfiguration20150331v2") and not both[1]("Invoke")
    # one of two selections on one field: either value opens it
    either = _gate_of("s_a: {userAgent: x}\n  s_b: {userAgent: y}\n  condition: 1 of s_*\n")
    assert either is not None and either[1]("Y") and not either[1]("z")


@pytest.mark.parametrize(
    "detection",
    [
        "s: {userIdentity.type: Root}\n  condition: s\n",  # no field of the event says it
        "s: {userAgent: null}\n  condition: s\n",  # an absent user agent passes
        "s: {userAgent|exists: false}\n  condition: s\n",
        "s: {userAgent|re: '.*'}\n  condition: s\n",  # so does an empty one
        "s: {userAgent: x}\n  condition: not s\n",
        "a: {userAgent: x}\n  b: {userIdentity.arn: y}\n  condition: a or b\n",  # two fields
        "a: {userAgent: x}\n  b: {userIdentity.type: Root}\n  condition: a or b\n",
    ],
)
def test_no_gate_where_the_event_fields_cannot_rule_a_match_out(detection: str) -> None:
    assert _gate_of(detection) is None


def test_a_gate_never_turns_away_a_record_its_rule_matches() -> None:
    gated = [r for r in load_sigma_rules(default_sigma_dir()).rules if r.gate is not None]
    assert gated  # the packaged rules have gates to check
    events = _stratus_events() + [
        make_event(userAgent="TruffleHog"),
        make_event(userIdentity={"type": "AssumedRole", "arn": IMDS_ARN}),
        make_event(
            eventSource="lambda.amazonaws.com",
            eventName="UpdateFunctionConfiguration20150331v2",
            requestParameters={"functionName": "f", "layers": ["arn:aws:lambda:l:1"]},
        ),
    ]
    opened = 0
    for event in events:
        for sigma in gated:
            attribute, test = sigma.gate  # type: ignore[misc]
            if sigma.match(record_of(event)):
                assert test(getattr(event, attribute)), (sigma.name, event.event_id)
                opened += 1
    assert opened >= 3


IMDS_ARN = "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc"
