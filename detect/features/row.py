"""The feature row of one principal's current window: FEATURE_NAMES and the values in that order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from detect.features.bucket import (
    BUCKET_MS,
    MAX_BUCKET_NAMES,
    SLOW_SLOT_MS,
    SLOW_SLOTS,
    WINDOW_BUCKETS,
    Bucket,
)

__all__ = ["FEATURE_NAMES", "Window", "feature_row"]

FEATURE_NAMES: tuple[str, ...] = (  # fixed column order of every feature row
    "events_1m",
    "events_10m",
    "destructive_1m",
    "destructive_10m",
    "destructive_6h",
    "privilege_10m",
    "evasion_10m",
    "distinct_resources_10m",
    "delete_create_ratio_10m",
    "churn_10m",
    "error_rate_10m",
    "new_actions_10m",
    "new_services_10m",
    "new_regions_10m",
    "new_ips_10m",
    "new_sensitive_10m",
    "offhours_share_10m",
    "offhours_surprise_10m",
    "rate_ratio_1m",
    "destructive_ratio_10m",
    "write_share_10m",
    "distinct_regions_10m",
    "data_reads_10m",
    "lasting_destructive_10m",
)


class Window(Protocol):
    """What a feature row is computed from: a principal's open buckets and its history totals.

    `PrincipalState` is the one implementation; the protocol keeps this module free of it.
    """

    @property
    def buckets(self) -> Sequence[Bucket]: ...

    @property
    def slow(self) -> Iterable[Sequence[Any]]: ...

    @property
    def established(self) -> bool: ...

    hist_events: int
    hist_minutes: int
    hist_offhours: int
    hist_destructive: int


def _window_churn(buckets: Iterable[Bucket]) -> int:
    """Names whose last create in the window comes after their first delete."""
    churn: dict[str, list[int]] = {}
    for b in buckets:
        for name, (d, c) in b.churn.items():
            slot = churn.setdefault(name, [0, 0])
            slot[0] = d if d and (not slot[0] or d < slot[0]) else slot[0]
            slot[1] = max(slot[1], c)
    return sum(1 for d, c in churn.values() if d and c > d)


def feature_row(s: Window) -> list[float]:
    """The values of `s`'s current window (1 min, 10 min, 6 h), in FEATURE_NAMES order."""
    cur = s.buckets[-1] if s.buckets else Bucket(0)
    n = dest = priv = evas = writes = errors = off = creates = data = lasting = 0
    new_a = new_s = new_r = new_i = new_x = 0
    resources: set[str] = set()
    regions: set[str] = set()
    for b in s.buckets:  # plain sums: this runs once per event
        n += b.n
        dest += b.destructive
        priv += b.privilege
        evas += b.evasion
        writes += b.writes
        errors += b.errors
        off += b.offhours
        creates += b.creates
        data += b.data_reads
        lasting += b.lasting_destructive
        new_a += b.new_action
        new_s += b.new_service
        new_r += b.new_region
        new_i += b.new_ip
        new_x += b.new_sensitive
        if len(resources) < MAX_BUCKET_NAMES:  # (the count stops there: no need to go on)
            resources |= b.resources
        regions |= b.regions
    total = max(n, 1)
    est = s.established
    hist_rate = s.hist_events / max(s.hist_minutes, 1)
    hist_destructive = s.hist_destructive / max(s.hist_minutes, 1) * WINDOW_BUCKETS
    offhours_share = off / total
    hist_offhours = s.hist_offhours / max(s.hist_events, 1)
    slow_from = cur.minute * BUCKET_MS // SLOW_SLOT_MS - SLOW_SLOTS
    return [
        float(cur.n),
        float(n),
        float(cur.destructive),
        float(dest),
        float(sum(c for slot, c, _ in s.slow if slot > slow_from)),
        float(priv),
        float(evas),
        float(min(len(resources), MAX_BUCKET_NAMES)),
        dest / (creates + 1),
        float(_window_churn(s.buckets) if dest else 0),
        errors / total,
        float(new_a if est else 0),
        float(new_s if est else 0),
        float(new_r if est else 0),
        float(new_i if est else 0),
        float(new_x if est else 0),
        offhours_share,
        max(0.0, offhours_share - hist_offhours) if est else 0.0,
        cur.n / (hist_rate + 1.0) if est else 1.0,
        dest / (hist_destructive + 1.0) if est else float(dest),
        writes / total,
        float(len(regions)),
        float(data),
        float(lasting),
    ]
