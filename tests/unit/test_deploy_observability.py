"""The Prometheus rules and Grafana dashboard under deploy/ name only metrics Leash exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import yaml
from fastapi.testclient import TestClient

from detect.metrics import DetectorCounters
from ingest.runtime import Runtime
from tests.conftest import READ_KEY, auth

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "leash-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "leash-dashboard.json"
NAME = re.compile(r"\bleash_[a-z_]+")
SAMPLE_SUFFIX = re.compile(r"_(total|bucket|count|sum|created)$")


def base(name: str) -> str:
    """A metric family's name without its sample suffix (counters are exposed as *_total)."""
    return SAMPLE_SUFFIX.sub("", name)


def exposed_families(runtime: Runtime) -> set[str]:
    """Metric family names on GET /metrics of a process that runs detection too."""
    from leash.app import build_app, build_services

    services = build_services(runtime)
    worker = SimpleNamespace(
        events_seen=5,
        watermark_ms=1_700_000_000_000,
        undecodable=0,
        backlog=lambda: 0,
        alive=lambda: True,
    )
    services.metrics.watch_detector(cast(DetectorCounters, worker))
    with TestClient(build_app(services)) as client:
        text = client.get("/metrics", headers=auth(READ_KEY)).text
    return {base(line.split()[2]) for line in text.splitlines() if line.startswith("# TYPE leash_")}


def expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return exprs


def test_every_metric_the_rules_and_dashboard_use_is_exposed(runtime: Runtime) -> None:
    families = exposed_families(runtime)
    assert {"leash_detector_lag", "leash_decide_seconds", "leash_alerts_opened"} <= families
    used = {base(name) for expr in expressions() for name in NAME.findall(expr)}
    assert len(used) >= 10
    assert used - families == set()


def test_the_rules_say_what_to_do() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for rule in (r for group in rules["groups"] for r in group["rules"]):
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket", "info"}
