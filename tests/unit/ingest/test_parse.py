"""Body shapes and gzip limits accepted by POST /v1/events and `leash ship`."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import orjson
import pytest

from ingest.parse import BodyTooLarge, decompress, parse_records


@pytest.mark.parametrize(
    ("body", "count"),
    [
        pytest.param(b'{"Records": [{"a": 1}, {"a": 2}]}', 2, id="cloudtrail log file object"),
        pytest.param(b'[{"a": 1}, {"a": 2}, {"a": 3}]', 3, id="json array"),
        pytest.param(b'{"eventName": "X"}', 1, id="single record"),
        pytest.param(b'{"a": 1}\n{"a": 2}\n\n', 2, id="ndjson"),
        pytest.param(b'  \n[{"a": 1}]\n', 1, id="surrounding whitespace"),
    ],
)
def test_accepted_shapes(body: bytes, count: int) -> None:
    parsed = parse_records(body)
    assert len(parsed.records) == count
    assert parsed.errors == {}


def test_ndjson_bad_line_is_named_and_neighbours_kept() -> None:
    parsed = parse_records(b'{"a": 1}\n{oops\n{"a": 3}')
    assert parsed.records[0] == {"a": 1} and parsed.records[2] == {"a": 3}
    assert list(parsed.errors) == [1]
    assert "not valid JSON" in parsed.errors[1]


RECORDS = [
    {"eventName": "A", "note": "PLACEHOLDER", "nested": {"list": [1, "]", "},{"]}},
    {"eventName": "B", "escaped": 'a quote \\" and a backslash \\\\ and ], inside'},
    {"eventName": "C"},
]


@pytest.mark.parametrize("wrap", [lambda a: a, lambda a: b'{"Records": ' + a + b"}"])
def test_a_record_with_invalid_utf8_is_rejected_alone_in_an_array_or_log_file(
    wrap: Callable[[bytes], bytes],
) -> None:
    body = wrap(orjson.dumps(RECORDS).replace(b"PLACEHOLDER", b"\xff\xfe bad bytes"))
    parsed = parse_records(body)
    assert list(parsed.errors) == [0], parsed.errors
    assert "not valid UTF-8" in parsed.errors[0]
    assert parsed.records[1:] == RECORDS[1:]  # neighbours kept, escapes and brackets intact


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2",
        b'[{"a": 1}, {"b": "\xff',
        b'{"Records": [{"a": 1}, {"b"',
        # two documents in one body: never keep the first and drop the second in silence
        b'{"Records": [{"a": "\xff"}, {"b": 1}]}{"Records": [{"c": 1}]}',
        b'[{"a": "\xff"}, {"b": 1}] [{"c": 1}]',
    ],
)
def test_a_broken_array_says_at_which_byte(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"at byte \d+"):
        parse_records(body)


@pytest.mark.parametrize("body", [b"", b"   ", b"[1, 2", b"{broken"])
def test_unparseable_bodies_raise(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_records(body)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        pytest.param(b'{"Records": 5}', "number", id="number"),
        pytest.param(b'{"Records": {"eventName": "X"}}', "object", id="object"),
        pytest.param(b'{"Records": null}', "null", id="null"),
        pytest.param(b'{"Records": "[]"}', "string", id="string"),
    ],
)
def test_records_that_is_not_an_array_says_so(body: bytes, kind: str) -> None:
    with pytest.raises(
        ValueError, match=f"^Records must be an array of CloudTrail records, got {kind}$"
    ):
        parse_records(body)


def test_decompress_roundtrip_and_concatenated_members() -> None:
    data = orjson.dumps({"Records": [{"a": 1}]})
    assert decompress(gzip.compress(data), limit=1000) == data
    assert decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), limit=10) == b"abcd"


def test_decompress_stops_a_bomb_early() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    with pytest.raises(BodyTooLarge):
        decompress(bomb, limit=1_000_000)


def test_decompress_rejects_a_truncated_stream_instead_of_returning_its_head() -> None:
    whole = gzip.compress(b'{"a": 1}\n' * 1000)
    with pytest.raises(ValueError, match="truncated"):
        decompress(whole[:-30], limit=100_000)


def test_decompress_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not valid gzip"):
        decompress(b"\x1f\x8bnot really gzip", limit=100)
