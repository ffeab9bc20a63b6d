"""Command line: python -m world --seed 7 --out DIR [--summary]."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from .clock import DAY
from .generate import generate_world
from .model import World


def summary(world: World) -> str:
    """A human-readable summary of a world."""
    days = (world.end_ms - world.start_ms) / DAY
    meta = world.meta
    head = (
        f"seed {world.seed}: org {meta.get('org')} ({len(meta.get('accounts', []))} accounts, "
        f"regions {', '.join(meta.get('regions', []))}, UTC{meta.get('tz_hours'):+})"
    )
    base = (world.baseline_until_ms - world.start_ms) / DAY
    volume = (
        f"records {len(world.records)} over {days:.0f} days "
        f"({len(world.records) / days:.0f}/day); baseline {base:.0f} days"
    )
    lines = [head, volume, "principals by kind:"]
    for kind, n in sorted(Counter(p.kind for p in world.principals).items()):
        lines.append(f"  {kind:<10}{n}")
    for cat in ("incident", "benign"):
        labels = [lb for lb in world.labels if lb.category == cat]
        lines.append(f"{cat} labels: {len(labels)}")
        for kind, n in sorted(Counter(lb.kind for lb in labels).items()):
            lines.append(f"  {kind:<26}{n}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(prog="world", description=__doc__)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", help="directory to write records/labels into")
    ap.add_argument("--baseline-days", type=int, default=None)
    ap.add_argument("--test-days", type=int, default=2)
    ap.add_argument("--summary", action="store_true", help="print counts per kind")
    args = ap.parse_args(argv)
    started = time.monotonic()
    world = generate_world(args.seed, baseline_days=args.baseline_days, test_days=args.test_days)
    took = time.monotonic() - started
    if args.out:
        world.to_files(args.out)
    if args.summary or not args.out:
        sys.stdout.write(summary(world))
        sys.stdout.write(f"generated in {took:.1f}s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
