"""Principal page against the seeded API: state, activity, and confirmed state changes."""

from __future__ import annotations

from urllib.parse import quote

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

PAGE = "views/principal.py"


def state_of(api: LeashAPI, principal: str) -> str:
    with api.client(READ_KEY) as client:
        return str(client.get(f"/v1/principals/{quote(principal, safe='')}").json()["state"])


def test_activity_timeline_and_baseline_render(dashboard_env: LeashAPI) -> None:
    at = ok(open_page(PAGE, principal=seeding.BURST_AGENT))
    assert at.header[0].value == seeding.BURST_AGENT
    assert metric(at, "Actor kind") == "agent"
    events = seeding.BURST_DELETES + 1  # the deletes and the tool call the agent reported
    assert f"{events} newest of {events} events, by action class. 1 of them are tool calls" in (
        texts(at)
    )
    specs = vega_specs(at)
    timeline = next(s for s in specs if "DeleteBucket" in s and "action_class" in s)
    assert f"[tool] {seeding.BURST_TOOL}" in timeline  # its lane, sorted above the cloud's
    assert any("usual" in s and "now" in s for s in specs), "no baseline chart"
    alerts = next(d.value for d in at.dataframe if "rule" in d.value.columns)
    assert (alerts["event_count"] >= seeding.BURST_DELETES).any()


def test_quarantine_names_the_principal_and_needs_a_reason(dashboard_env: LeashAPI) -> None:
    key = seeding.ACTIVE_AGENT_KEY
    at = ok(open_page(PAGE, principal=key))
    assert "active" in metric(at, "State")
    assert set(labels(at)) >= {"Quarantine", "Revoke"}
    assert "Restore" not in labels(at)

    button(at, "Quarantine").click().run()
    warning = " ".join(w.value for w in at.warning)
    assert key in warning and "denies its destructive" in warning
    button(at, "Confirm: Quarantine").click().run()  # no reason given
    ok(at)
    assert "Give a reason" in texts(at)
    assert state_of(dashboard_env, key) == "active"

    at.text_input(key=f"reason_quarantine_{key}").input("dashboard test").run()
    button(at, "Confirm: Quarantine").click().run()
    ok(at)
    assert state_of(dashboard_env, key) == "quarantined"
    assert "quarantined" in metric(at, "State")
    assert f"{key} is now quarantined." in texts(at)
    assert set(labels(at)) >= {"Revoke", "Restore"}


def test_cancel_sends_nothing(dashboard_env: LeashAPI) -> None:
    key = seeding.GATED_AGENT_KEY
    before = state_of(dashboard_env, key)
    at = ok(open_page(PAGE, principal=key))
    button(at, "Revoke").click().run()
    button(at, "Cancel").click().run()
    ok(at)
    assert "Revoke" in labels(at)
    assert state_of(dashboard_env, key) == before == "active"


def test_restore_an_auto_quarantined_agent(dashboard_env: LeashAPI) -> None:
    key = seeding.BURST_AGENT_KEY
    seeding.wait_for(lambda: state_of(dashboard_env, key) == "quarantined", "auto-quarantine")
    at = ok(open_page(PAGE, principal=seeding.BURST_AGENT))
    assert "leash:auto" in texts(at)
    button(at, "Restore").click().run()
    assert "to active" in " ".join(w.value for w in at.warning)
    at.text_input(key=f"reason_restore_{key}").input("burst was a planned teardown").run()
    button(at, "Confirm: Restore").click().run()
    ok(at)
    assert state_of(dashboard_env, key) == "active"
    history = next(d.value for d in at.dataframe if "to_state" in d.value.columns)
    assert list(history["to_state"][:2]) == ["active", "quarantined"]


def test_unknown_principal_says_what_to_do(dashboard_env: LeashAPI) -> None:
    at = ok(open_page(PAGE, principal="arn:aws:iam::000000000000:user/nobody"))
    assert "No stored events for this principal" in texts(at)


def test_read_only_key_gets_no_state_buttons(
    leash_api: LeashAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_dashboard(monkeypatch, leash_api, READ_KEY)
    at = ok(open_page(PAGE, principal=seeding.ACTIVE_AGENT_KEY))
    assert not {"Quarantine", "Revoke", "Restore"} & set(labels(at))
