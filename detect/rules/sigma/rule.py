"""Sigma CloudTrail rules: YAML -> SigmaRule (the Rule protocol), for the SigmaHQ AWS subset."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from detect.findings import Finding
from detect.rules.base import build_finding
from detect.rules.record import outcome_of, record_of
from detect.rules.sigma.condition import (
    GateOf,
    Names,
    Predicate,
    SigmaError,
    compile_condition,
    condition_gate,
    condition_names,
    selection_names,
)
from detect.rules.sigma.selection import compile_selection, selection_gate
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

LEVELS = {
    "informational": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


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
    reads_outcome: bool = False  # its detection tests errorCode/errorMessage/responseElements
    # with no `actions`: what it needs of the event's own fields (detect.rules.base.Gate)
    gate: GateOf = None

    def evaluate(self, event: AuditEvent) -> Finding | None:
        if self.actions is not None and event.action.casefold() not in self.actions:
            return None
        record = record_of(event)
        if not self.match(record):
            return None
        if not self.reads_outcome and outcome_of(event) != "ok":
            return None  # a failed call changed nothing; only rules about failures judge those
        matched = [name for name, pred in self.selections if pred(record)]
        service = event.source.removesuffix(".amazonaws.com")
        resource = event.resources[0] if event.resources else "-"
        summary = (  # DRL 1.1: messages based on a rule's matches must name its author
            f"Sigma '{self.title}' (by {self.meta.get('author') or 'SigmaHQ'}, "
            f"{self.meta.get('license')}): "
            f"{event.principal} called {service}:{event.action} on {resource}"
        )
        explanation = {
            **self.meta,
            "rule": self.name,
            "matched_selections": matched,
            "action": f"{service}:{event.action}",
            "resource": resource,
            "error_code": event.error_code,
        }
        return build_finding(
            event,
            rule=self.name,
            severity=self.severity,
            summary=summary,
            explanation=explanation,
        )


def _metadata(doc: Mapping[str, Any], source: str) -> dict[str, Any]:
    return {
        "title": str(doc.get("title", "")),
        "id": str(doc.get("id", "")),
        "author": str(doc.get("author", "")),
        "level": str(doc.get("level", "")),
        "status": str(doc.get("status", "")),
        "description": str(doc.get("description", "")),
        "tags": [str(t) for t in doc.get("tags") or ()],
        "source_file": source,
        "license": str(doc.get("license") or "DRL 1.1"),
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
    selections = {k: compile_selection(k, v, where=source) for k, v in bodies.items()}
    condition = detection["condition"]
    match = compile_condition(condition, selections, where=source)
    names = {k: selection_names(v) for k, v in bodies.items()}
    actions = condition_names(condition, names, where=source)
    stem = source.rsplit("/", 1)[-1].removesuffix(".yml").removesuffix(".yaml")
    return SigmaRule(
        name=f"sigma:{stem}",
        severity=LEVELS[level],
        title=str(doc.get("title", stem)),
        source=source,
        match=match,
        selections=tuple(selections.items()),
        actions=actions,
        meta=_metadata(doc, source),
        reads_outcome=any(_OUTCOME_FIELD.search(str(key)) for key in _field_names(bodies)),
        gate=None
        if actions is not None
        else condition_gate(
            condition, {k: selection_gate(v, where=source) for k, v in bodies.items()}, where=source
        ),
    )


_OUTCOME_FIELD = re.compile(r"^(errorCode|errorMessage|responseElements)\b")


def _field_names(node: Any) -> list[str]:
    """Every field name a detection block tests (mapping keys, without |modifiers)."""
    if isinstance(node, Mapping):
        return [str(k).split("|")[0] for k in node] + [
            name for value in node.values() for name in _field_names(value)
        ]
    if isinstance(node, list):
        return [name for item in node for name in _field_names(item)]
    return []


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
