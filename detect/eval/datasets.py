"""The real labelled CloudTrail sets in shared/datasets, through the same engines as `leash eval`.

No history exists for these principals, so every engine starts as a fresh install would: rules,
baselines at their floors, no forest; the Insights-like baseline has no history either.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from detect.engine import DetectionEngine
from detect.eval.baselines import InsightsRateRule
from detect.eval.runner import BATCH_EVENTS, normalize
from detect.rules.base import Rule
from ingest.events import AuditEvent

__all__ = ["DatasetScore", "evaluate_datasets"]

EngineFactory = Callable[[], DetectionEngine]
ATTACK_LABELS = ("attack_detonation", "attack_followon")
VOLUME_RULES = frozenset(
    {"baseline:rate_spike", "baseline:region_spread", "insights:write_rate_zscore"}
)


@dataclass
class DatasetScore:
    """One engine on one dataset: positives caught, negatives flagged, and what was missed.
    `alerts`: alerts opened (for Panther's fixtures: expected-quiet logs that opened one)."""

    dataset: str
    engine: str
    positives: int = 0
    caught: int = 0
    negatives: int = 0
    false_flags: int = 0
    alerts: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.caught / self.positives if self.positives else 0.0


def _triggers(engine: DetectionEngine, events: Sequence[AuditEvent]) -> tuple[set[str], int]:
    """Ids of events that were themselves evidence of a finding, and the alerts opened.

    Volume checks (rate, region spread) flag whichever event tips the count, so they count as
    alerts but not as per-event detections.
    """
    flagged: set[str] = set()
    opened = 0
    ordered = sorted(events, key=lambda e: e.event_time_ms)
    for start in range(0, len(ordered), BATCH_EVENTS):
        output = engine.process(ordered[start : start + BATCH_EVENTS])
        flagged.update(event_id for event_id, rule in output.triggers if rule not in VOLUME_RULES)
        opened += sum(1 for kind, _ in output.changes if kind == "alert.opened")
    return flagged, opened


def stratus(root: Path, factories: dict[str, EngineFactory]) -> list[DatasetScore]:
    """One file per Stratus technique (its events alone): caught when it opens an alert."""
    files = sorted((root / "detonation-logs").glob("*.json"))
    scores = [DatasetScore("stratus", name, positives=len(files)) for name in factories]
    for path in files:
        events = normalize(orjson.loads(path.read_bytes()))
        for score, factory in zip(scores, factories.values(), strict=True):
            _, opened = _triggers(factory(), events)
            score.alerts += opened
            if opened:
                score.caught += 1
            else:
                score.notes.setdefault("missed", []).append(path.stem.removeprefix("aws."))
    return scores


def invictus(root: Path, factories: dict[str, EngineFactory]) -> list[DatasetScore]:
    """One account-hour: techniques caught (a detonation event triggered a finding) vs. noise."""
    records: list[Any] = []
    for path in sorted((root / "CloudTrail").glob("*.json")):
        records += orjson.loads(path.read_bytes())["Records"]
    labels = {
        row["eventID"]: row
        for row in csv.DictReader((root / "labels_derived.csv").open(encoding="utf-8"))
    }
    events = normalize(records)
    techniques: dict[str, set[str]] = {}
    for event_id, row in labels.items():
        if row["label"] == "attack_detonation":
            techniques.setdefault(row["stratus_technique"], set()).add(event_id)
    scores = []
    for name, factory in factories.items():
        flagged, opened = _triggers(factory(), events)
        by_label: dict[str, int] = {}
        for event_id in flagged:
            label = labels.get(event_id, {}).get("label", "unlabelled")
            by_label[label] = by_label.get(label, 0) + 1
        caught = sum(1 for ids in techniques.values() if ids & flagged)
        benign = sum(v for k, v in by_label.items() if k not in ATTACK_LABELS)
        scores.append(
            DatasetScore(
                "invictus",
                name,
                positives=len(techniques),
                caught=caught,
                negatives=sum(1 for r in labels.values() if r["label"] not in ATTACK_LABELS),
                false_flags=benign,
                alerts=opened,
                notes={"flagged_by_label": by_label},
            )
        )
    return scores


def panther(root: Path, factories: dict[str, EngineFactory]) -> list[DatasetScore]:
    """Panther rule unit tests: each log alone; expected_result says whether it should alert."""
    cases = []
    for line in (root / "cloudtrail_unit_tests.jsonl").read_text(encoding="utf-8").splitlines():
        case = orjson.loads(line)
        if case.get("looks_like_cloudtrail"):
            events = normalize([case["log"]])
            if events:
                cases.append((bool(case["expected_result"]), events))
    scores = []
    for name, factory in factories.items():
        score = DatasetScore("panther", name)
        for expected, events in cases:
            flagged, opened = _triggers(factory(), events)
            score.positives += expected
            score.negatives += not expected
            score.caught += expected and bool(flagged)
            score.false_flags += (not expected) and bool(flagged)
            score.alerts += (not expected) and opened > 0
        scores.append(score)
    return scores


def evaluate_datasets(
    root: Path, rules: Sequence[Rule], *, engine_options: Mapping[str, Any] | None = None
) -> list[DatasetScore]:
    """Leash, rules alone and the Insights-like baseline on every dataset found under root.

    `engine_options` configure Leash's engine (DetectSettings.engine_options(); defaults
    otherwise); the comparison engines page on every finding.
    """
    options = dict(engine_options or {})
    factories: dict[str, EngineFactory] = {
        "leash": lambda: DetectionEngine(rules=rules, **options),
        "insights_zscore": lambda: DetectionEngine(
            rules=[InsightsRateRule({})],
            baselines=False,
            forest=False,
            human_sigma_solo_level="low",
        ),
        "rules_only": lambda: DetectionEngine(
            rules=rules, baselines=False, forest=False, human_sigma_solo_level="low"
        ),
    }
    found: list[DatasetScore] = []
    runs: Iterable[tuple[str, Callable[[Path, dict[str, EngineFactory]], list[DatasetScore]]]] = (
        ("stratus-red-team_detonation-logs", stratus),
        ("invictus-ir_aws_dataset", invictus),
        ("panther-analysis", panther),
    )
    for folder, run in runs:
        if (root / folder).is_dir():
            found += run(root / folder, factories)
    return found
