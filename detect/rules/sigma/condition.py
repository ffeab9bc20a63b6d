"""Sigma conditions: parser over named selection predicates, the eventName prefilter, the gate."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from detect.rules.base import Gate

__all__ = [
    "GATE_FIELDS",
    "GateOf",
    "Names",
    "Predicate",
    "SigmaError",
    "compile_condition",
    "condition_gate",
    "condition_names",
    "gates_all",
    "gates_any",
    "selection_names",
]

_TOKEN = re.compile(r"\(|\)|[^\s()]+")

Predicate = Callable[[Mapping[str, Any]], bool]


class SigmaError(ValueError):
    """A Sigma rule the matcher cannot run; the message names the file and the construct."""


T = TypeVar("T")
# the AuditEvent attributes a Sigma gate may read, the most selective first, by the record
# field each holds whenever that field is a non-empty string (ingest.events.Normalizer): the
# record's arn is the principal whenever it has one
GATE_FIELDS = {
    "eventName": "action",
    "userAgent": "user_agent",
    "userIdentity.arn": "principal",
    "sourceIPAddress": "source_ip",
    "awsRegion": "region",
    "eventSource": "source",
}
GATE_ATTRIBUTES = tuple(GATE_FIELDS.values())
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


# -- eventName prefilter ------------------------------------------------------------------------
def condition_names(condition: Any, leaves: Mapping[str, Names], *, where: str) -> Names:
    """eventNames a condition can match, given each selection's (`leaves`); None = any."""
    algebra: _Algebra[Names] = _Algebra(leaves, _names_all, _names_any, lambda _: None)
    texts = _texts_of(condition, where)
    return _names_any([_Parser(t, algebra, where=where).parse() for t in texts])


def selection_names(body: Any) -> Names:
    """eventName values a selection requires (plain equality only), else None."""
    if isinstance(body, list):
        return _names_any([selection_names(b) for b in body]) if body else None
    if not isinstance(body, Mapping):
        return None
    value = next((v for k, v in body.items() if str(k).casefold() == "eventname"), None)
    values = value if isinstance(value, list) else [value]
    plain = [v.casefold() for v in values if isinstance(v, str) and not set(v) & set("*?\\")]
    return frozenset(plain) if plain and len(plain) == len(values) else None


# -- gate: what a rule without an eventName needs of the event's own fields ---------------------
GateOf = Gate | None  # None: nothing the event's fields can rule out


def gates_all(parts: list[GateOf]) -> GateOf:
    """Any part's gate is necessary for all of them: the one on the earliest attribute of
    GATE_ATTRIBUTES (the most selective), or all of them where they read the same one."""
    known = [p for p in parts if p is not None]
    if not known:
        return None
    attribute = min((a for a, _ in known), key=GATE_ATTRIBUTES.index)
    tests = [t for a, t in known if a == attribute]
    return (attribute, tests[0] if len(tests) == 1 else lambda v: all(t(v) for t in tests))


def gates_any(parts: list[GateOf]) -> GateOf:
    """One of them: a gate only where every part has one on the same attribute."""
    known = [p for p in parts if p is not None]
    if len(known) < len(parts) or len({a for a, _ in known}) != 1:
        return None
    tests = [t for _, t in known]
    return (known[0][0], tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))


def condition_gate(condition: Any, leaves: Mapping[str, GateOf], *, where: str) -> GateOf:
    """A gate (detect.rules.base.Gate) the whole condition needs, given each selection's
    (`leaves`); None = none. A negated part needs nothing."""
    algebra: _Algebra[GateOf] = _Algebra(leaves, gates_all, gates_any, lambda _: None)
    texts = _texts_of(condition, where)
    return gates_any([_Parser(t, algebra, where=where).parse() for t in texts])
