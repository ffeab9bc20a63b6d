"""Body parsing for POST /v1/events and `leash ship`: gzip with bomb limits, every shape."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "BodyTooLarge",
    "ParsedBody",
    "decompress",
    "gzipped",
    "json_type",
    "parse_records",
    "records_of",
]

_CHUNK = 64 * 1024  # bytes; decompression step, so a bomb is stopped after at most one chunk


class BodyTooLarge(ValueError):
    """The (decompressed) body exceeds the configured limit."""


@dataclass(frozen=True)
class ParsedBody:
    """Records in body order; `errors` maps a record index to why it could not even be parsed."""

    records: list[Any]
    errors: dict[int, str]


def gzipped(data: bytes) -> bool:
    """Whether `data` starts with gzip's magic bytes (a body gzip'd without its header too)."""
    return data[:2] == b"\x1f\x8b"


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
        except orjson.JSONDecodeError as exc:
            salvaged = _salvage_array(text)
            if salvaged is not None:
                return salvaged
            if text[:1] == b"[" or b"\n" not in text:
                raise ValueError(
                    f"body is not valid JSON and not NDJSON (at byte {exc.pos}: {exc.msg})"
                ) from None
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


_STRUCTURE = re.compile(rb'["\\{}\[\],]')  # the bytes that can change JSON's structure
_RECORDS_ARRAY = re.compile(rb'^\{\s*"Records"\s*:\s*\[')


def _salvage_array(text: bytes) -> ParsedBody | None:
    """A JSON array (or a log file's Records array) in which some elements do not parse (a bad
    byte, invalid UTF-8): split it at its top-level commas and parse each element alone, so only
    the bad ones are rejected. None when the array's own structure is broken (unbalanced,
    truncated) and no element boundary can be trusted."""
    start = 1 if text[:1] == b"[" else (m.end() if (m := _RECORDS_ARRAY.match(text)) else 0)
    if not start:
        return None
    found = _elements(text, start)
    if found is None:
        return None
    spans, end = found
    rest = text[end + 1 :].strip()
    if rest != (b"}" if start > 1 else b""):  # more after the array: not one document
        return None
    records: list[Any] = []
    errors: dict[int, str] = {}
    for begin, end in spans:
        try:
            records.append(orjson.loads(text[begin:end]))
        except orjson.JSONDecodeError as exc:
            errors[len(records)] = f"not valid JSON (it starts at byte {begin}): {exc.msg}"
            records.append(None)
    if len(errors) == len(records):
        return None
    return ParsedBody(records, errors)


def _elements(text: bytes, start: int) -> tuple[list[tuple[int, int]], int] | None:
    """(begin, end) of each top-level element of the array whose "[" ends at `start`, and the
    position of its closing "]" (jumps from one structural byte to the next, so a large body
    is split at C speed)."""
    spans: list[tuple[int, int]] = []
    depth, in_string, skip_to, begin = 0, False, 0, start
    for match in _STRUCTURE.finditer(text, start):
        i = match.start()
        if i < skip_to:  # the byte a backslash escapes
            continue
        char = text[i]
        if in_string:
            if char == 0x5C:  # backslash: the next byte is escaped
                skip_to = i + 2
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x7B, 0x5B):  # { [
            depth += 1
        elif char in (0x7D, 0x5D):  # } ]
            if depth == 0:  # the array's own "]"
                if text[begin:i].strip():
                    spans.append((begin, i))
                return spans, i
            depth -= 1
        elif char == 0x2C and depth == 0:  # a top-level comma
            spans.append((begin, i))
            begin = i + 1
    return None


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
