"""Opaque keyset cursors for the list routes (GET /v1/events, GET /v1/alerts): encode, decode.

A cursor is the url-safe base64 (unpadded) of: a version byte, an 8-byte fingerprint of the
list's name and filters, the last row's time in epoch ms (signed 64-bit, big-endian) and its id
(UTF-8). The next page is the rows strictly after that (time, id) in the list's order, so rows
stored after the first page neither shift nor repeat later pages (offset paging does both).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson

__all__ = [
    "CURSOR_VERSION",
    "CursorError",
    "FilterValue",
    "SortKey",
    "decode_cursor",
    "encode_cursor",
]

CURSOR_VERSION = 1
SortKey = tuple[int, str]  # (epoch ms of the row's sort time, its id)
FilterValue = str | int | datetime | None

_HEAD = struct.Struct(">B8sq")  # version, filters fingerprint, time in ms
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_MAX_MS = 10_413_792_000_000  # 2300-01-01 in ms: DateTime64(3) ends there
_MAX_CURSOR_CHARS = 1024  # characters; an id is far shorter, a longer token is not ours


class CursorError(ValueError):
    """A cursor this server cannot continue from; the message names the problem (a 400)."""


def _canonical(value: FilterValue) -> str | int:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    return value if isinstance(value, int) else str(value)


def _fingerprint(listing: str, filters: Mapping[str, FilterValue]) -> bytes:
    # unset and empty filters are the same filter (the routes ignore both)
    used = {k: _canonical(v) for k, v in filters.items() if v is not None and v != ""}
    body = orjson.dumps({"list": listing, "filters": used}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).digest()[:8]


def encode_cursor(key: SortKey, *, listing: str, filters: Mapping[str, FilterValue]) -> str:
    """The cursor of the page that follows the row with sort key `key`."""
    ms, row_id = key
    raw = _HEAD.pack(CURSOR_VERSION, _fingerprint(listing, filters), ms) + row_id.encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, *, listing: str, filters: Mapping[str, FilterValue]) -> SortKey:
    """The sort key a cursor continues after; CursorError when it cannot be used here.

    The filters must be the ones the cursor was issued for (limit may change between pages).
    """
    if len(token) > _MAX_CURSOR_CHARS or not _ALPHABET.fullmatch(token):
        raise CursorError("cursor is not a url-safe base64 token issued by this API")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise CursorError("cursor is not valid url-safe base64 (truncated?)") from None
    if raw and raw[0] != CURSOR_VERSION:
        raise CursorError(
            f"cursor has unknown version {raw[0]} (this server issues version {CURSOR_VERSION}):"
            " it is malformed or from another Leash release; restart without cursor"
        )
    if len(raw) <= _HEAD.size:
        raise CursorError("cursor is truncated: it holds no row to continue after")
    _, fingerprint, ms = _HEAD.unpack_from(raw)
    if fingerprint != _fingerprint(listing, filters):
        raise CursorError("cursor was issued for other filters; restart without cursor")
    if not 0 <= ms < _MAX_MS:
        raise CursorError(f"cursor is malformed: its time {ms} ms is out of range")
    try:
        row_id = raw[_HEAD.size :].decode()
    except UnicodeDecodeError:
        raise CursorError("cursor is malformed: its row id is not UTF-8") from None
    return ms, row_id
