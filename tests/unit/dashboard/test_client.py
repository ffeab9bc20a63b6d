"""LeashClient against a real seeded API: typed answers, URL-encoded ARNs, errors with `detail`."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard.client import ApiMissing, LeashAPIError, LeashClient, Unauthorized, Unreachable
from tests.unit.dashboard import seeding
from tests.unit.dashboard.harness import ADMIN_KEY, READ_KEY, LeashAPI, free_port


def test_whoami_reports_the_scopes_of_each_key(leash_api: LeashAPI) -> None:
    with (
        LeashClient(leash_api.url, READ_KEY) as reader,
        LeashClient(leash_api.url, ADMIN_KEY) as admin,
    ):
        assert reader.whoami().scopes == {"read"}
        assert not reader.whoami().is_admin
        assert admin.whoami().is_admin
        assert reader.whoami().key_id != admin.whoami().key_id


def test_events_are_a_typed_frame_with_the_total(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, READ_KEY) as client:
        page = client.events(
            principal=seeding.BURST_AGENT_KEY, action_class="destructive", limit=10
        )
    assert page.total == seeding.BURST_DELETES + 1  # and the tool call behind them
    assert len(page.events) == 10
    assert isinstance(page.events["event_time"].dtype, pd.DatetimeTZDtype)
    assert page.events["event_time"].is_monotonic_decreasing
    assert set(page.events["action"]) == {"DeleteBucket"}
    assert page.events.iloc[0]["raw"]["eventName"] == "DeleteBucket"


def test_full_arn_with_slashes_and_colons_reaches_the_principal(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, READ_KEY) as client:
        by_arn = client.principal(seeding.ACTIVE_AGENT)
        by_key = client.principal(seeding.ACTIVE_AGENT_KEY)
    assert by_arn.principal_key == by_key.principal_key == seeding.ACTIVE_AGENT_KEY
    assert by_arn.actor_kind == "agent"


def test_alert_explanation_gives_usual_against_now(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, READ_KEY) as client:
        listed = client.alerts(principal=seeding.BURST_AGENT_KEY)
        alert = client.alert(str(listed.iloc[0]["id"]))
    drivers = alert.drivers().set_index("feature")
    assert drivers.loc["lasting_destruction", "now"] >= seeding.BURST_DELETES
    assert drivers.loc["destructive_10m", "usual"] < drivers.loc["destructive_10m", "now"]
    assert not alert.detectors().empty


def test_read_only_key_is_refused_admin_actions_with_the_api_detail(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, READ_KEY) as client, pytest.raises(Unauthorized) as info:
        client.change_principal(seeding.ACTIVE_AGENT_KEY, "quarantine", reason="test")
    assert info.value.status_code == 403
    assert "admin" in info.value.detail


def test_unknown_key_is_unauthorized(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, "not-a-key") as client, pytest.raises(Unauthorized) as info:
        client.whoami()
    assert info.value.status_code == 401
    assert "API key" in info.value.detail


def test_unknown_alert_is_a_plain_api_error_not_a_missing_route(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, READ_KEY) as client, pytest.raises(LeashAPIError) as info:
        client.alert("al_does_not_exist")
    assert not isinstance(info.value, ApiMissing)
    assert info.value.status_code == 404
    assert "al_does_not_exist" in info.value.detail


def test_missing_route_is_api_missing(bare_api: LeashAPI) -> None:
    with LeashClient(bare_api.url, READ_KEY) as client, pytest.raises(ApiMissing) as info:
        client.alerts()
    assert "no GET /v1/alerts API" in info.value.detail


def test_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with LeashClient(url, READ_KEY, timeout_s=2) as client, pytest.raises(Unreachable) as info:
        client.events()
    assert url in info.value.detail


def test_pipeline_metrics_count_accepted_and_stored(leash_api: LeashAPI) -> None:
    with LeashClient(leash_api.url, READ_KEY) as client:
        metrics = client.pipeline_metrics()
        total = client.events(limit=1).total
    assert metrics.accepted >= total > 0
    assert metrics.stored >= total
    assert metrics.in_flight == 0
