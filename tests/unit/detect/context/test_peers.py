"""Peer groups: a principal still being learned, judged against the mature principals that
share its job (detect.context.peers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from detect.anomaly.baseline import BaselineDetector
from detect.context.peers import PEERS, PeerGroups, groups_of
from detect.context.triage import Triage
from detect.engine import DetectionEngine
from detect.features import PrincipalState
from detect.findings import Finding
from ingest.events import AuditEvent, Normalizer
from tests.factories import make_record
from tests.unit.detect.anomaly.test_baseline import T0, profile

ACCOUNT = "123456789012"
NORMALIZER = Normalizer()


def role_key(name: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}"


def test_peer_groups_are_read_from_names() -> None:
    sso = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_DeveloperAccess_27de04dc/"
    assert groups_of(sso + "ana@example.com") == groups_of(sso + "bo@example.com")
    ci = groups_of(role_key("gha-billing-ci-agent"))
    assert set(ci) & set(groups_of(f"arn:aws:iam::{ACCOUNT}:role/ci/gha-search-ci-agent"))
    assert not set(ci) & set(groups_of(role_key("gha-billing-deploy")))  # another job
    assert not set(ci) & set(groups_of(role_key("gha-billing-ci-agent").replace(ACCOUNT, "1")))
    # the last word names the job; two-word names would be grouped by it alone; people's names
    assert groups_of(role_key("coding-agent")) == ()
    assert groups_of(f"arn:aws:iam::{ACCOUNT}:user/ana.haddad") == ()
    assert groups_of(f"arn:aws:iam::{ACCOUNT}:user/svc-backup-uploader")
    assert groups_of(f"arn:aws:iam::{ACCOUNT}:root") == ()
    # words that say what kind of identity it is make no job (review: `prod-*-role`)
    assert groups_of(role_key("prod-terraform-role")) == ()
    assert groups_of(role_key("eks-orders-irsa-role")) == ()
    # a pipeline's stable session name is grouped by its role's name; a permission set's people
    # by the set, not by their names
    assert groups_of(role_key("gha-billing-ci-agent/GitHubActions")) == ci
    book = PeerGroups()
    for name in ("gha-billing-ci-agent", "gha-search-ci-agent", "gha-billing-deploy"):
        book.add(role_key(name))
    assert book.peers(role_key("gha-orders-ci-agent")) == [
        role_key("gha-billing-ci-agent"),
        role_key("gha-search-ci-agent"),
    ]


def deletes(role: str, n: int) -> list[AuditEvent]:
    return [
        NORMALIZER.normalize(
            make_record(
                role=role,
                at=T0 + timedelta(seconds=3 * i),
                eventSource="s3.amazonaws.com",
                eventName="DeleteBucket",
                requestParameters={"bucketName": f"orders-export-{i}"},
            )
        )
        for i in range(n)
    ]


def mature(name: str, destructive_high: float) -> PrincipalState:
    return PrincipalState(
        role_key(name), "agent", profile(role_key(name), destructive_10m=destructive_high)
    )


def burst_finding(peers: list[PrincipalState], n: int = 25) -> tuple[Finding, PrincipalState]:
    """The last destructive-burst finding of a new CI role's n deletes, as triage leaves it."""
    events = deletes("gha-orders-ci-agent", n)
    state = PrincipalState(events[0].principal_key, "agent")
    detector = BaselineDetector(peers=lambda _: peers)
    found = []
    for e in events:
        flags = state.observe(e)
        found += [
            Triage().assess(f, e, state, routine=False)
            for f in detector.evaluate(state, state.features(), e, flags)
            if f.rule == "baseline:destructive_burst"
        ]
    assert found and not state.mature
    return found[-1], state


def test_a_new_principal_that_does_more_than_any_mature_peer_pages_as_they_would() -> None:
    quiet = [mature("gha-billing-ci-agent", 6.0), mature("gha-search-ci-agent", 5.0)]
    finding, _ = burst_finding(quiet)  # 25 deletes; the peers' bars 3 x 6 and 3 x 5
    peers = finding.explanation[PEERS]
    assert peers["mature"] == 2 and peers["beyond"] is True
    assert peers["threshold"] == pytest.approx(18.0, rel=0.01)  # (x the youth margin of 30 days)
    assert finding.tier == "page"


@pytest.mark.parametrize(
    "peers",
    [
        [],  # no peers: its own short history says only "note"
        [mature("gha-billing-ci-agent", 6.0)],  # one is not a group
        [mature("gha-billing-ci-agent", 6.0), mature("gha-search-ci-agent", 30.0)],  # one does
        # peers whose bars are the floor, as the new principal's own is: nothing to add (review)
        [mature("gha-billing-ci-agent", 3.0), mature("gha-search-ci-agent", 2.0)],
    ],
)
def test_a_new_principal_within_its_peers_or_without_enough_of_them_only_notes(
    peers: list[PrincipalState],
) -> None:
    finding, _ = burst_finding(peers)
    assert finding.tier == "note"
    assert not finding.explanation.get(PEERS, {}).get("beyond")


def test_the_engine_finds_a_new_principals_mature_peers_and_pages() -> None:
    def run(peer_names: tuple[str, ...]) -> list[str]:
        engine = DetectionEngine()
        for name in peer_names:
            state = mature(name, 6.0)
            engine.states[state.key] = state
            engine.peer_groups.add(state.key)
        out = engine.process(deletes("gha-orders-ci-agent", 25))
        return [a.rule for _, a in out.changes if a.principal == role_key("gha-orders-ci-agent")]

    assert run(("gha-billing-ci-agent", "gha-search-ci-agent"))  # an alert opens
    assert run(()) == []  # a new role's deletes only note
    assert run(("gha-billing-deploy", "gha-search-deploy")) == []  # not its peers


def test_a_count_of_first_seen_calls_is_never_judged_by_peers() -> None:
    """Review: every call of a new principal is new, a mature peer's hardly ever."""
    peers = [mature("gha-billing-ci-agent", 3.0), mature("gha-search-ci-agent", 2.0)]
    for state in peers:
        state.high["new_sensitive_10m"] = 1.0
    routine = [  # (first-seen counts start once a principal is established)
        NORMALIZER.normalize(
            make_record(role="gha-orders-ci-agent", at=T0 - timedelta(minutes=300 - i))
        )
        for i in range(250)
    ]
    grants = routine + [
        NORMALIZER.normalize(
            make_record(
                role="gha-orders-ci-agent",
                at=T0 + timedelta(seconds=5 * i),
                eventSource="iam.amazonaws.com",
                eventName=name,
                requestParameters={"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/X"},
            )
        )
        for i, name in enumerate(("PutRolePolicy", "AttachRolePolicy", "UpdateAssumeRolePolicy"))
    ]
    state = PrincipalState(grants[0].principal_key, "agent")
    detector = BaselineDetector(peers=lambda _: peers)
    found = []
    for e in grants:
        flags = state.observe(e)
        found += detector.evaluate(state, state.features(), e, flags)
    firsts = [f for f in found if f.rule == "baseline:new_sensitive_actions"]
    assert firsts and all(PEERS not in f.explanation for f in firsts)


def test_peers_that_never_learned_the_count_say_nothing_of_it() -> None:
    """Review: a mature peer that never deleted has the floor for its threshold, which is no
    more than the new principal's own bar: "beyond" every such peer was every finding."""
    never = [mature("gha-billing-ci-agent", 0.0), mature("gha-search-ci-agent", 0.0)]
    finding, _ = burst_finding(never)
    assert finding.tier == "note" and PEERS not in finding.explanation


def test_trained_peers_are_viewed_from_the_model_without_a_live_state() -> None:
    engine = DetectionEngine()
    young = replace(profile(role_key("gha-web-ci-agent"), destructive_10m=9.0), active_days=1)
    engine.model = SimpleNamespace(  # type: ignore[assignment]
        profiles={
            p.key: p
            for p in (
                profile(role_key("gha-billing-ci-agent"), destructive_10m=3.0),
                profile(role_key("gha-search-ci-agent"), destructive_10m=2.0),
                young,  # not mature: no view
            )
        }
    )
    for key in engine.model.profiles:
        engine.peer_groups.add(key)
    new = PrincipalState(role_key("gha-orders-ci-agent"), "agent")
    peers = engine._mature_peers(new)
    assert sorted(p.high["destructive_10m"] for p in peers) == [2.0, 3.0]
    assert not any(isinstance(p, PrincipalState) for p in peers)  # views, not live states
