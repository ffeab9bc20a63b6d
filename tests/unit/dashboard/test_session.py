"""Sign-in and degraded servers: the key from the env or typed in, an API without detection."""

from __future__ import annotations

import pytest

from tests.unit.dashboard.harness import (
    ADMIN_KEY,
    READ_KEY,
    LeashAPI,
    ok,
    open_page,
    point_dashboard,
    texts,
)


def test_without_an_env_key_the_dashboard_asks_for_one(
    leash_api: LeashAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_dashboard(monkeypatch, leash_api, None)
    at = ok(open_page())
    assert "Sign in with a Leash API key" in texts(at)
    assert at.text_input[0].value == leash_api.url

    at.text_input[1].input("wrong-key")
    at.button[0].click().run()
    assert "Sign-in failed: missing or unknown API key" in texts(at)

    at.text_input[1].input(READ_KEY)
    at.button[0].click().run()
    ok(at)
    assert at.title[0].value == "Overview"
    assert "Read-only key: actions are hidden." in texts(at)


def test_a_bad_env_key_falls_back_to_the_form(
    leash_api: LeashAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_dashboard(monkeypatch, leash_api, "revoked-key")
    at = ok(open_page())
    assert "The key in LEASH_DASHBOARD_API_KEY did not work" in texts(at)


@pytest.mark.parametrize(
    "page", [None, "views/alerts.py", "views/principal.py", "views/events.py", "views/approvals.py"]
)
def test_an_empty_ingest_only_server_degrades_with_next_steps(
    bare_api: LeashAPI, monkeypatch: pytest.MonkeyPatch, page: str | None
) -> None:
    point_dashboard(monkeypatch, bare_api, ADMIN_KEY)
    at = ok(open_page(page, principal="arn:aws:iam::123456789012:user/alice"))
    shown = texts(at)
    assert "leash ship" in shown or "has no" in shown, shown
    if page in (None, "views/alerts.py", "views/approvals.py"):
        assert "this Leash server has no GET /v1/" in shown
