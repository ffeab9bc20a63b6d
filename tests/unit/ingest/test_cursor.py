"""Keyset cursors: round trip, filters fingerprint, and a named error for each bad token."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.cursor import CursorError, decode_cursor, encode_cursor

FILTERS = {"principal": "arn:aws:iam::123456789012:user/alice", "since": None, "q": ""}
KEY = (1_790_000_000_123, "4f0c1a52-8d4e-4b43-9d7e-1c0f2b7a9e11")


def test_round_trip_is_url_safe_and_opaque() -> None:
    token = encode_cursor(KEY, listing="events", filters=FILTERS)
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token
    assert KEY[1] not in token  # not a readable id a client might be tempted to build
    assert decode_cursor(token, listing="events", filters=FILTERS) == KEY


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param({"principal": "arn:aws:iam::123456789012:user/alice"}, id="unset left out"),
        pytest.param({**FILTERS, "action": ""}, id="empty filter is no filter"),
    ],
)
def test_unset_and_empty_filters_are_the_same_filters(filters: dict[str, str]) -> None:
    token = encode_cursor(KEY, listing="events", filters=FILTERS)
    assert decode_cursor(token, listing="events", filters=filters) == KEY


def test_the_same_instant_in_another_offset_is_the_same_filter() -> None:
    utc = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    token = encode_cursor(KEY, listing="events", filters={"since": utc})
    assert decode_cursor(token, listing="events", filters={"since": paris}) == KEY


@pytest.mark.parametrize(
    ("listing", "filters"),
    [
        pytest.param("events", {**FILTERS, "principal": "someone-else"}, id="changed filter"),
        pytest.param("events", {**FILTERS, "action": "DeleteBucket"}, id="added filter"),
        pytest.param("events", {}, id="dropped filter"),
        pytest.param("alerts", FILTERS, id="another list"),
    ],
)
def test_a_cursor_used_with_other_filters_is_refused(listing: str, filters: dict[str, str]) -> None:
    token = encode_cursor(KEY, listing="events", filters=FILTERS)
    with pytest.raises(CursorError, match="issued for other filters; restart without cursor"):
        decode_cursor(token, listing=listing, filters=filters)


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _good_raw() -> bytes:
    token = encode_cursor(KEY, listing="events", filters=FILTERS)
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("not a cursor!", "not a url-safe base64 token", id="foreign characters"),
        pytest.param("abc+/def", "not a url-safe base64 token", id="standard base64"),
        pytest.param("A", "not valid url-safe base64", id="impossible length"),
        pytest.param("x" * 2000, "not a url-safe base64 token", id="too long"),
        pytest.param(_token(b"\x01" + b"\x00" * 10), "truncated", id="truncated"),
        pytest.param(_token(b"\x07" + _good_raw()[1:]), "unknown version 7", id="version"),
        pytest.param(_token(_good_raw()[:17] + b"\xff\xfe"), "row id is not UTF-8", id="bad id"),
    ],
)
def test_malformed_cursors_name_the_problem(token: str, message: str) -> None:
    with pytest.raises(CursorError, match=message):
        decode_cursor(token, listing="events", filters=FILTERS)


def test_a_time_out_of_range_is_refused() -> None:
    token = encode_cursor((-5, "x"), listing="events", filters=FILTERS)
    with pytest.raises(CursorError, match="time -5 ms is out of range"):
        decode_cursor(token, listing="events", filters=FILTERS)
