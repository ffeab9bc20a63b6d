"""Principal states: transitions, write-through and reload, the HTTP routes, auto-quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from detect.alerts.alert import notify_listeners
from detect.response.principals import PrincipalRegistry, TransitionError
from ingest.identity import build_identity_rules
from ingest.settings import Settings
from ingest.store.chdb import ChdbStore
from tests.conftest import ADMIN_KEY, READ_KEY, auth
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    AGENT_KEY,
    ResponseEnv,
    StaticDetection,
    env,
    make_alert,
    open_response_env,
)

__all__ = ["env"]

ENCODED = quote(AGENT_ARN, safe="")


def registry(store: ChdbStore) -> PrincipalRegistry:
    return PrincipalRegistry(store, key_of=build_identity_rules().principal_key)


@pytest.mark.parametrize(
    ("steps", "final"),
    [
        pytest.param(["quarantine"], "quarantined", id="active to quarantined"),
        pytest.param(["quarantine", "revoke"], "revoked", id="quarantined to revoked"),
        pytest.param(["revoke", "restore"], "active", id="revoked restored"),
        pytest.param(["quarantine", "quarantine"], "quarantined", id="repeat is a no-op"),
    ],
)
def test_transitions(store: ChdbStore, steps: list[str], final: str) -> None:
    reg = registry(store)
    for step in steps:
        reg.change(AGENT_ARN, step, reason=step, actor="key_x")
    assert reg.state(AGENT_KEY) == final
    assert len(reg.history(AGENT_KEY)) == len(dict.fromkeys(steps))


def test_downgrade_from_revoked_is_refused(store: ChdbStore) -> None:
    reg = registry(store)
    reg.change(AGENT_ARN, "revoke", reason="r", actor="key_x")
    with pytest.raises(TransitionError, match="cannot quarantine a principal that is revoked"):
        reg.change(AGENT_ARN, "quarantine", reason="q", actor="key_x")


def test_state_is_written_through_and_reloaded(store: ChdbStore) -> None:
    first = registry(store)
    seen = []
    first.listeners.append(seen.append)
    first.change(AGENT_ARN, "quarantine", reason="burst", actor="key_a", actor_kind="agent")
    first.change(AGENT_KEY, "revoke", reason="worse", actor="key_b")
    second = registry(store)
    assert second.state(AGENT_KEY) == "active"  # nothing read yet
    second.load()
    status = second.get(AGENT_KEY)
    assert status is not None
    assert (status.to_state, status.actor, status.actor_kind) == ("revoked", "key_b", "agent")
    assert [c.to_state for c in second.history(AGENT_KEY)] == ["revoked", "quarantined"]
    assert [c.to_state for c in seen] == ["quarantined", "revoked"]


def test_quarantine_restore_over_http(env: ResponseEnv) -> None:
    response = env.client.post(
        f"/v1/principals/{ENCODED}/quarantine",
        json={"reason": "mass delete"},
        headers=auth(ADMIN_KEY),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["principal_key"], body["changed"]) == (
        "quarantined",
        AGENT_KEY,
        True,
    )
    by_key = env.client.get(
        f"/v1/principals/{quote(AGENT_KEY, safe='')}", headers=auth(READ_KEY)
    ).json()
    assert (by_key["state"], by_key["actor_kind"]) == ("quarantined", "agent")
    assert by_key["history"][0]["actor"] == by_key["changed_by"]
    assert by_key["history"][0]["actor"].startswith("key_")
    assert env.decide("DeleteDBInstance", source="rds.amazonaws.com")["decision"] == "deny"
    listed = env.client.get("/v1/principals", headers=auth(READ_KEY)).json()["principals"]
    assert [p["principal_key"] for p in listed] == [AGENT_KEY]

    restored = env.client.post(
        f"/v1/principals/{ENCODED}/restore", json={"reason": "fixed"}, headers=auth(ADMIN_KEY)
    ).json()
    assert restored["state"] == "active"
    assert env.decide("DescribeDBInstances", source="rds.amazonaws.com")["decision"] == "allow"
    assert env.sink.types() == ["principal.quarantined", "principal.restored"]
    assert env.sink.events[0].data["reason"] == "mass delete"


def test_principal_routes_check_scope_and_transitions(env: ResponseEnv) -> None:
    url = f"/v1/principals/{ENCODED}"
    assert (
        env.client.post(f"{url}/revoke", json={"reason": "x"}, headers=auth(READ_KEY)).status_code
        == 403
    )
    assert (
        env.client.post(f"{url}/revoke", json={"reason": "x"}, headers=auth(ADMIN_KEY)).status_code
        == 200
    )
    downgrade = env.client.post(f"{url}/quarantine", json={"reason": "x"}, headers=auth(ADMIN_KEY))
    assert downgrade.status_code == 409
    assert env.decide("DescribeInstances")["decision"] == "deny"
    unknown = env.client.get(
        "/v1/principals/arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fnobody", headers=auth(READ_KEY)
    ).json()
    assert (unknown["state"], unknown["history"]) == ("active", [])


@pytest.fixture
def revoke_env(settings: Settings) -> Iterator[ResponseEnv]:
    yield from open_response_env(settings, detection=StaticDetection(), auto_revoke=True)


@pytest.mark.parametrize(
    ("alert_kwargs", "expected"),
    [
        pytest.param({}, "quarantined", id="critical agent alert quarantines"),
        pytest.param({"severity": "high"}, "active", id="high alert does not"),
        pytest.param({"actor_kind": "human"}, "active", id="humans are not auto-quarantined"),
    ],
)
def test_auto_quarantine_on_critical_alerts(
    env: ResponseEnv, alert_kwargs: dict[str, str], expected: str
) -> None:
    listeners = env.services.listeners
    notify_listeners(listeners, "alert.opened", make_alert(**alert_kwargs))
    status = env.services.registry.get(AGENT_KEY)
    assert (status.to_state if status else "active") == expected
    if status is not None:
        assert (status.actor, status.alert_id, status.origin) == ("leash:auto", "al_test1", "auto")
    assert env.sink.types()[0] == "alert.opened"


def test_auto_quarantine_takes_every_session_the_alert_holds(env: ResponseEnv) -> None:
    """An agent's spree continued from a second session with a stable name (its own key) is one
    alert that names both: quarantine is per key, so both are quarantined."""
    first = "arn:aws:sts::123456789012:assumed-role/ai-data-claude-code/data-agent"
    second = f"{first}-42f5"
    alert = make_alert(principal=first, explanation={"principals": [first, second]})
    notify_listeners(env.services.listeners, "alert.updated", alert)
    registry = env.services.registry
    assert [registry.state(registry.key_of(p)) for p in (first, second)] == ["quarantined"] * 2
    assert registry.key_of(first) != registry.key_of(second)


def test_auto_revoke_is_opt_in(revoke_env: ResponseEnv) -> None:
    notify_listeners(revoke_env.services.listeners, "alert.updated", make_alert())
    assert revoke_env.services.registry.state(AGENT_KEY) == "revoked"
    assert "principal.revoked" in revoke_env.sink.types()
