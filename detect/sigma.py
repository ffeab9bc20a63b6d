"""Sigma CloudTrail rules: YAML -> SigmaRule (the Rule protocol), for the SigmaHQ AWS subset."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any, Generic, TypeVar

import orjson
import yaml

from detect.findings import Finding
from detect.rules import build_finding, record_of
from detect.rules import field as lookup
from ingest.events import AuditEvent

__all__ = [
    "LEVELS",
    "SigmaError",
    "SigmaLoad",
    "SigmaRule",
    "compile_condition",
    "load_sigma_rules",
    "parse_sigma_rule",
]

LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high",
          "critical": "critical"}
_MODIFIERS = frozenset({"contains", "startswith", "endswith", "all", "re", "i", "m", "s",
                        "fieldref", "exists", "cased"})
_TOKEN = re.compile(r"\(|\)|[^\s()]+")

Predicate = Callable[[Mapping[str, Any]], bool]
Test = Callable[[list[Any]], bool]  # over a field's resolved values


class SigmaError(ValueError):
    """A Sigma rule the matcher cannot run; the message names the file and the construct."""


# -- values and field resolution ----------------------------------------------------------------
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


def _selection(name: str, body: Any, *, where: str) -> Predicate:
    """A map is AND over its fields; a list of maps is OR over them."""
    here = f"{where}: selection {name!r}"
    if isinstance(body, Mapping) and body:
        preds = [_field_predicate(str(k), v, where=f"{here} field {k!r}") for k, v in body.items()]
        return lambda record: all(p(record) for p in preds)
    if isinstance(body, list) and body and all(isinstance(b, Mapping) for b in body):
        alts = [_selection(name, b, where=where) for b in body]
        return lambda record: any(a(record) for a in alts)
    if isinstance(body, list):
        raise SigmaError(f"{here}: keyword (full-text) search lists are not supported")
    raise SigmaError(f"{here}: expected a map or a list of maps, got {type(body).__name__}")


# -- conditions ---------------------------------------------------------------------------------
T = TypeVar("T")
Names = frozenset[str] | None  # eventNames (casefolded) a rule can match; None = unknown / any


@dataclass(frozen=True)
class _Algebra(Generic[T]):
    """How a parsed condition is built: into a predicate, or into its eventName prefilter."""

    leaves: Mapping[str, T]
    all_of: Callable[[list[T]], T]
    any_of: Callable[[list[T]], T]
    negate: Callable[[T], T]


def _all(parts: list[Predicate]) -> Predicate:
    return parts[0] if len(parts) == 1 else lambda record: all(p(record) for p in parts)


def _any(parts: list[Predicate]) -> Predicate:
    return parts[0] if len(parts) == 1 else lambda record: any(p(record) for p in parts)


def _not(inner: Predicate) -> Predicate:
    return lambda record: not inner(record)


def _names_all(parts: list[Names]) -> Names:
    known = [p for p in parts if p is not None]
    return frozenset.intersection(*known) if known else None


def _names_any(parts: list[Names]) -> Names:
    return None if any(p is None for p in parts) else frozenset().union(*parts)  # type: ignore[arg-type]


class _Parser(Generic[T]):
    """Recursive descent: or > and > not > ( … ) | `1 of x*` | `all of them` | selection."""

    def __init__(self, text: str, algebra: _Algebra[T], *, where: str) -> None:
        if "|" in text:
            raise SigmaError(f"{where}: aggregation ('| count() …') in condition is not supported")
        self.tokens: list[str] = _TOKEN.findall(text)
        self.pos = 0
        self.algebra = algebra
        self.where = where

    def parse(self) -> T:
        node = self._or()
        if self.pos < len(self.tokens):
            raise SigmaError(f"{self.where}: unexpected {self.tokens[self.pos]!r} in condition")
        return node

    def _peek(self) -> str:
        return self.tokens[self.pos].casefold() if self.pos < len(self.tokens) else ""

    def _next(self) -> str:
        if self.pos >= len(self.tokens):
            raise SigmaError(f"{self.where}: condition ends early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _or(self) -> T:
        parts = [self._and()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else self.algebra.any_of(parts)

    def _and(self) -> T:
        parts = [self._not()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else self.algebra.all_of(parts)

    def _not(self) -> T:
        if self._peek() == "not":
            self.pos += 1
            return self.algebra.negate(self._not())
        return self._primary()

    def _primary(self) -> T:
        token = self._next()
        if token == "(":
            node = self._or()
            if self._peek() != ")":
                raise SigmaError(f"{self.where}: missing ')' in condition")
            self.pos += 1
            return node
        if self._peek() == "of":
            self.pos += 1
            return self._quantified(token.casefold(), self._next())
        if token.casefold() in ("and", "or", "not", ")", "near"):
            raise SigmaError(f"{self.where}: unexpected {token!r} in condition")
        if token not in self.algebra.leaves:
            raise SigmaError(f"{self.where}: condition names unknown selection {token!r}")
        return self.algebra.leaves[token]

    def _quantified(self, quantifier: str, target: str) -> T:
        if quantifier not in ("1", "all"):
            raise SigmaError(f"{self.where}: '{quantifier} of' is not supported (only 1/all of)")
        leaves = self.algebra.leaves
        if target == "them":
            names = [n for n in leaves if not n.startswith("_")]
        else:
            names = [n for n in leaves if fnmatch.fnmatchcase(n, target)]
        if not names:
            raise SigmaError(f"{self.where}: '{quantifier} of {target}' matches no selection")
        parts = [leaves[n] for n in names]
        return self.algebra.any_of(parts) if quantifier == "1" else self.algebra.all_of(parts)


def _texts_of(condition: Any, where: str) -> list[str]:
    texts = condition if isinstance(condition, list) else [condition]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise SigmaError(f"{where}: condition must be a non-empty string or list of strings")
    return texts


def compile_condition(
    condition: str | list[str], selections: Mapping[str, Predicate], *, where: str = "condition"
) -> Predicate:
    """A Sigma `condition` (a string, or a list meaning OR) over named selection predicates."""
    algebra = _Algebra(selections, _all, _any, _not)
    texts = _texts_of(condition, where)
    return _any([_Parser(t, algebra, where=where).parse() for t in texts])


def _condition_names(condition: Any, leaves: Mapping[str, Names], *, where: str) -> Names:
    algebra: _Algebra[Names] = _Algebra(leaves, _names_all, _names_any, lambda _: None)
    texts = _texts_of(condition, where)
    return _names_any([_Parser(t, algebra, where=where).parse() for t in texts])


def _selection_names(body: Any) -> Names:
    """eventName values a selection requires (plain equality only), else None."""
    if isinstance(body, list):
        return _names_any([_selection_names(b) for b in body]) if body else None
    if not isinstance(body, Mapping):
        return None
    value = next((v for k, v in body.items() if str(k).casefold() == "eventname"), None)
    values = value if isinstance(value, list) else [value]
    plain = [v.casefold() for v in values if isinstance(v, str) and not set(v) & set("*?\\")]
    return frozenset(plain) if plain and len(plain) == len(values) else None


# -- rules ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SigmaRule:
    """One Sigma rule as a Rule: fires when its condition holds on the raw CloudTrail record."""

    name: str
    severity: str
    title: str
    source: str
    match: Predicate
    selections: tuple[tuple[str, Predicate], ...]
    actions: Names = None  # prefilter: eventNames the condition can match at all
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if self.actions is not None and event.action.casefold() not in self.actions:
            return None
        record = record_of(event)
        if not self.match(record):
            return None
        matched = [name for name, pred in self.selections if pred(record)]
        service = event.source.removesuffix(".amazonaws.com")
        resource = event.resources[0] if event.resources else "-"
        summary = (  # DRL 1.1: messages based on a rule's matches must name its author
            f"Sigma '{self.title}' (by {self.meta.get('author') or 'SigmaHQ'}, "
            f"{self.meta.get('license')}): "
            f"{event.principal} called {service}:{event.action} on {resource}"
        )
        explanation = {**self.meta, "rule": self.name, "matched_selections": matched,
                       "action": f"{service}:{event.action}", "resource": resource,
                       "error_code": event.error_code}
        return build_finding(
            event, rule=self.name, severity=self.severity, summary=summary,
            explanation=explanation,
        )


def _metadata(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    return {
        "title": str(doc.get("title", "")), "id": str(doc.get("id", "")),
        "author": str(doc.get("author", "")), "level": str(doc.get("level", "")),
        "status": str(doc.get("status", "")), "description": str(doc.get("description", "")),
        "tags": [str(t) for t in doc.get("tags") or ()],
        "source_file": source, "license": str(doc.get("license") or "DRL 1.1"),
    }


def _check_header(doc: Any, source: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise SigmaError(f"{source}: not a Sigma rule (top level is not a map)")
    logsource = doc.get("logsource") or {}
    product = str(logsource.get("product", "")).casefold()
    service = str(logsource.get("service", "")).casefold()
    if (product, service) != ("aws", "cloudtrail"):
        raise SigmaError(f"{source}: logsource {product}/{service} is not aws/cloudtrail")
    if str(doc.get("status", "")).casefold() == "deprecated":
        raise SigmaError(f"{source}: deprecated rule")
    detection = doc.get("detection")
    if not isinstance(detection, Mapping) or "condition" not in detection:
        raise SigmaError(f"{source}: detection with a condition is required")
    if "timeframe" in detection:
        raise SigmaError(f"{source}: timeframe (correlation) is not supported")
    return detection


def parse_sigma_rule(text: str, *, source: str) -> SigmaRule:
    """Compile one Sigma YAML document; raises SigmaError naming `source` and the construct."""
    docs = list(yaml.safe_load_all(text))
    if len(docs) != 1:
        raise SigmaError(f"{source}: multi-document rule collections are not supported")
    doc = docs[0]
    detection = _check_header(doc, source)
    level = str(doc.get("level", "medium")).casefold()
    if level not in LEVELS:
        raise SigmaError(f"{source}: unknown level {level!r}")
    bodies = {str(k): v for k, v in detection.items() if k != "condition"}
    selections = {k: _selection(k, v, where=source) for k, v in bodies.items()}
    condition = detection["condition"]
    match = compile_condition(condition, selections, where=source)
    names = {k: _selection_names(v) for k, v in bodies.items()}
    stem = source.rsplit("/", 1)[-1].removesuffix(".yml").removesuffix(".yaml")
    return SigmaRule(
        name=f"sigma:{stem}", severity=LEVELS[level], title=str(doc.get("title", stem)),
        source=source, match=match, selections=tuple(selections.items()),
        actions=_condition_names(condition, names, where=source), meta=_metadata(doc, source),
    )


@dataclass(frozen=True)
class SigmaLoad:
    """Rules compiled from a directory, and the files skipped with the reason."""

    rules: tuple[SigmaRule, ...]
    skipped: tuple[tuple[str, str], ...]


def load_sigma_rules(directory: Traversable) -> SigmaLoad:
    """Every *.yml / *.yaml in `directory` (a Path or importlib.resources Traversable)."""
    rules: list[SigmaRule] = []
    skipped: list[tuple[str, str]] = []
    entries = sorted(directory.iterdir(), key=lambda e: e.name)
    for entry in entries:
        if not entry.name.endswith((".yml", ".yaml")):
            continue
        try:
            rules.append(parse_sigma_rule(entry.read_text(encoding="utf-8"), source=entry.name))
        except (SigmaError, yaml.YAMLError, UnicodeDecodeError) as exc:
            skipped.append((entry.name, str(exc)))
    return SigmaLoad(rules=tuple(rules), skipped=tuple(skipped))
