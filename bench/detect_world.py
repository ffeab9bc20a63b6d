"""Detection cost per event on a generated organisation: the engine as `leash up` runs it.

`bench.detect_windows` replays one hour of the ingest bench's records again and again, so a few
hyperactive principals dominate it. This one replays a world of the independent generator
(detect.eval.world: ~40 principals of every kind, baseline days then two busy days with
incidents) through `detect.eval.replay.replay_events` -- the evaluation's path: a fresh engine,
retrained on the stored history as the worker does, with the packaged rules -- and counts only
the CPU time of detection (storing and training left out). Prints events per CPU-second per
chunk and overall; compare builds by alternating runs, not across machines.

Run: .venv/bin/python -m bench.detect_world [--seed 1178] [--events N] [--chunk 50000]
"""

from __future__ import annotations

import argparse

from detect.eval.replay import replay_events
from detect.eval.runner import normalize
from detect.eval.world import generate_world
from detect.worker.child import tune_gc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1178, help="world to generate")
    parser.add_argument("--events", type=int, default=0, help="stop after this many (0: all)")
    parser.add_argument("--chunk", type=int, default=50_000, help="events per printed row")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="CPython's collector thresholds, not the detector child's",
    )
    args = parser.parse_args()
    if not args.default_gc:
        tune_gc()
    world = generate_world(args.seed)
    events = sorted(normalize(world.records), key=lambda e: e.event_time_ms)
    if args.events:
        events = events[: args.events]
    print(f"world {args.seed}: {len(events):,} events; engine with packaged rules, retraining")
    done = [0, 0.0, 0, 0.0]  # events and CPU-seconds: in this chunk, in all

    def timer(size: int, seconds: float) -> None:
        done[0] += size
        done[1] += seconds
        done[2] += size
        done[3] += seconds
        if done[0] >= args.chunk or done[2] == len(events):
            rate = done[0] / max(done[1], 1e-9)
            print(f"events to {done[2]:>9,}: {rate:>8,.0f} events per CPU-second", flush=True)
            done[0], done[1] = 0, 0.0

    replay_events(events, timer=timer)
    print(f"all {done[2]:,} events: {done[2] / max(done[3], 1e-9):,.0f} events per CPU-second")
    print(f"detection CPU {done[3]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
