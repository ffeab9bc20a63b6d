"""Detection throughput on generated traffic: features, engine with/without rules, SQL training.

Run: .venv/bin/python bench/detect_engine.py [seed]
"""

from __future__ import annotations

import sys
import time

from detect.anomaly.training import train_detector
from detect.engine import DetectionEngine
from detect.eval.generator import generate
from detect.eval.runner import normalize, run_engine, store_events
from detect.features import build_features
from detect.rules.catalogue import load_rules
from ingest.migrate import apply_migrations
from ingest.store.chdb import ChdbStore


def timed(label: str, count: int, func: object) -> object:
    started = time.perf_counter()
    result = func()  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    print(f"{label:<44} {elapsed:7.2f} s  {count / elapsed:>10,.0f} events/s")
    return result


def main(seed: int) -> None:
    scenario = generate(seed)
    events = normalize(scenario.records)
    train = [e for e in events if e.event_time_ms < scenario.train_until_ms]
    test = [e for e in events if e.event_time_ms >= scenario.train_until_ms]
    print(f"seed {seed}: {len(train)} history events, {len(test)} scored events")
    with ChdbStore(None) as store:
        apply_migrations(store)
        timed("store history (chDB insert)", len(train), lambda: store_events(store, train))
        model = timed(
            "train_detector (SQL buckets + 4 forests)",
            len(train),
            lambda: train_detector(store, until_ms=scenario.train_until_ms, days=5),
        )
    rules = load_rules()
    timed("build_features (streaming state only)", len(test), lambda: build_features(test))
    timed(
        "engine: baselines + forest, no rules",
        len(test),
        lambda: run_engine(DetectionEngine(model=model), test),  # type: ignore[arg-type]
    )
    timed(
        f"engine: + {len(rules)} packaged rules",
        len(test),
        lambda: run_engine(
            DetectionEngine(rules=rules, model=model),  # type: ignore[arg-type]
            test,
        ),
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 101)
