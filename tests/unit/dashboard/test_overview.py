"""Overview page against the seeded API: activity numbers, open alerts, pipeline health."""

from __future__ import annotations

from tests.unit.dashboard.harness import (
    READ_KEY,
    LeashAPI,
    metric,
    ok,
    open_page,
    texts,
    vega_specs,
)


def test_overview_shows_the_store_the_alerts_and_the_pipeline(dashboard_env: LeashAPI) -> None:
    with dashboard_env.client(READ_KEY) as api:
        total = api.get("/v1/events", params={"limit": 1}).json()["total"]
        open_alerts = api.get("/v1/alerts", params={"status": "open", "limit": 1000}).json()
    critical = sum(1 for a in open_alerts["alerts"] if a["severity"] == "critical")

    at = ok(open_page())

    assert metric(at, "Events stored") == f"{total:,}"
    assert metric(at, "Newest event (UTC)") == "12:40:58"  # the deploy agent's last delete
    assert "newest stored event: 2023-07-10 12:40:58 UTC" in texts(at)
    assert metric(at, "Critical") == str(critical)
    assert critical >= 1
    assert metric(at, "API") == "ok"
    assert metric(at, "Ingest lag (events)") == "0"
    specs = vega_specs(at)
    assert any("per_minute" in s for s in specs), "no events-per-minute chart"
    top = next(d.value for d in at.dataframe if "name" in d.value.columns)
    assert "assumed-role/deploy-agent" in set(top["name"])
    assert top["destructive"].is_monotonic_decreasing


def test_window_choice_changes_the_event_count(dashboard_env: LeashAPI) -> None:
    at = ok(open_page())
    six_hours = metric(at, "Events, last 6 hours")
    at.segmented_control(key="overview_window").set_value("last hour").run()
    ok(at)
    last_hour = int(metric(at, "Events, last hour").replace(",", ""))
    assert 0 < last_hour <= int(six_hours.replace(",", ""))


def test_detector_status_is_shown(dashboard_env: LeashAPI) -> None:
    with dashboard_env.client(READ_KEY) as api:
        detector = api.get("/v1/detector").json()
    at = ok(open_page())
    assert metric(at, "Detector model") == (detector["model_version"] or "none yet")
    running = "running" if detector["alive"] else "NOT running"
    state = "stale" if detector["stale"] else "current"
    assert f"Detector {running}, {state}" in texts(at)
