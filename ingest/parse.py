"""Body parsing for POST /v1/events and `leash ship`: gzip with bomb limits, every shape."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["BodyTooLarge", "ParsedBody", "decompress", "json_type", "parse_records", "records_of"]

_CHUNK = 64 * 1024  # bytes; decompression step, so a bomb is stopped after at most one chunk


class BodyTooLarge(ValueError):
    """The (decompressed) body exceeds the configured limit."""


@dataclass(frozen=True)
class ParsedBody:
    """Records in body order; `errors` maps a record index to why it could not even be parsed."""

    records: list[Any]
    errors: dict[int, str]


def decompress(data: bytes, *, limit: int) -> bytes:
    """Gunzip `data`, refusing to produce more than `limit` bytes (gzip-bomb protection)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    buf = data
    try:
        while buf:
            out += inflater.decompress(buf, _CHUNK)
            if len(out) > limit:
                raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
            buf = inflater.unconsumed_tail
            if inflater.eof and inflater.unused_data:  # concatenated gzip members
                buf = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        raise ValueError(f"body is not valid gzip: {exc}") from None
    if not inflater.eof:  # zlib returns a truncated stream's head without complaint
        raise ValueError("body is not valid gzip: it is truncated")
    return bytes(out)


def parse_records(data: bytes) -> ParsedBody:
    """A CloudTrail file object `{"Records": [...]}`, a JSON array, one record, or NDJSON."""
    text = data.strip()
    if not text:
        raise ValueError('body is empty: send {"Records": [...]}, a JSON array, a record or NDJSON')
    if text[:1] in (b"{", b"["):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            if text[:1] == b"[" or b"\n" not in text:
                raise ValueError("body is not valid JSON and not NDJSON") from None
        else:
            return ParsedBody(records_of(doc), {})
    records: list[Any] = []
    errors: dict[int, str] = {}
    for line in text.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            errors[len(records)] = f"line is not valid JSON: {exc}"
            records.append(None)
    if len(errors) == len(records):  # not one line parsed: this is not JSON at all
        raise ValueError(
            f"body is not a JSON document, array or NDJSON (line 1: {errors[0]}); send "
            '{"Records": [...]}, a JSON array of records, one record, or one record per line'
        )
    return ParsedBody(records, errors)


def records_of(doc: Any) -> list[Any]:
    """The records of one parsed JSON document: a log file object's Records, an array, a record."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            raise ValueError(
                f"Records must be an array of CloudTrail records, got {json_type(records)}"
            )
        return records
    return [doc]


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages (`object`, `array`, ...)."""
    match value:
        case None:
            return "null"
        case bool():
            return "boolean"
        case int() | float():
            return "number"
        case str():
            return "string"
        case list():
            return "array"
        case dict():
            return "object"
    return type(value).__name__
