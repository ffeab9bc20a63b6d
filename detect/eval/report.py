"""Text tables and JSON for `leash eval`: per incident kind and detector, plus the datasets."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from detect.eval.datasets import DatasetScore
from detect.eval.runner import BURST_KINDS, KindScore, RunScore

__all__ = ["merge_runs", "render", "to_json"]


def merge_runs(runs: Sequence[RunScore]) -> RunScore:
    """Sum one detector's scores over several seeds."""
    total = RunScore(runs[0].name)
    for run in runs:
        total.alerts += run.alerts
        total.true_alerts += run.true_alerts
        for source, n in run.false_alerts.items():
            total.false_alerts[source] = total.false_alerts.get(source, 0) + n
        for kind in run.kinds.values():
            into = total.kinds.setdefault(kind.kind, KindScore(kind.kind, kind.category))
            into.cases += kind.cases
            into.detected += kind.detected
            into.alerts += kind.alerts
            into.ttd_events += kind.ttd_events
            into.ttd_destructive += kind.ttd_destructive
            into.ttd_seconds += kind.ttd_seconds
    return total


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _kind_row(kind: KindScore) -> str:
    if kind.category != "incident":
        return f"  {kind.kind:<26} hard negative  cases {kind.cases:>3}  false alerts {kind.alerts}"
    precision = kind.precision
    f1 = 2 * precision * kind.recall / (precision + kind.recall) if precision + kind.recall else 0
    per = kind.alerts / kind.detected if kind.detected else 0.0
    within = ""
    if kind.kind in BURST_KINDS and kind.ttd_destructive:
        ok = sum(1 for d in kind.ttd_destructive if d <= 10)
        within = f"  <=10 destructive: {ok}/{len(kind.ttd_destructive)}"
    return (
        f"  {kind.kind:<26} {kind.detected:>3}/{kind.cases:<3} P {_fmt(precision)} "
        f"R {_fmt(kind.recall)} F1 {_fmt(f1)}  alerts/inc {per:.2f}  TTD events "
        f"med {_fmt(_median(kind.ttd_events), 0)} max {max(kind.ttd_events, default=0)}  "
        f"destr max {max(kind.ttd_destructive, default=0)}  "
        f"sec med {_fmt(_median(kind.ttd_seconds), 0)}{within}"
    )


def render_run(run: RunScore) -> list[str]:
    false = sum(run.false_alerts.values())
    lines = [
        f"{run.name}: alerts {run.alerts}  true {run.true_alerts}  false {false} "
        f"{dict(sorted(run.false_alerts.items()))}  precision {_fmt(run.precision)}  "
        f"recall {_fmt(run.recall)}  F1 {_fmt(run.f1)}"
    ]
    order = sorted(run.kinds.values(), key=lambda k: (k.category != "incident", k.kind))
    lines += [_kind_row(kind) for kind in order]
    return lines


def render_datasets(scores: Sequence[DatasetScore]) -> list[str]:
    lines = []
    for s in scores:
        if s.dataset == "panther":
            text = (
                f"expected-alert logs caught {s.caught}/{s.positives} (R {_fmt(s.recall)}), "
                f"expected-quiet logs flagged {s.false_flags}/{s.negatives} "
                f"(opened an alert {s.alerts})"
            )
        elif s.dataset == "invictus":
            text = (
                f"techniques caught {s.caught}/{s.positives} (R {_fmt(s.recall)}), "
                f"alerts {s.alerts}, non-attack events flagged {s.false_flags}/{s.negatives}; "
                f"flagged by label {s.notes.get('flagged_by_label', {})}"
            )
        else:
            missed = s.notes.get("missed", [])
            listed = ", ".join(missed) if len(missed) <= 12 else f"{len(missed)} files"
            text = (
                f"technique files caught {s.caught}/{s.positives} (R {_fmt(s.recall)}), "
                f"alerts {s.alerts}; missed {listed or '-'}"
            )
        lines.append(f"  {s.dataset:<9} {s.engine:<16} {text}")
    return lines


def render(
    held_out: dict[str, list[RunScore]],
    info: Sequence[dict[str, Any]],
    datasets: Sequence[DatasetScore],
) -> str:
    """The whole report: per-seed summaries, per-kind tables over all seeds, datasets."""
    lines = ["Leash detection evaluation", "=" * 26]
    for item in info:
        lines.append(
            f"seed {item['seed']}: {item['events']} events ({item['train_events']} "
            f"history, {item['test_events']} scored), model {item['model']} on "
            f"{item['train_rows']} windows, rules: {item['rules']}"
        )
    lines += [
        "",
        "Precision per kind = first alert per incident / all alerts on that kind's "
        "incidents (duplicates count against it);",
        "overall precision also counts background and hard-negative alerts.",
        "",
    ]
    for runs in held_out.values():
        for item, run in zip(info, runs, strict=True):
            lines.append(
                f"  seed {item['seed']}: {run.name} P {_fmt(run.precision)} "
                f"R {_fmt(run.recall)} F1 {_fmt(run.f1)} alerts {run.alerts}"
            )
        lines += [""] + render_run(merge_runs(runs)) + [""]
    if datasets:
        lines += ["Real datasets (no history: fresh-install engines)"] + render_datasets(datasets)
    return "\n".join(lines) + "\n"


def to_json(
    held_out: dict[str, list[RunScore]],
    info: Sequence[dict[str, Any]],
    datasets: Sequence[DatasetScore],
) -> dict[str, Any]:
    def run_json(run: RunScore) -> dict[str, Any]:
        return {
            "precision": run.precision,
            "recall": run.recall,
            "f1": run.f1,
            "alerts": run.alerts,
            "false_alerts": run.false_alerts,
            "kinds": {
                k.kind: {
                    "category": k.category,
                    "cases": k.cases,
                    "detected": k.detected,
                    "alerts": k.alerts,
                    "ttd_events": k.ttd_events,
                    "ttd_destructive": k.ttd_destructive,
                    "ttd_seconds": k.ttd_seconds,
                }
                for k in run.kinds.values()
            },
        }

    return {
        "scenarios": list(info),
        "detectors": {
            name: {"total": run_json(merge_runs(runs)), "per_seed": [run_json(r) for r in runs]}
            for name, runs in held_out.items()
        },
        "datasets": [
            {
                "dataset": s.dataset,
                "engine": s.engine,
                "positives": s.positives,
                "caught": s.caught,
                "negatives": s.negatives,
                "false_flags": s.false_flags,
                "alerts": s.alerts,
                "notes": s.notes,
            }
            for s in datasets
        ],
    }
