"""Query parameters bind the same way on chDB as clickhouse-connect binds them on a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.store.chdb import ChdbStore

ODD = ["a\tb", "line\nbreak", "cr\r", "trailing\\", "back\\slash", "\\t", "nul\0", "it's"]


@pytest.mark.parametrize("value", ODD)
def test_a_string_with_tabs_newlines_or_backslashes_binds_as_itself(
    store: ChdbStore, value: str
) -> None:
    """Ids and filters come from URLs: `/v1/alerts/a%09b` must find nothing, not fail."""
    assert store.query("SELECT {v:String}, length({v:String})", {"v": value}) == [
        (value, len(value.encode()))
    ]


def test_a_string_array_binds_with_quotes_and_backslashes_escaped(store: ChdbStore) -> None:
    keys = ["plain", "it's", "back\\slash", "a,b", "[x]", *ODD]
    rows = store.query("SELECT arrayJoin({keys:Array(String)}) AS k ORDER BY k", {"keys": keys})
    assert [r[0] for r in rows] == sorted(keys)


def test_an_in_filter_over_a_bound_array(store: ChdbStore) -> None:
    rows = store.query(
        "SELECT number FROM numbers(10) WHERE number IN {ns:Array(UInt64)} ORDER BY number",
        {"ns": (2, 3, 7)},
    )
    assert rows == [(2,), (3,), (7,)]


def test_an_aware_datetime_binds_as_the_same_instant(store: ChdbStore) -> None:
    at = datetime(2026, 11, 24, 3, 0, tzinfo=timezone(timedelta(hours=2)))
    rows = store.query("SELECT toUnixTimestamp({at:DateTime('UTC')})", {"at": at})
    assert rows == [(int(at.astimezone(UTC).timestamp()),)]


def test_an_unbindable_array_element_is_refused(store: ChdbStore) -> None:
    with pytest.raises(TypeError, match="cannot bind dict"):
        store.query("SELECT {xs:Array(String)}", {"xs": [{"a": 1}]})
