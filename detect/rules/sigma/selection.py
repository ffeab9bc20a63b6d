"""Sigma selections: field paths and value modifiers compiled into CloudTrail record predicates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from detect.rules.record import field as lookup
from detect.rules.sigma.condition import Predicate, SigmaError

__all__ = ["Test", "compile_selection"]

_MODIFIERS = frozenset(
    {
        "contains",
        "startswith",
        "endswith",
        "all",
        "re",
        "i",
        "m",
        "s",
        "fieldref",
        "exists",
        "cased",
    }
)

Test = Callable[[list[Any]], bool]  # over a field's resolved values


def _resolve(record: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a dotted path (flattened key first); lists fan out; lowercase keys work."""
    direct = record.get(path) if "." in path else None  # Logstash-style flattened keys
    if direct is not None:
        return [direct]
    nodes: list[Any] = [record]
    for key in path.split("."):
        found = [lookup(node, key) for node in _fan_out(nodes)]
        nodes = [n for n in found if n is not None]
        if not nodes:
            return []
    return nodes


def _fan_out(nodes: list[Any]) -> Iterator[Any]:
    for node in nodes:
        if isinstance(node, list):
            yield from node
        else:
            yield node


def _texts(value: Any) -> Iterator[str]:
    """Strings a value can match as: scalars as JSON would print them; containers as their
    compact JSON text and every scalar inside (so `requestParameters|contains` works)."""
    if value is None:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, Mapping | list):
        yield orjson.dumps(value).decode()
        for item in value.values() if isinstance(value, Mapping) else value:
            if not isinstance(item, str) or item:
                yield from _texts(item)


def _is_null(values: list[Any]) -> bool:
    # Sigma `null`: the field is absent or empty (data-lake exports write "" for absent strings).
    return all(v is None or v == "" for v in values)


def _wildcard_regex(value: str, mods: frozenset[str]) -> re.Pattern[str]:
    """Sigma string -> anchored regex: `*` any run, `?` one char, backslash escapes them."""
    out, i = [], 0
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value) and value[i + 1] in "*?\\":
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        i += 1
    body = "".join(out)
    if "contains" in mods or "endswith" in mods:
        body = ".*" + body
    if "contains" in mods or "startswith" in mods:
        body += ".*"
    flags = re.DOTALL | (0 if "cased" in mods else re.IGNORECASE)
    return re.compile(rf"\A(?:{body})\Z", flags)


def _value_test(value: Any, mods: frozenset[str], *, where: str) -> Test:
    if value is None:
        return _is_null
    if isinstance(value, Mapping | list):
        raise SigmaError(f"{where}: nested value {value!r} is not supported")
    text = next(_texts(value))
    if "re" in mods:
        flags = sum(f for m, f in (("i", re.I), ("m", re.M), ("s", re.S)) if m in mods)
        try:
            pattern = re.compile(text, flags)
        except re.error as exc:
            raise SigmaError(f"{where}: invalid regular expression {text!r}: {exc}") from None
        return lambda vs: any(pattern.search(t) for v in vs for t in _texts(v))
    if not any(c in text for c in "*?\\") and not mods & {"contains", "startswith", "endswith"}:
        folded = text if "cased" in mods else text.casefold()
        if "cased" in mods:
            return lambda vs: any(t == folded for v in vs for t in _texts(v))
        return lambda vs: any(t.casefold() == folded for v in vs for t in _texts(v))
    regex = _wildcard_regex(text, mods)
    return lambda vs: any(regex.match(t) for v in vs for t in _texts(v))


def _fieldref(path: str, ref: Any, *, mods: frozenset[str], where: str) -> Predicate:
    """`a|fieldref: b`: a equals (or contains/starts/ends with) the value of field b."""
    if not isinstance(ref, str):
        raise SigmaError(f"{where}: fieldref needs a field name, got {ref!r}")

    def relation(text: str, other: str) -> bool:
        if "contains" in mods:
            return other in text
        if "startswith" in mods:
            return text.startswith(other)
        if "endswith" in mods:
            return text.endswith(other)
        return text == other

    def test(record: Mapping[str, Any]) -> bool:
        others = [t.casefold() for v in _resolve(record, ref) for t in _texts(v) if t]
        mine = [t.casefold() for v in _resolve(record, path) for t in _texts(v)]
        return any(relation(t, o) for t in mine for o in others)

    return test


def _field_predicate(key: str, value: Any, *, where: str) -> Predicate:
    path, *names = key.split("|")
    mods = frozenset(names)
    unknown = sorted(mods - _MODIFIERS)
    if unknown:
        raise SigmaError(f"{where}: unsupported field modifier(s) {', '.join(unknown)}")
    if mods & {"i", "m", "s"} and "re" not in mods:
        raise SigmaError(f"{where}: regex flags i/m/s need the re modifier")
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SigmaError(f"{where}: empty value list for {key!r}")
    if "exists" in mods:
        want = values[0] is True or str(values[0]).casefold() == "true"
        return lambda record: (not _is_null(_resolve(record, path))) == want
    if "fieldref" in mods:
        preds = [_fieldref(path, v, mods=mods, where=where) for v in values]
    else:
        tests = [_value_test(v, mods, where=where) for v in values]
        preds = [_bind(path, test) for test in tests]
    combine = all if "all" in mods else any
    return lambda record: combine(p(record) for p in preds)


def _bind(path: str, test: Test) -> Predicate:
    return lambda record: test(_resolve(record, path))


def compile_selection(name: str, body: Any, *, where: str) -> Predicate:
    """A map is AND over its fields; a list of maps is OR over them."""
    here = f"{where}: selection {name!r}"
    if isinstance(body, Mapping) and body:
        preds = [_field_predicate(str(k), v, where=f"{here} field {k!r}") for k, v in body.items()]
        return lambda record: all(p(record) for p in preds)
    if isinstance(body, list) and body and all(isinstance(b, Mapping) for b in body):
        alts = [compile_selection(name, b, where=where) for b in body]
        return lambda record: any(a(record) for a in alts)
    if isinstance(body, list):
        raise SigmaError(f"{here}: keyword (full-text) search lists are not supported")
    raise SigmaError(f"{here}: expected a map or a list of maps, got {type(body).__name__}")
