"""GET /v1/alerts pages with next_cursor: stable while alerts open, filters kept, errors named."""

from __future__ import annotations

from typing import Any

import pytest

from detect.alerts.alert import AlertStore
from tests.conftest import READ_KEY, auth
from tests.unit.detect.response.test_webhooks import (
    AGENT_ARN,
    AGENT_KEY,
    ResponseEnv,
    env,
    make_alert,
)

__all__ = ["env"]

T0_MS = 1_790_000_000_000


def read_page(env: ResponseEnv, **params: Any) -> dict[str, Any]:
    response = env.client.get("/v1/alerts", params=params, headers=auth(READ_KEY))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read_all(env: ResponseEnv, first: dict[str, Any], **params: Any) -> list[str]:
    ids = [a["id"] for a in first["alerts"]]
    page = first
    while page["next_cursor"]:
        page = read_page(env, **params, cursor=page["next_cursor"])
        ids += [a["id"] for a in page["alerts"]]
    return ids


def test_cursor_pages_neither_shift_nor_repeat_while_alerts_open(env: ResponseEnv) -> None:
    alerts = AlertStore(env.runtime.store)
    # al_b, al_c, al_d opened in the same millisecond: the id breaks the tie across a page
    opened = {"al_a": 0, "al_b": 1, "al_c": 1, "al_d": 1, "al_e": 2}
    alerts.save([make_alert(id=i, created_at_ms=T0_MS + s * 1000) for i, s in opened.items()])
    first = read_page(env, limit=2)
    assert [a["id"] for a in first["alerts"]] == ["al_e", "al_b"]
    assert first["count"] == 2 and first["next_cursor"]

    alerts.save([make_alert(id=f"al_new{i}", created_at_ms=T0_MS + 60_000) for i in range(3)])
    # an alert that grows keeps its created_at, so it stays where it was listed
    alerts.save([make_alert(id="al_d", created_at_ms=T0_MS + 1000, event_count=9)])

    ids = read_all(env, first, limit=2)
    assert ids == ["al_e", "al_b", "al_c", "al_d", "al_a"]
    assert read_page(env, limit=100)["next_cursor"] is None


def test_filters_stay_with_the_cursor(env: ResponseEnv) -> None:
    alerts = AlertStore(env.runtime.store)
    alerts.save([make_alert(id=f"al_{i}", created_at_ms=T0_MS + i) for i in range(3)])
    alerts.save([make_alert(id="al_other", principal="arn:aws:iam::123456789012:user/bob")])
    first = read_page(env, principal=AGENT_KEY, limit=2)
    # the full ARN and its key are the same filter: the cursor carries over
    assert read_all(env, first, principal=AGENT_ARN, limit=2) == ["al_2", "al_1", "al_0"]
    response = env.client.get(
        "/v1/alerts",
        params={"status": "open", "limit": 2, "cursor": first["next_cursor"]},
        headers=auth(READ_KEY),
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "cursor was issued for other filters; restart without cursor"
    )


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        pytest.param("AQ", "cursor is truncated", id="truncated"),
        pytest.param("a.b", "not a url-safe base64 token", id="not base64"),
    ],
)
def test_a_malformed_cursor_gets_400_naming_the_problem(
    env: ResponseEnv, cursor: str, message: str
) -> None:
    response = env.client.get("/v1/alerts", params={"cursor": cursor}, headers=auth(READ_KEY))
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_full_page_of_the_maximum_size_still_says_more_follow(env: ResponseEnv) -> None:
    alerts = AlertStore(env.runtime.store)
    alerts.save([make_alert(id=f"al_{i:04}", created_at_ms=T0_MS + i) for i in range(1001)])
    first = read_page(env, limit=1000)
    assert first["count"] == 1000 and first["next_cursor"]
    last = read_page(env, limit=1000, cursor=first["next_cursor"])
    assert [a["id"] for a in last["alerts"]] == ["al_0000"] and last["next_cursor"] is None
