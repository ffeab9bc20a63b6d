"""Suppressions (globs, expiry, event matching) and false-positive feedback through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from detect.alerts.alert import AlertStore
from detect.alerts.suppression import EventMemo, SuppressionBook, false_positive_event_ids
from detect.findings import Finding
from ingest import schema
from ingest.events import AuditEvent
from ingest.identity import build_identity_rules
from ingest.sink.writer import STORED_COLUMNS, event_row
from ingest.store.chdb import ChdbStore
from tests.conftest import ADMIN_KEY, READ_KEY, FakeClock, auth
from tests.factories import make_event
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    AGENT_KEY,
    ResponseEnv,
    env,
    make_alert,
)

__all__ = ["env"]


def s3_delete(bucket: str, key: str = "k") -> AuditEvent:
    return make_event(
        eventName="DeleteObject",
        eventSource="s3.amazonaws.com",
        requestParameters={"bucketName": bucket, "key": key},
    )


def finding(
    *events: AuditEvent, principal: str = AGENT_KEY, rule: str = "baseline:destructive_burst"
) -> Finding:
    return Finding(
        principal,
        "agent",
        "rule",
        rule,
        "high",
        0.8,
        "burst",
        tuple(e.event_id for e in events) or ("e0",),
        0,
        0,
    )


@pytest.fixture
def book(store: ChdbStore) -> tuple[SuppressionBook, EventMemo, FakeClock]:
    clock = FakeClock(start=1_800_000_000.0)
    memo = EventMemo()
    return (
        SuppressionBook(store, key_of=build_identity_rules().principal_key, memo=memo, clock=clock),
        memo,
        clock,
    )


def test_principal_and_rule_globs(book: Any) -> None:
    suppressions, _, _ = book
    item = suppressions.add(
        principal=AGENT_ARN, rule="baseline:*", reason="known job", created_by="key_a"
    )
    assert item.principal == AGENT_KEY  # an exact ARN suppresses its stable identity
    assert suppressions(finding())
    assert not suppressions(finding(rule="sigma:stop_logging"))
    assert not suppressions(finding(principal="arn:aws:sts::1:assumed-role/other"))
    assert suppressions.hits[item.id] == 1


def test_action_and_resource_patterns_need_every_event_to_match(book: Any) -> None:
    suppressions, memo, _ = book
    suppressions.add(
        action="s3:DeleteObject", resource="test-*", reason="scratch buckets", created_by="key_a"
    )
    scratch = [s3_delete("test-1"), s3_delete("test-2")]
    prod = s3_delete("prod-logs")
    for event in [*scratch, prod]:
        memo.evaluate(event)
    assert suppressions(finding(*scratch))
    assert not suppressions(finding(*scratch, prod))
    assert not suppressions(finding(s3_delete("test-3")))  # never seen: not suppressed on a guess


def test_events_not_in_memory_are_read_from_the_store(book: Any, store: ChdbStore) -> None:
    suppressions, _, _ = book
    suppressions.add(action="DeleteObject", resource="test-*", reason="r", created_by="k")
    event = s3_delete("test-9")
    store.insert(schema.EVENTS, [event_row(event, datetime.now(UTC), "b1")], STORED_COLUMNS)
    assert suppressions(finding(event))


def test_expiry_removal_and_reload(book: Any, store: ChdbStore) -> None:
    suppressions, memo, clock = book
    short = suppressions.add(rule="baseline:*", reason="r", created_by="k", expires_in_s=60)
    forever = suppressions.add(
        principal="arn:aws:sts::1:assumed-role/x", reason="r", created_by="k"
    )
    assert suppressions(finding())
    clock.advance(61)
    assert not suppressions(finding())
    assert suppressions.remove(forever.id) and not suppressions.remove("sup_nope")
    reloaded = SuppressionBook(
        store, key_of=build_identity_rules().principal_key, memo=memo, clock=clock
    )
    assert reloaded.load() == 1  # the expired one is loaded but not live; the removed one is gone
    assert [s.id for s, _ in reloaded.entries()] == []
    clock.now -= 61
    assert [s.id for s, _ in reloaded.entries()] == [short.id]


def test_suppression_routes(env: ResponseEnv) -> None:
    body = {
        "principal": AGENT_ARN,
        "rule": "baseline:*",
        "reason": "nightly cleanup",
        "expires_in_s": 3600,
    }
    assert env.client.post("/v1/suppressions", json=body, headers=auth(READ_KEY)).status_code == 403
    created = env.client.post("/v1/suppressions", json=body, headers=auth(ADMIN_KEY))
    assert created.status_code == 201
    item = created.json()
    assert (item["principal"], item["expires_at"] is not None) == (AGENT_KEY, True)
    assert env.services.suppressors == [env.services.suppressions]
    assert env.services.suppressors[0](finding())
    listed = env.client.get("/v1/suppressions", headers=auth(READ_KEY)).json()["suppressions"]
    assert [(s["id"], s["hits"]) for s in listed] == [(item["id"], 1)]
    url = f"/v1/suppressions/{item['id']}"
    assert env.client.delete(url, headers=auth(ADMIN_KEY)).status_code == 200
    assert env.client.delete(url, headers=auth(ADMIN_KEY)).status_code == 404


def test_false_positive_resolves_records_and_suppresses(env: ResponseEnv) -> None:
    alerts = AlertStore(env.runtime.store)
    alerts.save([make_alert(severity="high")])
    response = env.client.post(
        "/v1/alerts/al_test1/false-positive",
        json={"note": "planned cleanup", "suppress": True},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["alert"]["status"] == "resolved"
    resolved = alerts.get("al_test1")
    assert resolved is not None and resolved.status == "resolved"
    assert false_positive_event_ids(env.runtime.store) == {"e1", "e2", "e3"}
    assert body["suppression_id"].startswith("sup_")
    assert env.services.suppressions(finding())
    assert "alert.resolved" in env.sink.types()
    missing = env.client.post("/v1/alerts/al_nope/false-positive", json={}, headers=auth(ADMIN_KEY))
    assert missing.status_code == 404
