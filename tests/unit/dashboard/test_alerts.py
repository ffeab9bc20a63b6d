"""Alerts page against the seeded API: the burst alert, its explanation, and each action."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.dashboard import seeding
from tests.unit.dashboard.harness import (
    READ_KEY,
    LeashAPI,
    button,
    labels,
    metric,
    ok,
    open_page,
    point_dashboard,
    texts,
    vega_specs,
)

PAGE = "views/alerts.py"


def alert_of(api: LeashAPI, principal_part: str) -> dict[str, Any]:
    with api.client(READ_KEY) as client:
        alerts = client.get("/v1/alerts", params={"limit": 1000}).json()["alerts"]
    return next(a for a in alerts if principal_part in a["principal"])


def status_of(api: LeashAPI, alert_id: str) -> str:
    with api.client(READ_KEY) as client:
        return str(client.get(f"/v1/alerts/{alert_id}").json()["status"])


def test_burst_alert_shows_events_and_why(dashboard_env: LeashAPI) -> None:
    alert = alert_of(dashboard_env, "deploy-agent")
    at = ok(open_page(PAGE, alert=alert["id"]))

    assert metric(at, "Events") == str(alert["event_count"])
    assert metric(at, "Severity") == alert["severity"]
    assert "deploy-agent" in texts(at)
    tables = [d.value for d in at.dataframe]
    drivers = next(t for t in tables if "feature" in t.columns).set_index("feature")
    assert drivers.loc["lasting_destruction", "now"] >= seeding.BURST_DELETES
    events = next(t for t in tables if "event_id" in t.columns and "action" in t.columns)
    assert len(events) == alert["event_count"]
    assert set(events["action"]) == {"DeleteBucket", seeding.BURST_TOOL}  # the call is in it
    story = next(t for t in tables if "tool call" in t.columns)
    assert story["tool call"].tolist() == [seeding.BURST_TOOL]
    assert story["cloud events"].tolist() == [seeding.BURST_DELETES]
    assert (
        f"Tool call `{seeding.BURST_TOOL}` at 2023-07-10 12:39:59 UTC → "
        f"**{seeding.BURST_DELETES} cloud event(s)** (joined by time window)"
    ) in texts(at)
    assert any("usual" in spec and "now" in spec for spec in vega_specs(at)), "no drivers chart"
    assert at.json, "the raw JSON of the triggering event is missing"


def test_table_filters_by_principal(dashboard_env: LeashAPI) -> None:
    at = ok(open_page(PAGE))
    listed = len(at.dataframe[0].value)
    at.text_input(key="alerts_principal").input("deploy-agent").run()
    ok(at)
    table = at.dataframe[0].value
    assert 1 <= len(table) < listed
    assert all("deploy-agent" in p for p in table["principal"])


def test_acknowledge_then_resolve_reach_the_api(dashboard_env: LeashAPI) -> None:
    alert = alert_of(dashboard_env, "bert-jan")
    at = ok(open_page(PAGE, alert=alert["id"]))
    button(at, "Acknowledge").click().run()
    ok(at)
    assert status_of(dashboard_env, alert["id"]) == "acknowledged"
    assert f"Alert {alert['id']} acknowledged." in texts(at)

    at.selectbox(key="alerts_status").set_value("acknowledged").run()
    ok(at)
    button(at, "Resolve").click().run()
    ok(at)
    assert status_of(dashboard_env, alert["id"]) == "resolved"


def test_false_positive_needs_confirmation_and_resolves(dashboard_env: LeashAPI) -> None:
    # a red-team exercise's sign-in: real, and planned (AWS services' own calls no longer page)
    alert = alert_of(dashboard_env, "user/stratus-red-team")
    at = ok(open_page(PAGE, alert=alert["id"]))
    button(at, "Mark false positive").click().run()
    ok(at)
    assert status_of(dashboard_env, alert["id"]) == "open"  # nothing sent before confirming
    assert "false positive" in " ".join(w.value for w in at.warning)
    at.text_input(key=f"reason_fp_{alert['id']}").input("planned red-team exercise").run()
    button(at, "Confirm: Mark false positive").click().run()
    ok(at)
    assert status_of(dashboard_env, alert["id"]) == "resolved"


def test_suppress_creates_a_suppression_for_principal_and_rule(dashboard_env: LeashAPI) -> None:
    alert = alert_of(dashboard_env, "deploy-agent")
    at = ok(open_page(PAGE, alert=alert["id"]))
    button(at, "Suppress").click().run()
    at.text_input(key=f"reason_suppress_{alert['id']}").input("planned teardown").run()
    button(at, "Confirm: Suppress").click().run()
    ok(at)
    with dashboard_env.client(READ_KEY) as client:
        found = client.get("/v1/suppressions").json()["suppressions"]
    suppressed = {
        s["rule"]
        for s in found
        if s["principal"] == alert["principal"] and s["reason"] == "planned teardown"
    }
    assert suppressed == {alert["rule"], *alert["rules"]}


def test_open_principal_goes_to_the_principal_page(dashboard_env: LeashAPI) -> None:
    alert = alert_of(dashboard_env, "deploy-agent")
    at = ok(open_page(PAGE, alert=alert["id"]))
    button(at, "Open principal").click().run()
    ok(at)
    assert at.title[0].value == "Principal"
    assert at.query_params["principal"] == alert["principal"]
    assert alert["principal"] in [h.value for h in at.header]


def test_read_only_key_sees_no_action_buttons(
    leash_api: LeashAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_dashboard(monkeypatch, leash_api, READ_KEY)
    at = ok(open_page(PAGE))
    assert not {"Acknowledge", "Resolve", "Mark false positive", "Suppress"} & set(labels(at))
    assert "Sign in with an admin key" in texts(at)
