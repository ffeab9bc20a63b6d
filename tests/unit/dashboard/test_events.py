"""Events page against the seeded API: search by each filter, paging, raw JSON."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.unit.dashboard import seeding
from tests.unit.dashboard.harness import READ_KEY, LeashAPI, button, ok, open_page, texts

PAGE = "views/events.py"


def field(at: AppTest, label: str) -> object:
    return next(w for w in [*at.text_input, *at.selectbox] if w.label.startswith(label))


def search(at: AppTest, **values: str) -> AppTest:
    for label, value in values.items():
        widget = field(at, label)
        if hasattr(widget, "input"):
            widget.input(value)
        else:
            widget.set_value(value)  # type: ignore[attr-defined]
    button(at, "Search").click().run()
    return ok(at)


def test_lists_every_event_newest_first(dashboard_env: LeashAPI) -> None:
    with dashboard_env.client(READ_KEY) as api:
        total = api.get("/v1/events", params={"limit": 1}).json()["total"]
    at = ok(open_page(PAGE))
    assert f"{total:,} events match" in texts(at)
    table = at.dataframe[0].value
    assert len(table) == 100
    assert table["event_time"].is_monotonic_decreasing


def test_principal_and_class_filters(dashboard_env: LeashAPI) -> None:
    at = search(ok(open_page(PAGE)), Principal=seeding.BURST_AGENT, Class="destructive")
    assert f"{seeding.BURST_DELETES + 1} events match" in texts(at)  # the deletes and their call
    assert set(at.dataframe[0].value["action"]) == {"DeleteBucket", seeding.BURST_TOOL}


def test_free_text_finds_one_bucket_and_shows_its_raw_json(dashboard_env: LeashAPI) -> None:
    at = search(ok(open_page(PAGE)), **{"Free text": "prod-assets-7"})
    assert "1 events match" in texts(at)
    raw = at.json[0].value
    assert "prod-assets-7" in raw and '"eventName": "DeleteBucket"' in raw.replace('":"', '": "')


def test_paging_moves_to_older_events(dashboard_env: LeashAPI) -> None:
    at = ok(open_page(PAGE))
    newest = at.dataframe[0].value["event_time"].min()
    button(at, "Older").click().run()
    ok(at)
    assert "page 2 of" in texts(at)
    assert at.dataframe[0].value["event_time"].max() <= newest


def test_no_match_says_to_loosen_filters(dashboard_env: LeashAPI) -> None:
    at = search(ok(open_page(PAGE)), Action="NoSuchAction")
    assert "No events match. Loosen the filters." in texts(at)
