"""How long a retrain stalls the process it runs in: what the API and the gate feel.

The detection worker retrains inside `leash up`'s process (every 100k events or a day). A ticker
thread that wants to wake every millisecond stands in for the API's event loop: its lateness
while `train_detector` runs is the wait a `POST /v1/decide` would add. Measured in one run for
the fit in this process and the fit in a child process (the default, LEASH_DETECT__TRAIN_IN_CHILD).

Run: .venv/bin/python bench/retrain_stall.py [seed]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

from detect.anomaly.training import train_detector
from detect.eval.runner import normalize, store_events
from detect.eval.world import generate_world
from ingest.migrate import apply_migrations
from ingest.store.chdb import ChdbStore

TICK_S = 0.001


class Ticker:
    """A thread that sleeps TICK_S at a time and records how late each wake-up came."""

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            wanted = time.perf_counter() + TICK_S
            time.sleep(TICK_S)
            self.late_ms.append(max(0.0, (time.perf_counter() - wanted) * 1000))

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else 0.0


def main(seed: int) -> None:
    world = generate_world(seed, baseline_days=7, test_days=1)
    events = normalize(world.records)
    print(f"seed {seed}: {len(events):,} events stored as history")
    with ChdbStore(None) as store:
        apply_migrations(store)
        store_events(store, events)
        train_detector(store, days=8, isolate=True)  # warm the page cache and the child import
        header = f"{'fit':<22}{'train s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'max ms':>9}"
        print(header)
        for label, isolate in (("in this process", False), ("in a child process", True)):
            started = time.perf_counter()
            with Ticker() as ticker:
                train_detector(store, days=8, isolate=isolate)
            took = time.perf_counter() - started
            late = ticker.late_ms
            print(
                f"{label:<22}{took:>9.1f}{quantile(late, 0.5):>9.2f}{quantile(late, 0.99):>9.2f}"
                f"{quantile(late, 0.999):>10.2f}{max(late):>9.1f}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
