"""Sigma selections: field paths and value modifiers compiled into CloudTrail record predicates."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from detect.rules.record import field as lookup
from detect.rules.sigma.condition import (
    GATE_FIELDS,
    GateOf,
    Predicate,
    SigmaError,
    gates_all,
    gates_any,
)

__all__ = ["Test", "compile_selection", "selection_gate"]

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
_MEMO_SIZE = 4096  # strings remembered per regex test


Resolver = Callable[[Mapping[str, Any]], list[Any]]


def _resolver(path: str) -> Resolver:
    """The values at a dotted path (flattened key first); lists fan out; lowercase keys work.

    Compiled once per rule field: evaluation only walks the keys."""
    keys = tuple(path.split("."))
    if len(keys) == 1:
        key = keys[0]

        def single(record: Mapping[str, Any]) -> list[Any]:
            value = lookup(record, key)
            return [] if value is None else [value]

        return single

    lowers = tuple(key.lower() for key in keys)
    steps = tuple(zip(keys, lowers, range(len(keys)), strict=True))

    def fan_out(nodes: list[Any], start: int) -> list[Any]:
        for key in keys[start:]:
            found = [lookup(node, key) for node in _fan_out(nodes)]
            nodes = [n for n in found if n is not None]
            if not nodes:
                return []
        return nodes

    def dotted(record: Mapping[str, Any]) -> list[Any]:
        direct = record.get(path)  # Logstash-style flattened keys
        if direct is not None:
            return [direct]
        node: Any = record
        for key, lower, i in steps:
            if type(node) is not dict:  # a list fans out; other Mappings: the general walk
                return fan_out([node], i)
            value = node.get(key)
            if value is None and lower != key:
                value = node.get(lower)
            if value is None:
                return []
            node = value
        return [node]

    return dotted


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


def _all_texts(values: list[Any]) -> list[str]:
    """Every string the values can match as (most fields resolve to one plain string)."""
    if len(values) == 1 and type(values[0]) is str:
        return values
    return [t for v in values for t in _texts(v)]


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


def _memo(test: Callable[[str], bool]) -> Callable[[str], bool]:
    """A regex test remembered per string: the fields rules match (ARNs, user agents, names)
    repeat from event to event, and a pattern like `.+:assumed-role/aws:.+` backtracks."""
    return functools.lru_cache(maxsize=_MEMO_SIZE)(test)


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
        found = _memo(lambda t: pattern.search(t) is not None)
        return lambda vs: any(found(t) for t in _all_texts(vs))
    if not any(c in text for c in "*?\\") and not mods & {"contains", "startswith", "endswith"}:
        folded = text if "cased" in mods else text.casefold()
        if "cased" in mods:
            return lambda vs: any(t == folded for t in _all_texts(vs))
        return lambda vs: any(t.casefold() == folded for t in _all_texts(vs))
    regex = _wildcard_regex(text, mods)
    matches = _memo(lambda t: regex.match(t) is not None)
    return lambda vs: any(matches(t) for t in _all_texts(vs))


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

    resolve_ref, resolve_mine = _resolver(ref), _resolver(path)

    def test(record: Mapping[str, Any]) -> bool:
        others = [t.casefold() for v in resolve_ref(record) for t in _texts(v) if t]
        mine = [t.casefold() for v in resolve_mine(record) for t in _texts(v)]
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
        resolve = _resolver(path)
        return lambda record: (not _is_null(resolve(record))) == want
    if "fieldref" in mods:
        preds = [_fieldref(path, v, mods=mods, where=where) for v in values]
    else:
        tests = [_value_test(v, mods, where=where) for v in values]
        resolve = _resolver(path)
        if "all" in mods:
            return lambda record: all(test(resolve(record)) for test in tests)
        # any of the values: resolve the field once, not once per value
        if len(tests) == 1:
            only = tests[0]
            return lambda record: only(resolve(record))
        return lambda record: any(t(found) for found in (resolve(record),) for t in tests)
    combine = all if "all" in mods else any
    return lambda record: combine(p(record) for p in preds)


def compile_selection(name: str, body: Any, *, where: str) -> Predicate:
    """A map is AND over its fields; a list of maps is OR over them."""
    here = f"{where}: selection {name!r}"
    if isinstance(body, Mapping) and body:
        preds = [_field_predicate(str(k), v, where=f"{here} field {k!r}") for k, v in body.items()]
        if len(preds) == 1:
            return preds[0]
        return lambda record: all(p(record) for p in preds)
    if isinstance(body, list) and body and all(isinstance(b, Mapping) for b in body):
        alts = [compile_selection(name, b, where=where) for b in body]
        return lambda record: any(a(record) for a in alts)
    if isinstance(body, list):
        raise SigmaError(f"{here}: keyword (full-text) search lists are not supported")
    raise SigmaError(f"{here}: expected a map or a list of maps, got {type(body).__name__}")


def selection_gate(body: Any, *, where: str) -> GateOf:
    """What a selection needs of the event's own fields (condition.GATE_FIELDS): a map needs
    each of its fields, a list of maps one of them. Only from a test that an absent or empty
    field fails (no `null`, `exists` or `fieldref`, no pattern that matches "")."""
    if isinstance(body, list):
        return gates_any([selection_gate(b, where=where) for b in body]) if body else None
    if not isinstance(body, Mapping):
        return None
    gates: list[GateOf] = []
    for key, value in body.items():
        path, *names = str(key).split("|")
        attribute = GATE_FIELDS.get(path)
        values = value if isinstance(value, list) else [value]
        if attribute is None or {"exists", "fieldref"} & set(names) or None in values:
            continue
        predicate = _field_predicate(str(key), value, where=where)
        if predicate({path: ""}):
            continue
        gates.append((attribute, _memo(functools.partial(_alone, predicate, path))))
    return gates_all(gates)


def _alone(predicate: Predicate, path: str, value: str) -> bool:
    """`predicate` on a record that holds only `value` at `path`."""
    return predicate({path: value})
