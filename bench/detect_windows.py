"""Detection cost per event as windows fill: the engine alone on the ingest bench's records.

The ingest and decide benchmarks post real CloudTrail records (the invictus set) again and again
with fresh event ids: every ~2,900 events the same 55 minutes come back, so a principal's
10-minute windows never empty. A check that recounts its whole window on every event gets
slower with every chunk here, where it would on a real principal with a busy window (a CI role,
a bulk reader). Prints events per CPU-second for each chunk: flat is right, falling is not.

Runs with the detector child's collector thresholds (detect.worker.child.tune_gc), as in
`leash up`; `--default-gc` keeps CPython's.

Run: .venv/bin/python -m bench.detect_windows [--events 60000] [--chunk 10000] [--default-gc]
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench.ingest_throughput import load_templates
from detect.engine import DetectionEngine
from detect.eval.runner import normalize
from detect.rules.catalogue import load_rules
from detect.worker.child import tune_gc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=60_000, help="events to detect on")
    parser.add_argument("--chunk", type=int, default=10_000, help="events per printed row")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="CPython's collector thresholds, not the detector child's",
    )
    args = parser.parse_args()
    if not args.default_gc:
        tune_gc()
    templates = load_templates()
    records = []
    for i in range(args.events):
        record = dict(templates[i % len(templates)])
        record["eventID"] = str(uuid.uuid4())
        records.append(record)
    events = normalize(records)
    engine = DetectionEngine(rules=load_rules())
    print(f"{len(events):,} events from {len(templates):,} templates; engine with packaged rules")
    rates = []
    for start in range(0, len(events), args.chunk):
        part = events[start : start + args.chunk]
        began = time.process_time()
        for batch in range(0, len(part), 2_000):
            engine.process(part[batch : batch + 2_000])
        rate = len(part) / (time.process_time() - began)
        rates.append(rate)
        print(f"events {start:>7,}-{start + len(part):>7,}: {rate:>8,.0f} events per CPU-second")
    print(f"last chunk / first chunk: {rates[-1] / rates[0]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
